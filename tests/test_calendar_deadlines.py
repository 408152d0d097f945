"""No deadline falls on a weekend or a public holiday of the policy's calendar."""

from __future__ import annotations

from pathlib import Path

from dunlang.model import Calendar, Timer, TimerBasis
from engine.calendar import calendar_for, deadline_of, due_date_of

from .conftest import add_claim, day, make_engine, run_days


def policy(calendar: str) -> str:
    """A policy with one 14-days timer, in the given calendar."""
    return f"""\
policy "Deadlines" version "1"
  currency EUR
{calendar}
group everyone otherwise

measure reminder = letter "reminder"

dunning everyone
  terminal reminded
  current -> reminded after 14 days overdue do reminder
"""


def test_a_deadline_on_a_saturday_moves_to_monday(tmp_path: Path) -> None:
    """Due Sat 2026-02-21 + 14 days = Sat 2026-03-07: the reminder comes Mon 03-09."""
    engine = make_engine(tmp_path, policy(""))
    add_claim(engine, "A", due="2026-02-21")

    moves = run_days(engine, "2026-03-06", "2026-03-10")

    assert {d.isoformat(): m for d, m in moves.items() if m} == {
        "2026-03-06": ["A:None->current"],
        "2026-03-09": ["A:current->reminded"],
    }
    (_, step) = engine.transitions("A")
    assert step.reason == (
        "after 14 days overdue: fell due on Sat 2026-03-07, moved to Mon "
        "2026-03-09 (due 2026-02-21, 16 days overdue)"
    )


def test_the_next_check_is_the_moved_deadline(tmp_path: Path) -> None:
    """After the run of Fri 03-06 the claim is next looked at on Mon 03-09."""
    engine = make_engine(tmp_path, policy(""))
    add_claim(engine, "A", due="2026-02-21")
    engine.run(day("2026-03-06"))

    assert engine.store.conn.execute(
        "SELECT next_check FROM claims WHERE id = 'A'"
    ).fetchone() == ("2026-03-09",)
    # Nothing is looked at on the weekend in between.
    assert engine.run(day("2026-03-07")).claims_evaluated == 0


def test_a_deadline_on_a_regional_holiday_moves_to_the_next_working_day(
    tmp_path: Path,
) -> None:
    """Due 2026-05-21 + 14 = Thu 2026-06-04, Corpus Christi in NW but not in NI."""
    # Easter Sunday 2026 is 04-05; Corpus Christi is 60 days later, 06-04, a
    # public holiday in North Rhine-Westphalia and a working day in Lower Saxony.
    north_rhine = make_engine(tmp_path, policy("  calendar DE-NW\n"), "nw.db")
    lower_saxony = make_engine(tmp_path, policy("  calendar DE-NI\n"), "ni.db")
    for engine in (north_rhine, lower_saxony):
        add_claim(engine, "A", due="2026-05-21")

    in_nw = run_days(north_rhine, "2026-06-03", "2026-06-05")
    in_ni = run_days(lower_saxony, "2026-06-03", "2026-06-05")

    assert in_nw[day("2026-06-05")] == ["A:current->reminded"]
    assert in_ni[day("2026-06-04")] == ["A:current->reminded"]
    step = north_rhine.transitions("A")[-1]
    assert "fell due on Thu 2026-06-04, moved to Fri 2026-06-05" in step.reason


def test_deadline_of_keeps_a_working_day_and_moves_others() -> None:
    """A timer due on a working day stays; over Christmas it moves past both holidays."""
    calendar = calendar_for(Calendar("DE", "NW"))
    fourteen = Timer(14, TimerBasis.OVERDUE)

    # 2026-03-02 (Mon) + 14 = Mon 03-16: a working day, not moved.
    kept = deadline_of(fourteen, day("2026-03-02"), day("2026-03-02"), calendar)
    assert (kept.nominal, kept.day, kept.moved) == (
        day("2026-03-16"),
        day("2026-03-16"),
        False,
    )
    assert kept.describe() == "fell due on 2026-03-16"

    # 2026-12-11 + 14 = Fri 12-25 (Christmas Day); 12-26 is the Second Day of
    # Christmas (a Saturday), 12-27 a Sunday: Mon 12-28.
    moved = due_date_of(fourteen, day("2026-12-11"), day("2026-12-11"), calendar)
    assert moved == day("2026-12-28")


def test_end_of_month_on_a_sunday_moves_into_the_next_month() -> None:
    """10 days overdue at end of month from 2026-05-20: Sun 05-31 -> Mon 06-01."""
    calendar = calendar_for(None)
    timer = Timer(10, TimerBasis.OVERDUE, end_of_month=True)

    assert due_date_of(timer, day("2026-05-20"), day("2026-05-20"), calendar) == day(
        "2026-06-01"
    )
