"""Each group's moves, as the run reads them, are exactly the machine's moves."""

from __future__ import annotations

import pytest

import dunlang
from engine.machines import GroupMachine, MoveRefused

from .conftest import POLICIES


@pytest.mark.parametrize("path", sorted(POLICIES.glob("*.dun")), ids=lambda p: p.name)
def test_the_move_table_agrees_with_the_machine(path) -> None:
    """For every state and trigger, the table and the machine move alike or refuse."""
    policy = dunlang.load_policy(path)
    for dunning in policy.dunnings.values():
        machine = GroupMachine(dunning)
        triggers = list(machine.machine.events)
        assert triggers, dunning.group
        for state in dunning.states:
            for trigger in triggers:
                try:
                    by_table = machine.fire(state, trigger)
                except MoveRefused:
                    by_table = None
                try:
                    by_machine = machine.fire_with_machine(state, trigger)
                except MoveRefused:
                    by_machine = None
                assert by_table == by_machine, (dunning.group, state, trigger)


def test_an_unknown_state_is_refused() -> None:
    """A claim in a state the group does not have cannot be moved."""
    policy = dunlang.load_policy(POLICIES / "oca-3-time.dun")
    machine = GroupMachine(policy.dunnings["standard"])

    with pytest.raises(MoveRefused, match="state `gone` is not in group `standard`"):
        machine.fire("gone", "step_0")
