"""`why` and `history` show the fees and interest a claim owes besides its principal."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from engine import Engine
from engine.explain import render_explanation
from engine.importer import import_file

from .conftest import add_claim, add_payment, day, make_engine
from .test_agency import exported

# 7.30 % a year on 1,000.00 is exactly 0.20 a day (1000.00 x 7.30 % / 365).
CHARGES = """\
policy "Charges" version "1"
  currency EUR

group everyone otherwise

measure reminder = letter "reminder" fee 10 EUR
measure final = letter "final" fee 5 EUR interest 7.30 % per year

dunning everyone
  terminal done
  current -> reminded after 1 days overdue do reminder
  reminded -> final_notice after 7 days in state do final
  final_notice -> done after 400 days in state
"""


def charged_claim(tmp_path: Path) -> Engine:
    """Claim A, 1,000.00 due 2026-03-02: reminder (fee 10.00) on 03-03, final
    notice (fee 5.00, interest on) on 03-10."""
    engine = make_engine(tmp_path, CHARGES)
    add_claim(engine, "A", due="2026-03-02", amount="1000.00")
    engine.run(day("2026-03-03"))
    engine.run(day("2026-03-10"))
    return engine


def paid_with_charges_open(tmp_path: Path) -> Engine:
    """The principal paid on 04-09, then 12.00 more on 04-15."""
    engine = charged_claim(tmp_path)
    add_payment(engine, "P1", "A", "1000.00", "2026-04-09")
    engine.run(day("2026-04-09"))
    add_payment(engine, "P2", "A", "12.00", "2026-04-15")
    engine.run(day("2026-04-15"))
    return engine


def test_why_lists_open_fees_and_interest_running(tmp_path: Path) -> None:
    """On 03-20: fees 10.00 + 5.00 = 15.00 open; interest from the day after
    the due date, 03-03..03-20 = 18 days x 0.20 = 3.60, not booked yet."""
    engine = charged_claim(tmp_path)

    lines = render_explanation(engine.why("A", day("2026-03-20"))).splitlines()

    assert lines[1:4] == [
        "open 1000.00 EUR of 1000.00 EUR, due 2026-03-02.",
        "besides the principal it still owes 15.00 EUR: fee `reminder` 10.00 EUR "
        "(booked 2026-03-03), fee `final` 5.00 EUR (booked 2026-03-10).",
        "interest runs since 2026-03-03: 3.60 EUR so far, booked once the "
        "principal is paid.",
    ]


def test_why_of_a_paid_claim_names_the_charges_still_owed(tmp_path: Path) -> None:
    """Interest 03-03..04-09 = 38 days x 0.20 = 7.60, booked on 04-09. The
    12.00 beyond the principal pays the oldest charge first: the reminder fee
    10.00 in full, then 2.00 of the final fee, leaving 3.00. Open: 3.00 + 7.60
    = 10.60."""
    engine = paid_with_charges_open(tmp_path)

    lines = render_explanation(engine.why("A", day("2026-04-20"))).splitlines()

    assert lines[1:3] == [
        "open 0.00 EUR of 1000.00 EUR, due 2026-03-02.",
        "besides the principal it still owes 10.60 EUR: fee `final` 3.00 EUR "
        "(booked 2026-03-10), interest 7.60 EUR (booked 2026-04-09).",
    ]
    assert lines[-1] == (
        "`paid` is a final state (settled on 2026-04-09): no more steps or "
        "measures; a further payment pays the charges it still owes."
    )


def test_history_shows_charges_booked_and_paid(tmp_path: Path) -> None:
    """Each fee on the day of the run that booked it, interest on 04-09 (the
    run that saw the principal paid), the reminder fee paid by P2 on 04-15."""
    engine = paid_with_charges_open(tmp_path)

    entries = [
        (e.on, e.text, e.details) for e in engine.history("A") if e.kind == "charge"
    ]

    assert entries == [
        (
            "2026-03-03",
            "fee reminder of 10.00 EUR booked  [run 1]",
            ("basis: fixed fee of 10.00 EUR",),
        ),
        (
            "2026-03-10",
            "fee final of 5.00 EUR booked  [run 2]",
            ("basis: fixed fee of 5.00 EUR", "partly paid: 3.00 EUR still open"),
        ),
        (
            "2026-04-09",
            "interest of 7.60 EUR booked  [run 3]",
            (
                "basis: fixed interest: 2026-03-03..2026-04-09 38 days at 7.30 % "
                "on 1000.00 EUR = 7.60 EUR",
            ),
        ),
        ("2026-04-15", "fee reminder of 10.00 EUR paid", ()),
    ]


def test_history_labels_a_change_known_only_by_its_clock_time(tmp_path: Path) -> None:
    """A claim imported again with another amount on 2026-12-04 (the clock):
    no business date is recorded for it, so the entry says when it was recorded."""
    engine = make_engine(tmp_path, CHARGES)
    add_claim(engine, "A", due="2026-03-02", amount="1000.00")
    claims = tmp_path / "claims.csv"
    claims.write_text(
        "id,customer_id,currency,amount,issue_date,due_date\n"
        "A,K1,EUR,900.00,2026-01-31,2026-03-02\n",
        encoding="utf-8",
    )

    import_file(
        engine.store,
        "claims",
        str(claims),
        clock=lambda: dt.datetime(2026, 12, 4, 9, 30, tzinfo=dt.UTC),
    )

    changes = [(e.on, e.text) for e in engine.history("A") if e.kind == "change"]
    assert changes == [
        (
            "2026-12-04",
            f"{field} changed from 1000.00 to 900.00 by import ({claims}:2); "
            "recorded 2026-12-04",
        )
        for field in ("amount", "open_amount")
    ]


def test_history_dates_an_agency_change_by_its_handover(tmp_path: Path) -> None:
    """The export records the agency at clock time; history shows the day of
    the handover (2025-01-27), so it sorts among the business events."""
    engine, out = exported(tmp_path)

    (change,) = [e for e in engine.history("A") if e.kind == "change"]

    assert change.on == "2025-01-27"
    assert change.text == (
        "agency changed from (empty) to inkasso by agency export "
        f"({out / 'handover-inkasso-2025-01-27.csv'})"
    )
