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
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3

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
) -> None:
    """Record one attempt at carrying out a measure, and its outcome.

    Runs inside the caller's transaction. An item that is already sent,
    undeliverable or done is never changed again: asking to is an error, so
    that nothing is sent twice.
    """
    if status not in STATUSES or status == PENDING:
        raise OutboxError(f"`{status}` is not an outcome of an attempt")
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
