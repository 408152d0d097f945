"""Customer credits and small balances.

A customer credit is money the company already holds for a customer but has
not set against a claim: a payment that could not be matched, or a credit note.
Before a run sends a claim a letter, an e-mail, a call or an agency, it nets:
when the customer's open credits in the claim's currency cover what the claim
still owes, the step waits and the case is listed for a clerk
(`dunning skipped --cause credit`).

Credits are never applied automatically: which claim a credit belongs to is a
bookkeeping decision (the customer may have meant another invoice, the credit
note may be disputed, the ledger must show the same allocation), so a person
applies it in the accounting system and the next import brings the result.

A small balance is an open amount above zero but below the policy's limit:
`write off` settles the claim, `leave` stops its dunning.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from collections.abc import Iterable
from decimal import Decimal

from attrs import frozen

from dunlang.model import MeasureKind, Money, Policy, SmallBalance, SmallBalanceAction

from .measures import round_money

log = logging.getLogger(__name__)

CREDIT_KINDS = ("unapplied_payment", "credit_note")
CONTACT_KINDS = frozenset(
    {MeasureKind.LETTER, MeasureKind.EMAIL, MeasureKind.PHONE, MeasureKind.AGENCY}
)
"""Measures that contact the customer (or hand the claim on): a credit stops them."""


class CreditError(ValueError):
    """A credit cannot be recorded or used: unknown customer, bad amount."""


@frozen
class Credit:
    """Money held for a customer and not yet set against a claim."""

    id: str
    customer_id: str
    amount: Money
    received_on: dt.date
    kind: str = "unapplied_payment"
    reference: str | None = None
    open_amount: Money | None = None
    """What is left of it; the whole amount when not given."""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def add_credits(conn: sqlite3.Connection, credits: Iterable[Credit], by: str) -> int:
    """Record customer credits; the caller runs this in one transaction."""
    count = 0
    for credit in credits:
        _check(conn, credit)
        left = credit.open_amount or credit.amount
        conn.execute(
            "INSERT INTO credits (id, customer_id, kind, amount, currency, "
            "received_on, open_amount, reference) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                credit.id,
                credit.customer_id,
                credit.kind,
                str(credit.amount.amount),
                credit.amount.currency,
                credit.received_on.isoformat(),
                str(left.amount),
                credit.reference,
            ),
        )
        _audit(conn, by, credit.id, "open_amount", None, str(left), "credit recorded")
        count += 1
    return count


def _check(conn: sqlite3.Connection, credit: Credit) -> None:
    where = f"credit {credit.id}"
    if not credit.id.strip():
        raise CreditError("a credit needs an id")
    found = conn.execute(
        "SELECT 1 FROM customers WHERE id = ?", (credit.customer_id,)
    ).fetchone()
    if not found:
        raise CreditError(
            f"{where}: no customer `{credit.customer_id}` in the database"
        )
    if conn.execute("SELECT 1 FROM credits WHERE id = ?", (credit.id,)).fetchone():
        raise CreditError(f"{where}: a credit with this id is already recorded")
    if credit.kind not in CREDIT_KINDS:
        raise CreditError(
            f"{where}: kind {credit.kind!r} is unknown; use one of "
            + ", ".join(CREDIT_KINDS)
        )
    amount = credit.amount
    if amount.amount <= 0:
        raise CreditError(f"{where}: amount {amount} must be more than zero")
    if round_money(amount.amount, amount.currency) != amount.amount:
        raise CreditError(
            f"{where}: amount {amount} has more decimals than {amount.currency} has"
        )
    left = credit.open_amount
    if left is not None and (
        left.currency != amount.currency or not 0 <= left.amount <= amount.amount
    ):
        raise CreditError(f"{where}: open amount {left} must be between 0 and {amount}")


def _audit(
    conn: sqlite3.Connection,
    by: str,
    credit_id: str,
    field: str,
    old: str | None,
    new: str | None,
    source: str,
) -> None:
    conn.execute(
        "INSERT INTO audit_changes (recorded_at, actor, table_name, row_id, field, "
        "old_value, new_value, source) VALUES (?, ?, 'credits', ?, ?, ?, ?, ?)",
        (_now(), by, credit_id, field, old, new, source),
    )


def use_credit(
    conn: sqlite3.Connection,
    credit_id: str,
    amount: Money,
    by: str,
    note: str | None = None,
) -> Money:
    """Record that part or all of a credit was applied (by a clerk, in the
    books); returns what is left of it."""
    row = conn.execute(
        "SELECT open_amount, currency FROM credits WHERE id = ?", (credit_id,)
    ).fetchone()
    if row is None:
        raise CreditError(f"no credit `{credit_id}` in the database")
    left = Money(Decimal(row[0]), row[1])
    if amount.currency != left.currency:
        raise CreditError(
            f"credit {credit_id} is in {left.currency}, not {amount.currency}"
        )
    if not 0 < amount.amount <= left.amount:
        raise CreditError(
            f"credit {credit_id}: {amount} cannot be used, {left} is left of it"
        )
    rest = Money(left.amount - amount.amount, left.currency)
    conn.execute(
        "UPDATE credits SET open_amount = ? WHERE id = ?", (str(rest.amount), credit_id)
    )
    _audit(conn, by, credit_id, "open_amount", str(left), str(rest), note or "used")
    return rest


def credits_of(conn: sqlite3.Connection, customer_id: str) -> list[Credit]:
    """The credits of one customer, oldest first."""
    rows = conn.execute(
        "SELECT id, customer_id, amount, currency, received_on, kind, reference, "
        "open_amount FROM credits WHERE customer_id = ? ORDER BY received_on, id",
        (customer_id,),
    )
    return [
        Credit(
            id=row[0],
            customer_id=row[1],
            amount=Money(Decimal(row[2]), row[3]),
            received_on=dt.date.fromisoformat(row[4]),
            kind=row[5],
            reference=row[6],
            open_amount=Money(Decimal(row[7]), row[3]),
        )
        for row in rows
    ]


def customers_with_credit(conn: sqlite3.Connection) -> set[str]:
    """Customers that have some credit left, in any currency."""
    rows = conn.execute("SELECT customer_id, open_amount FROM credits")
    return {customer for customer, left in rows if Decimal(left) > 0}


def open_credit(
    conn: sqlite3.Connection, customer_id: str, currency: str
) -> tuple[Money, list[str]]:
    """What is left of a customer's credits in one currency, and their ids."""
    total = Decimal(0)
    ids: list[str] = []
    for ident, left in conn.execute(
        "SELECT id, open_amount FROM credits WHERE customer_id = ? AND currency = ? "
        "ORDER BY received_on, id",
        (customer_id, currency),
    ):
        if Decimal(left) > 0:
            total += Decimal(left)
            ids.append(ident)
    return Money(total, currency), ids


def covering_credit(
    conn: sqlite3.Connection,
    policy: Policy,
    customer_id: str,
    open_amount: Money,
    measures: tuple[str, ...],
) -> tuple[str, str] | None:
    """When the customer's credit covers the claim and a measure would contact
    the customer: the credits' ids and the sentence for the clerk."""
    contacts = any(
        name in policy.measures and policy.measures[name].kind in CONTACT_KINDS
        for name in measures
    )
    if not contacts or open_amount.amount <= 0:
        return None
    credit, ids = open_credit(conn, customer_id, open_amount.currency)
    if credit.amount < open_amount.amount:
        return None
    return ", ".join(ids), credit_sentence(credit, open_amount)


def credit_sentence(credit: Money, open_amount: Money) -> str:
    """What a clerk reads about a claim a customer credit covers."""
    return (
        f"customer credit {credit} covers the open {open_amount}; "
        "a clerk should apply it"
    )


def small_balance(
    rule: SmallBalance, open_amount: Money
) -> tuple[str, str, bool] | None:
    """For an open amount above zero and below the limit: the rule as words,
    the reason for the audit trail, and whether to write it off."""
    limit = rule.limit
    if open_amount.currency != limit.currency:
        return None
    if not 0 < open_amount.amount < limit.amount:
        return None
    write_off = rule.action is SmallBalanceAction.WRITE_OFF
    action = "write off" if write_off else "leave"
    text = f"small balance below {limit} {action}"
    if write_off:
        reason = (
            f"small balance: {open_amount} written off (below the limit of {limit})"
        )
    else:
        reason = (
            f"small balance: {open_amount} left open without further dunning "
            f"(below the limit of {limit})"
        )
    return text, reason, write_off


__all__ = [
    "CONTACT_KINDS",
    "CREDIT_KINDS",
    "Credit",
    "CreditError",
    "add_credits",
    "covering_credit",
    "credit_sentence",
    "credits_of",
    "customers_with_credit",
    "open_credit",
    "small_balance",
    "use_credit",
]
