"""The daily run: claims that are due or have changed are stepped through their
group's state machine, and every move lands in the audit trail in the same
transaction as the state change.

Order within a run, per claim: allocation to a group (first sight), then the
payments and events dated up to the as-of date (payments first, so a claim paid
on the day a step falls due does not get that step), then at most one timed
step. Timers are computed from dates, so a missed day is caught up; each claim
keeps the date it must next be looked at (`next_check`), so a run reads only
the claims that are due, changed, or have new payments or events.

This module reads the claims in batches, each in the transaction that writes
it back, and writes the moves, outbox items, charges and claim updates;
`engine.stepping.ClaimStepper` decides for each claim.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from decimal import Decimal
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any

from attrs import frozen

from dunlang.model import Money, Policy

from . import plans, promises
from .calendar import calendar_for
from .charges import BatchClaim, ChargeBook
from .guards import Guard, attributes_read, compile_guard
from .holds import Treatment
from .interest import BaseRateTable
from .machines import GroupMachine, MoveRefused, compile_groups
from .measures import OUTBOX_COLUMNS, outbox_parts, outbox_row
from .stepping import ClaimStepper, ClaimWork, Step, machine_is_open
from .store import Store
from .writeoffs import still_written_off

log = logging.getLogger(__name__)

ONE_DAY = dt.timedelta(days=1)
DEFAULT_BATCH_SIZE = 5000
RUN_GC_THRESHOLD = 100_000  # allocations between collections while a run lasts
ITEMS = "payments and events"
TIMERS = "timers"
CUSTOMER_FIGURES = frozenset(
    {"open_claims", "overdue_claims", "total_open_amount", "days_since_oldest_unpaid"}
)


class RunError(Exception):
    """A run cannot start: a date out of order, an interrupted run, bad data."""


@frozen
class RunResult:
    """What a run did, or in a dry run would have done."""

    run_id: int | None
    as_of: dt.date
    dry_run: bool
    claims_evaluated: int
    transitions: int
    measures: int
    steps: tuple[Step, ...] = ()
    problems: tuple[str, ...] = ()
    nothing_to_do: bool = False


Listener = Callable[[Step], None]


class Runner:
    """Runs one policy over the claims of one store."""

    def __init__(
        self,
        store: Store,
        policy: Policy,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        listeners: Sequence[Listener] = (),
        after_batch: Callable[[int], None] | None = None,
        exhaustive: bool = False,
        base_rates: BaseRateTable | None = None,
    ) -> None:
        """`exhaustive` is the unoptimised reference path: every claim is looked
        at in every run, whatever its next check, and every move is made by the
        state machine itself; results are identical, only slower. `base_rates`
        is the base rate table for interest (default: the bundled one)."""
        self.store = store
        self.exhaustive = exhaustive
        self.policy = policy
        self.batch_size = batch_size
        self.listeners = list(listeners)
        self.after_batch = after_batch
        self.machines: dict[str, GroupMachine] = compile_groups(policy.dunnings)
        self.calendar = calendar_for(policy.header.calendar)
        self.charges = ChargeBook(policy, base_rates=base_rates)
        self.group_rules: list[tuple[str, int, Guard]] = [
            (rule.name, rule.span.line, compile_guard(rule.guard))
            for rule in policy.groups
        ]
        self.needs_customer_figures = bool(
            {name for subject, name in self._attributes() if subject == "customer"}
            & CUSTOMER_FIGURES
        )
        self._dry = False
        self._outbox_parts = {
            name: outbox_parts(measure) for name, measure in policy.measures.items()
        }
        self._outbox_insert = (
            f"INSERT INTO measures ({', '.join(OUTBOX_COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in OUTBOX_COLUMNS)})"
        )
        self._reads_customer = self._states_reading_customer()
        # Holds, exclusions, customer credits and small balances.
        self.treatment = Treatment(policy, self.calendar, store.conn)
        if self.treatment.reads_customer:
            self._reads_customer |= {
                (group, state)
                for group, dunning in policy.dunnings.items()
                for state in dunning.states
            }
            self.needs_customer_figures |= bool(
                {name for _, name in self.treatment.read} & CUSTOMER_FIGURES
            )
        self.stepper = ClaimStepper(
            policy,
            self.machines,
            self.calendar,
            self.treatment,
            self.charges,
            self.group_rules,
            exhaustive=exhaustive,
        )

    def _states_reading_customer(self) -> set[tuple[str, str]]:
        """(group, state) pairs in which some guard reads customer data."""
        found: set[tuple[str, str]] = set()
        for group, dunning in self.policy.dunnings.items():
            events = any(
                subject == "customer"
                for rule in dunning.events
                for subject, _ in attributes_read(rule.guard)
            )
            for state in dunning.states:
                timed = any(
                    subject == "customer"
                    for rule in dunning.transitions_from(state)
                    for subject, _ in attributes_read(rule.guard)
                )
                if events or timed:
                    found.add((group, state))
        return found

    def _attributes(self) -> set[tuple[str, str]]:
        read: set[tuple[str, str]] = set()
        for rule in self.policy.groups:
            read |= attributes_read(rule.guard)
        for dunning in self.policy.dunnings.values():
            for transition in dunning.transitions:
                read |= attributes_read(transition.guard)
            for event in dunning.events:
                read |= attributes_read(event.guard)
        return read

    # ---- the run ------------------------------------------------------------

    def run(
        self,
        as_of: dt.date,
        *,
        dry_run: bool = False,
        replay: bool = False,
        collect: bool = False,
    ) -> RunResult:
        """Run the policy for `as_of`; a dry run decides everything, writes nothing."""
        conn = self.store.conn
        resume = self._check_date(as_of, replay)
        self._dry = dry_run
        with _collecting_less:
            if not dry_run:
                return self._execute(as_of, replay, resume, collect)

            conn.execute("BEGIN IMMEDIATE")
            try:
                return self._execute(as_of, replay, resume, collect=True)
            finally:
                conn.execute("ROLLBACK")
                self._dry = False

    def _check_date(self, as_of: dt.date, replay: bool) -> int | None:
        conn = self.store.conn
        unfinished = conn.execute(
            "SELECT id, as_of FROM runs WHERE status = 'running' ORDER BY id LIMIT 1"
        ).fetchone()
        if unfinished and unfinished[1] != as_of.isoformat():
            raise RunError(
                f"run {unfinished[0]} for {unfinished[1]} was interrupted; run "
                f"--as-of {unfinished[1]} again to complete it before another date"
            )
        last = conn.execute(
            "SELECT max(as_of) FROM runs WHERE status = 'done'"
        ).fetchone()[0]
        if last and as_of.isoformat() < last and not replay:
            raise RunError(
                f"the as-of date {as_of} is before the last run ({last}); "
                "runs go forward in time; use --replay to run an earlier date on "
                "purpose"
            )
        return int(unfinished[0]) if unfinished else None

    def _tx(self) -> Any:
        return nullcontext() if self._dry else self.store.transaction()

    def _execute(
        self, as_of: dt.date, replay: bool, resume: int | None, collect: bool
    ) -> RunResult:
        conn = self.store.conn
        day = as_of.isoformat()
        already_done = conn.execute(
            "SELECT 1 FROM runs WHERE status = 'done' AND as_of = ?", (day,)
        ).fetchone()
        if already_done and resume is None and not self._anything_due(day):
            return RunResult(None, as_of, self._dry, 0, 0, 0, nothing_to_do=True)

        run_id = resume if resume is not None else self._start_run(day, replay)
        self.stepper.start()
        with self._tx():
            self._expand_customer_events(day, run_id)
            self.treatment.start(as_of)  # holds: lift expired ones, read the rest
            # Promises decided and instalments missed become events of this run.
            promises.judge_promises(conn, as_of)
            plans.mark_missed(conn, as_of, run_id)

        steps: list[Step] = []
        problems: list[str] = self._strays(day)
        batch_number = 0
        # Payments and events first, for every claim, so that what a customer
        # still owes is known before any timer looks at it.
        for pass_name in (ITEMS, TIMERS):
            due = self._select_due(day, pass_name)
            log.info("run %s for %s, %s: %d claims", run_id, day, pass_name, due)
            for first in range(1, due + 1, self.batch_size):
                # The batch is read in the transaction that writes it back, so
                # no other writer can change its claims in between.
                with self._tx():
                    rows = self._batch(first)
                    batch_steps, batch_measures, batch_problems, looked_at = (
                        self._process_batch(rows, as_of, run_id, pass_name)
                    )
                    conn.execute(
                        "UPDATE runs SET claims_evaluated = claims_evaluated + ?, "
                        "transitions = transitions + ?, measures = measures + ? "
                        "WHERE id = ?",
                        (
                            looked_at,
                            len(batch_steps),
                            batch_measures,
                            run_id,
                        ),
                    )
                problems.extend(batch_problems)
                if collect:
                    steps.extend(batch_steps)
                if not self._dry:
                    for step in batch_steps:
                        for listener in self.listeners:
                            listener(step)
                    if self.after_batch is not None:
                        self.after_batch(batch_number)
                batch_number += 1

        with self._tx():
            # Interest that waited for the base rate table (engine/charges.py).
            problems.extend(self.charges.book_waiting(conn, run_id, as_of))
            conn.execute(
                "UPDATE runs SET status = 'done', finished_at = ? WHERE id = ?",
                (_now(), run_id),
            )
        if not self._dry:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        totals = conn.execute(
            "SELECT claims_evaluated, transitions, measures FROM runs WHERE id = ?",
            (run_id,),
        ).fetchone()
        return RunResult(
            None if self._dry else run_id,
            as_of,
            self._dry,
            int(totals[0]),
            int(totals[1]),
            int(totals[2]),
            tuple(steps),
            tuple(problems),
        )

    def _start_run(self, day: str, replay: bool) -> int:
        header = self.policy.header
        with self._tx():
            cursor = self.store.conn.execute(
                "INSERT INTO runs (as_of, started_at, status, replay, policy_path, "
                "policy_name, policy_version, policy_digest) "
                "VALUES (?, ?, 'running', ?, ?, ?, ?, ?)",
                (
                    day,
                    _now(),
                    int(replay),
                    # Absolute, so `why` and `history` find it from any folder.
                    str(Path(self.policy.path).resolve()),
                    header.name,
                    header.version,
                    self.policy.digest,
                ),
            )
        return int(cursor.lastrowid or 0)

    def _expand_customer_events(self, day: str, run_id: int) -> None:
        """Give each open claim of a customer its own copy of a customer-wide event.

        The copies and the mark on the original land in one transaction, so an
        interrupted run never applies a customer-wide event twice.
        """
        conn = self.store.conn
        pending = conn.execute(
            "SELECT id, customer_id, kind, happened_on, until, amount, reason, actor "
            "FROM events WHERE claim_id IS NULL AND applied_run IS NULL "
            "AND happened_on <= ? ORDER BY happened_on, id",
            (day,),
        ).fetchall()
        for event in pending:
            claims = conn.execute(
                "SELECT id FROM claims WHERE customer_id = ? AND issue_date <= ? "
                "AND settled_on IS NULL ORDER BY id",
                (event[1], event[3]),
            ).fetchall()
            conn.executemany(
                "INSERT OR IGNORE INTO events (id, claim_id, customer_id, kind, "
                "happened_on, until, amount, reason, actor) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(f"{event[0]}/{claim[0]}", claim[0], *event[1:]) for claim in claims],
            )
            conn.execute(
                "UPDATE events SET applied_run = ? WHERE id = ?", (run_id, event[0])
            )

    def _strays(self, day: str) -> list[str]:
        """After a change of policy: open claims whose group or state it lacks.

        They are left where they are (moving them could skip or repeat a
        measure); the run says how many there are, once per policy change.
        """
        conn = self.store.conn
        previous = conn.execute(
            "SELECT policy_digest FROM runs WHERE status = 'done' AND as_of < ? "
            "ORDER BY as_of DESC, id DESC LIMIT 1",
            (day,),
        ).fetchone()
        if previous is None or previous[0] == self.policy.digest:
            return []
        found: list[str] = []
        rows = conn.execute(
            "SELECT group_name, state, count(*), min(id) FROM claims "
            "WHERE group_name IS NOT NULL AND settled_on IS NULL "
            "GROUP BY group_name, state ORDER BY group_name, state"
        ).fetchall()
        for group, state, count, example in rows:
            machine = self.machines.get(group)
            if machine is None:
                why = f"group `{group}` is not in this policy"
            elif state not in machine.kinds:
                why = f"state `{state}` is not in group `{group}` of this policy"
            else:
                continue
            found.append(
                (
                    f"1 open claim ({example}): {why}; it is left as it is"
                    if count == 1
                    else f"{count} open claims (e.g. {example}): {why}; they are "
                    "left as they are"
                )
                + " until the policy has it again"
            )
        return found

    def _anything_due(self, day: str) -> bool:
        if self.charges.bookable_waiting(self.store.conn):
            return True  # the base rate table now reaches a payment day
        return bool(
            self._select_due(day, ITEMS) or self._select_due(day, TIMERS)
        ) or bool(
            self.store.conn.execute(
                "SELECT 1 FROM events WHERE claim_id IS NULL AND applied_run IS NULL "
                "AND happened_on <= ? LIMIT 1",
                (day,),
            ).fetchone()
        )

    def _select_due(self, day: str, pass_name: str) -> int:
        """Collect the claims one pass must look at, in a stable order.

        The items pass takes claims with payments or events dated up to the
        as-of date; the timers pass takes claims that are new, changed, or
        whose next check has come.
        """
        if pass_name == ITEMS:
            wanted = """
                SELECT claim_id AS id FROM payments
                    WHERE applied_run IS NULL AND paid_on <= :day
                UNION SELECT claim_id FROM events
                    WHERE applied_run IS NULL AND claim_id IS NOT NULL
                    AND happened_on <= :day"""
        elif self.exhaustive:
            wanted = "SELECT id FROM claims"
        else:
            wanted = """
                SELECT id FROM claims WHERE next_check <= :day
                UNION SELECT id FROM claims WHERE changed = 1 AND issue_date <= :day"""
        conn = self.store.conn
        conn.execute("DROP TABLE IF EXISTS temp.due")
        conn.execute(
            f"""
            CREATE TEMP TABLE due AS
            SELECT c.id AS id FROM claims c JOIN ({wanted}) d ON d.id = c.id
            WHERE c.issue_date <= :day
            ORDER BY c.rowid
            """,
            {"day": day},
        )
        return int(conn.execute("SELECT count(*) FROM temp.due").fetchone()[0])

    def _batch(self, first: int) -> list[dict[str, Any]]:
        """The claims of one batch: those from the `first` of the due claims on."""
        columns = [
            "rowid",
            "id",
            "customer_id",
            "kind",
            "currency",
            "amount",
            "open_amount",
            "issue_date",
            "due_date",
            "attributes",
            "group_name",
            "state",
            "state_since",
            "hold_return",
            "hold_return_since",
            "next_check",
            "settled_on",
            "changed",
            "promise_until",
            "interest",
            "interest_since",
        ]
        select = ", ".join(f"c.{name}" for name in columns)
        rows = self.store.conn.execute(
            f"SELECT {select} FROM temp.due d JOIN claims c ON c.id = d.id "
            "WHERE d.rowid BETWEEN ? AND ? ORDER BY d.rowid",
            (first, first + self.batch_size - 1),
        ).fetchall()
        return [dict(zip(columns, row, strict=True)) for row in rows]

    # ---- one batch ----------------------------------------------------------

    def _process_batch(
        self, rows: list[dict[str, Any]], as_of: dt.date, run_id: int, pass_name: str
    ) -> tuple[list[Step], int, list[str], int]:
        conn = self.store.conn
        self.charges.forget()
        # Customer data is read only for claims whose guards can look at it.
        wanted = {
            row["customer_id"]
            for row in rows
            if row["state"] is None
            or row["changed"]
            or (row["group_name"], row["state"]) in self._reads_customer
        }
        customers = self._customers(wanted, as_of) if wanted else {}
        items = (
            self._pending_items([row["id"] for row in rows], as_of)
            if pass_name == ITEMS
            else {}
        )

        plans.attach(conn, rows)
        self._attach_written_off(rows, items)
        works: list[ClaimWork] = []
        problems: list[str] = []
        for row in rows:
            work = self.stepper.work(row, customers.get(row["customer_id"], {}), as_of)
            try:
                self.stepper.advance(
                    work, items.get(row["id"], []), as_of, timers=pass_name == TIMERS
                )
            except MoveRefused as error:
                problems.append(f"claim {row['id']}: {error}; left as it was")
                log.info("claim %s: %s", row["id"], error)
                continue
            works.append(work)
        self.treatment.write(conn, run_id)  # the batch's skips

        next_id = (
            int(
                conn.execute("SELECT coalesce(max(id), 0) FROM transitions").fetchone()[
                    0
                ]
            )
            + 1
        )
        first_transition = next_id
        day = as_of.isoformat()
        audit_rows: list[tuple[Any, ...]] = []
        steps: list[Step] = []
        for work in works:
            for step in work.steps:
                audit_rows.append(self._audit_row(next_id, run_id, day, step))
                steps.append(step)
                next_id += 1

        conn.executemany(
            "INSERT INTO transitions (id, run_id, as_of, claim_id, customer_id, "
            "group_name, from_state, to_state, trigger, rule, policy_path, "
            "policy_line, policy_digest, reason, seen, measures, actor) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            audit_rows,
        )
        # Fees, interest, and payments beyond the principal: in this batch's
        # transaction, before the claims UPDATE.
        booked = self._book_charges(works, first_transition, run_id, as_of)
        outbox = self._outbox(works, first_transition, run_id, day, booked)
        if outbox:
            conn.executemany(self._outbox_insert, outbox)
        switched = self.charges.interest_switched()
        # After the items pass the timers pass must still look at the claim.
        hand_on = pass_name == ITEMS
        conn.executemany(
            "UPDATE claims SET group_name = ?, state = ?, state_since = ?, "
            "hold_return = ?, hold_return_since = ?, next_check = ?, "
            "settled_on = ?, open_amount = ?, changed = ?, "
            "interest = coalesce(interest, ?), "
            "interest_since = coalesce(interest_since, ?) WHERE rowid = ?",
            [
                self.stepper.claim_update(work, as_of, hand_on, switched)
                for work in works
            ],
        )
        applied = [item for work in works for item in items.get(work.row["id"], [])]
        for table in ("payments", "events"):
            conn.executemany(
                f"UPDATE {table} SET applied_run = ? WHERE id = ?",
                [
                    (run_id, item["id"])
                    for item in applied
                    if item["table"] == table[:-1]
                ],
            )
        promises.note_applied(conn, applied)
        plans.store_paid(conn, [(work.row, work.open_amount) for work in works])
        # A claim the items pass hands on to the timers pass is counted there.
        handed_on = (
            sum(1 for work in works if machine_is_open(self.machines, work))
            if pass_name == ITEMS
            else 0
        )
        return steps, len(outbox), problems, len(rows) - handed_on

    def _attach_written_off(
        self, rows: list[dict[str, Any]], items: dict[str, list[dict[str, Any]]]
    ) -> None:
        """Put what is still written off of a settled claim with new payments
        into its row under `written_off` (engine/writeoffs.py)."""
        settled = [
            row["id"] for row in rows if row["settled_on"] and row["id"] in items
        ]
        if not settled:
            return
        left = still_written_off(self.store.conn, settled)
        for row in rows:
            if row["id"] in left:
                row["written_off"] = left[row["id"]]

    def _outbox(
        self,
        works: list[ClaimWork],
        first_transition: int,
        run_id: int,
        day: str,
        booked: dict[tuple[int, str], Decimal],
    ) -> list[tuple[Any, ...]]:
        """The batch's pending outbox items, one per step and measure. The fee
        an item shows is the one booked with it: none when the claim was
        charged for this measure before."""
        items: list[tuple[Any, ...]] = []
        ident = first_transition
        for work in works:
            for step, dunned in zip(work.steps, work.dunned, strict=True):
                for name in step.measures:
                    items.append(
                        outbox_row(
                            self._outbox_parts[name],
                            run_id=run_id,
                            transition_id=ident,
                            day=day,
                            claim_id=step.claim_id,
                            customer_id=step.customer_id,
                            open_amount=dunned,
                            fee=booked.get((ident, name)),
                        )
                    )
                ident += 1
        return items

    def _book_charges(
        self, works: list[ClaimWork], first_transition: int, run_id: int, as_of: dt.date
    ) -> dict[tuple[int, str], Decimal]:
        """Hand the batch's moves and payments to the charges (engine/charges.py);
        a payment that also paid charges leaves that much less open principal.
        Returns the fees booked, by transition id and measure name."""
        claims: list[BatchClaim] = []
        ident = first_transition
        for work in works:
            first, ident = ident, ident + len(work.steps)
            # Only payments and measures with a fee or interest book or pay
            # charges.
            if not self.charges.concerns(
                work.row["id"], (step.measures for step in work.steps)
            ):
                continue
            steps = []
            bases = []
            for offset, (step, dunned) in enumerate(
                zip(work.steps, work.dunned, strict=True)
            ):
                steps.append((first + offset, step.on, step.measures))
                bases.append(dunned.amount)
            claims.append(
                BatchClaim(
                    claim_id=work.row["id"],
                    customer_id=work.row["customer_id"],
                    currency=work.open_amount.currency,
                    # The invoice's own due date, also under a payment plan.
                    due_date=dt.date.fromisoformat(work.row["due_date"]),
                    open_before=Decimal(work.row["open_amount"]),
                    open_amount=work.open_amount.amount,
                    steps=tuple(steps),
                    bases=tuple(bases),
                    interest=work.row.get("interest"),
                    interest_since=work.row.get("interest_since"),
                )
            )
        adjusted = self.charges.book(self.store.conn, claims, run_id, as_of)
        for work in works:
            if work.row["id"] in adjusted:
                work.open_amount = Money(
                    adjusted[work.row["id"]], work.open_amount.currency
                )
        return self.charges.fees_booked()

    def _customers(self, ids: set[str], as_of: dt.date) -> dict[str, dict[str, Any]]:
        conn = self.store.conn
        marks = ", ".join("?" for _ in ids)
        columns = [
            "id",
            "name",
            "kind",
            "segment",
            "country",
            "language",
            "email",
            "address",
            "credit_limit",
            "currency",
            "dunning_group",
            "attributes",
        ]
        found: dict[str, dict[str, Any]] = {}
        for row in conn.execute(
            f"SELECT {', '.join(columns)} FROM customers WHERE id IN ({marks})",
            tuple(ids),
        ):
            record = dict(zip(columns, row, strict=True))
            attributes = record.pop("attributes")
            facts: dict[str, Any] = (
                json.loads(attributes) if attributes and attributes != "{}" else {}
            )
            limit, currency = record.pop("credit_limit"), record.pop("currency")
            facts.update(record)
            facts["credit_limit"] = (
                Money(Decimal(limit), currency or self.policy.header.currency)
                if limit
                else None
            )
            found[record["id"]] = facts
        if self.needs_customer_figures:
            self._add_customer_figures(found, marks, ids, as_of)
        return found

    def _add_customer_figures(
        self,
        found: dict[str, dict[str, Any]],
        marks: str,
        ids: set[str],
        as_of: dt.date,
    ) -> None:
        currency = self.policy.header.currency
        for facts in found.values():
            facts.update(
                open_claims=0,
                overdue_claims=0,
                total_open_amount=Money(Decimal(0), currency),
                days_since_oldest_unpaid=0,
            )
        rows = self.store.conn.execute(
            f"SELECT customer_id, open_amount, currency, issue_date, due_date "
            f"FROM claims WHERE customer_id IN ({marks}) AND settled_on IS NULL "
            f"AND issue_date <= ?",
            (*ids, as_of.isoformat()),
        )
        for customer_id, open_amount, claim_currency, issued, due in rows:
            amount = Decimal(open_amount)
            if amount <= 0:
                continue
            facts = found[customer_id]
            facts["open_claims"] += 1
            if due < as_of.isoformat():
                facts["overdue_claims"] += 1
            if claim_currency == currency:
                total = facts["total_open_amount"]
                facts["total_open_amount"] = Money(total.amount + amount, currency)
            age = (as_of - dt.date.fromisoformat(issued)).days
            facts["days_since_oldest_unpaid"] = max(
                facts["days_since_oldest_unpaid"], age
            )

    def _pending_items(
        self, claim_ids: list[str], as_of: dt.date
    ) -> dict[str, list[dict[str, Any]]]:
        """Payments and events not yet applied, dated up to the as-of date."""
        conn = self.store.conn
        marks = ", ".join("?" for _ in claim_ids)
        day = as_of.isoformat()
        found: dict[str, list[dict[str, Any]]] = {}
        for row in conn.execute(
            f"SELECT id, claim_id, amount, currency, paid_on, kind FROM payments "
            f"WHERE applied_run IS NULL AND paid_on <= ? AND claim_id IN ({marks})",
            (day, *claim_ids),
        ):
            found.setdefault(row[1], []).append(
                {
                    "table": "payment",
                    "id": row[0],
                    "amount": Money(Decimal(row[2]), row[3]),
                    "on": dt.date.fromisoformat(row[4]),
                    "kind": row[5],
                    "order": 0,
                }
            )
        for row in conn.execute(
            f"SELECT id, claim_id, kind, happened_on, reason FROM events "
            f"WHERE applied_run IS NULL AND happened_on <= ? AND claim_id IN ({marks})",
            (day, *claim_ids),
        ):
            found.setdefault(row[1], []).append(
                {
                    "table": "event",
                    "id": row[0],
                    "kind": row[2],
                    "on": dt.date.fromisoformat(row[3]),
                    "reason": row[4],
                    "order": 1,
                }
            )
        for items in found.values():
            items.sort(key=lambda item: (item["on"], item["order"], item["id"]))
        return found

    # ---- one claim ----------------------------------------------------------

    def customer_facts(self, customer_id: str, as_of: dt.date) -> dict[str, Any]:
        """What guards can read about one customer on a date."""
        return self._customers({customer_id}, as_of)[customer_id]

    def work_for(
        self, row: dict[str, Any], customer: dict[str, Any], as_of: dt.date
    ) -> ClaimWork:
        """A claim row as the run sees it: facts for guards, typed state."""
        plans.attach(self.store.conn, [row])
        return self.stepper.work(row, customer, as_of)

    def _audit_row(
        self, ident: int, run_id: int, day: str, step: Step
    ) -> tuple[Any, ...]:
        return (
            ident,
            run_id,
            day,
            step.claim_id,
            step.customer_id,
            step.group,
            step.from_state,
            step.to_state,
            step.trigger,
            step.rule,
            self.policy.path,
            step.policy_line,
            self.policy.digest,
            step.reason,
            _json_object(step.seen),
            _json_names(step.measures),
            "run",
        )


def _json_object(values: dict[str, str]) -> str:
    """A flat mapping of text as JSON, keys sorted, as `json.dumps` writes it.

    The keys are attribute names and fixed words of the engine; the values
    are escaped. Faster than `json.dumps` on the per-claim path.
    """
    return (
        "{"
        + ", ".join(
            f"{encode_basestring_ascii(key)}: {encode_basestring_ascii(values[key])}"
            for key in sorted(values)
        )
        + "}"
    )


def _json_names(names: tuple[str, ...]) -> str:
    """A list of measure names as JSON."""
    return "[" + ", ".join(encode_basestring_ascii(name) for name in names) + "]"


class _CollectingLess:
    """A run makes many short-lived objects and next to no reference cycles,
    yet each batch keeps thousands alive, which the cyclic garbage collector
    would walk again and again: while runs last it collects less often.

    The thresholds belong to the whole process, so runs in several threads
    share one change: the first run to start raises the threshold, the last
    to end puts back what the process had. A process that turned automatic
    collection off (threshold 0) keeps it off."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs = 0
        self._saved: tuple[int, ...] | None = None

    def __enter__(self) -> None:
        with self._lock:
            if self._runs == 0:
                saved = gc.get_threshold()
                if saved[0] != 0:
                    self._saved = saved
                    gc.set_threshold(max(saved[0], RUN_GC_THRESHOLD), *saved[1:])
            self._runs += 1

    def __exit__(self, *_: object) -> None:
        with self._lock:
            self._runs -= 1
            if self._runs == 0 and self._saved is not None:
                gc.set_threshold(*self._saved)
                self._saved = None


_collecting_less = _CollectingLess()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


__all__ = ["RunError", "RunResult", "Runner", "Step"]
