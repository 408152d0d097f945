"""Checks of the records the Python API adds (customers, claims, payments,
events), the same rules `dunning import` applies to the rows of a file.

Every record is checked before anything is written, and every problem of
every record is reported at once, as `RecordError`.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from dunlang.model import Money

from .mapping import (
    FIRST_DATE,
    LARGEST_AMOUNT,
    LAST_DATE,
    currency_places,
    unknown_currency,
)
from .records import Claim, Customer, Event, Payment

__all__ = [
    "RecordError",
    "check_claims",
    "check_customers",
    "check_events",
    "check_payments",
    "check_run_date",
]

_CUSTOMER_KINDS = ("business", "consumer")
_CLAIM_KINDS = ("invoice", "instalment")
_PAYMENT_KINDS = ("payment", "credit_note")


class RecordError(ValueError):
    """Records the Python API refused, with nothing stored; `problems` holds one
    line per problem, each naming the record, its id and the field."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


def check_run_date(as_of: object) -> dt.date:
    """The as-of date of a run, or TypeError when it is not a `datetime.date`."""
    if isinstance(as_of, dt.datetime) or not isinstance(as_of, dt.date):
        raise TypeError(
            f"the as-of date of a run must be a datetime.date, not "
            f"{type(as_of).__name__} {as_of!r}"
        )
    return as_of


class _Problems:
    """The problems found so far, each prefixed with the record it is in."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.lines.append(f"{where}: {message}")

    def raise_any(self) -> None:
        if self.lines:
            raise RecordError(self.lines)


def _where(singular: str, identity: object) -> str:
    """`claim X1`, or `claim 12` (repr) for an id that is not a text."""
    shown = identity if isinstance(identity, str) and identity else repr(identity)
    return f"{singular} {shown}"


def _text(found: _Problems, where: str, name: str, value: object) -> None:
    """An id or name that must be a non-empty text."""
    if not isinstance(value, str) or not value.strip():
        found.add(where, f"{name} {value!r} is not a text; expected a non-empty str")


def _choice(
    found: _Problems, where: str, name: str, value: object, choices: Sequence[str]
) -> None:
    if value not in choices:
        expected = " or ".join(", ".join(choices).rsplit(", ", 1))
        found.add(where, f"{name} {value!r} is not one of {expected}")


def _date(found: _Problems, where: str, name: str, value: object) -> bool:
    """True for a `datetime.date` within the dates an import accepts."""
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        found.add(
            where,
            f"{name} {value!r} is not a date; expected a datetime.date "
            f"(not {type(value).__name__})",
        )
        return False
    if not FIRST_DATE <= value <= LAST_DATE:
        found.add(
            where,
            f"{name} {value} is outside the dates the engine accepts "
            f"({FIRST_DATE} to {LAST_DATE})",
        )
        return False
    return True


def _money(
    found: _Problems, where: str, name: str, value: object, *, positive: bool
) -> bool:
    """True for a Money in a known currency, at most 10^15, exact to the
    currency's decimal places, and more than zero (`positive`) or not below."""
    if not isinstance(value, Money):
        found.add(
            where,
            f'{name} {value!r} is not a Money; expected Money(Decimal("10.00"), "EUR")',
        )
        return False
    problem = unknown_currency(value.currency)
    if problem:
        found.add(where, f"{name} {value}: {problem}")
        return False
    amount = value.amount
    if positive and amount <= 0:
        found.add(where, f"{name} {value} is not more than zero; it must be positive")
        return False
    if amount < 0:
        found.add(where, f"{name} {value} is below zero; it cannot be negative")
        return False
    if amount > LARGEST_AMOUNT:
        found.add(
            where,
            f"{name} {value} is too large: an amount may be at most "
            f"{LARGEST_AMOUNT:f} (10^15)",
        )
        return False
    places = currency_places(value.currency)
    if amount != amount.quantize(Decimal(1).scaleb(-places)):
        found.add(
            where,
            f"{name} {value} has more decimal places than {value.currency} "
            f"allows ({places})",
        )
        return False
    return True


def _stored(
    conn: sqlite3.Connection, table: str, columns: str, ids: set[str]
) -> dict[str, tuple[Any, ...]]:
    """The stored rows of `table` with these ids: id -> the other columns."""
    wanted = json.dumps(sorted(ids))
    select = f"SELECT id, {columns} FROM {table} "
    select += "WHERE id IN (SELECT value FROM json_each(?))"
    return {row[0]: tuple(row[1:]) for row in conn.execute(select, (wanted,))}


def _known_customers(conn: sqlite3.Connection, ids: set[str]) -> set[str]:
    return set(_stored(conn, "customers", "name", ids))


def check_customers(customers: Sequence[Customer]) -> None:
    """RecordError listing every problem of these customers."""
    found = _Problems()
    for customer in customers:
        where = _where("customer", customer.id)
        _text(found, where, "id", customer.id)
        _choice(found, where, "kind", customer.kind, _CUSTOMER_KINDS)
        if customer.credit_limit is not None:
            _money(found, where, "credit limit", customer.credit_limit, positive=False)
    found.raise_any()


def check_claims(conn: sqlite3.Connection, claims: Sequence[Claim]) -> None:
    """RecordError listing every problem of these claims, whose customers must
    be stored already."""
    found = _Problems()
    owners = {c.customer_id for c in claims if isinstance(c.customer_id, str)}
    known = _known_customers(conn, owners)
    for claim in claims:
        where = _where("claim", claim.id)
        _text(found, where, "id", claim.id)
        _text(found, where, "customer", claim.customer_id)
        if isinstance(claim.customer_id, str) and claim.customer_id not in known:
            found.add(where, f"customer {claim.customer_id} is not a known customer")
        _choice(found, where, "kind", claim.kind, _CLAIM_KINDS)

        amount_right = _money(found, where, "amount", claim.amount, positive=True)
        open_right = _money(
            found, where, "open amount", claim.open_amount, positive=False
        )
        if amount_right and open_right:
            _open_amount(found, where, claim.amount, claim.open_amount)

        issued = _date(found, where, "issue date", claim.issue_date)
        due = _date(found, where, "due date", claim.due_date)
        if issued and due and claim.due_date < claim.issue_date:
            found.add(
                where,
                f"due date {claim.due_date} is before the issue date "
                f"{claim.issue_date}; a claim cannot fall due before it is issued",
            )
    found.raise_any()


def _open_amount(found: _Problems, where: str, amount: Money, left: Money) -> None:
    if left.currency != amount.currency:
        found.add(
            where,
            f"open amount {left} is not in the claim's currency {amount.currency}",
        )
    elif left.amount > amount.amount:
        found.add(where, f"open amount {left} is more than the amount {amount}")


def check_payments(conn: sqlite3.Connection, payments: Sequence[Payment]) -> None:
    """RecordError listing every problem of these payments, whose claims must
    be stored already."""
    found = _Problems()
    wanted = {p.claim_id for p in payments if isinstance(p.claim_id, str)}
    currencies = _stored(conn, "claims", "currency", wanted)
    credit = _credit_left(conn, payments)
    for payment in payments:
        where = _where("payment", payment.id)
        _text(found, where, "id", payment.id)
        _text(found, where, "claim", payment.claim_id)
        _choice(found, where, "kind", payment.kind, _PAYMENT_KINDS)
        _date(found, where, "payment date", payment.paid_on)

        right = _money(found, where, "amount", payment.amount, positive=True)
        if not isinstance(payment.claim_id, str):
            continue
        if payment.claim_id not in currencies:
            found.add(where, f"claim {payment.claim_id} is not a known claim")
            continue
        (currency,) = currencies[payment.claim_id]
        if right and payment.amount.currency != currency:
            found.add(
                where,
                f"amount {payment.amount} is not in the claim's currency {currency}",
            )
        elif right and payment.kind == "credit_note":
            left = credit.get(payment.claim_id, Decimal(0))
            if payment.amount.amount > left:
                found.add(
                    where,
                    f"amount {payment.amount} is more than claim {payment.claim_id} "
                    f"can still be credited ({left} {currency}); a credit note takes "
                    "off at most what was invoiced",
                )
            credit[payment.claim_id] = left - payment.amount.amount
    found.raise_any()


def _credit_left(
    conn: sqlite3.Connection, payments: Sequence[Payment]
) -> dict[str, Decimal]:
    """For the claims these credit notes are for: what credit notes can still
    take off, the claim's amount less those stored (other than these)."""
    notes = [p for p in payments if p.kind == "credit_note"]
    wanted = {p.claim_id for p in notes if isinstance(p.claim_id, str)}
    if not wanted:
        return {}
    mine = {p.id for p in notes}
    left = {
        claim: Decimal(str(amount))
        for claim, (amount,) in _stored(conn, "claims", "amount", wanted).items()
    }
    for claim, identity, amount in conn.execute(
        "SELECT claim_id, id, amount FROM payments WHERE kind = 'credit_note' "
        "AND claim_id IN (SELECT value FROM json_each(?))",
        (json.dumps(sorted(wanted)),),
    ):
        if identity not in mine and claim in left:
            left[claim] -= Decimal(amount)
    return left


def check_events(conn: sqlite3.Connection, events: Sequence[Event]) -> None:
    """RecordError listing every problem of these events, whose claims and
    customers must be stored already."""
    found = _Problems()
    claims = _stored(
        conn,
        "claims",
        "currency, customer_id",
        {e.claim_id for e in events if isinstance(e.claim_id, str)},
    )
    customers = _known_customers(
        conn, {e.customer_id for e in events if isinstance(e.customer_id, str)}
    )
    for event in events:
        where = _where("event", event.id)
        _text(found, where, "id", event.id)
        _text(found, where, "kind", event.kind)
        happened = _date(found, where, "date", event.happened_on)
        if event.until is not None:
            until = _date(found, where, "end date", event.until)
            if happened and until and event.until < event.happened_on:
                found.add(
                    where,
                    f"end date {event.until} is before the day of the event "
                    f"{event.happened_on}; an event cannot end before it happens",
                )

        if event.claim_id is None and event.customer_id is None:
            found.add(where, "has neither a claim nor a customer; it needs one")
        if event.customer_id is not None:
            _text(found, where, "customer", event.customer_id)
            known = isinstance(event.customer_id, str)
            if known and event.customer_id not in customers:
                found.add(
                    where, f"customer {event.customer_id} is not a known customer"
                )
        currency = None
        if event.claim_id is not None:
            _text(found, where, "claim", event.claim_id)
            if not isinstance(event.claim_id, str):
                pass
            elif event.claim_id not in claims:
                found.add(where, f"claim {event.claim_id} is not a known claim")
            else:
                currency, owner = claims[event.claim_id]
                if event.customer_id is not None and event.customer_id != owner:
                    found.add(
                        where,
                        f"customer {event.customer_id} is not the customer of "
                        f"claim {event.claim_id} ({owner})",
                    )

        if event.amount is not None:
            right = _money(found, where, "amount", event.amount, positive=True)
            if right and currency and event.amount.currency != currency:
                found.add(
                    where,
                    f"amount {event.amount} is not in the claim's currency {currency}",
                )
    found.raise_any()
