"""Meaning checks on dunning blocks: their events, states and transitions.

Events and states must be known, every state reachable and, unless terminal,
possible to leave; the transitions of a state, tried in written order, must
each be able to fire; and along a chain of steps the days overdue must grow.
"""

from __future__ import annotations

import logging

from .check_base import CheckerBase
from .conditions import due_before, overlap, timer_text
from .errors import suggest
from .model import (
    BACK,
    PAID,
    Dunning,
    Event,
    Span,
    StateKind,
    Timer,
    TimerBasis,
    Transition,
)

log = logging.getLogger(__name__)

_EVENTS = tuple(event.value for event in Event)

MAX_TIMER_DAYS = 36500
"""The longest timer a policy may set: a hundred years of days."""


class BlockChecks(CheckerBase):
    """The checks on each dunning block of a policy."""

    def _check_block(self, dunning: Dunning) -> None:
        log.debug("checking dunning block %s", dunning.group)
        self._check_uses(dunning)

        unknown = self._check_events(dunning)

        reached = self._reachable(dunning)
        self._check_states(dunning, reached, unknown)

        # `Dunning.transitions_from` for every state, in one pass.
        leaving: dict[str, list[Transition]] = {}
        for transition in dunning.transitions:
            leaving.setdefault(transition.source, []).append(transition)
        for state in dunning.states:
            self._check_order(tuple(leaving.get(state, ())))

        self._check_chains(dunning)

    def _check_uses(self, dunning: Dunning) -> None:
        seen: set[str] = set()
        for name, span in zip(dunning.uses, dunning.use_spans, strict=False):
            if name in seen and name in self.policy.series:
                self.report(
                    "E202",
                    f"series `{name}` is used twice",
                    span,
                    "use each series once per dunning block",
                )
            seen.add(name)

    def _check_events(self, dunning: Dunning) -> set[str]:
        """Event names, `from` states and `back`; returns the unknown states."""
        states = dunning.states
        known = {dunning.initial, PAID}
        known.update(s for s, kind in states.items() if kind is not StateKind.NORMAL)
        for transition in dunning.transitions:
            known.update((transition.source, transition.target))
        known.update(r.target for r in dunning.events if r.target != BACK)
        holds = sorted(s for s, kind in states.items() if kind is StateKind.HOLD)
        hold_list = ", ".join(holds) or "none yet"
        events = _EVENTS
        unknown: set[str] = set()

        for rule in dunning.events:
            if rule.event not in events:
                self.report(
                    "E207",
                    f"unknown event `{rule.event}`",
                    rule.event_span,
                    suggest(rule.event, events, "events"),
                )
            for source, span in zip(rule.sources, rule.source_spans, strict=False):
                if source not in known:
                    unknown.add(source)
                    self.report(
                        "E203",
                        f"unknown state `{source}`",
                        span,
                        suggest(source, known, "states"),
                    )
                elif states.get(source) is StateKind.TERMINAL:
                    self._terminal(source, span)
                elif rule.target == BACK and states.get(source) is not StateKind.HOLD:
                    self.report(
                        "E216",
                        f"`back` returns from a hold state, but `{source}` is not one",
                        span,
                        f"name only hold states after `from` (hold states: "
                        f"{hold_list}), or name the state to go to instead of `back`",
                    )
            if rule.target == BACK and not rule.sources:
                example = f"`from {holds[0]}`" if holds else "`from on_hold`"
                self.report(
                    "E216",
                    "`back` needs `from` naming the hold states it returns from",
                    self._locate(rule.span, r"->\s*(back)\b", rule.span),
                    f"without `from` the rule applies in every state; name the hold "
                    f"states, like {example} (hold states: {hold_list})",
                )

        for transition in dunning.transitions:
            if transition.target == BACK:
                self.report(
                    "E216",
                    "`back` can only be the target of an `on` rule",
                    transition.target_span,
                    "a timed transition names the state it goes to",
                )
        return unknown

    def _terminal(self, state: str, span: Span) -> None:
        self.report(
            "E209",
            f"`{state}` is a terminal state; no rule can leave it",
            span,
            f"a claim in `{state}` stays there; remove this rule, or take `{state}` "
            "off the `terminal` line"
            if state != PAID
            else "a paid claim stays paid; remove this rule",
        )

    def _reachable(self, dunning: Dunning) -> set[str]:
        """States a claim can get to from the initial state."""
        leads_to: dict[str, list[str]] = {}
        for transition in dunning.transitions:
            leads_to.setdefault(transition.source, []).append(transition.target)
        # An `on` rule without `from` leaves every state but a terminal one.
        from_anywhere: list[str] = []
        for rule in dunning.events:
            if rule.target == BACK:
                continue
            if not rule.sources:
                from_anywhere.append(rule.target)
            for source in rule.sources:
                leads_to.setdefault(source, []).append(rule.target)

        states = dunning.states
        reached = {dunning.initial}
        todo = [dunning.initial]
        while todo:
            state = todo.pop()
            if states.get(state) is StateKind.TERMINAL:
                continue
            for target in (*leads_to.get(state, ()), *from_anywhere):
                if target not in reached:
                    reached.add(target)
                    todo.append(target)
        return reached

    def _check_states(
        self, dunning: Dunning, reached: set[str], unknown: set[str]
    ) -> None:
        group = dunning.group
        targets = {t.target for t in dunning.transitions}
        targets.update(r.target for r in dunning.events)
        leaves_anywhere = any(not r.sources for r in dunning.events)

        for transition in dunning.transitions:
            if dunning.states.get(transition.source) is StateKind.TERMINAL:
                self._terminal(transition.source, transition.source_span)

        for state, kind in dunning.states.items():
            if state == PAID or state in unknown:
                continue
            span = dunning.state_spans.get(state, dunning.name_span)
            if state not in reached:
                hint = (
                    f"no transition or `on` rule leads to `{state}`; add one, or "
                    "remove the state"
                    if state not in targets
                    else f"only states that are never reached lead to `{state}`"
                )
                self.report(
                    "W302",
                    f"state `{state}` can never be reached (dunning group `{group}`)",
                    span,
                    hint,
                )
                continue
            if kind is StateKind.TERMINAL or leaves_anywhere:
                continue
            if any(t.source == state for t in dunning.transitions):
                continue
            if any(state in r.sources for r in dunning.events):
                continue
            self.report(
                "E208",
                f"a claim in `{state}` can never leave it (dunning group `{group}`)",
                span,
                f"add a transition from `{state}` or an `on` rule that leaves it, or "
                f"declare it with `terminal {state}`",
            )

    def _check_order(self, transitions: tuple[Transition, ...]) -> None:
        """Transitions of one state are tried in written order: find the ones
        that can never fire and the ones whose conditions overlap."""
        for j, later in enumerate(transitions):
            if later.timer is not None and later.timer.days > MAX_TIMER_DAYS:
                self.report(
                    "E214",
                    f"`after {later.timer.days} days` is more than a hundred years",
                    later.timer.span,
                    f"give a number of days up to {MAX_TIMER_DAYS}",
                )
            if (
                later.timer is not None
                and later.timer.business_days
                and self.policy.header.calendar is None
            ):
                self.report(
                    "W306",
                    "business days are counted without public holidays: the policy "
                    "has no `calendar`",
                    later.timer.span,
                    "add a `calendar` line below the `policy` line, for example "
                    "`calendar DE-NW`; without one only Saturdays and Sundays are "
                    "skipped",
                )
            loop = self._restarting_loop(transitions, j)
            if loop is not None:
                self.report(
                    "E217",
                    f"`{later.rule}` can never fire",
                    later.timer.span if later.timer is not None else later.target_span,
                    f"`{loop.rule}` on line {loop.span.line} comes first, has no "
                    "condition and returns to the same state, so it fires again "
                    "before this transition gets its turn; put it after this one, "
                    "give it a `when` condition, or make it wait longer",
                )
                continue
            killer = self._dead(transitions, j)
            if killer is not None:
                self.report(
                    "E217",
                    f"`{later.rule}` can never fire",
                    later.timer.span if later.timer is not None else later.target_span,
                    f"`{killer.rule}` on line {killer.span.line} has no condition and "
                    f"is always due first ({timer_text(killer.timer)}); give it a "
                    "`when` condition, or remove this transition",
                )
                continue
            if later.guard is None:
                continue
            for earlier in transitions[:j]:
                if earlier.guard is None or earlier is later:
                    continue
                name = overlap(earlier.guard, later.guard)
                if name is not None:
                    self.report(
                        "E210",
                        f"`{later.rule}` can apply to the same claims as "
                        f"`{earlier.rule}` on line {earlier.span.line}",
                        later.guard.span,
                        f"both conditions on `{name}` can hold at once, and then the "
                        "transition written first wins; make the conditions exclude "
                        "each other, or leave the last one without `when`",
                    )
                    break

    @staticmethod
    def _restarting_loop(
        transitions: tuple[Transition, ...], index: int
    ) -> Transition | None:
        """An earlier unconditional transition back to the same state that fires
        again before this one can ever be due."""
        target = transitions[index]
        for other in transitions[:index]:
            timer = other.timer
            if (
                other.guard is not None
                or other.source != other.target
                or timer is None
                or timer.basis is not TimerBasis.IN_STATE
            ):
                continue
            later = target.timer
            if timer.days <= 1 or (
                later is not None
                and later.basis is TimerBasis.IN_STATE
                and later.business_days == timer.business_days
                and later.days >= timer.days
            ):
                return other
        return None

    @staticmethod
    def _dead(transitions: tuple[Transition, ...], index: int) -> Transition | None:
        """The unconditional transition that always fires before this one."""
        target = transitions[index]
        for i, other in enumerate(transitions):
            if i == index or other.guard is not None or other is target:
                continue
            if due_before(other.timer, target.timer, strictly=i > index):
                return other
        return None

    def _check_chains(self, dunning: Dunning) -> None:
        """Along a -> b -> c, days overdue must grow from step to step."""
        for step in dunning.transitions:
            timer = step.timer
            if timer is None or timer.basis is not TimerBasis.OVERDUE:
                continue
            worst: tuple[Transition, Timer] | None = None
            for before in dunning.transitions:
                earlier = before.timer
                if (
                    before.target != step.source
                    or before.source == before.target
                    or earlier is None
                    or earlier.basis is not TimerBasis.OVERDUE
                    or earlier.business_days != timer.business_days
                    or earlier.end_of_month != timer.end_of_month
                    or earlier.days < timer.days
                ):
                    continue
                if worst is None or earlier.days > worst[1].days:
                    worst = (before, earlier)
            if worst is None:
                continue
            before, earlier = worst
            if earlier.days > timer.days:
                code, when = "E211", "before"
                then = "is already due on arrival"
            else:
                code, when = "W303", "on the same day as"
                then = "follows on the next run"
            self.report(
                code,
                f"`{step.rule}` falls due {when} the step into `{step.source}` "
                f"on line {before.span.line}",
                timer.span,
                f"a claim reaches `{step.source}` {timer_text(earlier)}, so this "
                f"step {then}; make it later than {earlier.days} days overdue, or "
                "count the days `in state`",
            )
