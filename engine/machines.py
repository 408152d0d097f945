"""Each dunning group compiled into one `transitions` state machine.

This is the only module that imports `transitions`. One machine per group is
shared by all of that group's claims: a claim's state is put on a light cursor,
the machine fires the named trigger, and the new state is read back. The
machine is the source of truth for which moves exist; the runner decides which
trigger is due (timers and guards) and never moves a claim without it.
"""

from __future__ import annotations

import logging
from typing import Any

from attrs import frozen
from transitions import Machine, MachineError

from dunlang.model import BACK, PAID, Dunning, EventRule, StateKind, Transition

from .guards import Guard, compile_guard

log = logging.getLogger(__name__)

SETTLE = "settle"
"""Built-in trigger: a full payment moves a claim from any state to `paid`."""


class MoveRefused(Exception):
    """The machine has no such move from the claim's state (the policy changed)."""


@frozen
class TimedStep:
    """A compiled timed transition: the rule, its guard function, its trigger."""

    rule: Transition
    guard: Guard
    trigger: str


@frozen
class EventStep:
    """A compiled event rule."""

    rule: EventRule
    guard: Guard
    trigger: str


class _Cursor:
    """Stand-in model the shared machine moves; holds one claim's state at a time."""

    state: str


class GroupMachine:
    """The state machine of one dunning group, shared by all of its claims."""

    def __init__(self, dunning: Dunning) -> None:
        self.dunning = dunning
        self.kinds = dict(dunning.states)
        self.terminal = frozenset(
            s for s, k in dunning.states.items() if k is StateKind.TERMINAL
        )
        self.hold = frozenset(
            s for s, k in dunning.states.items() if k is StateKind.HOLD
        )
        open_states = [s for s in dunning.states if s not in self.terminal]

        specs: list[dict[str, Any]] = []
        self.timed: dict[str, list[TimedStep]] = {s: [] for s in dunning.states}
        for index, rule in enumerate(dunning.transitions):
            trigger = f"step_{index}"
            specs.append(
                {"trigger": trigger, "source": rule.source, "dest": rule.target}
            )
            self.timed[rule.source].append(
                TimedStep(rule, compile_guard(rule.guard), trigger)
            )

        self.events: dict[str, list[EventStep]] = {}
        for index, event_rule in enumerate(dunning.events):
            trigger = f"event_{index}"
            sources = list(event_rule.sources) or open_states
            if event_rule.target == BACK:
                # The return state is known only at run time: one move per
                # possible return state, named trigger:state.
                for dest in open_states:
                    specs.append(
                        {
                            "trigger": f"{trigger}:{dest}",
                            "source": sources,
                            "dest": dest,
                        }
                    )
            else:
                specs.append(
                    {"trigger": trigger, "source": sources, "dest": event_rule.target}
                )
            self.events.setdefault(event_rule.event, []).append(
                EventStep(event_rule, compile_guard(event_rule.guard), trigger)
            )

        # Settlement leaves every state but `paid` itself: money collected by an
        # agency or after a write-off still settles the claim.
        unsettled = [s for s in dunning.states if s != PAID]
        specs.append({"trigger": SETTLE, "source": unsettled, "dest": PAID})
        self._cursor = _Cursor()
        self.machine = Machine(
            model=self._cursor,
            states=list(dunning.states),
            transitions=specs,
            initial=dunning.initial,
            auto_transitions=False,
            ignore_invalid_triggers=False,
        )
        self._moves = self._read_moves()
        log.debug(
            "group %s: %d states, %d moves",
            dunning.group,
            len(dunning.states),
            len(specs),
        )

    @property
    def initial(self) -> str:
        """The state new claims of this group start in."""
        return self.dunning.initial

    def is_open(self, state: str) -> bool:
        """True for states from which dunning goes on."""
        return state not in self.terminal

    def fire(self, state: str, trigger: str) -> str:
        """Move a claim in `state` by `trigger`; the state it ends in.

        The moves are read from the machine once (see `_read_moves`), so the
        run does not pay for the library's per-call machinery, and a move the
        machine does not define is refused just the same.
        """
        target = self._moves.get((state, trigger))
        if target is None:
            if state not in self.kinds:
                raise MoveRefused(
                    f"state `{state}` is not in group `{self.dunning.group}`"
                )
            raise MoveRefused(
                f"group `{self.dunning.group}` has no move `{trigger}` from `{state}`"
            )
        return target

    def fire_with_machine(self, state: str, trigger: str) -> str:
        """The same move made by the machine itself, on the shared cursor."""
        if state not in self.kinds:
            raise MoveRefused(f"state `{state}` is not in group `{self.dunning.group}`")
        cursor = self._cursor
        self.machine.set_state(state, model=cursor)
        event = self.machine.events.get(trigger)
        try:
            if event is None:
                raise MachineError(f"no trigger {trigger}")
            event.trigger(cursor)
        except MachineError as error:
            raise MoveRefused(
                f"group `{self.dunning.group}` has no move `{trigger}` from `{state}`"
            ) from error
        return cursor.state

    def _read_moves(self) -> dict[tuple[str, str], str]:
        """(state, trigger) -> target, for every move the machine defines."""
        moves: dict[tuple[str, str], str] = {}
        for name, event in self.machine.events.items():
            for source, transitions in event.transitions.items():
                dest = transitions[0].dest
                if dest is not None:
                    moves.setdefault((source, name), dest)
        return moves


def compile_groups(dunnings: dict[str, Dunning]) -> dict[str, GroupMachine]:
    """One machine per dunning group."""
    return {name: GroupMachine(dunning) for name, dunning in dunnings.items()}
