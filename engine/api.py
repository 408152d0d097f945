"""The Python API for embedding the engine: a store and a policy, run by date.

from engine import Engine
engine = Engine.open("dunning.db", "policies/de-b2b-trade.dun")
engine.on_transition(lambda step: print(step.claim_id, step.to_state))
result = engine.run(datetime.date(2026, 12, 4))
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from dunlang import Policy, load_policy

from . import audit
from .explain import Explanation, TimelineEntry, explain, history
from .records import (
    AuditChange,
    Claim,
    Customer,
    Event,
    MeasureItem,
    Payment,
    Run,
    TransitionRecord,
)
from .runner import DEFAULT_BATCH_SIZE, Listener, Runner, RunResult
from .store import Store, StoreError


class Engine:
    """A dunning engine: one store, one policy."""

    def __init__(
        self, store: Store, policy: Policy, *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> None:
        self.store = store
        self.policy = policy
        self._runner = Runner(store, policy, batch_size=batch_size)

    @classmethod
    def open(cls, db_path: str | Path, policy_path: str | Path) -> Engine:
        """Open (or create) a database and load a policy file."""
        return cls(Store.open(db_path), load_policy(policy_path))

    def on_transition(self, callback: Listener) -> Listener:
        """Call `callback(step)` for every move, after it is committed."""
        self._runner.listeners.append(callback)
        return callback

    def run(
        self,
        as_of: dt.date,
        *,
        dry_run: bool = False,
        replay: bool = False,
        collect: bool = False,
    ) -> RunResult:
        """Run the policy for a date (see `Runner.run`)."""
        return self._runner.run(as_of, dry_run=dry_run, replay=replay, collect=collect)

    def runs(self) -> list[Run]:
        """Every run recorded in the database, oldest first."""
        return audit.runs(self.store.conn)

    def transitions(self, claim_id: str) -> list[TransitionRecord]:
        """A claim's audit trail as typed records, in the order of the moves."""
        return audit.transitions_of(self.store.conn, claim_id)

    def measures(self, claim_id: str) -> list[MeasureItem]:
        """A claim's outbox items as typed records."""
        return audit.measures_of(self.store.conn, claim_id)

    def changes(self, table: str, row_id: str) -> list[AuditChange]:
        """Audited changes to one imported row (`table`: customers, claims, ...)."""
        return audit.changes_of(self.store.conn, table, row_id)

    def history(self, claim_id: str) -> list[TimelineEntry]:
        """A claim's timeline: moves with reasons, measures, payments, changes."""
        return history(self._runner, claim_id)[1]

    def why(self, claim_id: str, as_of: dt.date | None = None) -> Explanation:
        """Where a claim stands and what happens next (as of today by default)."""
        return explain(self._runner, claim_id, as_of or dt.date.today())

    # ---- data ---------------------------------------------------------------

    def add_customers(self, customers: Iterable[Customer]) -> int:
        """Insert new customers; an id already stored is an error, nothing lands."""
        rows = [
            (
                c.id,
                c.name,
                c.kind,
                c.segment,
                c.country,
                c.language,
                c.email,
                c.address,
                _amount(c.credit_limit),
                _currency(c.credit_limit),
                c.dunning_group,
                _json(c.attributes),
            )
            for c in customers
        ]
        return self._insert(
            "customers",
            "id, name, kind, segment, country, language, email, address, "
            "credit_limit, currency, dunning_group, attributes",
            rows,
        )

    def add_claims(self, claims: Iterable[Claim]) -> int:
        """Insert new claims; they are allocated to a group on the next run."""
        rows = [
            (
                c.id,
                c.customer_id,
                c.kind,
                c.amount.currency,
                str(c.amount.amount),
                str(c.open_amount.amount),
                c.issue_date.isoformat(),
                c.due_date.isoformat(),
                _json(c.attributes),
            )
            for c in claims
        ]
        return self._insert(
            "claims",
            "id, customer_id, kind, currency, amount, open_amount, "
            "issue_date, due_date, attributes",
            rows,
        )

    def add_payments(self, payments: Iterable[Payment]) -> int:
        """Record payments and credit notes; the next run applies them."""
        rows = [
            (
                p.id,
                p.claim_id,
                str(p.amount.amount),
                p.amount.currency,
                p.paid_on.isoformat(),
                p.kind,
            )
            for p in payments
        ]
        return self._insert(
            "payments", "id, claim_id, amount, currency, paid_on, kind", rows
        )

    def add_events(self, events: Iterable[Event]) -> int:
        """Record events (disputes, promises, holds); the next run applies them."""
        rows = [
            (
                e.id,
                e.claim_id,
                e.customer_id,
                e.kind,
                e.happened_on.isoformat(),
                e.until.isoformat() if e.until else None,
                _amount(e.amount),
                e.reason,
                e.actor,
            )
            for e in events
        ]
        return self._insert(
            "events",
            "id, claim_id, customer_id, kind, happened_on, until, amount, "
            "reason, actor",
            rows,
        )

    def _insert(
        self, table: str, columns: str, rows: Sequence[tuple[object, ...]]
    ) -> int:
        marks = ", ".join("?" for _ in columns.split(","))
        try:
            with self.store.transaction() as conn:
                conn.executemany(
                    f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows
                )
        except sqlite3.IntegrityError as error:
            raise StoreError(f"{table}: nothing added: {error}") from None
        return len(rows)

    def close(self) -> None:
        """Close the database."""
        self.store.close()


def _amount(money: object) -> str | None:
    return str(money.amount) if money is not None else None  # type: ignore[attr-defined]


def _currency(money: object) -> str | None:
    return money.currency if money is not None else None  # type: ignore[attr-defined]


def _json(values: dict[str, object]) -> str:
    import json

    return json.dumps(values, sort_keys=True, default=str)
