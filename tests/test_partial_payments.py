"""Partial payments: the open amount shrinks, the level reached stays, fees use the rest."""

from __future__ import annotations

from pathlib import Path

from .conftest import add_claim, add_payment, make_engine, run_days
from .test_promises import moves_only

LEVELS = """\
policy "Levels" version "1"
  currency EUR

group everyone otherwise

measure reminder = letter "reminder"
measure second = letter "second" fee 10 % of open amount min 5.00 EUR
measure final = letter "final" fee 2.50 EUR

dunning everyone
  terminal collection
  current -> reminded after 10 days overdue do reminder
  reminded -> second_notice after 14 days in state do second
  second_notice -> final_notice after 14 days in state do final
  final_notice -> collection after 30 days in state
"""


def outbox(engine: object) -> list[tuple[str, ...]]:
    """The outbox: (as of, measure, open amount, fee)."""
    return engine.store.conn.execute(  # type: ignore[attr-defined]
        "SELECT as_of, measure, open_amount, fee FROM measures ORDER BY id"
    ).fetchall()


def test_a_partial_payment_keeps_the_level_reached(tmp_path: Path) -> None:
    """600.00 of 1000.00 paid while reminded: no restart, no skipped level."""
    engine = make_engine(tmp_path, LEVELS)
    add_claim(engine, "A", due="2026-02-01", amount="1000.00")
    add_payment(engine, "P1", "A", "600.00", "2026-02-16")

    moves = run_days(engine, "2026-02-01", "2026-03-31")

    # Reminded 02-11 (10 days overdue); the payment on 02-16 moves nothing;
    # second notice 14 days after 02-11 = 02-25, final 14 days later = 03-11,
    # exactly as without the payment.
    assert moves_only(moves) == {
        "2026-02-11": ["A:current->reminded"],
        "2026-02-25": ["A:reminded->second_notice"],
        "2026-03-11": ["A:second_notice->final_notice"],
    }
    state = engine.store.conn.execute(
        "SELECT state, open_amount, settled_on FROM claims"
    ).fetchone()
    assert state == ("final_notice", "400.00", None)


def test_fees_are_worked_out_on_what_is_left(tmp_path: Path) -> None:
    """After 600.00 of 1000.00: the 10 % fee is 40.00 (of 400.00), not 100.00."""
    engine = make_engine(tmp_path, LEVELS)
    add_claim(engine, "A", due="2026-02-01", amount="1000.00")
    add_payment(engine, "P1", "A", "600.00", "2026-02-16")

    run_days(engine, "2026-02-01", "2026-03-11")

    # 10 % of 400.00 = 40.00, above the 5.00 minimum; the final letter's fee
    # is a fixed 2.50.
    assert outbox(engine) == [
        ("2026-02-11", "reminder", "1000.00", None),
        ("2026-02-25", "second", "400.00", "40.00"),
        ("2026-03-11", "final", "400.00", "2.50"),
    ]


def test_a_claim_paid_in_part_before_the_first_reminder_is_reminded_for_the_rest(
    tmp_path: Path,
) -> None:
    """250.00 of 1000.00 paid on 02-05: the reminder of 02-11 asks for 750.00."""
    engine = make_engine(tmp_path, LEVELS)
    add_claim(engine, "A", due="2026-02-01", amount="1000.00")
    add_payment(engine, "P1", "A", "250.00", "2026-02-05")

    moves = run_days(engine, "2026-02-01", "2026-02-12")

    # The reminder still falls 10 days after the due date: the claim is overdue.
    assert moves_only(moves) == {"2026-02-11": ["A:current->reminded"]}
    assert outbox(engine) == [("2026-02-11", "reminder", "750.00", None)]


def test_the_last_part_settles_the_claim(tmp_path: Path) -> None:
    """600.00 then 400.00: settled on the day of the second payment, nothing after."""
    engine = make_engine(tmp_path, LEVELS)
    add_claim(engine, "A", due="2026-02-01", amount="1000.00")
    add_payment(engine, "P1", "A", "600.00", "2026-02-16")
    add_payment(engine, "P2", "A", "400.00", "2026-02-20")

    moves = run_days(engine, "2026-02-01", "2026-03-31")

    assert moves_only(moves) == {
        "2026-02-11": ["A:current->reminded"],
        "2026-02-20": ["A:reminded->paid"],
    }
    state = engine.store.conn.execute(
        "SELECT open_amount, settled_on FROM claims"
    ).fetchone()
    assert state == ("0.00", "2026-02-20")
