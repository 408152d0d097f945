"""The optimised run gives exactly the results of the unoptimised reference path."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import attrs

from dunlang import load_policy
from dunlang.model import Attribute, Compare, Exclusion, Literal, Money, ValueKind
from engine.holds import release_hold, set_hold
from engine.importer import apply_import, check_file
from engine.plans import add_plan, schedule
from engine.promises import AgreementError, give_promise
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
    policy = attrs.evolve(policy, exclusions=(KEY_ACCOUNTS,))
    releases = set_holds(store)
    add_agreements(store)
    runner = Runner(store, policy, batch_size=700, exhaustive=exhaustive)
    for day in run_days(START, END, policy):
        for hold in releases.get(day, []):
            with store.transaction() as conn:
                release_hold(conn, by="clerk", on=day, **hold)
        runner.run(day)
    return store


KEY_ACCOUNTS = Exclusion(
    guard=Compare(
        "=", Attribute("customer", "segment"), Literal("key", ValueKind.TEXT)
    ),
    reason="key accounts are handled by their account manager",
)


def set_holds(store: Store) -> dict[dt.date, list[dict[str, str]]]:
    """Holds on every 40th claim and every 25th customer: some open-ended,
    some ending by date, some released by a clerk; the releases by day."""
    conn = store.conn
    claims = [row[0] for row in conn.execute("SELECT id FROM claims ORDER BY id")]
    customers = [row[0] for row in conn.execute("SELECT id FROM customers ORDER BY id")]
    releases: dict[dt.date, list[dict[str, str]]] = {}
    with store.transaction():
        for number, claim_id in enumerate(claims[::40]):
            starts = START + dt.timedelta(days=number % 60)
            until = starts + dt.timedelta(days=20) if number % 3 == 1 else None
            set_hold(conn, claim_id=claim_id, reason="test", by="clerk",
                     starts=starts, until=until)  # fmt: skip
            if number % 3 == 2:
                released = starts + dt.timedelta(days=15)
                releases.setdefault(released, []).append({"claim_id": claim_id})
        for number, customer_id in enumerate(customers[::25]):
            starts = START + dt.timedelta(days=10 + number)
            set_hold(conn, customer_id=customer_id, reason="test", by="clerk",
                     starts=starts)  # fmt: skip
            if number % 2:
                released = starts + dt.timedelta(days=30)
                releases.setdefault(released, []).append({"customer_id": customer_id})
    return releases


def add_agreements(store: Store) -> None:
    """Promises to pay on every 50th claim (every other one paid in time, so
    kept; the rest broken) and three-instalment plans on every 60th claim."""
    conn = store.conn
    claims = conn.execute(
        "SELECT id, currency, open_amount, due_date FROM claims ORDER BY id"
    ).fetchall()
    for number, (claim_id, currency, open_amount, due) in enumerate(claims[7::50]):
        given = dt.date.fromisoformat(due) + dt.timedelta(days=20)
        half = (Decimal(open_amount) / 2).quantize(Decimal("0.01"))
        try:
            give_promise(store, claim_id, half, given + dt.timedelta(days=14),
                         on=given, by="clerk")  # fmt: skip
        except AgreementError:
            continue  # recorded payments already cover more than half
        if number % 2 == 0:
            with store.transaction():
                conn.execute(
                    "INSERT INTO payments (id, claim_id, amount, currency, paid_on) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (f"promised-{claim_id}", claim_id, str(half), currency,
                     (given + dt.timedelta(days=5)).isoformat()),
                )  # fmt: skip
    for claim_id, currency, open_amount, due in claims[11::60]:
        first = dt.date.fromisoformat(due) + dt.timedelta(days=10)
        parts = schedule(Money(Decimal(open_amount), currency), 3, first, 1, "months")
        add_plan(store, claim_id, parts, by="clerk")


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
        "charges": conn.execute(
            "SELECT run_id, as_of, claim_id, kind, measure, amount, currency, "
            "open_amount, settled_on, basis FROM charges ORDER BY claim_id, id"
        ).fetchall(),
        "claim_interest": conn.execute(
            "SELECT id, interest, interest_since FROM claims "
            "WHERE interest IS NOT NULL ORDER BY id"
        ).fetchall(),
        "payments": conn.execute(
            "SELECT id, applied_run FROM payments ORDER BY id"
        ).fetchall(),
        "engine_events": conn.execute(
            "SELECT id, kind, happened_on, amount, reason FROM events "
            "WHERE actor = 'engine' ORDER BY id"
        ).fetchall(),
        "instalments": conn.execute(
            "SELECT claim_id, number, paid_amount, missed_run FROM instalments "
            "ORDER BY claim_id, number"
        ).fetchall(),
        "events": conn.execute(
            "SELECT id, applied_run FROM events ORDER BY id"
        ).fetchall(),
        "skips": conn.execute(
            "SELECT run_id, as_of, claim_id, cause, reference, detail FROM skips "
            "ORDER BY claim_id, id"
        ).fetchall(),
        "holds": conn.execute(
            "SELECT id, released_on, released_by FROM holds ORDER BY id"
        ).fetchall(),
    }


def test_optimised_and_reference_runs_agree(tmp_path: Path) -> None:
    """2,000 generated claims, four months of daily runs, two policies: same results."""
    data = tmp_path / "data"
    write_sample(data, SampleSettings(250, 2000, seed=11, start=START, end=END))

    for policy_name in (
        "de-b2b-trade.dun",
        "killbill-overdue.dun",
        "consumer-gentle.dun",
    ):
        fast = simulate_into(
            tmp_path / f"fast-{policy_name}.db", data, policy_name, exhaustive=False
        )
        slow = simulate_into(
            tmp_path / f"slow-{policy_name}.db", data, policy_name, exhaustive=True
        )
        got, expected = results(fast), results(slow)
        assert len(expected["transitions"]) > 2000, policy_name
        generated = {row[1] for row in expected["engine_events"]}
        assert {"promise_kept", "promise_broken", "instalment_missed"} <= generated
        causes = {row[3] for row in expected["skips"]}
        assert {"hold", "exclusion"} <= causes, policy_name
        if policy_name == "de-b2b-trade.dun":
            # Its final letter switches on statutory interest, which brings the
            # flat fee for business customers and, once paid, booked interest.
            kinds = {row[3] for row in expected["charges"]}
            assert {"flat_fee", "interest"} <= kinds, kinds
        if policy_name == "consumer-gentle.dun":
            # Its reminder and final letters charge fees of their own.
            kinds = {row[3] for row in expected["charges"]}
            assert "fee" in kinds, kinds
        for table in expected:
            assert got[table] == expected[table], (policy_name, table)
        fast.close()
        slow.close()
