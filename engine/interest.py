"""Default interest on an overdue claim, with a breakdown a letter can show.

Three kinds, as the policy language names them (`interest statutory`,
`interest eu`, `interest N % per year`):

- statutory (§ 288 BGB): the base rate (§ 247 BGB) plus 5 percentage points
  for consumers, plus 9 points between businesses (8 points for obligations
  that arose before 2014-07-29), and between businesses a flat fee of
  EUR 40.00 once per claim (§ 288(5) BGB);
- eu (Late Payment Directive 2011/7/EU): the reference rate plus 8 points and,
  for businesses, the fixed sum of EUR 40.00; the reference rate is read from
  the same table as the German base rate;
- fixed: a yearly rate given in the policy.

Conventions (docs/interest.md explains why): interest runs from the day after
the due date up to and including the last day (the payment day); each day
earns 1/365 of the yearly rate, in leap years too; the period is split at each
1 January, at each date the base rate changes and on the day after each
payment; each part is rounded half up to the currency's minor unit and the
rounded parts are summed.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import functools
import logging
import os
import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from importlib import resources

from attrs import frozen
from babel.numbers import get_currency_precision

from dunlang.model import Interest, InterestKind, Money

__all__ = [
    "BaseRate",
    "BaseRateError",
    "BaseRateTable",
    "DebtorKind",
    "InterestBreakdown",
    "InterestError",
    "InterestPart",
    "bundled_base_rates",
    "compute_interest",
    "load_base_rates",
    "statutory_points",
]

logger = logging.getLogger(__name__)

COLUMNS = ("valid_from", "rate_percent")
CONSUMER_POINTS = Decimal(5)
BUSINESS_POINTS = Decimal(9)
BUSINESS_POINTS_BEFORE_REFORM = Decimal(8)
EU_POINTS = Decimal(8)
FLAT_FEE = Money(Decimal("40.00"), "EUR")

# § 288 BGB as amended against late payment applies only to obligations that
# arose after 2014-07-28 (Art. 229 § 34 EGBGB): the 9 points and the flat fee.
REFORM_DATE = dt.date(2014, 7, 29)

# A day earns 1/365 of the yearly rate whatever the length of its year.
DAYS_PER_YEAR = 365

_ONE_DAY = dt.timedelta(days=1)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_RATE = re.compile(r"[+-]?\d+(?:\.\d+)?", re.ASCII)


class DebtorKind(enum.Enum):
    """Who owes the claim; the values are those of a customer's `kind`."""

    CONSUMER = "consumer"
    BUSINESS = "business"


class InterestError(ValueError):
    """Interest cannot be computed from the given terms, dates or amounts."""


class BaseRateError(InterestError):
    """A base rate table that cannot be used; lists every problem found."""

    def __init__(self, source: str, problems: Iterable[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        count = len(self.problems)
        summary = f"{source}: base rates not loaded ({count} problem"
        summary += ")" if count == 1 else "s)"
        super().__init__("\n".join([*self.problems, summary]))


# ---- the base rate table ----------------------------------------------------


@frozen
class BaseRate:
    """The base rate in percent per year from `valid_from` to the next row."""

    valid_from: dt.date
    rate: Decimal


def _half_year_after(day: dt.date) -> dt.date:
    """The first day of the half-year that follows the one starting on `day`."""
    if day.month == 1:
        return dt.date(day.year, 7, 1)
    return dt.date(day.year + 1, 1, 1)


@frozen
class BaseRateTable:
    """Base rates by half-year, every half-year listed, in date order.

    The last row holds until the end of its own half-year; later days need a
    newer table, so that a stale table never silently gives a wrong rate.
    """

    rates: tuple[BaseRate, ...]
    source: str

    @property
    def first_day(self) -> dt.date:
        """The first day the table has a rate for."""
        return self.rates[0].valid_from

    @property
    def last_day(self) -> dt.date:
        """The last day the table has a rate for."""
        return _half_year_after(self.rates[-1].valid_from) - _ONE_DAY

    def rate_on(self, day: dt.date) -> Decimal:
        """The base rate in percent per year on this day."""
        if day < self.first_day:
            raise InterestError(
                f"{self.source} has no base rate before {self.first_day} "
                f"(interest was asked for {day})"
            )
        if day > self.last_day:
            wanted = self.rates[-1].valid_from
            while _half_year_after(wanted) <= day:
                wanted = _half_year_after(wanted)
            raise InterestError(
                f"{self.source} has base rates only up to {self.last_day}; add the "
                f"rate of the half-year starting {wanted} to compute interest "
                f"for {day}"
            )

        found = self.rates[0]
        for entry in self.rates:
            if entry.valid_from > day:
                break
            found = entry
        return found.rate

    def changes(self, first: dt.date, last: dt.date) -> list[dt.date]:
        """The days in (first, last] on which the rate differs from the day before."""
        return [
            later.valid_from
            for earlier, later in zip(self.rates, self.rates[1:], strict=False)
            if first < later.valid_from <= last and later.rate != earlier.rate
        ]


def load_base_rates(path: str | os.PathLike[str] | None = None) -> BaseRateTable:
    """Read and check a base rate table: the bundled one, or a user's CSV file.

    The file has the header `valid_from,rate_percent` and one row per half-year
    (1 January or 1 July, in date order, none left out); lines starting with `#`
    are comments. Raises BaseRateError listing every problem, each naming the
    file, the row (line number), the column and the value.
    """
    if path is None:
        bundled = resources.files("engine").joinpath("data", "base_rates.csv")
        return _parse_base_rates(bundled.read_text(encoding="utf-8"), "base_rates.csv")

    source = os.fspath(path)
    try:
        with open(source, encoding="utf-8-sig", newline="") as handle:
            text = handle.read()
    except OSError as error:
        raise BaseRateError(
            source, [f"{source}: cannot be read ({error.strerror})"]
        ) from None
    except UnicodeDecodeError:
        raise BaseRateError(source, [f"{source}: is not a UTF-8 text file"]) from None
    return _parse_base_rates(text, source)


@functools.cache
def _bundled_base_rates() -> BaseRateTable:
    """The bundled table, read once."""
    return load_base_rates()


def bundled_base_rates() -> BaseRateTable:
    """The base rate table shipped with the program (read once, then kept)."""
    return _bundled_base_rates()


def _parse_base_rates(text: str, source: str) -> BaseRateTable:
    """The table in a CSV text, or BaseRateError with every problem."""
    problems: list[str] = []
    rows = [
        (number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not rows:
        raise BaseRateError(
            source,
            [
                f"{source}: is empty (expected the header "
                f"{','.join(COLUMNS)} and one row per half-year)"
            ],
        )

    header_number, header_line = rows[0]
    header = tuple(value.strip() for value in next(csv.reader([header_line])))
    if header != COLUMNS:
        found = ",".join(header)
        raise BaseRateError(
            source,
            [
                f"{source}:{header_number}: the header is `{found}` "
                f"(expected {','.join(COLUMNS)})"
            ],
        )
    if len(rows) == 1:
        raise BaseRateError(
            source,
            [
                f"{source}: has no rows under the header (expected rows like "
                f"2024-07-01,3.37)"
            ],
        )

    # The order is checked against the row just above; after a row whose date
    # cannot be read it is not, so that one mistake is reported once.
    rates: list[BaseRate] = []
    previous: tuple[int, dt.date] | None = None
    for number, line in rows[1:]:
        values = [value.strip() for value in next(csv.reader([line]))]
        where = f"{source}:{number}:"
        if len(values) != len(COLUMNS):
            problems.append(
                f"{where} `{line.strip()}` has {len(values)} values "
                f"(expected {len(COLUMNS)}: {','.join(COLUMNS)})"
            )
            previous = None
            continue

        day = _check_date(values[0], where, problems)
        rate = _check_rate(values[1], where, problems)
        if day is not None and previous is not None:
            _check_order(day, previous, where, problems)
        previous = None if day is None else (number, day)
        if day is not None and rate is not None:
            rates.append(BaseRate(day, rate))

    if problems:
        raise BaseRateError(source, problems)
    logger.debug("read %d base rates from %s", len(rates), source)
    return BaseRateTable(tuple(rates), source)


def _check_date(value: str, where: str, problems: list[str]) -> dt.date | None:
    """The valid_from date of a row, or None after noting what is wrong."""
    try:
        if not _ISO_DATE.fullmatch(value):
            raise ValueError(value)
        day = dt.date.fromisoformat(value)
    except ValueError:
        problems.append(
            f"{where} column `valid_from`: `{value}` is not a date "
            f"(expected YYYY-MM-DD like 2024-07-01)"
        )
        return None

    if (day.month, day.day) not in ((1, 1), (7, 1)):
        problems.append(
            f"{where} column `valid_from`: `{value}` is not the start of a half-year "
            f"(the base rate changes only on 1 January and 1 July)"
        )
        return None
    return day


def _check_rate(value: str, where: str, problems: list[str]) -> Decimal | None:
    """The rate of a row, or None after noting what is wrong."""
    try:
        # Digits 0-9 only: Decimal alone would read ١ or １ as digits.
        rate = Decimal(value) if _RATE.fullmatch(value.strip()) else None
    except InvalidOperation:
        rate = None
    if rate is None or not rate.is_finite():
        problems.append(
            f"{where} column `rate_percent`: `{value}` is not a number "
            f"(expected a percentage like 3.37 or -0.88, with a point)"
        )
        return None
    return rate


def _check_order(
    day: dt.date, previous: tuple[int, dt.date], where: str, problems: list[str]
) -> None:
    """Note a row that is out of order or leaves a half-year out."""
    row, before = previous
    if day <= before:
        problems.append(
            f"{where} column `valid_from`: `{day}` does not come after {before} "
            f"of row {row} (rows must be in date order, each half-year once)"
        )
    elif day != _half_year_after(before):
        problems.append(
            f"{where} column `valid_from`: `{day}` follows {before} of row {row}; "
            f"the half-year starting {_half_year_after(before)} is missing "
            f"(list every half-year, also when the rate did not change)"
        )


# ---- the computation ----------------------------------------------------------


@frozen
class InterestPart:
    """One stretch of days with one rate and one open amount, both ends included.

    `rate` is the total yearly rate in percent; `base_rate` is the base rate it
    contains (None for a fixed rate). `amount` is `unrounded` rounded half up
    to the currency's minor unit.
    """

    first_day: dt.date
    last_day: dt.date
    days: int
    rate: Decimal
    base_rate: Decimal | None
    principal: Money
    amount: Money
    unrounded: Fraction


@frozen
class InterestBreakdown:
    """The default interest on a claim, part by part, and the flat fee if any.

    `interest` is the sum of the rounded parts; `unrounded` the exact sum before
    rounding. `flat_fee` is always in euros (§ 288(5) BGB names EUR 40), it is
    not included in `interest`.
    """

    kind: InterestKind
    points: Decimal | None
    parts: tuple[InterestPart, ...]
    interest: Money
    unrounded: Fraction
    flat_fee: Money | None


def _debtor(debtor: DebtorKind | str) -> DebtorKind:
    """The debtor kind, also from a customer's `kind` text."""
    try:
        return DebtorKind(debtor)
    except ValueError:
        raise InterestError(
            f"the debtor `{debtor}` is neither a consumer nor a business"
        ) from None


def statutory_points(
    debtor: DebtorKind | str, contract_date: dt.date | None = None
) -> Decimal:
    """The points § 288 BGB adds to the base rate for this debtor.

    Without a contract date the obligation is taken to have arisen on or after
    2014-07-29.
    """
    if _debtor(debtor) is DebtorKind.CONSUMER:
        return CONSUMER_POINTS
    if contract_date is not None and contract_date < REFORM_DATE:
        return BUSINESS_POINTS_BEFORE_REFORM
    return BUSINESS_POINTS


def _terms(
    terms: Interest, debtor: DebtorKind | str | None, contract_date: dt.date | None
) -> tuple[Decimal | None, bool]:
    """The points on the base rate (None for a fixed rate) and if a fee is owed."""
    if terms.kind is InterestKind.FIXED:
        if terms.rate is None:
            raise InterestError("a fixed interest rate needs a rate per year")
        return None, False

    if debtor is None:
        raise InterestError(
            f"{terms.kind.value} interest depends on whether the debtor is a "
            f"consumer or a business; give the debtor"
        )
    business = _debtor(debtor) is DebtorKind.BUSINESS
    if terms.kind is InterestKind.STATUTORY:
        reformed = contract_date is None or contract_date >= REFORM_DATE
        return statutory_points(debtor, contract_date), business and reformed
    return EU_POINTS, business


def _reductions(
    payments: Iterable[tuple[dt.date, Money | Decimal]], currency: str
) -> list[tuple[dt.date, Decimal]]:
    """Payments as (date, amount) in date order, checked against the claim."""
    found: list[tuple[dt.date, Decimal]] = []
    for day, payment in payments:
        if isinstance(payment, Money):
            if payment.currency != currency:
                raise InterestError(
                    f"the payment of {payment} on {day} is not in {currency}, "
                    f"the currency of the claim"
                )
            payment = payment.amount
        if payment < 0:
            raise InterestError(f"the payment of {payment} on {day} is negative")
        found.append((day, payment))
    return sorted(found, key=lambda item: item[0])


def _round_half_up(value: Fraction, places: int) -> Decimal:
    """An exact value rounded half away from zero to `places` decimals."""
    scaled = abs(value) * 10**places
    units = int(scaled + Fraction(1, 2))
    if value < 0:
        units = -units
    return Decimal(units).scaleb(-places)


def _part_starts(
    first_day: dt.date,
    last_day: dt.date,
    table: BaseRateTable | None,
    reductions: list[tuple[dt.date, Decimal]],
) -> list[dt.date]:
    """The first day of each part, in order.

    A part starts on the first day of interest, on each 1 January, on each day
    the base rate changes and on the day after each payment.
    """
    if last_day < first_day:
        return []

    starts = {first_day}
    starts.update(
        dt.date(year, 1, 1) for year in range(first_day.year + 1, last_day.year + 1)
    )
    if table is not None:
        starts.update(table.changes(first_day, last_day))
    starts.update(
        day + _ONE_DAY
        for day, _ in reductions
        if first_day < day + _ONE_DAY <= last_day
    )
    return sorted(starts)


def compute_interest(
    terms: Interest,
    amount: Money,
    due_date: dt.date,
    last_day: dt.date,
    *,
    debtor: DebtorKind | str | None = None,
    contract_date: dt.date | None = None,
    payments: Iterable[tuple[dt.date, Money | Decimal]] = (),
    base_rates: BaseRateTable | None = None,
) -> InterestBreakdown:
    """The default interest on a claim's amount, part by part, up to a given day.

    Interest runs from the day after `due_date` up to and including `last_day`
    (the payment day, or the day up to which the letter shows interest).
    `terms` is the policy's interest (statutory, eu or fixed). `debtor` (a
    DebtorKind, or a customer's kind: "consumer" or "business") is needed for
    statutory and eu interest; `contract_date` is the day the
    obligation arose (before 2014-07-29: 8 points, no flat fee). Each payment
    (date, amount) lowers the amount interest is charged on from the day after
    it is paid. `base_rates` defaults to the bundled table.
    """
    currency = amount.currency
    if amount.amount < 0:
        raise InterestError(f"the amount {amount} is negative")
    points, owes_fee = _terms(terms, debtor, contract_date)
    reductions = _reductions(payments, currency)
    places = get_currency_precision(currency)
    first_day = due_date + _ONE_DAY

    # Both ends are looked up first so that a table too short for the period
    # fails before any part is computed.
    table = None
    if points is not None and first_day <= last_day:
        table = base_rates if base_rates is not None else _bundled_base_rates()
        table.rate_on(first_day)
        table.rate_on(last_day)

    ordered = _part_starts(first_day, last_day, table, reductions)
    parts: list[InterestPart] = []
    for index, start in enumerate(ordered):
        end = ordered[index + 1] - _ONE_DAY if index + 1 < len(ordered) else last_day
        paid = sum((value for day, value in reductions if day < start), Decimal(0))
        principal = max(amount.amount - paid, Decimal(0))
        if principal == 0:
            break

        base_rate = table.rate_on(start) if table is not None else None
        if base_rate is not None and points is not None:
            rate = base_rate + points
        else:
            assert terms.rate is not None
            rate = terms.rate

        days = (end - start).days + 1
        exact = Fraction(principal) * Fraction(rate) * days / (100 * DAYS_PER_YEAR)
        parts.append(
            InterestPart(
                first_day=start,
                last_day=end,
                days=days,
                rate=rate,
                base_rate=base_rate,
                principal=Money(principal, currency),
                amount=Money(_round_half_up(exact, places), currency),
                unrounded=exact,
            )
        )

    total = sum((part.amount.amount for part in parts), Decimal(0))
    logger.debug(
        "%s interest on %s from %s to %s: %d parts, %s",
        terms.kind.value,
        amount,
        first_day,
        last_day,
        len(parts),
        total,
    )
    return InterestBreakdown(
        kind=terms.kind,
        points=points,
        parts=tuple(parts),
        interest=Money(total.quantize(Decimal(1).scaleb(-places)), currency),
        unrounded=sum((part.unrounded for part in parts), Fraction(0)),
        flat_fee=FLAT_FEE if owes_fee and parts else None,
    )
