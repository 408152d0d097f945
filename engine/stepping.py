"""How a run steps one claim: allocation to a group, its payments and events,
at most one timed step, and the day it must next be looked at.

The run (engine/runner.py) reads the claims in batches and writes what happened
to them; a `ClaimStepper` decides for each claim of a batch, keeping every move
with its rule, reason and the values the rule read. Holds, exclusions, credits
and small balances come from `engine.holds.Treatment`, payment plans from
`engine.plans`, promises from `engine.promises`.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from functools import lru_cache
from typing import Any

from attrs import define, field, frozen

from dunlang.model import PAID, MeasureKind, Money, Policy, Timer, TimerBasis

from . import plans, promises
from .calendar import BusinessCalendar, Deadline, deadline_of, due_date_of
from .charges import ChargeBook
from .guards import Guard, Seen, describe_value
from .holds import Treatment
from .machines import SETTLE, EventStep, GroupMachine, MoveRefused
from .measures import round_money

ONE_DAY = dt.timedelta(days=1)
_UNKNOWN: Any = object()


@frozen
class Step:
    """One move of one claim, as decided by a run (and, unless dry, recorded)."""

    claim_id: str
    customer_id: str
    group: str
    from_state: str | None
    to_state: str
    on: dt.date
    trigger: str
    rule: str
    policy_line: int | None
    reason: str
    seen: dict[str, str]
    measures: tuple[str, ...]


@define
class ClaimWork:
    """One claim while a run handles it: its row, its facts for the guards,
    and what the run has done to it so far."""

    row: dict[str, Any]
    group: str | None
    state: str | None
    state_since: dt.date | None
    hold_return: str | None
    hold_return_since: dt.date | None
    open_amount: Money
    settled_on: dt.date | None
    facts: dict[str, dict[str, Any]]
    steps: list[Step] = field(factory=list)
    stepped_by_timer: bool = False
    dunned: list[Money] = field(factory=list)
    """What each step's measures ask for (under a payment plan: the overdue part)."""


class ClaimStepper:
    """Decides, claim by claim, what a run does to each claim of a batch.

    `exhaustive` is the unoptimised reference path: every move is made by the
    state machine itself (see `Runner`)."""

    def __init__(
        self,
        policy: Policy,
        machines: dict[str, GroupMachine],
        calendar: BusinessCalendar,
        treatment: Treatment,
        charges: ChargeBook,
        group_rules: list[tuple[str, int, Guard]],
        *,
        exhaustive: bool = False,
    ) -> None:
        self.policy = policy
        self.machines = machines
        self.calendar = calendar
        self.treatment = treatment
        self.charges = charges
        self.group_rules = group_rules
        self.exhaustive = exhaustive
        self._rule_texts: dict[int, str] = {}
        self._writing_off = frozenset(
            name
            for name, measure in policy.measures.items()
            if measure.kind is MeasureKind.WRITE_OFF
        )
        # (group, state, due date, since, as-of): the first day a timer holds.
        self._earliest: dict[tuple[Any, ...], dt.date | None] = {}

    def start(self) -> None:
        """A run begins: forget what the last one worked out."""
        self._earliest = {}

    def _rule_text(self, line: int) -> str:
        """The rule on a policy line as written, for the audit trail."""
        text = self._rule_texts.get(line)
        if text is None:
            text = self._rule_texts[line] = self.policy.source_line(line)
        return text

    def work(
        self, row: dict[str, Any], customer: dict[str, Any], as_of: dt.date
    ) -> ClaimWork:
        """A claim row (with its plan, if any) as the run sees it: its facts
        for the guards and its typed state."""
        currency = row["currency"]
        due = dt.date.fromisoformat(row["due_date"])
        open_amount = Money(Decimal(row["open_amount"]), currency)
        claim = {
            "id": row["id"],
            "kind": row["kind"],
            "currency": currency,
            "amount": Money(Decimal(row["amount"]), currency),
            "open_amount": open_amount,
            "issue_date": dt.date.fromisoformat(row["issue_date"]),
            "due_date": due,
            "days_overdue": (as_of - due).days,
        }
        if row["attributes"] != "{}":
            # The claim's own attributes, under the fields of the claim.
            claim = {**json.loads(row["attributes"]), **claim}
        plans.add_facts(claim, row.get("instalments"), open_amount, as_of)
        return ClaimWork(
            row=row,
            group=row["group_name"],
            state=row["state"],
            state_since=_date(row["state_since"]),
            hold_return=row["hold_return"],
            hold_return_since=_date(row["hold_return_since"]),
            open_amount=open_amount,
            settled_on=_date(row["settled_on"]),
            facts={"claim": claim, "customer": customer},
        )

    def advance(
        self,
        work: ClaimWork,
        items: list[dict[str, Any]],
        as_of: dt.date,
        *,
        timers: bool,
    ) -> None:
        """Step the claim: allocated on first sight, then its payments and
        events in order, then (`timers`) at most one timed step. Raises
        `MoveRefused` when the policy cannot take the claim."""
        currency = self.policy.header.currency
        if work.open_amount.currency != currency:
            raise MoveRefused(
                f"the claim is in {work.open_amount.currency} and the policy works in "
                f"{currency}; it is not dunned by this policy"
            )
        allocated = work.state is None or self._may_reallocate(work)
        if allocated:
            self._allocate(work, as_of)
        machine = self.machines.get(work.group or "")
        if machine is None:
            raise MoveRefused(f"group `{work.group}` is not in this policy")
        if work.state not in machine.kinds:
            raise MoveRefused(
                f"state `{work.state}` is not in group `{work.group}` of this policy"
            )

        for item in items:
            if item["table"] == "payment":
                self._apply_payment(work, machine, item)
            else:
                self._apply_event(
                    work, machine, item["kind"], item["on"], f"event {item['id']}"
                )

        if timers and machine.is_open(work.state or ""):
            # Holds, exclusions and small balances (engine/holds.py).
            verdict = self.treatment.verdict(work, machine, as_of, allocated)
            if verdict.write_off is not None:
                self._move(
                    work,
                    machine,
                    SETTLE,
                    as_of,
                    "small_balance",
                    verdict.rule,
                    None,
                    verdict.write_off,
                    {},
                    (),
                )
                # The transition keeps the amount written off (reason, seen).
                self._write_off(work, as_of)
            timers = verdict.timed_step
            if timers and plans.resumes_on(work.row, work.open_amount, as_of):
                timers = False  # a payment plan with nothing overdue (plans.py)

        if (
            timers
            and machine.is_open(work.state or "")
            # A claim that entered its state today takes no timed step today,
            # unless it entered it by being allocated in this very run.
            and (allocated or work.state_since is None or work.state_since < as_of)
        ):
            self._timed_step(work, machine, as_of)

    def _may_reallocate(self, work: ClaimWork) -> bool:
        machine = self.machines.get(work.group or "")
        return bool(
            work.row["changed"]
            and machine is not None
            and work.state == machine.initial
            and not work.steps
            and self._choose_group(work)[0] != work.group
        )

    def _choose_group(self, work: ClaimWork) -> tuple[str, str, int | None, Seen]:
        """The group for a claim: explicit in the customer data, else first rule."""
        explicit = work.facts["customer"].get("dunning_group")
        if explicit and explicit in self.machines:
            return explicit, f"the customer data names group `{explicit}`", None, {}
        for name, line, guard in self.group_rules:
            seen: Seen = {}
            if guard(work.facts, seen):
                note = (
                    f"the customer data names group `{explicit}`, which this "
                    "policy does not have; "
                    if explicit
                    else ""
                )
                return name, f"{note}first matching rule", line, seen
        raise MoveRefused("no group rule matches (the policy has no fallback group)")

    def _allocate(self, work: ClaimWork, as_of: dt.date) -> None:
        group, why, line, seen = self._choose_group(work)
        machine = self.machines[group]
        issued = work.facts["claim"]["issue_date"]
        rule = self._rule_text(line) if line else "customer.dunning_group"
        self._record(
            work,
            group,
            machine.initial,
            issued,
            "allocation",
            rule,
            line,
            f"allocated to group `{group}`: {why}",
            seen,
            (),
        )
        work.group, work.state, work.state_since = group, machine.initial, issued

    def _apply_payment(
        self, work: ClaimWork, machine: GroupMachine, item: dict[str, Any]
    ) -> None:
        amount: Money = item["amount"]
        currency = work.open_amount.currency
        # Money for a claim that was written off recovers what was written
        # off first; what it does not cover stays written off.
        written_off = work.row.get("written_off") or Decimal(0)
        work.row["written_off"] = None
        if written_off > 0:
            work.open_amount = Money(work.open_amount.amount + written_off, currency)
        self.charges.note_payment(  # charges: what exceeds the principal
            work.row["id"],
            len(work.steps),
            item["on"],
            amount,
            item["kind"],
            work.open_amount,
        )
        left = work.open_amount.amount - amount.amount
        if written_off > 0 and left > 0:
            work.row["written_off"] = left
            left = round_money(Decimal(0), currency)
        work.open_amount = Money(left, currency)
        work.facts["claim"]["open_amount"] = work.open_amount
        settled = work.open_amount.amount <= 0 and not work.row["written_off"]
        if settled and (work.settled_on is None or written_off > 0):
            # Recovered in full, a write-off turns out to be a late payment.
            work.settled_on = item["on"]
        if work.state == PAID:
            return

        if not machine.is_open(work.state or ""):
            names: list[str] = []
        elif item["kind"] == "credit_note":
            names = ["credit_note"]
        else:
            names = ["payment"] if settled else ["partial_payment", "payment"]
        label = f"{item['kind'].replace('_', ' ')} {item['id']} of {amount}"
        fired = any(
            self._apply_event(work, machine, name, item["on"], label) for name in names
        )
        # A rule the policy wrote for the payment wins; otherwise a full payment
        # settles the claim from whatever state it is in.
        if settled and not fired and work.state != PAID:
            self._move(
                work,
                machine,
                SETTLE,
                item["on"],
                "settlement",
                "full payment settles the claim"
                if item["kind"] == "payment"
                else "a credit note for all that is open settles the claim",
                None,
                f"{label} left {work.open_amount} open: the claim is settled",
                {},
                (),
            )

    def _apply_event(
        self,
        work: ClaimWork,
        machine: GroupMachine,
        event: str,
        on: dt.date,
        label: str,
    ) -> bool:
        """Fire the first event rule that matches; True if one did."""
        steps: list[EventStep] = machine.events.get(event, [])
        for step in steps:
            rule = step.rule
            state = work.state or ""
            if not machine.is_open(state) or (
                rule.sources and state not in rule.sources
            ):
                continue
            seen: Seen = {}
            if not step.guard(work.facts, seen):
                continue
            trigger = step.trigger
            if rule.target == "back":
                if work.hold_return is None:
                    continue
                trigger = f"{trigger}:{work.hold_return}"
            # A held claim moves, but its measures are withheld (holds.py).
            measures, withheld = self.treatment.event_measures(
                work, event, on, rule.measures
            )
            self._move(
                work,
                machine,
                trigger,
                on,
                f"event:{event}",
                self._rule_text(rule.span.line),
                rule.span.line,
                f"{label}: `{event}` on {on}{withheld}",
                seen,
                measures,
            )
            return True
        return False

    def _timed_step(
        self, work: ClaimWork, machine: GroupMachine, as_of: dt.date
    ) -> None:
        claim = work.facts["claim"]
        for step in machine.timed.get(work.state or "", []):
            timer = step.rule.timer
            since = work.state_since or claim["issue_date"]
            deadline = (
                deadline_of(timer, claim["due_date"], since, self.calendar)
                if timer
                else Deadline(as_of, as_of)
            )
            if deadline.day > as_of:
                continue
            seen: Seen = {}
            if not step.guard(work.facts, seen):
                continue
            if self.treatment.withholds(work, step.rule.measures, as_of):
                return  # a customer credit covers the claim (engine/credits.py)
            reason = _timer_reason(timer, deadline, claim["due_date"], since, as_of)
            self._move(
                work,
                machine,
                step.trigger,
                as_of,
                "timer",
                self._rule_text(step.rule.span.line),
                step.rule.span.line,
                reason,
                seen,
                step.rule.measures,
            )
            work.stepped_by_timer = True
            return

    def _move(
        self,
        work: ClaimWork,
        machine: GroupMachine,
        trigger: str,
        on: dt.date,
        kind: str,
        rule: str,
        line: int | None,
        reason: str,
        seen: Seen,
        measures: tuple[str, ...],
    ) -> None:
        source = work.state or ""
        if self.exhaustive:
            target = machine.fire_with_machine(source, trigger)
        else:
            target = machine.fire(source, trigger)
        entering_hold = target in machine.hold and source not in machine.hold
        leaving_hold = source in machine.hold and target not in machine.hold
        since = on
        if leaving_hold and trigger.count(":") and work.hold_return_since is not None:
            # Back from a hold: the days on hold do not count as days in state.
            held = (on - (work.state_since or on)).days
            since = work.hold_return_since + dt.timedelta(days=held)
        self._record(
            work,
            work.group or "",
            target,
            on,
            kind,
            rule,
            line,
            reason,
            seen,
            measures,
            source,
        )
        if entering_hold:
            work.hold_return, work.hold_return_since = source, work.state_since
        elif leaving_hold:
            work.hold_return = work.hold_return_since = None
        work.state, work.state_since = target, since
        if target == PAID and work.settled_on is None:
            work.settled_on = on
        if self._writing_off.intersection(measures):
            self._write_off(work, on)

    def _write_off(self, work: ClaimWork, on: dt.date) -> None:
        """Write the open principal off as uncollectable (a `write_off`
        measure or a small balance): the claim is settled with nothing open.
        The move (and a measure's outbox item, done at once) keeps the amount
        written off."""
        currency = work.open_amount.currency
        work.open_amount = Money(round_money(Decimal(0), currency), currency)
        work.facts["claim"]["open_amount"] = work.open_amount
        if work.settled_on is None:
            work.settled_on = on

    def _record(
        self,
        work: ClaimWork,
        group: str,
        target: str,
        on: dt.date,
        kind: str,
        rule: str,
        line: int | None,
        reason: str,
        seen: Seen,
        measures: tuple[str, ...],
        source: str | None = None,
    ) -> None:
        claim = work.facts["claim"]
        work.dunned.append(plans.amount_dunned(work.row, work.open_amount, on))
        values = {
            "days_overdue": str(claim["days_overdue"]),
            "open_amount": describe_value(work.open_amount),
        }
        values.update({key: describe_value(value) for key, value in seen.items()})
        work.steps.append(
            Step(
                claim_id=work.row["id"],
                customer_id=work.row["customer_id"],
                group=group,
                from_state=source,
                to_state=target,
                on=on,
                trigger=kind,
                rule=rule,
                policy_line=line,
                reason=reason,
                seen=values,
                measures=measures,
            )
        )

    def claim_update(
        self,
        work: ClaimWork,
        as_of: dt.date,
        hand_on: bool,
        switched: dict[str, tuple[str, str]],
    ) -> tuple[Any, ...]:
        """The claim's new values for the run's UPDATE of `claims`, in its
        order. `hand_on`: the timers pass must still look at the claim (it
        comes from the pass of payments and events); `switched`: the claims
        whose interest a measure of the batch switched on."""
        next_check = self._next_check(work, as_of)
        next_check = promises.next_check(next_check, work.row, work.settled_on, as_of)
        # Interest a measure of this batch switched on (engine/charges.py).
        interest, since = switched.get(work.row["id"], (None, None))
        return (
            work.group,
            work.state,
            work.state_since.isoformat() if work.state_since else None,
            work.hold_return,
            _iso(work.hold_return_since),
            next_check.isoformat() if next_check else None,
            work.settled_on.isoformat() if work.settled_on else None,
            str(work.open_amount.amount),
            int(hand_on and machine_is_open(self.machines, work)),
            interest,
            since,
            work.row["rowid"],  # read in this transaction (Runner._batch)
        )

    def _first_timer_day(
        self,
        machine: GroupMachine,
        state: str,
        due_date: dt.date,
        since: dt.date,
        as_of: dt.date,
    ) -> dt.date | None:
        """The first day after `as_of` on which a timer of the state holds."""
        tomorrow = as_of + ONE_DAY
        earliest: dt.date | None = None
        for step in machine.timed.get(state, []):
            timer = step.rule.timer
            day = (
                due_date_of(timer, due_date, since, self.calendar)
                if timer
                else tomorrow
            )
            day = max(day, tomorrow)
            earliest = day if earliest is None else min(earliest, day)
        return earliest

    def _next_check(self, work: ClaimWork, as_of: dt.date) -> dt.date | None:
        """The first day a timer of the claim's state can fire; None if none can."""
        machine = self.machines.get(work.group or "")
        if machine is None or not machine.is_open(work.state or ""):
            return None
        claim = work.facts["claim"]
        since = work.state_since or claim["issue_date"]
        # Claims issued on the same day share it: worked out once per run.
        key = (work.group, work.state, claim["due_date"], since, as_of)
        earliest = self._earliest.get(key, _UNKNOWN)
        if earliest is _UNKNOWN:
            earliest = self._earliest[key] = self._first_timer_day(
                machine, work.state or "", claim["due_date"], since, as_of
            )
        checked = self.treatment.next_check(work.row["id"], earliest)
        resumes = plans.resumes_on(work.row, work.open_amount, as_of)
        if resumes is not None and checked is not None:
            checked = max(checked, resumes)  # a payment plan waits (plans.py)
        return checked


def machine_is_open(machines: dict[str, GroupMachine], work: ClaimWork) -> bool:
    """True when the claim's group knows its state and dunning goes on from it."""
    machine = machines.get(work.group or "")
    return machine is not None and machine.is_open(work.state or "")


@lru_cache(maxsize=4096)
def _timer_reason(
    timer: Timer | None,
    deadline: Deadline,
    due_date: dt.date,
    since: dt.date,
    as_of: dt.date,
) -> str:
    """Why a timer fired, for the audit trail; many claims of a run share it."""
    if timer is None:
        return "its condition held"
    unit = ("business day" if timer.business_days else "day") + (
        "" if timer.days == 1 else "s"
    )
    month = " at end of month" if timer.end_of_month else ""
    if timer.basis is TimerBasis.OVERDUE:
        detail = f"due {due_date}, {(as_of - due_date).days} days overdue"
    else:
        detail = f"in state since {since}, {(as_of - since).days} days"
    return (
        f"after {timer.days} {unit} {timer.basis.value}{month}: "
        f"{deadline.describe()} ({detail})"
    )


def _date(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


__all__ = ["ClaimStepper", "ClaimWork", "Step", "machine_is_open"]
