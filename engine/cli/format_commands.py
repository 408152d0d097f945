"""Subcommands: format_commands."""

from __future__ import annotations

import click


def register(cli: click.Group) -> None:
    """Attach these commands to the main group."""
