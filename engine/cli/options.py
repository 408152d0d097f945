"""Options and helpers shared by several commands."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any, TypeVar

import click

from dunlang import Policy, PolicyError, load_policy

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


FIRST_DAY, LAST_DAY = dt.date(1900, 1, 1), dt.date(2199, 12, 31)
"""The range of dates the commands accept, the same as the import accepts."""


class DateType(click.ParamType):
    """A calendar date written as YYYY-MM-DD."""

    name = "date"

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "DATE"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> dt.date:
        if isinstance(value, dt.date):
            return value

        # fromisoformat alone would also take forms such as 20250101.
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            self.fail(f"{value!r} is not a date written as YYYY-MM-DD", param, ctx)
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not a day in the calendar", param, ctx)
        if not FIRST_DAY <= day <= LAST_DAY:
            self.fail(
                f"{value!r} is outside the years this program works with "
                f"({FIRST_DAY.year} to {LAST_DAY.year})",
                param,
                ctx,
            )
        return day


DATE = DateType()


def policy_option(
    required: bool = True, help: str = "The policy file."
) -> Callable[[F], F]:
    """`--policy FILE`: the policy to use."""
    return click.option(
        "--policy",
        "policy_path",
        required=required,
        type=click.Path(exists=True, dir_okay=False),
        help=help,
    )


def load_or_exit(path: str) -> Policy:
    """The checked policy, or its rendered errors on stderr and exit 1."""
    try:
        return load_policy(path)
    except PolicyError as error:
        click.echo(str(error), err=True)
        raise SystemExit(1) from None
