"""Call lists and call results: the phone measures of the outbox as work for people.

A run records each `phone` measure as a pending outbox item in its queue. The
call list shows, for each pending or failed phone item, whom to call, why and
how much is at stake. The result of a call is recorded on the item (through
`engine.outbox.record_delivery`, so every attempt is in the `deliveries`
table): a customer reached closes it, no answer leaves it on the list for
another attempt, and a promise to pay closes it and records a `promise_given`
event that the next run applies.

The call list of a day leaves out items queued by a run after that day and
items of claims on hold that day (`calls_on` says which and why). A call
result is recorded on a held claim all the same: the call may have been made
before the hold, and it changes no claim by itself.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import sqlite3
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from attrs import frozen

from dunlang.model import Money

from . import plans
from .charges import charges_summary
from .interest import BaseRateTable, InterestError
from .mapping import quote, too_precise
from .measures import round_money
from .outbox import (
    DONE,
    FAILED,
    PENDING,
    HeldBack,
    held_back,
    interest_problem,
    record_delivery,
)
from .store import Store

__all__ = [
    "CALL_COLUMNS",
    "OUTCOMES",
    "CallError",
    "CallItem",
    "CallList",
    "CallResult",
    "call_list",
    "calls_on",
    "call_rows",
    "customer_phone",
    "money_text",
    "record_call",
    "render_calls",
]

log = logging.getLogger(__name__)

PHONE = "phone"
REACHED, NO_ANSWER, PROMISE = "reached", "no-answer", "promise"
OUTCOMES = (REACHED, NO_ANSWER, PROMISE)
"""What a call can come to."""
PROMISE_EVENT = "promise_given"

CALL_COLUMNS = (
    "item_id",
    "queue",
    "claim_id",
    "customer_id",
    "customer_name",
    "phone",
    "state",
    "measure",
    "days_overdue",
    "currency",
    "open_amount",
    "fees",
    "interest",
    "attempts",
    "last_note",
    "reason",
)
"""The columns of a call list in CSV and JSON, in this order."""


class CallError(ValueError):
    """A call result that cannot be recorded as given; nothing was written."""


@frozen
class CallItem:
    """One line of the call list: whom to call, why, and how much is open."""

    item_id: int
    queue: str
    claim_id: str
    customer_id: str
    customer_name: str
    phone: str | None
    state: str | None
    measure: str
    days_overdue: int
    open_amount: Money
    """All that is open; under a payment plan the overdue part of the instalments."""
    fees: Money
    interest: Money | None
    """None when interest cannot be computed (see `CallList.interest_problem`)."""
    attempts: int
    last_note: str | None
    reason: str
    status: str
    plan_overdue: bool = False
    """The claim is under a payment plan: `open_amount` is its overdue part."""


@frozen
class CallResult:
    """What recording a call did: the item's new status and any event added."""

    item_id: int
    claim_id: str
    outcome: str
    status: str
    attempts: int
    event_id: str | None = None


@frozen
class CallList:
    """The calls to make on a day, and the phone items left off the list."""

    items: tuple[CallItem, ...]
    held_back: tuple[HeldBack, ...] = ()
    interest_problem: str | None = None
    """Why the interest of some items is unknown (an out-of-date base rate table)."""


# ---- the call list ------------------------------------------------------------


def customer_phone(attributes: str | None) -> str | None:
    """The `phone` attribute of a customer (an extra column of the import)."""
    values = json.loads(attributes or "{}")
    phone = values.get("phone") if isinstance(values, dict) else None
    if phone is None:
        return None
    return str(phone).strip() or None


def call_list(
    conn: sqlite3.Connection,
    on: dt.date,
    *,
    queue: str | None = None,
    base_rates: BaseRateTable | None = None,
) -> list[CallItem]:
    """The phone items still to call (pending or failed), oldest and largest first.

    Claims that are settled are left out: there is nothing to call about.
    Sorted by days overdue (most first), then open amount (largest first), then
    claim id and item, so the list reads the same on every call. Interest not
    yet booked is worked out with `base_rates` (default: the bundled table).
    """
    return list(calls_on(conn, on, queue=queue, base_rates=base_rates).items)


def calls_on(
    conn: sqlite3.Connection,
    on: dt.date,
    *,
    queue: str | None = None,
    base_rates: BaseRateTable | None = None,
) -> CallList:
    """The call list of a day (as `call_list`), and the phone items left off it:
    those queued by a run after `on` and those of claims on hold on `on`."""
    select = (
        "SELECT m.id, coalesce(m.queue, ''), m.claim_id, m.customer_id, "
        "coalesce(u.name, ''), u.attributes, c.state, m.measure, c.due_date, "
        "c.open_amount, c.currency, m.attempts, m.last_error, t.rule, t.reason, "
        "m.status, m.as_of FROM measures m JOIN claims c ON c.id = m.claim_id "
        "LEFT JOIN customers u ON u.id = m.customer_id "
        "LEFT JOIN transitions t ON t.id = m.transition_id "
        "WHERE m.kind = ? AND m.status IN (?, ?) AND c.settled_on IS NULL"
    )
    parameters: list[object] = [PHONE, PENDING, FAILED]
    if queue is not None:
        select += " AND m.queue = ?"
        parameters.append(queue)
    rows = conn.execute(select, parameters).fetchall()
    held = tuple(
        held_back(
            conn, [(row[0], row[2], dt.date.fromisoformat(row[16])) for row in rows], on
        )
    )
    aside = {ident for group in held for ident in group.items}
    rows = [row[:16] for row in rows if row[0] not in aside]
    charges, problem = _charges(conn, sorted({row[2] for row in rows}), on, base_rates)
    overdue = plans.overdue_on(
        conn,
        list({row[2]: Money(Decimal(row[9]), row[10]) for row in rows}.items()),
        on,
    )

    items = []
    for row in rows:
        (ident, queue_name, claim, customer, name, attributes, state, measure) = row[:8]
        due, open_text, currency, attempts, note, rule, reason, status = row[8:]
        fees, interest = charges[claim]
        items.append(
            CallItem(
                item_id=ident,
                queue=queue_name,
                claim_id=claim,
                customer_id=customer,
                customer_name=name,
                phone=customer_phone(attributes),
                state=state,
                measure=measure,
                days_overdue=(on - dt.date.fromisoformat(due)).days,
                open_amount=overdue.get(claim, Money(Decimal(open_text), currency)),
                fees=fees,
                interest=interest,
                attempts=attempts,
                last_note=note,
                reason=f"{rule}: {reason}" if rule else "",
                status=status,
                plan_overdue=claim in overdue,
            )
        )
    items.sort(
        key=lambda i: (-i.days_overdue, -i.open_amount.amount, i.claim_id, i.item_id)
    )
    log.debug("call list for %s: %s items", on, len(items))
    return CallList(tuple(items), held, problem)


def _charges(
    conn: sqlite3.Connection,
    claims: Sequence[str],
    on: dt.date,
    base_rates: BaseRateTable | None = None,
) -> tuple[dict[str, tuple[Money, Money | None]], str | None]:
    """Fees and interest per claim on `on`; interest None where it cannot be
    computed (a base rate table that ends before `on`), and why."""
    found: dict[str, tuple[Money, Money | None]] = {}
    problem = None
    for claim in claims:
        try:
            owed = charges_summary(conn, [claim], on, base_rates=base_rates)[claim]
        except InterestError as error:
            problem = problem or interest_problem(error)
            found[claim] = (_open_fees(conn, claim, on), None)
            continue
        found[claim] = (owed.fees, owed.interest)
    return found, problem


def _open_fees(conn: sqlite3.Connection, claim: str, on: dt.date) -> Money:
    """The open fees of a claim on `on`, without its interest."""
    currency = conn.execute(
        "SELECT currency FROM claims WHERE id = ?", (claim,)
    ).fetchone()[0]
    rows = conn.execute(
        "SELECT open_amount FROM charges WHERE claim_id = ? AND kind != 'interest' "
        "AND as_of <= ?",
        (claim, on.isoformat()),
    )
    return Money(sum((Decimal(row[0]) for row in rows), Decimal(0)), currency)


def money_text(money: Money) -> str:
    """An amount with its currency's decimals and no currency code."""
    return str(round_money(money.amount, money.currency))


def call_rows(items: Iterable[CallItem]) -> list[dict[str, Any]]:
    """The call list as plain rows (CALL_COLUMNS), as CSV and JSON write them."""
    return [
        {
            "item_id": item.item_id,
            "queue": item.queue,
            "claim_id": item.claim_id,
            "customer_id": item.customer_id,
            "customer_name": item.customer_name,
            "phone": item.phone,
            "state": item.state,
            "measure": item.measure,
            "days_overdue": item.days_overdue,
            "currency": item.open_amount.currency,
            "open_amount": money_text(item.open_amount),
            "fees": money_text(item.fees),
            "interest": None if item.interest is None else money_text(item.interest),
            "attempts": item.attempts,
            "last_note": item.last_note,
            "reason": item.reason,
        }
        for item in items
    ]


def render_calls(items: Sequence[CallItem], form: str = "table") -> str:
    """The call list as an aligned table, CSV (with a header) or a JSON list."""
    rows = call_rows(items)
    if form == "json":
        return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    if form == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=CALL_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()
    if not items:
        return "nothing to call\n"

    header: tuple[str, ...] = ("claim", "customer", "name", "phone", "state")
    header += ("days", "open", "fees", "interest", "tries", "why")
    lines: list[tuple[str, ...]] = [header]
    for row in rows:
        lines.append(
            (
                row["claim_id"],
                row["customer_id"],
                row["customer_name"],
                row["phone"] or "-",
                row["state"] or "-",
                str(row["days_overdue"]),
                f"{row['open_amount']} {row['currency']}",
                row["fees"],
                row["interest"] or "?",
                str(row["attempts"]),
                row["reason"],
            )
        )
    widths = [max(len(line[at]) for line in lines) for at in range(len(header) - 1)]
    right = {5, 6, 7, 8, 9}  # numbers line up on the right
    text = []
    for line in lines:
        cells = [
            cell.rjust(width) if at in right else cell.ljust(width)
            for at, (cell, width) in enumerate(zip(line, widths, strict=False))
        ]
        text.append("  ".join([*cells, line[-1]]).rstrip())
    return "\n".join(text) + "\n"


# ---- call results -------------------------------------------------------------


def record_call(
    store: Store,
    claim_id: str,
    outcome: str,
    *,
    on: dt.date,
    until: dt.date | None = None,
    amount: str | Decimal | None = None,
    note: str | None = None,
    by: str = "staff",
    at: dt.datetime | None = None,
) -> CallResult:
    """Record the outcome of a call on the claim's oldest open phone item.

    `reached` closes the item (done); `no-answer` marks it failed, so it stays
    on the call list with one more attempt; `promise` closes it and adds a
    `promise_given` event (dated `on`, with `until`, `amount` and `by` as the
    actor) for the next run. A call cannot be made before the run that queued
    it; a claim on hold may still get its call recorded. Every argument is
    checked before anything is written; CallError says what is wrong.
    """
    conn = store.conn
    if outcome not in OUTCOMES:
        choices = ", ".join(f"`{o}`" for o in OUTCOMES)
        raise CallError(f"{quote(outcome)} is not an outcome of a call ({choices})")
    claim = conn.execute(
        "SELECT open_amount, currency FROM claims WHERE id = ?", (claim_id,)
    ).fetchone()
    if claim is None:
        raise CallError(f"there is no claim {quote(claim_id)}")
    item = conn.execute(
        "SELECT id, attempts, as_of FROM measures WHERE claim_id = ? AND kind = ? "
        "AND status IN (?, ?) ORDER BY id LIMIT 1",
        (claim_id, PHONE, PENDING, FAILED),
    ).fetchone()
    if item is None:
        raise CallError(
            f"claim {quote(claim_id)} has no open phone call in the outbox (none "
            "pending or failed); there is nothing to record the call on"
        )
    queued = dt.date.fromisoformat(item[2])
    if on < queued:
        raise CallError(
            f"the call on {on.isoformat()} is before {queued.isoformat()}, the day "
            f"the run queued phone item {item[0]} of claim {quote(claim_id)}; give "
            f"--on {queued.isoformat()} or a later day"
        )
    open_amount = Money(Decimal(claim[0]), claim[1])
    promised = _check_promise(outcome, on, until, amount, open_amount)

    status = FAILED if outcome == NO_ANSWER else DONE
    detail = f"{outcome} by {by} on {on.isoformat()}"
    if until is not None:
        detail += f", promised by {until.isoformat()}"
        detail += f" ({promised})" if promised else ""
    if note:
        detail += f": {note}"
    event_id = f"call-{item[0]}" if outcome == PROMISE else None

    with store.transaction():
        record_delivery(
            conn, item[0], channel=PHONE, status=status, detail=detail, at=at
        )
        if event_id is not None:
            assert until is not None
            conn.execute(
                "INSERT INTO events (id, claim_id, kind, happened_on, until, amount, "
                "reason, actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    event_id,
                    claim_id,
                    PROMISE_EVENT,
                    on.isoformat(),
                    until.isoformat(),
                    str(promised.amount) if promised else None,
                    note or f"promised on the phone to {by}",
                    by,
                ),
            )
    log.info("call on claim %s: %s (item %s)", claim_id, outcome, item[0])
    return CallResult(item[0], claim_id, outcome, status, item[1] + 1, event_id)


def _check_promise(
    outcome: str,
    on: dt.date,
    until: dt.date | None,
    amount: str | Decimal | None,
    open_amount: Money,
) -> Money | None:
    """The promised amount, after checking the promise's date and amount."""
    if outcome != PROMISE:
        if until is not None or amount is not None:
            raise CallError(
                "--until and --amount belong to a promise; give them only with "
                "--outcome promise"
            )
        return None
    if until is None:
        raise CallError(
            "a promise needs the day the customer promised to pay by (--until DATE)"
        )
    if until < on:
        raise CallError(
            f"--until {until.isoformat()} is before the day of the call "
            f"({on.isoformat()}); a promise runs until that day or a later one"
        )
    if amount is None:
        return None

    text = amount if isinstance(amount, str) else format(amount, "f")
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise CallError(
            f"--amount {quote(text)} is not an amount (expected digits with `.` "
            "as decimal separator, like 150.00)"
        )
    currency = open_amount.currency
    if value <= 0:
        raise CallError(
            f"--amount {quote(text)} is not more than zero; a promised amount "
            "must be positive"
        )
    if problem := too_precise(format(value, "f"), currency):
        raise CallError(f"--amount {problem}")
    if value > open_amount.amount:
        shown = money_text(open_amount)
        raise CallError(
            f"--amount {quote(text)} is more than the open amount of the claim "
            f"({shown} {currency}); a customer can promise at most what is open"
        )
    return Money(value, currency)
