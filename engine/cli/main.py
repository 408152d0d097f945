"""The `dunning` command and its subcommands."""

from __future__ import annotations

import importlib
import logging
import sqlite3
from typing import Any

import click

from ..store import is_damage, unwritable
from .options import DATABASE_KEY

# Each module holds one family of subcommands and attaches them with
# `register(cli)`; this list is the whole command surface.
COMMAND_MODULES = (
    "check_commands",  # check
    "format_commands",  # fmt, graph
    "data_commands",  # import
    "sample_commands",  # sample-data
    "run_commands",  # run, history, why
    "simulate_commands",  # simulate, report
    "promise_commands",  # promise, dispute, plan
    "hold_commands",  # hold, release, holds, skipped, credit
    "send_commands",  # send, outbox
    "collection_commands",  # calls, call-result, agency export/import
)


class _Commands(click.Group):
    """The command group; turns a busy, read-only, full or damaged database
    into a plain message."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except sqlite3.DatabaseError as error:
            if is_damage(error):
                raise click.ClickException(
                    f"{_database_of(ctx)}: the dunning database is damaged "
                    f"(SQLite says: {error}); the command stopped there, and "
                    "what it had not finished was not written. Restore the "
                    "database from a backup; do not start a new one in its "
                    "place, or the claims' history is lost"
                ) from None
            if not isinstance(error, sqlite3.OperationalError):
                raise
            problem = unwritable(error)
            if problem is not None:
                raise click.ClickException(problem) from None
            if "locked" not in str(error) and "busy" not in str(error):
                raise
            raise click.ClickException(
                "the database is in use by another program (SQLite: "
                f"{error}); try again when it is free"
            ) from None


def _database_of(ctx: click.Context) -> str:
    """The database the command opened (noted by `open_store`)."""
    return str(ctx.meta.get(DATABASE_KEY, "the database"))


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-v", "--verbose", count=True, help="Show more of what happens (-vv: debug)."
)
@click.option("-q", "--quiet", is_flag=True, help="Show only errors.")
@click.version_option(package_name="dunning")
def cli(verbose: int, quiet: bool) -> None:
    """Dunning: collect overdue invoices by policy, with a full audit trail."""
    level = (
        logging.ERROR
        if quiet
        else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    )
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


for _name in COMMAND_MODULES:
    importlib.import_module(f"{__package__}.{_name}").register(cli)


def main() -> None:
    """Entry point of the `dunning` console script."""
    cli()
