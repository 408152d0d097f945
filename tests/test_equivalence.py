"""The optimised run gives exactly the results of the unoptimised reference path."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from dunlang import load_policy
from engine.importer import apply_import, check_file
from engine.runner import Runner
from engine.sample import SampleSettings, write_sample
from engine.simulate import run_days
from engine.store import Store

from .conftest import POLICIES

START, END = dt.date(2025, 1, 1), dt.date(2025, 4, 30)


def simulate_into(db: Path, data: Path, policy_name: str, exhaustive: bool) -> Store:
    """Import the sample and run every business day with one kind of runner."""
    store = Store.open(db)
    for kind in ("customers", "claims", "payments", "events"):
        apply_import(store, check_file(str(data / f"{kind}.csv"), [kind]))
    policy = load_policy(POLICIES / policy_name)
    runner = Runner(store, policy, batch_size=700, exhaustive=exhaustive)
    for day in run_days(START, END, policy):
        runner.run(day)
    return store


def results(store: Store) -> dict[str, list[tuple[object, ...]]]:
    """Everything a run decides: audit trail, outbox, claim states, applied items."""
    conn = store.conn
    return {
        "transitions": conn.execute(
            "SELECT run_id, as_of, claim_id, customer_id, group_name, from_state, "
            "to_state, trigger, rule, policy_line, reason, seen, measures "
            "FROM transitions ORDER BY claim_id, id"
        ).fetchall(),
        "measures": conn.execute(
            "SELECT run_id, as_of, claim_id, measure, kind, open_amount, fee, cost "
            "FROM measures ORDER BY claim_id, id"
        ).fetchall(),
        "claims": conn.execute(
            "SELECT id, group_name, state, state_since, hold_return, open_amount, "
            "settled_on FROM claims ORDER BY id"
        ).fetchall(),
        "payments": conn.execute(
            "SELECT id, applied_run FROM payments ORDER BY id"
        ).fetchall(),
        "events": conn.execute(
            "SELECT id, applied_run FROM events ORDER BY id"
        ).fetchall(),
    }


def test_optimised_and_reference_runs_agree(tmp_path: Path) -> None:
    """2,000 generated claims, four months of daily runs, two policies: same results."""
    data = tmp_path / "data"
    write_sample(data, SampleSettings(250, 2000, seed=11, start=START, end=END))

    for policy_name in ("de-b2b-trade.dun", "killbill-overdue.dun"):
        fast = simulate_into(
            tmp_path / f"fast-{policy_name}.db", data, policy_name, exhaustive=False
        )
        slow = simulate_into(
            tmp_path / f"slow-{policy_name}.db", data, policy_name, exhaustive=True
        )
        got, expected = results(fast), results(slow)
        assert len(expected["transitions"]) > 2000, policy_name
        for table in expected:
            assert got[table] == expected[table], (policy_name, table)
        fast.close()
        slow.close()
