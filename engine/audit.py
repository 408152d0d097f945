"""Typed reads of the audit trail: runs, transitions, outbox items, data changes.

For engineers who embed the engine and want the records rather than the text
that `dunning history` prints.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from decimal import Decimal

from .outbox import ITEM_COLUMNS, read_item
from .records import (
    AuditChange,
    ChargeRecord,
    MeasureItem,
    Money,
    Run,
    TransitionRecord,
)


def runs(conn: sqlite3.Connection) -> list[Run]:
    """Every run, oldest first."""
    rows = conn.execute(
        "SELECT id, as_of, status, policy_name, policy_version, policy_digest, "
        "claims_evaluated, transitions, measures, replay FROM runs ORDER BY id"
    )
    return [
        Run(
            id=row[0],
            as_of=dt.date.fromisoformat(row[1]),
            status=row[2],
            policy_name=row[3] or "",
            policy_version=row[4] or "",
            policy_digest=row[5] or "",
            claims_evaluated=row[6],
            transitions=row[7],
            measures=row[8],
            replay=bool(row[9]),
        )
        for row in rows
    ]


def transitions_of(conn: sqlite3.Connection, claim_id: str) -> list[TransitionRecord]:
    """The moves of one claim, in the order they were made."""
    rows = conn.execute(
        "SELECT id, run_id, as_of, claim_id, customer_id, group_name, from_state, "
        "to_state, trigger, rule, policy_path, policy_line, policy_digest, reason, "
        "seen, measures, actor FROM transitions WHERE claim_id = ? ORDER BY id",
        (claim_id,),
    )
    return [
        TransitionRecord(
            id=row[0],
            run_id=row[1],
            as_of=dt.date.fromisoformat(row[2]),
            claim_id=row[3],
            customer_id=row[4],
            group=row[5],
            from_state=row[6],
            to_state=row[7],
            trigger=row[8],
            rule=row[9],
            policy_path=row[10],
            policy_line=row[11],
            policy_digest=row[12],
            reason=row[13],
            seen=json.loads(row[14]),
            measures=json.loads(row[15]),
            actor=row[16],
        )  # fmt: skip
        for row in rows
    ]


def measures_of(conn: sqlite3.Connection, claim_id: str) -> list[MeasureItem]:
    """The outbox items of one claim, in the order they were created."""
    rows = conn.execute(
        f"SELECT {ITEM_COLUMNS} FROM measures WHERE claim_id = ? ORDER BY id",
        (claim_id,),
    )
    return [read_item(row) for row in rows]


def charges_of(conn: sqlite3.Connection, claim_id: str) -> list[ChargeRecord]:
    """The fees, flat fee and interest charged on one claim, oldest first."""
    rows = conn.execute(
        "SELECT id, claim_id, customer_id, kind, measure, run_id, transition_id, "
        "as_of, amount, currency, open_amount, settled_on, basis FROM charges "
        "WHERE claim_id = ? ORDER BY as_of, id",
        (claim_id,),
    )
    return [
        ChargeRecord(
            id=row[0],
            claim_id=row[1],
            customer_id=row[2],
            kind=row[3],
            measure=row[4],
            run_id=row[5],
            transition_id=row[6],
            as_of=dt.date.fromisoformat(row[7]),
            amount=Money(Decimal(row[8]), row[9]),
            open_amount=Money(Decimal(row[10]), row[9]),
            settled_on=dt.date.fromisoformat(row[11]) if row[11] else None,
            basis=row[12],
        )
        for row in rows
    ]


def changes_of(conn: sqlite3.Connection, table: str, row_id: str) -> list[AuditChange]:
    """Changes made to one imported row (`table` is customers, claims, ...)."""
    rows = conn.execute(
        "SELECT id, recorded_at, actor, table_name, row_id, field, old_value, "
        "new_value, source FROM audit_changes WHERE table_name = ? AND row_id = ? "
        "ORDER BY id",
        (table, row_id),
    )
    return [AuditChange(*row) for row in rows]
