"""Promises to pay and disputes: agreements with a customer that pause dunning.

Both arrive as events (`promise_given`, `dispute_opened`, `dispute_resolved`)
that the policy's event rules act on. The engine judges a promise itself: at
the start of each run it adds a `promise_kept` event once the payments dated
from the promise up to its end date reach the promised amount, or a
`promise_broken` event on the first run after the end date when they do not.
The added events are ordinary rows of `events` (actor `engine`), with ids
derived from the promise, so a day run twice never adds them twice.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import sqlite3
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from operator import itemgetter
from typing import Any

from dunlang.model import Money

from .mapping import too_precise
from .measures import round_money
from .store import Store

log = logging.getLogger(__name__)

ENGINE = "engine"
"""The actor of the events the engine adds itself."""

ONE_DAY = dt.timedelta(days=1)
OUTCOMES = ("kept", "broken")


class AgreementError(ValueError):
    """A promise, dispute or payment plan cannot be recorded; nothing was stored."""


# ---- shared checks ------------------------------------------------------------


def claim_row(conn: sqlite3.Connection, claim_id: str) -> dict[str, Any]:
    """The stored claim, or AgreementError when no claim has that id."""
    cursor = conn.execute("SELECT * FROM claims WHERE id = ?", (claim_id,))
    row = cursor.fetchone()
    if row is None:
        raise AgreementError(f"no claim `{claim_id}` in the database")
    return dict(zip([c[0] for c in cursor.description], row, strict=True))


def open_claim_row(conn: sqlite3.Connection, claim_id: str) -> dict[str, Any]:
    """The stored claim if it is still open, else AgreementError."""
    claim = claim_row(conn, claim_id)
    if claim["settled_on"]:
        raise AgreementError(
            f"claim `{claim_id}` was settled on {claim['settled_on']}; nothing is "
            "left to agree on"
        )
    return claim


def open_amount_now(
    conn: sqlite3.Connection, claim: dict[str, Any], on: dt.date | None = None
) -> Money:
    """What the customer still owes once the recorded, not yet applied payments
    and credit notes are taken off the claim's open amount; with `on`, only
    those dated on or before that day (a later payment is not made yet)."""
    last = on.isoformat() if on is not None else "9999-12-31"
    pending = conn.execute(
        "SELECT amount FROM payments WHERE claim_id = ? AND applied_run IS NULL "
        "AND paid_on <= ?",
        (claim["id"], last),
    ).fetchall()
    left = Decimal(claim["open_amount"]) - sum(
        (Decimal(amount) for (amount,) in pending), Decimal(0)
    )
    return Money(max(left, Decimal(0)), claim["currency"])


def parse_amount(text: str | Decimal | Money, currency: str, what: str) -> Money:
    """A positive amount in the claim's currency, or AgreementError saying why not."""
    if isinstance(text, Money):
        if text.currency != currency:
            raise AgreementError(
                f"{what} {text} is not in the claim's currency ({currency})"
            )
        text = text.amount
    try:
        amount = Decimal(str(text).strip())
    except InvalidOperation:
        raise AgreementError(
            f"{what} {str(text)!r} is not an amount (expected a number such as "
            "500.00, with a dot for the decimals)"
        ) from None
    if not amount.is_finite() or amount <= 0:
        raise AgreementError(f"{what} {str(text)!r} must be more than zero")
    problem = too_precise(str(amount), currency)
    if problem:
        raise AgreementError(f"{what} {problem}")
    return Money(round_money(amount, currency), currency)


def check_date(claim: dict[str, Any], on: dt.date, what: str) -> None:
    """A date of an agreement may not lie before the claim was issued."""
    if on.isoformat() < claim["issue_date"]:
        raise AgreementError(
            f"{what} {on} is before claim `{claim['id']}` was issued "
            f"({claim['issue_date']})"
        )


def free_id(conn: sqlite3.Connection, table: str, prefix: str) -> str:
    """The first id `prefix/N` (N = 1, 2, ...) not yet used in `table`."""
    number = 1
    while conn.execute(
        f"SELECT 1 FROM {table} WHERE id = ?", (f"{prefix}/{number}",)
    ).fetchone():
        number += 1
    return f"{prefix}/{number}"


def _insert_event(
    conn: sqlite3.Connection,
    ident: str,
    claim: dict[str, Any],
    kind: str,
    on: dt.date,
    reason: str | None,
    actor: str,
    until: dt.date | None = None,
    amount: Money | None = None,
) -> None:
    conn.execute(
        "INSERT INTO events (id, claim_id, customer_id, kind, happened_on, until, "
        "amount, reason, actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            ident,
            claim["id"],
            claim["customer_id"],
            kind,
            on.isoformat(),
            until.isoformat() if until else None,
            str(amount.amount) if amount else None,
            reason,
            actor,
        ),
    )


# ---- promises to pay ------------------------------------------------------------


def check_promise_timing(
    conn: sqlite3.Connection, claim: dict[str, Any], on: dt.date, until: dt.date
) -> None:
    """A promise must still be able to change the claim's course: the claim is
    not with a collection agency, the promise is not dated before an event
    already applied to the claim, and its end date is after the last run (a
    promise that ended before it would count as broken at once)."""
    claim_id = claim["id"]
    if claim.get("agency"):
        raise AgreementError(
            f"claim `{claim_id}` is with the collection agency {claim['agency']}; "
            "the agency collects it now, so a promise is agreed with the agency"
        )

    latest = conn.execute(
        "SELECT happened_on, kind FROM events WHERE claim_id = ? "
        "AND applied_run IS NOT NULL ORDER BY happened_on DESC, id DESC LIMIT 1",
        (claim_id,),
    ).fetchone()
    if latest and on.isoformat() < latest[0]:
        raise AgreementError(
            f"the day of the promise {on} is before the latest event already "
            f"applied to claim `{claim_id}` ({latest[1]} on {latest[0]}); a run "
            "cannot go back to it: give the day the promise was made, on or after "
            f"{latest[0]}"
        )

    last_run = conn.execute(
        "SELECT max(as_of) FROM runs WHERE status = 'done'"
    ).fetchone()[0]
    if last_run and until.isoformat() < last_run:
        raise AgreementError(
            f"the promise ends on {until}, before the last run ({last_run}); it "
            "would count as broken at once: give an end date on or after "
            f"{last_run}"
        )


def give_promise(
    store: Store,
    claim_id: str,
    amount: str | Decimal | Money,
    until: dt.date,
    *,
    on: dt.date,
    by: str,
) -> str:
    """Record a customer's promise to pay `amount` by `until`; the id of the
    `promise_given` event the next run applies."""
    with store.transaction() as conn:
        claim = open_claim_row(conn, claim_id)
        promised = parse_amount(amount, claim["currency"], "the promised amount")
        check_date(claim, on, "the day of the promise")
        if until < on:
            raise AgreementError(
                f"the promise ends on {until}, before it was given ({on}); give an "
                "end date on or after the day of the promise"
            )
        owed = open_amount_now(conn, claim, on)
        if promised.amount > owed.amount:
            raise AgreementError(
                f"the promised amount {promised} is more than claim `{claim_id}` "
                f"still owes ({owed}) on {on}, the day of the promise"
            )
        check_promise_timing(conn, claim, on, until)
        ident = free_id(conn, "events", f"{claim_id}/promise")
        reason = f"promised {promised} by {until}"
        _insert_event(
            conn, ident, claim, "promise_given", on, reason, by, until, promised
        )
    log.info("claim %s: %s (event %s)", claim_id, reason, ident)
    return ident


def judge_promises(conn: sqlite3.Connection, as_of: dt.date) -> int:
    """Add `promise_kept` or `promise_broken` for each promise that is decided
    by `as_of`; returns how many events were added.

    A promise counts from the day it was given up to its end date. A later
    promise given before that end date replaces it and is judged instead.
    """
    day = as_of.isoformat()
    rows = conn.execute(
        "SELECT e.id, e.claim_id, c.customer_id, c.currency, e.happened_on, "
        "e.until, e.amount, EXISTS (SELECT 1 FROM events o "
        "WHERE o.id IN (e.id || '/kept', e.id || '/broken')) "
        "FROM events e JOIN claims c ON c.id = e.claim_id "
        "WHERE e.kind = 'promise_given' AND e.happened_on <= ? "
        "AND c.settled_on IS NULL ORDER BY e.claim_id, e.happened_on, e.id",
        (day,),
    ).fetchall()
    added = 0
    for _, group in itertools.groupby(rows, key=itemgetter(1)):
        promises = list(group)
        for at, row in enumerate(promises):
            if _superseded(row, promises[at + 1 :]):
                continue
            added += _judge(conn, row, day)
    return added


def _superseded(row: tuple[Any, ...], later: list[tuple[Any, ...]]) -> bool:
    """Decided already, not judgeable, or replaced by a promise given before
    its end date."""
    until, amount, decided = row[5], row[6], row[7]
    if decided or not until or not amount:
        return True
    return any(other[4] <= until for other in later)


def _judge(conn: sqlite3.Connection, row: tuple[Any, ...], day: str) -> int:
    """Add the outcome event of one promise if it is decided; 1 if added."""
    ident, claim_id, customer_id, currency, given, until, amount, _ = row
    promised = Money(Decimal(amount), currency)
    received, met_on = _received(conn, claim_id, given, min(until, day), promised)
    if met_on is not None:
        outcome, on = "kept", met_on
        reason = f"promised {promised} by {until}, received {received} by {on}"
    elif until < day:
        outcome = "broken"
        on = (dt.date.fromisoformat(until) + ONE_DAY).isoformat()
        reason = f"promised {promised} by {until}, received {received}"
    else:
        return 0

    conn.execute(
        "INSERT OR IGNORE INTO events (id, claim_id, customer_id, kind, "
        "happened_on, amount, reason, actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            f"{ident}/{outcome}",
            claim_id,
            customer_id,
            f"promise_{outcome}",
            on,
            str(received.amount),
            reason,
            ENGINE,
        ),
    )
    # The promise is no longer in force; the same transaction says so.
    conn.execute(
        "UPDATE claims SET promise_until = NULL, promise_amount = NULL "
        "WHERE id = ? AND promise_until = ? AND promise_amount = ?",
        (claim_id, until, amount),
    )
    log.info("claim %s: promise %s %s: %s", claim_id, ident, outcome, reason)
    return 1


def _received(
    conn: sqlite3.Connection, claim_id: str, first: str, last: str, promised: Money
) -> tuple[Money, str | None]:
    """The payments dated first..last, and the day they reached the promise."""
    total = Decimal(0)
    met_on: str | None = None
    for amount, paid_on in conn.execute(
        "SELECT amount, paid_on FROM payments WHERE claim_id = ? AND kind = 'payment' "
        "AND paid_on BETWEEN ? AND ? ORDER BY paid_on, id",
        (claim_id, first, last),
    ):
        total += Decimal(amount)
        if met_on is None and total >= promised.amount:
            met_on = paid_on
    return Money(round_money(total, promised.currency), promised.currency), met_on


def note_applied(conn: sqlite3.Connection, items: Iterable[dict[str, Any]]) -> None:
    """After a run applied `promise_given` events: keep the promise in force on
    the claim, and have the run look at the claim the day after it ends."""
    for item in items:
        if item["table"] != "event" or item["kind"] != "promise_given":
            continue
        conn.execute(
            "UPDATE claims SET promise_until = e.until, promise_amount = e.amount, "
            "next_check = CASE WHEN claims.next_check IS NULL "
            "OR claims.next_check > date(e.until, '+1 day') "
            "THEN date(e.until, '+1 day') ELSE claims.next_check END "
            "FROM events e WHERE e.id = ? AND claims.id = e.claim_id "
            "AND e.until IS NOT NULL AND e.amount IS NOT NULL "
            "AND claims.settled_on IS NULL AND NOT EXISTS (SELECT 1 FROM events o "
            "WHERE o.id IN (e.id || '/kept', e.id || '/broken'))",
            (item["id"],),
        )


def next_check(
    day: dt.date | None,
    row: dict[str, Any],
    settled_on: dt.date | None,
    as_of: dt.date,
) -> dt.date | None:
    """The claim's next check, brought forward to the day after a promise in
    force ends, so that the run judging it also looks at the claim."""
    until = row.get("promise_until")
    if not until or settled_on is not None:
        return day
    check = dt.date.fromisoformat(until) + ONE_DAY
    if check <= as_of:
        return day
    return check if day is None or check < day else day


def describe_promise(conn: sqlite3.Connection, claim: dict[str, Any]) -> list[str]:
    """The promise in force on a claim, as `why` states it."""
    until, amount = claim.get("promise_until"), claim.get("promise_amount")
    if not until or not amount or claim.get("settled_on"):
        return []
    currency = claim["currency"]
    promised = Money(Decimal(amount), currency)
    given = conn.execute(
        "SELECT actor, happened_on FROM events WHERE claim_id = ? "
        "AND kind = 'promise_given' AND until = ? AND amount = ? "
        "ORDER BY happened_on DESC, id DESC LIMIT 1",
        (claim["id"], until, amount),
    ).fetchone()
    origin = f" (given by {given[0]} on {given[1]})" if given else ""
    received, _ = _received(
        conn, claim["id"], given[1] if given else "", until, promised
    )
    broken_on = dt.date.fromisoformat(until) + ONE_DAY
    return [
        f"promised {promised} by {until}{origin}; received {received} so far; "
        f"if less than {promised} is paid by then, the promise counts as broken "
        f"on {broken_on}"
    ]


# ---- disputes -----------------------------------------------------------------


def open_dispute_of(conn: sqlite3.Connection, claim_id: str) -> tuple[str, str] | None:
    """The id and day of the claim's open dispute, or None when there is none."""
    last = conn.execute(
        "SELECT id, kind, happened_on FROM events WHERE claim_id = ? "
        "AND kind IN ('dispute_opened', 'dispute_resolved') "
        "ORDER BY happened_on DESC, kind = 'dispute_resolved' DESC, id DESC LIMIT 1",
        (claim_id,),
    ).fetchone()
    if last is None or last[1] != "dispute_opened":
        return None
    return str(last[0]), str(last[2])


def open_dispute(
    store: Store, claim_id: str, reason: str, *, on: dt.date, by: str
) -> str:
    """Record that the customer disputes the claim; the id of the
    `dispute_opened` event the next run applies."""
    if not reason.strip():
        raise AgreementError("give the reason for the dispute (--reason TEXT)")
    with store.transaction() as conn:
        claim = open_claim_row(conn, claim_id)
        check_date(claim, on, "the day the dispute was opened")
        already = open_dispute_of(conn, claim_id)
        if already:
            raise AgreementError(
                f"claim `{claim_id}` already has an open dispute (event {already[0]}, "
                f"opened on {already[1]}); resolve it first"
            )
        ident = free_id(conn, "events", f"{claim_id}/dispute")
        _insert_event(conn, ident, claim, "dispute_opened", on, reason.strip(), by)
    log.info("claim %s: dispute opened (event %s)", claim_id, ident)
    return ident


def resolve_dispute(
    store: Store,
    claim_id: str,
    outcome: str,
    *,
    amount: str | Decimal | Money | None = None,
    note: str | None = None,
    on: dt.date,
    by: str,
) -> tuple[str, ...]:
    """Close the claim's open dispute; in the customer's favour a credit note of
    `amount` (default: all that is still open) is booked first. Returns the ids
    of what was recorded: the credit note (if any), then the event."""
    if outcome not in ("customer", "company"):
        raise AgreementError(
            f"the outcome {outcome!r} is not known; expected `customer` (the "
            "customer was right) or `company` (the claim stands)"
        )
    with store.transaction() as conn:
        claim = claim_row(conn, claim_id)
        dispute = open_dispute_of(conn, claim_id)
        if dispute is None:
            raise AgreementError(f"claim `{claim_id}` has no open dispute to resolve")
        opened, opened_on = dispute
        if on.isoformat() < opened_on:
            raise AgreementError(
                f"the dispute cannot be resolved on {on}, before it was opened "
                f"({opened_on})"
            )
        owed = open_amount_now(conn, claim)
        recorded: list[str] = []
        credit: Money | None = None
        if outcome == "company" and amount is not None:
            raise AgreementError(
                "an amount is credited only when the customer was right "
                "(--outcome customer)"
            )
        if outcome == "customer":
            credit = (
                owed
                if amount is None
                else parse_amount(amount, claim["currency"], "the credited amount")
            )
            if credit.amount > owed.amount:
                raise AgreementError(
                    f"the credited amount {credit} is more than claim `{claim_id}` "
                    f"still owes ({owed})"
                )
        if credit is not None and credit.amount > 0:
            payment = free_id(conn, "payments", f"{opened}/credit")
            conn.execute(
                "INSERT INTO payments (id, claim_id, amount, currency, paid_on, kind) "
                "VALUES (?, ?, ?, ?, ?, 'credit_note')",
                (payment, claim_id, str(credit.amount), credit.currency, _iso(on)),
            )
            recorded.append(payment)

        favour = "the customer's" if outcome == "customer" else "the company's"
        reason = f"resolved in {favour} favour" + (
            f", credit note of {credit}" if credit is not None else ""
        )
        if note and note.strip():
            reason += f": {note.strip()}"
        ident = free_id(conn, "events", f"{opened}/resolved")
        _insert_event(conn, ident, claim, "dispute_resolved", on, reason, by)
        recorded.append(ident)
    log.info("claim %s: dispute %s %s", claim_id, opened, reason)
    return tuple(recorded)


def _iso(day: dt.date | str) -> str:
    return day if isinstance(day, str) else day.isoformat()


__all__ = [
    "AgreementError",
    "give_promise",
    "judge_promises",
    "open_dispute",
    "resolve_dispute",
]
