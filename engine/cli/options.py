"""Options and helpers shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..store import DEFAULT_PATH, Store, StoreError

F = TypeVar("F", bound=Callable[..., Any])


def db_option(function: F) -> F:
    """`--db PATH`: the dunning database to use (environment: DUNNING_DB)."""
    return click.option(
        "--db",
        "db_path",
        default=DEFAULT_PATH,
        show_default=True,
        envvar="DUNNING_DB",
        type=click.Path(dir_okay=False),
        help="The dunning database file.",
    )(function)


def open_store(path: str, *, create: bool = True) -> Store:
    """Open the database or stop with a clear message (exit 1)."""
    try:
        return Store.open(path, create=create)
    except StoreError as error:
        raise click.ClickException(str(error)) from None
