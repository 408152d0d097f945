"""Claims written off, and what later payments recovered of them.

A run writes a claim off with a `write_off` measure or a small-balance rule:
it settles the claim with nothing open, and the move keeps the open amount it
wrote off (`seen.open_amount`). Money that arrives for the claim afterwards
recovers the amount written off first (engine/stepping.py); what it does not
cover stays written off. Reports count only what is still written off.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from decimal import Decimal

from attrs import frozen

_WRITE_OFFS = """
    SELECT t.claim_id, c.group_name, t.run_id, t.as_of,
           json_extract(t.seen, '$.open_amount'), t.trigger = 'small_balance'
    FROM transitions t JOIN claims c ON c.id = t.claim_id
    WHERE (t.trigger = 'small_balance' OR t.id IN (
        SELECT transition_id FROM measures WHERE kind = 'write_off'))
"""


@frozen
class WriteOff:
    """One claim a run wrote off: the amount and currency its move saw, and
    whether it was a small balance (else a `write_off` measure)."""

    claim_id: str
    group: str | None
    run_id: int | None
    as_of: str
    amount: Decimal
    currency: str
    small_balance: bool = False


def write_offs(
    conn: sqlite3.Connection,
    *,
    claim_ids: Sequence[str] | None = None,
    first: str | None = None,
    last: str | None = None,
) -> list[WriteOff]:
    """The write-offs of these claims (default: all), by runs from `first` to
    `last` (both included; default: any day)."""
    sql = _WRITE_OFFS
    parameters: list[object] = []
    if claim_ids is not None:
        sql += " AND t.claim_id IN (SELECT value FROM json_each(?))"
        parameters.append(json.dumps(list(claim_ids)))
    if first is not None:
        sql += " AND t.as_of >= ?"
        parameters.append(first)
    if last is not None:
        sql += " AND t.as_of <= ?"
        parameters.append(last)
    found = []
    for claim_id, group, run_id, as_of, seen, small in conn.execute(sql, parameters):
        if not seen:
            continue
        amount, currency = str(seen).split(" ")
        found.append(
            WriteOff(
                claim_id, group, run_id, as_of, Decimal(amount), currency, bool(small)
            )
        )
    return found


def recovered(
    conn: sqlite3.Connection, write_off: WriteOff, until: str | None = None
) -> Decimal:
    """What payments and credit notes applied by runs after the write-off
    recovered of it (up to the day `until`, if given), at most the amount
    written off."""
    return sum(recoveries(conn, write_off, until).values(), Decimal(0))


def recoveries(
    conn: sqlite3.Connection, write_off: WriteOff, until: str | None = None
) -> dict[str, Decimal]:
    """What `recovered` sums, by the kind of what recovered it: `payment`
    (money that came back) and `credit_note` (part of the claim cancelled),
    in the order runs applied them."""
    sql = (
        "SELECT p.kind, p.amount FROM payments p JOIN runs r ON r.id = p.applied_run "
        "WHERE p.claim_id = ? AND p.applied_run > ?"
    )
    parameters: list[object] = [write_off.claim_id, write_off.run_id or 0]
    if until is not None:
        sql += " AND r.as_of <= ?"
        parameters.append(until)
    sql += " ORDER BY p.applied_run, p.paid_on, p.id"
    left = write_off.amount
    found: dict[str, Decimal] = {}
    for kind, amount in conn.execute(sql, parameters):
        share = min(Decimal(amount), left)
        if share > 0:
            found[kind] = found.get(kind, Decimal(0)) + share
            left -= share
    return found


def still_written_off(
    conn: sqlite3.Connection, claim_ids: Sequence[str]
) -> dict[str, Decimal]:
    """For each of these claims that was written off: what is still written
    off, after the payments that recovered some of it. Left out: claims never
    written off, and those recovered in full."""
    found: dict[str, Decimal] = {}
    for write_off in write_offs(conn, claim_ids=claim_ids):
        left = write_off.amount - recovered(conn, write_off)
        if left > 0:
            found[write_off.claim_id] = found.get(write_off.claim_id, Decimal(0)) + left
    return found


__all__ = ["WriteOff", "recovered", "recoveries", "still_written_off", "write_offs"]
