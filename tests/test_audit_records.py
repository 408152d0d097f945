"""The audit trail as typed records through the API."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from engine import Customer, Money
from engine.importer import apply_import, check_file

from .conftest import add_claim, add_payment, day, make_engine, run_days
from .test_engine import THREE_STEPS


def test_runs_transitions_and_measures_as_records(tmp_path: Path) -> None:
    """Due 05-31, 40.00 paid 06-06: moves 06-05, 06-07, 06-11; fees on 60.00 open."""
    engine = make_engine(tmp_path, THREE_STEPS)
    add_claim(engine, "A", due="2012-05-31", issued="2012-05-01")
    add_payment(engine, "P1", "A", "40.00", "2012-06-06")
    run_days(engine, "2012-06-01", "2012-06-12")

    runs = engine.runs()
    moves = engine.transitions("A")
    items = engine.measures("A")

    assert [(r.id, r.as_of, r.status) for r in runs][:2] == [
        (1, day("2012-06-01"), "done"),
        (2, day("2012-06-02"), "done"),
    ]
    assert len(runs) == 12
    assert [(m.as_of, m.from_state, m.to_state, m.trigger) for m in moves] == [
        (day("2012-06-01"), None, "current", "allocation"),
        (day("2012-06-05"), "current", "first", "timer"),
        (day("2012-06-07"), "first", "second", "timer"),
        (day("2012-06-11"), "second", "collection", "timer"),
    ]
    assert moves[1].measures == ["first_letter"]
    assert moves[1].seen == {"days_overdue": "5", "open_amount": "100.00 EUR"}
    # 2 % of 60.00 is 1.20, inside the bounds 1.00 .. 3.00.
    assert [(i.measure, i.open_amount, i.fee) for i in items] == [
        ("first_letter", Money(Decimal("100.00"), "EUR"), None),
        (
            "second_letter",
            Money(Decimal("60.00"), "EUR"),
            Money(Decimal("5.00"), "EUR"),
        ),
        ("third_letter", Money(Decimal("60.00"), "EUR"), Money(Decimal("1.20"), "EUR")),
    ]
    assert [i.transition_id for i in items] == [m.id for m in moves[1:]]


def test_an_imported_change_is_a_record(tmp_path: Path) -> None:
    """Re-importing claim A at 120.00 instead of 100.00 records both amounts."""
    engine = make_engine(tmp_path, THREE_STEPS)
    engine.add_customers([Customer("K1")])
    csv = tmp_path / "claims.csv"
    header = "id,customer_id,kind,currency,amount,issue_date,due_date\n"
    for amount in ("100.00", "120.00"):
        csv.write_text(header + f"A,K1,invoice,EUR,{amount},2012-05-01,2012-05-31\n")
        apply_import(engine.store, check_file(str(csv), ["claims"]))

    changes = engine.changes("claims", "A")

    assert [(c.field, c.old_value, c.new_value, c.actor) for c in changes] == [
        ("amount", "100.00", "120.00", "import"),
        ("open_amount", "100.00", "120.00", "import"),
    ]
    assert changes[0].source.endswith("claims.csv:2")
