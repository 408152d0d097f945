"""The outbox: what happened to each measure after the run recorded it.

A run records measures as `pending` items. Carrying them out is a separate
step, so that a run can be reviewed first. Every attempt is appended to the
`deliveries` table (append-only), and the item's status says where it stands:

- `pending`: not tried yet;
- `sent`: carried out (a letter produced, an e-mail accepted by the server);
- `failed`: a transient failure; tried again on the next attempt;
- `undeliverable`: cannot be carried out as it stands (no address at all);
  a person must act, it is never retried by itself;
- `done`: work for a person finished (a call made, a task completed).

Commands that carry items out (send, agency export, the call list) leave some
alone on their day, untouched: items a run queued after that day, items of
claims on hold that day, and items of claims with payments or events recorded
up to that day that no run has applied yet (`held_back`): what the item says
may no longer hold, so a run must look at the claim first.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from attrs import frozen

from dunlang.model import Money

from .holds import holds_in_force
from .records import MeasureItem

log = logging.getLogger(__name__)

PENDING = "pending"
SENT = "sent"
FAILED = "failed"
UNDELIVERABLE = "undeliverable"
DONE = "done"
STATUSES = (PENDING, SENT, FAILED, UNDELIVERABLE, DONE)
FINAL = frozenset({SENT, UNDELIVERABLE, DONE})


class OutboxError(Exception):
    """An outbox item cannot be changed as asked."""


def record_delivery(
    conn: sqlite3.Connection,
    measure_id: int,
    *,
    channel: str,
    status: str,
    detail: str | None = None,
    document: str | None = None,
    at: dt.datetime | None = None,
    fallback: bool = False,
) -> None:
    """Record one attempt at carrying out a measure, and its outcome.

    Runs inside the caller's transaction. An item that is already sent,
    undeliverable or done is never changed again: asking to is an error, so
    that nothing is sent twice. `fallback`: this channel cannot reach the
    customer (the attempt is recorded `undeliverable`) but another one follows
    in the same transaction, so the item keeps its status.
    """
    if status not in STATUSES or status == PENDING:
        raise OutboxError(f"`{status}` is not an outcome of an attempt")
    if fallback and status != UNDELIVERABLE:
        raise OutboxError("only an undeliverable attempt falls back to a channel")
    row = conn.execute(
        "SELECT status FROM measures WHERE id = ?", (measure_id,)
    ).fetchone()
    if row is None:
        raise OutboxError(f"there is no outbox item {measure_id}")
    if row[0] in FINAL:
        raise OutboxError(
            f"outbox item {measure_id} is already {row[0]}; it is not changed again"
        )

    stamp = (at or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    conn.execute(
        "INSERT INTO deliveries (measure_id, attempted_at, channel, status, detail, "
        "document) VALUES (?, ?, ?, ?, ?, ?)",
        (measure_id, stamp, channel, status, detail, document),
    )
    if fallback:
        conn.execute(
            "UPDATE measures SET attempts = attempts + 1, last_error = ? WHERE id = ?",
            (detail, measure_id),
        )
        log.debug("outbox item %s: %s undeliverable, falls back", measure_id, channel)
        return
    conn.execute(
        "UPDATE measures SET status = ?, attempts = attempts + 1, last_error = ?, "
        "channel = ?, sent_at = CASE WHEN ? IN ('sent', 'done') THEN ? "
        "ELSE sent_at END, document = coalesce(?, document) WHERE id = ?",
        (
            status,
            detail if status in (FAILED, UNDELIVERABLE) else None,
            channel,
            status,
            stamp,
            document,
            measure_id,
        ),
    )
    log.debug("outbox item %s: %s via %s", measure_id, status, channel)


# ---- items left alone ----------------------------------------------------------


@frozen
class HeldBack:
    """Outbox items a command left as they are on its day, and why."""

    reason: str
    items: tuple[int, ...]
    claims: tuple[str, ...]

    def describe(self) -> str:
        """`3 items held back: claim or customer on hold (...)`."""
        count = len(self.items)
        return f"{count} item{'' if count == 1 else 's'} held back: {self.reason}"


def held_back(
    conn: sqlite3.Connection,
    entries: Iterable[tuple[int, str, dt.date]],
    on: dt.date,
) -> list[HeldBack]:
    """Which items (id, claim, run's as-of date) a command leaves alone on `on`.

    An item is carried out on or after the day of the run that queued it, never
    before (its fees, interest and dates would be those of a day it did not yet
    exist); not while its claim or customer is on hold on `on`; and not while
    a payment or event of its claim (or a customer-wide event of its customer)
    dated on or before `on` waits for a run to apply it (the claim may be paid,
    disputed or otherwise changed). Grouped by reason: first by the run's day,
    then by hold, then the unapplied payments and events.
    """
    listed = list(entries)
    early: dict[dt.date, list[tuple[int, str]]] = {}
    rest = []
    for ident, claim_id, as_of in listed:
        if as_of > on:
            early.setdefault(as_of, []).append((ident, claim_id))
        else:
            rest.append((ident, claim_id))
    found = [
        _group(
            f"queued by the run of {as_of.isoformat()}, after {on.isoformat()} "
            f"(carried out on {as_of.isoformat()} or later)",
            early[as_of],
        )
        for as_of in sorted(early)
    ]

    holds = holds_in_force(conn, {claim_id for _, claim_id in rest}, on)
    by_hold: dict[int, list[tuple[int, str]]] = {}
    reasons: dict[int, str] = {}
    for ident, claim_id in rest:
        hold = holds.get(claim_id)
        if hold is not None:
            by_hold.setdefault(hold.id, []).append((ident, claim_id))
            reasons[hold.id] = (
                f"claim or customer on hold (hold {hold.id} by {hold.set_by}: "
                f"{hold.reason})"
            )
    found += [_group(reasons[hold_id], by_hold[hold_id]) for hold_id in sorted(by_hold)]

    free = [(ident, claim_id) for ident, claim_id in rest if claim_id not in holds]
    changed = _unapplied(conn, {claim_id for _, claim_id in free}, on)
    waiting = [(ident, claim_id) for ident, claim_id in free if claim_id in changed]
    if waiting:
        found.append(
            _group(
                "payments or events recorded since the last run (run again first)",
                waiting,
            )
        )
    return found


def _unapplied(conn: sqlite3.Connection, claims: set[str], on: dt.date) -> set[str]:
    """The claims with a payment or event dated on or before `on` that no run
    has applied yet; a customer-wide event counts for all the customer's claims."""
    if not claims:
        return set()
    listed, day = json.dumps(sorted(claims)), on.isoformat()
    rows = conn.execute(
        "SELECT claim_id FROM payments WHERE applied_run IS NULL AND paid_on <= ? "
        "AND claim_id IN (SELECT value FROM json_each(?)) "
        "UNION SELECT claim_id FROM events WHERE applied_run IS NULL "
        "AND happened_on <= ? AND claim_id IN (SELECT value FROM json_each(?)) "
        "UNION SELECT c.id FROM claims c JOIN events e "
        "ON e.customer_id = c.customer_id AND e.claim_id IS NULL "
        "WHERE e.applied_run IS NULL AND e.happened_on <= ? "
        "AND c.id IN (SELECT value FROM json_each(?))",
        (day, listed, day, listed, day, listed),
    )
    return {row[0] for row in rows}


def interest_problem(error: Exception) -> str:
    """Why an amount with interest cannot be given, and how to put it right."""
    return (
        f"interest cannot be computed: {error}; update the base rate table "
        "(see docs/interest.md, `dunning run --base-rates FILE`)"
    )


def _group(reason: str, entries: list[tuple[int, str]]) -> HeldBack:
    return HeldBack(
        reason,
        tuple(ident for ident, _ in entries),
        tuple(dict.fromkeys(claim_id for _, claim_id in entries)),
    )


# ---- reading the outbox --------------------------------------------------------


OutboxItem = MeasureItem
"""One measure in the outbox, with where it stands and what was tried."""


ITEM_COLUMNS = (
    "id, run_id, transition_id, as_of, claim_id, customer_id, measure, kind, "
    "open_amount, currency, fee, template, queue, agency, text, status, attempts, "
    "last_error, channel, sent_at, document, cost"
)


def read_item(row: tuple[Any, ...]) -> OutboxItem:
    """An outbox item from a row of `SELECT {ITEM_COLUMNS} FROM measures`."""
    currency = row[9]
    return OutboxItem(
        id=row[0],
        run_id=row[1],
        transition_id=row[2],
        as_of=dt.date.fromisoformat(row[3]),
        claim_id=row[4],
        customer_id=row[5],
        measure=row[6],
        kind=row[7],
        open_amount=Money(Decimal(row[8]), currency),
        fee=Money(Decimal(row[10]), currency) if row[10] else None,
        template=row[11],
        queue=row[12],
        agency=row[13],
        text=row[14],
        status=row[15],
        attempts=row[16],
        last_error=row[17],
        channel=row[18],
        sent_at=row[19],
        document=row[20],
        cost=Money(Decimal(row[21]), currency) if row[21] else None,
    )  # fmt: skip


def check_run(conn: sqlite3.Connection, run_id: int) -> None:
    """Refuse a run number that is not in the database, naming the ones that are."""
    if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone():
        return
    first, last = conn.execute("SELECT min(id), max(id) FROM runs").fetchone()
    known = "no run is recorded yet" if first is None else f"runs are {first}-{last}"
    raise OutboxError(f"there is no run {run_id}; {known}")


def outbox_items(
    conn: sqlite3.Connection,
    *,
    statuses: Sequence[str] = (),
    kinds: Sequence[str] = (),
    run_id: int | None = None,
) -> list[OutboxItem]:
    """Outbox items, oldest first, optionally only some statuses, kinds or one run."""
    for status in statuses:
        if status not in STATUSES:
            raise OutboxError(
                f"`{status}` is no outbox status; known: {', '.join(STATUSES)}"
            )
    if run_id is not None:
        check_run(conn, run_id)

    where: list[str] = []
    values: list[Any] = []
    if statuses:
        where.append(f"status IN ({', '.join('?' for _ in statuses)})")
        values.extend(statuses)
    if kinds:
        where.append(f"kind IN ({', '.join('?' for _ in kinds)})")
        values.extend(kinds)
    if run_id is not None:
        where.append("run_id = ?")
        values.append(run_id)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    rows = conn.execute(
        f"SELECT {ITEM_COLUMNS} FROM measures{clause} ORDER BY id", values
    )
    return [read_item(row) for row in rows]
