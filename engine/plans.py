"""Payment plans: a claim's open amount split into instalments with dates.

While a claim has a plan and no instalment is overdue, the claim takes no
timed step (no measure, no fee) and is next looked at the day after the next
instalment's due date. Once an instalment is overdue, only what is overdue is
dunned: a measure's open amount and the base of a percentage fee are the
unpaid part of the overdue instalments. Guards and timers
see the due date of the earliest unpaid instalment as `claim.due_date` (so
`claim.days_overdue` counts from it) and the unpaid part of the overdue
instalments as `claim.overdue_amount`. Payments fill the instalments in order.
On the first run after an instalment's due date with the instalment not paid
in full, the engine adds an `instalment_missed` event for the policy to act on.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import logging
import sqlite3
from collections.abc import Iterable, Sequence
from decimal import ROUND_DOWN, Decimal
from typing import Any

from attrs import frozen

from dunlang.model import Money

from .mapping import currency_places
from .measures import round_money
from .promises import (
    ENGINE,
    AgreementError,
    check_date,
    open_claim_row,
    parse_amount,
)
from .store import Store

log = logging.getLogger(__name__)

ONE_DAY = dt.timedelta(days=1)
MAX_INSTALMENTS = 360
UNITS = ("days", "months")


@frozen
class Instalment:
    """One agreed part of a claim's open amount, due on a date."""

    number: int
    due_date: dt.date
    amount: Money
    paid_amount: Money


# ---- making a plan ---------------------------------------------------------------


def schedule(
    open_amount: Money, count: int, first: dt.date, every: int, unit: str
) -> list[tuple[dt.date, Money]]:
    """Equal instalments (the remainder on the last) every `every` days or months."""
    if not 1 <= count <= MAX_INSTALMENTS:
        raise AgreementError(
            f"the number of instalments {count} must be from 1 to {MAX_INSTALMENTS}"
        )
    if every < 1 or unit not in UNITS:
        raise AgreementError(
            f"instalments every {every} {unit}: expected a number of at least 1 "
            "and `days` or `months`"
        )
    step = Decimal(1).scaleb(-currency_places(open_amount.currency))
    share = (open_amount.amount / count).quantize(step, rounding=ROUND_DOWN)
    if share <= 0:
        raise AgreementError(
            f"{open_amount} cannot be split into {count} instalments of at least "
            f"{step} {open_amount.currency}"
        )
    last = open_amount.amount - share * (count - 1)
    dates = [_later(first, every * number, unit) for number in range(count)]
    amounts = [share] * (count - 1) + [last]
    return [
        (due, Money(amount, open_amount.currency))
        for due, amount in zip(dates, amounts, strict=True)
    ]


def _later(first: dt.date, count: int, unit: str) -> dt.date:
    """`count` days or months after `first`; the 31st becomes a month's last day."""
    if unit == "days":
        return first + dt.timedelta(days=count)
    month = first.month - 1 + count
    year, month = first.year + month // 12, month % 12 + 1
    return dt.date(year, month, min(first.day, calendar.monthrange(year, month)[1]))


def parse_instalment(text: str, currency: str) -> tuple[dt.date, Money]:
    """`DATE:AMOUNT` (`2026-04-01:250.00`) as a due date and an amount."""
    date_text, colon, amount_text = text.partition(":")
    if not colon:
        raise AgreementError(
            f"the instalment {text!r} is not written as DATE:AMOUNT "
            "(like 2026-04-01:250.00)"
        )
    try:
        due = dt.date.fromisoformat(date_text.strip())
    except ValueError:
        raise AgreementError(
            f"the instalment {text!r}: {date_text.strip()!r} is not a date written "
            "as YYYY-MM-DD"
        ) from None
    return due, parse_amount(amount_text, currency, f"the instalment {text!r}:")


def add_plan(
    store: Store,
    claim_id: str,
    instalments: Sequence[tuple[dt.date, str | Decimal | Money]],
    *,
    by: str,
) -> list[Instalment]:
    """Store a payment plan for an open claim; the amounts must add up to
    exactly what the claim still owes, the dates must follow each other."""
    if not instalments:
        raise AgreementError("a payment plan needs at least one instalment")
    with store.transaction() as conn:
        claim = open_claim_row(conn, claim_id)
        currency = claim["currency"]
        if conn.execute(
            "SELECT 1 FROM instalments WHERE claim_id = ?", (claim_id,)
        ).fetchone():
            raise AgreementError(f"claim `{claim_id}` already has a payment plan")
        rows: list[tuple[dt.date, Money]] = []
        for number, (due, amount) in enumerate(instalments, start=1):
            money = parse_amount(amount, currency, f"instalment {number}:")
            check_date(claim, due, f"instalment {number}: the due date")
            if rows and due <= rows[-1][0]:
                raise AgreementError(
                    f"instalment {number} is due on {due}, not after instalment "
                    f"{number - 1} ({rows[-1][0]}); list the instalments in order "
                    "of their due dates"
                )
            rows.append((due, money))

        total = sum((amount.amount for _, amount in rows), Decimal(0))
        owed = plan_total(claim)
        if total != owed.amount:
            raise AgreementError(
                f"the instalments add up to {total} {currency}, but claim "
                f"`{claim_id}` still owes {owed}; they must add up to exactly that"
            )
        conn.executemany(
            "INSERT INTO instalments (claim_id, number, due_date, amount) "
            "VALUES (?, ?, ?, ?)",
            [
                (claim_id, number, due.isoformat(), str(amount.amount))
                for number, (due, amount) in enumerate(rows, start=1)
            ],
        )
        summary = "; ".join(
            f"{number}. {amount} due {due}"
            for number, (due, amount) in enumerate(rows, start=1)
        )
        conn.execute(
            "INSERT INTO audit_changes (recorded_at, actor, table_name, row_id, "
            "field, old_value, new_value, source) "
            "VALUES (?, ?, 'claims', ?, 'payment_plan', NULL, ?, 'dunning plan')",
            (_now(), by, claim_id, f"{len(rows)} instalments: {summary}"),
        )
        # The first instalment may fall due before the claim's own next check.
        first = rows[0][0].isoformat()
        conn.execute(
            "UPDATE claims SET next_check = ? WHERE id = ? "
            "AND (next_check IS NULL OR next_check > ?)",
            (first, claim_id, first),
        )
    log.info("claim %s: payment plan of %d instalments", claim_id, len(rows))
    return [
        Instalment(number, due, amount, _zero(currency))
        for number, (due, amount) in enumerate(rows, start=1)
    ]


def plan_total(claim: dict[str, Any]) -> Money:
    """What a plan must add up to: the claim's open amount as the last run left
    it. Payments recorded since then fill the first instalments when a run
    applies them."""
    return Money(Decimal(claim["open_amount"]), claim["currency"])


# ---- what a run sees ---------------------------------------------------------------


def attach(conn: sqlite3.Connection, rows: list[dict[str, Any]]) -> None:
    """Put each claim's plan (if any) into its row under `instalments`."""
    if not rows or conn.execute("SELECT 1 FROM instalments LIMIT 1").fetchone() is None:
        return
    found: dict[str, list[tuple[int, str, str]]] = {}
    marks = ", ".join("?" for _ in rows)
    for claim_id, number, due, amount in conn.execute(
        f"SELECT claim_id, number, due_date, amount FROM instalments "
        f"WHERE claim_id IN ({marks}) ORDER BY claim_id, number",
        [row["id"] for row in rows],
    ):
        found.setdefault(claim_id, []).append((number, due, amount))
    for row in rows:
        plan = found.get(row["id"])
        if plan:
            row["instalments"] = plan


def instalments(
    plan: Iterable[tuple[int, str, str]], open_amount: Money
) -> list[Instalment]:
    """The plan with what is paid of each instalment: the payments made since
    the plan (its total less what is still open) fill them in order."""
    rows = list(plan)
    currency = open_amount.currency
    total = sum((Decimal(amount) for _, _, amount in rows), Decimal(0))
    covered = max(total - open_amount.amount, Decimal(0))
    result: list[Instalment] = []
    for number, due, amount in rows:
        part = Decimal(amount)
        paid = min(part, covered)
        covered -= paid
        result.append(
            Instalment(
                number,
                dt.date.fromisoformat(due),
                Money(part, currency),
                Money(round_money(paid, currency), currency),
            )
        )
    return result


def add_facts(
    claim: dict[str, Any],
    plan: list[tuple[int, str, str]] | None,
    open_amount: Money,
    as_of: dt.date,
) -> None:
    """Set `claim.overdue_amount`, and for a claim with a plan its due date and
    days overdue from the earliest unpaid instalment."""
    if plan is None:
        overdue = claim["days_overdue"] > 0
        zero = _zero(open_amount.currency)
        claim["overdue_amount"] = open_amount if overdue else zero
        return
    parts = instalments(plan, open_amount)
    unpaid = [part for part in parts if part.paid_amount.amount < part.amount.amount]
    if unpaid:
        claim["due_date"] = unpaid[0].due_date
        claim["days_overdue"] = (as_of - unpaid[0].due_date).days
    claim["overdue_amount"] = overdue_amount(parts, as_of, open_amount.currency)


def overdue_amount(parts: list[Instalment], as_of: dt.date, currency: str) -> Money:
    """The unpaid part of the instalments whose due date has passed."""
    unpaid = sum(
        (
            part.amount.amount - part.paid_amount.amount
            for part in parts
            if part.due_date < as_of
        ),
        Decimal(0),
    )
    return Money(round_money(unpaid, currency), currency)


def amount_dunned(row: dict[str, Any], open_amount: Money, as_of: dt.date) -> Money:
    """What a measure asks for: the overdue part under a plan, else all that is open."""
    plan = row.get("instalments")
    if not plan:
        return open_amount
    return overdue_amount(instalments(plan, open_amount), as_of, open_amount.currency)


def resumes_on(
    row: dict[str, Any], open_amount: Money, as_of: dt.date
) -> dt.date | None:
    """For a claim under a payment plan with nothing overdue on `as_of`: the
    first day an instalment can be overdue (the day after the next unpaid
    one's due date). None when the claim has no plan or something is overdue.

    Until then the plan is an agreement the customer keeps: the claim takes
    no timed step, so no measure and no fee.
    """
    plan = row.get("instalments")
    if not plan:
        return None
    parts = instalments(plan, open_amount)
    if overdue_amount(parts, as_of, open_amount.currency).amount > 0:
        return None
    unpaid = [part for part in parts if part.paid_amount.amount < part.amount.amount]
    if not unpaid:
        return None
    return unpaid[0].due_date + ONE_DAY


def waiting_note(
    conn: sqlite3.Connection, claim: dict[str, Any], as_of: dt.date
) -> list[str]:
    """What `why` says of a claim its payment plan keeps out of dunning."""
    rows: list[dict[str, Any]] = [dict(claim)]
    attach(conn, rows)
    if claim.get("settled_on"):
        return []
    open_amount = Money(Decimal(claim["open_amount"]), claim["currency"])
    resumes = resumes_on(rows[0], open_amount, as_of)
    if resumes is None:
        return []
    return [
        "under a payment plan with no instalment overdue: it takes no timed step, "
        f"measure or fee; its next check is {resumes}, the day after the next "
        "instalment falls due, and if that instalment is then unpaid dunning "
        "resumes for the overdue part only."
    ]


def store_paid(
    conn: sqlite3.Connection, works: Iterable[tuple[dict[str, Any], Money]]
) -> None:
    """Write what is paid of each instalment after a run moved the open amounts."""
    updates = [
        (str(part.paid_amount.amount), row["id"], part.number)
        for row, open_amount in works
        if row.get("instalments")
        for part in instalments(row["instalments"], open_amount)
    ]
    conn.executemany(
        "UPDATE instalments SET paid_amount = ? WHERE claim_id = ? AND number = ?",
        updates,
    )


def mark_missed(conn: sqlite3.Connection, as_of: dt.date, run_id: int) -> int:
    """Add an `instalment_missed` event for each instalment whose due date has
    passed unpaid; returns how many were added.

    What counts is what was paid by the due date: the payments a run has
    already applied and those recorded with a date up to the due date.
    """
    day = as_of.isoformat()
    due = conn.execute(
        "SELECT DISTINCT i.claim_id FROM instalments i JOIN claims c "
        "ON c.id = i.claim_id WHERE i.missed_run IS NULL AND i.due_date < ? "
        "AND i.paid_amount != i.amount AND c.settled_on IS NULL",
        (day,),
    ).fetchall()
    added = 0
    for (claim_id,) in due:
        claim = conn.execute(
            "SELECT customer_id, currency, open_amount FROM claims WHERE id = ?",
            (claim_id,),
        ).fetchone()
        customer_id, currency, stored_open = claim
        plan = conn.execute(
            "SELECT number, due_date, amount, missed_run FROM instalments "
            "WHERE claim_id = ? ORDER BY number",
            (claim_id,),
        ).fetchall()
        total = sum((Decimal(row[2]) for row in plan), Decimal(0))
        applied = max(total - Decimal(stored_open), Decimal(0))
        owed_by = Decimal(0)
        for number, due_date, amount, missed_run in plan:
            owed_by += Decimal(amount)
            if missed_run is not None or due_date >= day:
                continue
            pending = conn.execute(
                "SELECT coalesce(sum(amount), 0) FROM payments WHERE claim_id = ? "
                "AND applied_run IS NULL AND paid_on <= ?",
                (claim_id, due_date),
            ).fetchone()[0]
            paid = applied + Decimal(str(pending))
            if paid >= owed_by:
                continue
            received = max(paid - (owed_by - Decimal(amount)), Decimal(0))
            reason = (
                f"instalment {number} of {len(plan)}: {amount} {currency} due "
                f"{due_date}, received {received} {currency}"
            )
            missed_on = dt.date.fromisoformat(due_date) + ONE_DAY
            conn.execute(
                "INSERT OR IGNORE INTO events (id, claim_id, customer_id, kind, "
                "happened_on, amount, reason, actor) "
                "VALUES (?, ?, ?, 'instalment_missed', ?, ?, ?, ?)",
                (
                    f"{claim_id}/instalment/{number}/missed",
                    claim_id,
                    customer_id,
                    missed_on.isoformat(),
                    amount,
                    reason,
                    ENGINE,
                ),
            )
            conn.execute(
                "UPDATE instalments SET missed_run = ? WHERE claim_id = ? "
                "AND number = ?",
                (run_id, claim_id, number),
            )
            log.info("claim %s: %s", claim_id, reason)
            added += 1
    return added


def describe_plan(
    conn: sqlite3.Connection, claim: dict[str, Any], as_of: dt.date
) -> list[str]:
    """The claim's plan as `why` states it: which instalments are overdue."""
    rows: list[dict[str, Any]] = [dict(claim)]
    attach(conn, rows)
    plan = rows[0].get("instalments")
    if not plan or claim.get("settled_on"):
        return []
    currency = claim["currency"]
    parts = instalments(plan, Money(Decimal(claim["open_amount"]), currency))
    overdue = [
        part
        for part in parts
        if part.due_date < as_of and part.paid_amount.amount < part.amount.amount
    ]
    upcoming = [
        part
        for part in parts
        if part.due_date >= as_of and part.paid_amount.amount < part.amount.amount
    ]
    lines = [f"payment plan of {len(parts)} instalments"]
    if overdue:
        lines.append(
            "overdue: "
            + ", ".join(
                f"instalment {part.number} of {part.amount} due {part.due_date} "
                f"(paid {part.paid_amount})"
                for part in overdue
            )
            + f"; {overdue_amount(parts, as_of, currency)} overdue in all"
        )
    else:
        lines.append("no instalment is overdue")
    if upcoming:
        part = upcoming[0]
        lines.append(
            f"next: instalment {part.number} of {part.amount} due {part.due_date}"
        )
    return ["; ".join(lines)]


def overdue_on(
    conn: sqlite3.Connection, claims: Sequence[tuple[str, Money]], on: dt.date
) -> dict[str, Money]:
    """For the claims (id, open amount as the last run left it) that have a
    payment plan: the unpaid part of their instalments overdue on `on`.

    What a notice or call about such a claim asks for; claims without a plan
    are not in the result.
    """
    rows: list[dict[str, Any]] = [{"id": claim_id} for claim_id, _ in claims]
    attach(conn, rows)
    found: dict[str, Money] = {}
    for row, (claim_id, open_amount) in zip(rows, claims, strict=True):
        plan = row.get("instalments")
        if plan:
            parts = instalments(plan, open_amount)
            found[claim_id] = overdue_amount(parts, on, open_amount.currency)
    return found


@functools.cache
def _zero(currency: str) -> Money:
    return Money(round_money(Decimal(0), currency), currency)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


__all__ = [
    "Instalment",
    "add_plan",
    "mark_missed",
    "resumes_on",
    "schedule",
    "waiting_note",
]
