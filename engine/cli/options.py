"""Options and helpers shared by several commands."""

from __future__ import annotations

import datetime as dt
import getpass
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import click

from dunlang import Policy, PolicyError, load_policy

from ..interest import BaseRateError, BaseRateTable, load_base_rates
from ..mapping import currency_places, too_precise, unknown_currency
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


DATABASE_KEY = "dunning.database"
"""Where the command's context keeps the database it opened, for messages."""


def open_store(path: str, *, create: bool = True) -> Store:
    """Open the database or stop with a clear message (exit 1)."""
    context = click.get_current_context(silent=True)
    if context is not None:
        context.meta[DATABASE_KEY] = path
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
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value, re.ASCII):
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


LARGEST_AMOUNT = Decimal(10) ** 15
"""The largest amount the commands accept, the same as the import accepts."""

_PLAIN_DECIMAL = re.compile(r"\d+(?:\.\d+)?", re.ASCII)


class AmountType(click.ParamType):
    """An amount of money in plain decimal notation (`150.00`): more than zero
    and at most LARGEST_AMOUNT. Its currency is often known only later (the
    claim's); `check_places` then checks the decimals."""

    name = "amount"

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "AMOUNT"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Decimal:
        if isinstance(value, Decimal):
            return value
        text = str(value).strip()
        if not _PLAIN_DECIMAL.fullmatch(text):
            self.fail(
                f"{value!r} is not an amount; write digits with a dot for the "
                "decimals, like 150.00",
                param,
                ctx,
            )
        amount = Decimal(text)
        if amount <= 0:
            self.fail(f"{value!r} must be more than zero", param, ctx)
        if amount > LARGEST_AMOUNT:
            self.fail(
                f"{value!r} is too large: an amount may be at most "
                f"{LARGEST_AMOUNT:f} (10^15)",
                param,
                ctx,
            )
        return amount


AMOUNT = AmountType()


def check_places(amount: Decimal, currency: str, option: str = "--amount") -> None:
    """Stop with a usage error (exit 2) when `amount` has more decimal places
    than `currency` allows (`0.001` EUR, `0.5` JPY)."""
    problem = too_precise(f"{amount:f}", currency)
    if problem:
        raise click.BadParameter(problem, param_hint=f"'{option}'")


def format_amount(amount: Decimal, currency: str) -> str:
    """An amount with its currency's decimals: `150.00 EUR`, `5000 JPY`."""
    return f"{amount:.{currency_places(currency)}f} {currency}"


class CurrencyType(click.ParamType):
    """A currency code that babel knows, like EUR."""

    name = "currency"

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "CURRENCY"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> str:
        problem = unknown_currency(str(value))
        if problem:
            self.fail(problem, param, ctx)
        return str(value)


CURRENCY = CurrencyType()


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


class WholeNumber(click.ParamType):
    """A whole number written with the digits 0-9, within bounds (Python's
    `int` alone would also take `1_0`, `١٠` or `１０`)."""

    name = "integer"

    def __init__(self, minimum: int, maximum: int | None = None) -> None:
        self.minimum = minimum
        self.maximum = maximum

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        """The number, or a usage error naming the value."""
        if isinstance(value, int):
            number = value
        elif isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
            number = int(value)
        else:
            self.fail(f"{value!r} is not a whole number", param, ctx)
        if number < self.minimum:
            self.fail(f"{number} is less than {self.minimum}", param, ctx)
        if self.maximum is not None and number > self.maximum:
            self.fail(f"{number} is more than {self.maximum}", param, ctx)
        return number


_WHOLE = re.compile(r"[+-]?[0-9]+", re.ASCII)


def base_rates_option(function: F) -> F:
    """`--base-rates FILE`: a base rate table of the user's for interest."""
    return click.option(
        "--base-rates",
        "base_rates_path",
        type=click.Path(exists=True, dir_okay=False),
        default=None,
        help="A base rate table (CSV valid_from,rate_percent) for interest, "
        "instead of the bundled one.",
    )(function)


def load_base_rates_or_exit(path: str | None) -> BaseRateTable | None:
    """The table `--base-rates` names (None: the bundled one); a bad table
    stops the command with its message."""
    if path is None:
        return None
    try:
        return load_base_rates(path)
    except BaseRateError as error:
        raise click.ClickException(str(error)) from None


def quiet() -> bool:
    """True when the command runs under `dunning -q`: show only errors."""
    context = click.get_current_context(silent=True)
    return bool(context and context.find_root().params.get("quiet"))


def acting_user() -> str:
    """Who acts when `--by` is not given: the login name, else `unknown`."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
