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
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from dunlang import Policy, load_policy
from dunlang.model import Money

from . import audit
from .agency import (
    AgencyReportResult,
    HandoverFile,
    export_handover,
    import_agency_report,
)
from .calls import CallItem, CallResult, call_list, record_call
from .credits import Credit, add_credits, use_credit
from .explain import Explanation, TimelineEntry, explain, history
from .holds import Hold, Skip, holds_of, release_hold, set_hold, skips_of
from .interest import BaseRateTable, load_base_rates
from .outbox import OutboxItem, outbox_items
from .plans import Instalment, add_plan
from .promises import give_promise, open_dispute, resolve_dispute
from .record_checks import (
    RecordError as RecordError,  # raised by the add_* methods
)
from .record_checks import (
    check_claims,
    check_customers,
    check_events,
    check_payments,
    check_run_date,
)
from .records import (
    AuditChange,
    ChargeRecord,
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

if TYPE_CHECKING:
    from .sending import SendReport, SendSettings


class Engine:
    """A dunning engine: one store, one policy."""

    def __init__(
        self,
        store: Store,
        policy: Policy,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        base_rates: BaseRateTable | None = None,
    ) -> None:
        """`base_rates` is the base rate table for interest (default: the
        bundled one; see `load_base_rates`)."""
        self.store = store
        self.policy = policy
        self.base_rates = base_rates
        self._runner = Runner(
            store, policy, batch_size=batch_size, base_rates=base_rates
        )

    @classmethod
    def open(
        cls,
        db_path: str | Path,
        policy_path: str | Path,
        *,
        base_rates: str | Path | None = None,
    ) -> Engine:
        """Open (or create) a database and load a policy file; `base_rates` is
        a base rate CSV file to use instead of the bundled table (BaseRateError
        when it cannot be used)."""
        table = load_base_rates(base_rates) if base_rates is not None else None
        return cls(Store.open(db_path), load_policy(policy_path), base_rates=table)

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
        """Run the policy for a date (see `Runner.run`); TypeError when `as_of`
        is not a `datetime.date`."""
        as_of = check_run_date(as_of)
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

    # ---- sending ------------------------------------------------------------

    def send(
        self,
        on: dt.date,
        settings: SendSettings,
        *,
        run_id: int | None = None,
        dry_run: bool = False,
    ) -> SendReport:
        """Send the outbox's pending letters, e-mails and plug-in measures.
        Interest not yet booked is worked out with the settings' base rate
        table, else the engine's."""
        # Rendering loads Jinja2 and the PDF library: only when sending.
        from .sending import send_outbox

        if settings.base_rates is None and self.base_rates is not None:
            settings = attrs.evolve(settings, base_rates=self.base_rates)
        return send_outbox(
            self.store, self.policy, on, settings, run_id=run_id, dry_run=dry_run
        )

    def outbox(
        self,
        *,
        statuses: Sequence[str] = (),
        kinds: Sequence[str] = (),
        run_id: int | None = None,
    ) -> list[OutboxItem]:
        """Outbox items with their status, attempts and last error, oldest first."""
        return outbox_items(
            self.store.conn, statuses=statuses, kinds=kinds, run_id=run_id
        )

    def charges(self, claim_id: str) -> list[ChargeRecord]:
        """A claim's fees, flat fee and interest charges as typed records."""
        return audit.charges_of(self.store.conn, claim_id)

    def changes(self, table: str, row_id: str) -> list[AuditChange]:
        """Audited changes to one imported row (`table`: customers, claims, ...)."""
        return audit.changes_of(self.store.conn, table, row_id)

    def history(self, claim_id: str) -> list[TimelineEntry]:
        """A claim's timeline: moves with reasons, measures, payments, changes."""
        return history(self._runner, claim_id)[1]

    def why(self, claim_id: str, as_of: dt.date | None = None) -> Explanation:
        """Where a claim stands and what happens next (as of today by default)."""
        return explain(self._runner, claim_id, as_of or dt.date.today())

    # ---- promises, disputes, payment plans ----------------------------------

    def promise(
        self,
        claim_id: str,
        amount: Money | Decimal | str,
        until: dt.date,
        *,
        on: dt.date | None = None,
        by: str = "api",
    ) -> str:
        """Record a promise to pay `amount` by `until`; the `promise_given` event id."""
        return give_promise(
            self.store, claim_id, amount, until, on=on or dt.date.today(), by=by
        )

    def open_dispute(
        self, claim_id: str, reason: str, *, on: dt.date | None = None, by: str = "api"
    ) -> str:
        """Record that the customer disputes a claim; the `dispute_opened` event id."""
        return open_dispute(
            self.store, claim_id, reason, on=on or dt.date.today(), by=by
        )

    def resolve_dispute(
        self,
        claim_id: str,
        outcome: str,
        *,
        amount: Money | Decimal | str | None = None,
        note: str | None = None,
        on: dt.date | None = None,
        by: str = "api",
    ) -> tuple[str, ...]:
        """Close a claim's open dispute (`customer` or `company`); the ids of the
        credit note (customer's favour) and the `dispute_resolved` event."""
        return resolve_dispute(
            self.store,
            claim_id,
            outcome,
            amount=amount,
            note=note,
            on=on or dt.date.today(),
            by=by,
        )

    def add_plan(
        self,
        claim_id: str,
        instalments: Sequence[tuple[dt.date, Money | Decimal | str]],
        *,
        by: str = "api",
    ) -> list[Instalment]:
        """Agree a payment plan: (due date, amount) pairs that add up to the open
        amount."""
        return add_plan(self.store, claim_id, instalments, by=by)

    # ---- data ---------------------------------------------------------------

    def add_customers(self, customers: Iterable[Customer]) -> int:
        """Insert new customers; an id already stored is an error, nothing lands;
        RecordError for bad records."""
        customers = list(customers)
        check_customers(customers)
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
        """Insert new claims; they are allocated to a group on the next run;
        RecordError for bad records (nothing lands)."""
        claims = list(claims)
        check_claims(self.store.conn, claims)
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
        """Record payments and credit notes; the next run applies them;
        RecordError for bad records (nothing lands)."""
        payments = list(payments)
        check_payments(self.store.conn, payments)
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
        """Record events (disputes, promises, holds); the next run applies them;
        RecordError for bad records (nothing lands)."""
        events = list(events)
        check_events(self.store.conn, events)
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

    # ---- calls and agencies -------------------------------------------------

    def calls(self, on: dt.date, *, queue: str | None = None) -> list[CallItem]:
        """The call list: pending and failed phone measures, oldest and largest
        first, with fees and interest as of `on`."""
        return call_list(self.store.conn, on, queue=queue, base_rates=self.base_rates)

    def record_call(
        self,
        claim_id: str,
        outcome: str,
        *,
        on: dt.date,
        until: dt.date | None = None,
        amount: str | Decimal | None = None,
        note: str | None = None,
        by: str = "staff",
    ) -> CallResult:
        """Record a call's outcome (reached, no-answer, promise) on the claim's
        open phone measure; CallError, with nothing written, for bad input."""
        return record_call(
            self.store,
            claim_id,
            outcome,
            on=on,
            until=until,
            amount=amount,
            note=note,
            by=by,
        )

    def export_handover(
        self,
        on: dt.date,
        *,
        agency: str | None = None,
        out_dir: str | Path = ".",
        form: str = "csv",
    ) -> list[HandoverFile]:
        """Hand the pending agency measures over, one file per agency."""
        return export_handover(
            self.store,
            on,
            agency=agency,
            out_dir=out_dir,
            form=form,
            base_rates=self.base_rates,
        )

    def import_agency_report(self, path: str, agency: str) -> AgencyReportResult:
        """Import an agency's report (collections and returns), all or nothing."""
        return import_agency_report(self.store, path, agency)

    # ---- holds and customer credits -----------------------------------------

    def hold(
        self,
        claim_id: str | None = None,
        *,
        customer_id: str | None = None,
        reason: str,
        by: str,
        starts: dt.date | None = None,
        until: dt.date | None = None,
    ) -> Hold:
        """Hold a claim, or every claim of a customer, from `starts` (today by
        default) until released or until `until` has passed."""
        with self.store.transaction() as conn:
            return set_hold(
                conn,
                claim_id=claim_id,
                customer_id=customer_id,
                reason=reason,
                by=by,
                starts=starts or dt.date.today(),
                until=until,
            )

    def release(
        self,
        claim_id: str | None = None,
        *,
        customer_id: str | None = None,
        by: str,
        on: dt.date | None = None,
        note: str | None = None,
    ) -> Hold:
        """Release the open hold of a claim or customer from `on` (today)."""
        with self.store.transaction() as conn:
            return release_hold(
                conn,
                claim_id=claim_id,
                customer_id=customer_id,
                by=by,
                on=on or dt.date.today(),
                note=note,
            )

    def holds(
        self,
        claim_id: str | None = None,
        *,
        customer_id: str | None = None,
        open_only: bool = False,
    ) -> list[Hold]:
        """Holds of a claim (its own and its customer's), of a customer, or all."""
        return holds_of(
            self.store.conn,
            claim_id=claim_id,
            customer_id=customer_id,
            open_only=open_only,
        )

    def skips(
        self, *, cause: str | None = None, claim_id: str | None = None
    ) -> list[Skip]:
        """Claims runs left alone on purpose (held, excluded, covered by a
        credit, small balance), oldest first."""
        return skips_of(self.store.conn, cause=cause, claim_id=claim_id)

    def add_credits(self, credits: Iterable[Credit], *, by: str = "import") -> int:
        """Record customer credits (unapplied payments, credit notes)."""
        with self.store.transaction() as conn:
            return add_credits(conn, credits, by)

    def use_credit(
        self, credit_id: str, amount: Money, *, by: str, note: str | None = None
    ) -> Money:
        """Record that a clerk applied part or all of a credit; what is left."""
        with self.store.transaction() as conn:
            return use_credit(conn, credit_id, amount, by, note)

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
