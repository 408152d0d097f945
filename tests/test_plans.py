"""Payment plans: only overdue instalments are dunned, missed ones become events."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from engine import Engine
from engine.cli.main import cli
from engine.explain import render_explanation
from engine.plans import mark_missed, schedule
from engine.promises import AgreementError

from .conftest import add_claim, add_payment, day, eur, make_engine, run_days
from .test_promises import moves_only

PLANS = """\
policy "Plans" version "1"
  currency EUR

group everyone otherwise

measure reminder = letter "reminder"
measure final = letter "final"

dunning everyone
  terminal collection
  current -> reminded after 7 days overdue do reminder
  reminded -> final_notice after 30 days in state do final
  final_notice -> collection after 14 days in state when claim.overdue_amount >= 300 EUR
  on instalment_missed from reminded -> final_notice do final
"""


def planned_claim(tmp_path: Path) -> Engine:
    """Claim A of 900.00 due 2026-01-15, in three instalments of 300.00 from 02-02."""
    engine = make_engine(tmp_path, PLANS)
    add_claim(engine, "A", due="2026-01-15", amount="900.00")
    engine.add_plan(
        "A",
        [
            (day("2026-02-02"), "300.00"),
            (day("2026-03-02"), "300.00"),
            (day("2026-04-02"), "300.00"),
        ],
        by="Bea",
    )
    return engine


def test_only_the_overdue_instalment_is_dunned(tmp_path: Path) -> None:
    """Reminded 7 days after the first instalment, for 300.00, not 900.00."""
    engine = planned_claim(tmp_path)

    moves = run_days(engine, "2026-01-15", "2026-02-28")

    # Without the plan: 7 days after 01-15, on 01-22. With it the due date is
    # that of instalment 1, 02-02, so the reminder comes on 02-09 and asks
    # for instalment 1 only: 300.00. Instalment 1 missed (02-03) changes
    # nothing in `current`: the policy reacts only in `reminded`.
    assert moves_only(moves) == {"2026-02-09": ["A:current->reminded"]}
    letters = engine.store.conn.execute(
        "SELECT as_of, measure, open_amount FROM measures"
    ).fetchall()
    assert letters == [("2026-02-09", "reminder", "300.00")]
    missed = engine.store.conn.execute(
        "SELECT id, happened_on, reason, actor FROM events"
    ).fetchall()
    assert missed == [
        (
            "A/instalment/1/missed",
            "2026-02-03",
            "instalment 1 of 3: 300.00 EUR due 2026-02-02, received 0.00 EUR",
            "engine",
        )
    ]


def test_a_missed_instalment_triggers_the_policys_reaction(tmp_path: Path) -> None:
    """Instalment 1 paid late (02-20), instalment 2 missed: final notice on 03-03."""
    engine = planned_claim(tmp_path)
    add_payment(engine, "P1", "A", "300.00", "2026-02-20")

    moves = run_days(engine, "2026-01-15", "2026-03-20")

    # 02-09 reminded (7 days after 02-02). Instalment 2 (due 03-02) unpaid:
    # missed on 03-03, and `on instalment_missed from reminded` sends the
    # final letter for the overdue 300.00 (the claim still owes 600.00).
    # 14 days later, 03-17, instalment 2 is still overdue (300.00 >= 300):
    # collection.
    assert moves_only(moves) == {
        "2026-02-09": ["A:current->reminded"],
        "2026-03-03": ["A:reminded->final_notice"],
        "2026-03-17": ["A:final_notice->collection"],
    }
    letters = engine.store.conn.execute(
        "SELECT as_of, measure, open_amount FROM measures ORDER BY id"
    ).fetchall()
    assert letters == [
        ("2026-02-09", "reminder", "300.00"),
        ("2026-03-03", "final", "300.00"),
    ]
    instalments = engine.store.conn.execute(
        "SELECT number, paid_amount, missed_run IS NOT NULL FROM instalments"
    ).fetchall()
    # 300.00 paid fills instalment 1; 1 and 2 were each missed on their day.
    assert instalments == [(1, "300.00", 1), (2, "0.00", 1), (3, "0.00", 0)]


def test_a_paid_instalment_is_not_missed(tmp_path: Path) -> None:
    """Instalment 1 paid on its due date: no missed event, no reminder."""
    engine = planned_claim(tmp_path)
    add_payment(engine, "P1", "A", "300.00", "2026-02-02")

    moves = run_days(engine, "2026-01-15", "2026-03-01")

    # Paid in time, the next unpaid instalment falls due on 03-02: nothing yet.
    assert moves_only(moves) == {}
    assert engine.store.conn.execute("SELECT count(*) FROM events").fetchone() == (0,)


def test_rerunning_a_day_marks_an_instalment_missed_once(tmp_path: Path) -> None:
    """The same day run again, and the marking repeated, add no second event."""
    engine = planned_claim(tmp_path)
    run_days(engine, "2026-01-15", "2026-02-03")

    again = engine.run(day("2026-02-03"))
    added = mark_missed(engine.store.conn, day("2026-02-10"), 99)

    assert again.nothing_to_do
    assert added == 0
    assert engine.store.conn.execute("SELECT count(*) FROM events").fetchone() == (1,)


def test_why_names_the_overdue_instalments(tmp_path: Path) -> None:
    """`why` on 02-10 lists instalment 1 as overdue and instalment 2 as next."""
    engine = planned_claim(tmp_path)
    run_days(engine, "2026-01-15", "2026-02-09")

    text = render_explanation(engine.why("A", day("2026-02-10")))

    assert (
        "payment plan of 3 instalments; overdue: instalment 1 of 300.00 EUR due "
        "2026-02-02 (paid 0.00 EUR); 300.00 EUR overdue in all; next: instalment 2 "
        "of 300.00 EUR due 2026-03-02." in text
    )


def test_equal_instalments_put_the_remainder_on_the_last() -> None:
    """1000.00 in 3: 333.33 + 333.33 + 333.34; the 31st becomes the month's end."""
    plan = schedule(eur("1000.00"), 3, day("2026-01-31"), 1, "months")

    assert [(str(d), str(m.amount)) for d, m in plan] == [
        ("2026-01-31", "333.33"),
        ("2026-02-28", "333.33"),
        ("2026-03-31", "333.34"),
    ]


def test_instalments_follow_the_currency_decimals() -> None:
    """1000 JPY in 3 every 14 days: 333 + 333 + 334 (yen have no decimals)."""
    from decimal import Decimal

    from dunlang.model import Money

    plan = schedule(Money(Decimal("1000"), "JPY"), 3, day("2026-03-01"), 14, "days")

    assert [(str(d), str(m.amount)) for d, m in plan] == [
        ("2026-03-01", "333"),
        ("2026-03-15", "333"),
        ("2026-03-29", "334"),
    ]


@pytest.mark.parametrize(
    ("instalments", "message"),
    [
        (
            [("2026-02-02", "300.00"), ("2026-03-02", "500.00")],
            "the instalments add up to 800.00 EUR, but claim `A` still owes "
            "900.00 EUR; they must add up to exactly that",
        ),
        (
            [("2026-03-02", "450.00"), ("2026-02-02", "450.00")],
            "instalment 2 is due on 2026-02-02, not after instalment 1 (2026-03-02)",
        ),
        ([("2026-02-02", "-900.00")], "instalment 1: '-900.00' must be more than"),
        ([], "a payment plan needs at least one instalment"),
    ],
)
def test_bad_plans_are_refused(
    tmp_path: Path, instalments: list[tuple[str, str]], message: str
) -> None:
    """A plan that does not add up or is out of order stores nothing."""
    engine = make_engine(tmp_path, PLANS)
    add_claim(engine, "A", due="2026-01-15", amount="900.00")

    with pytest.raises(AgreementError) as error:
        engine.add_plan("A", [(day(d), amount) for d, amount in instalments])

    assert message in str(error.value)
    assert engine.store.conn.execute("SELECT count(*) FROM instalments").fetchone() == (
        0,
    )


def test_a_second_plan_is_refused(tmp_path: Path) -> None:
    """A claim has at most one plan."""
    engine = planned_claim(tmp_path)

    with pytest.raises(AgreementError, match="already has a payment plan"):
        engine.add_plan("A", [(day("2026-02-02"), "900.00")])


def cli_database(tmp_path: Path) -> str:
    """A database with claim A (900.00 EUR due 2026-01-15), closed for the CLI."""
    engine = make_engine(tmp_path, PLANS)
    add_claim(engine, "A", due="2026-01-15", amount="900.00")
    engine.close()
    return str(tmp_path / "test.db")


def test_cli_plan_in_equal_instalments(tmp_path: Path) -> None:
    """`dunning plan A --instalments 3 --first 2026-02-02` splits 900.00 by month."""
    db = cli_database(tmp_path)

    result = CliRunner().invoke(
        cli,
        ["plan", "A", "--instalments", "3", "--first", "2026-02-02", "--db", db],
    )

    assert result.exit_code == 0, result.output
    assert result.output == (
        "claim A: payment plan of 3 instalments\n"
        "  1. due 2026-02-02: 300.00 EUR\n"
        "  2. due 2026-03-02: 300.00 EUR\n"
        "  3. due 2026-04-02: 300.00 EUR\n"
    )


def test_cli_plan_with_explicit_instalments(tmp_path: Path) -> None:
    """Two instalments given one by one, every 14 days ignored: stored as given."""
    db = cli_database(tmp_path)

    result = CliRunner().invoke(
        cli,
        [
            "plan",
            "A",
            "--instalment",
            "2026-02-02:400.00",
            "--instalment",
            "2026-02-16:500.00",
            "--by",
            "Bea",
            "--db",
            db,
        ],
    )

    assert result.exit_code == 0, result.output
    assert result.output == (
        "claim A: payment plan of 2 instalments\n"
        "  1. due 2026-02-02: 400.00 EUR\n"
        "  2. due 2026-02-16: 500.00 EUR\n"
    )


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (["--instalment", "2026-02-02:100.00"], 1, "add up to 100.00 EUR, but"),
        (["--instalment", "02.02.2026:900.00"], 2, "'02.02.2026' is not a date"),
        (["--instalment", "2026-02-02"], 2, "is not written as DATE:AMOUNT"),
        (["--instalments", "3"], 2, "give --instalments N and --first DATE"),
        (
            ["--instalments", "3", "--first", "2026-02-02", "--instalment", "x"],
            2,
            "not both",
        ),
        (
            ["--instalments", "3", "--first", "2026-02-02", "--every", "2", "weeks"],
            2,
            "'weeks' is not one of",
        ),
        (["--instalments", "0", "--first", "2026-02-02"], 2, "0 is less than 1"),
    ],
)
def test_cli_plan_refuses_bad_input(
    tmp_path: Path, arguments: list[str], code: int, message: str
) -> None:
    """Bad plans exit 1 (refused) or 2 (bad arguments) with the reason."""
    db = cli_database(tmp_path)

    result = CliRunner().invoke(cli, ["plan", "A", *arguments, "--db", db])

    assert result.exit_code == code
    assert message in result.output


def test_cli_plan_for_an_unknown_claim(tmp_path: Path) -> None:
    """A claim id not in the database: exit 1 naming it."""
    db = cli_database(tmp_path)

    result = CliRunner().invoke(
        cli, ["plan", "Z", "--instalment", "2026-02-02:1.00", "--db", db]
    )

    assert result.exit_code == 1
    assert result.output == "Error: no claim `Z` in the database\n"


# ---- a plan stops dunning until an instalment is overdue --------------------------

STEPS = """\
policy "Plan steps" version "1"
  currency EUR

group everyone otherwise

measure first = letter "first"
measure second = letter "second" fee 2.5 % of open amount min 1 EUR max 20 EUR
measure final = letter "final" fee 5 EUR interest statutory

dunning everyone
  terminal closed
  current -> reminded after 1 days overdue do first
  reminded -> second_notice after 7 days in state do second
  second_notice -> final_notice after 7 days in state do final
  final_notice -> closed after 90 days in state
"""


def test_a_plan_with_nothing_overdue_stops_dunning(tmp_path: Path) -> None:
    """Reminded, then a plan: no step until instalment 1 is overdue on 2027-02-01."""
    engine = make_engine(tmp_path, STEPS)
    add_claim(engine, "F1", due="2026-10-31", amount="900.00")
    engine.run(day("2026-11-05"))
    # Three equal instalments of 900.00 / 3 = 300.00, monthly from 01-31:
    # 2027-01-31, 2027-02-28, 2027-03-31.
    engine.add_plan(
        "F1",
        [
            (day("2027-01-31"), "300.00"),
            (day("2027-02-28"), "300.00"),
            (day("2027-03-31"), "300.00"),
        ],
        by="Bea",
    )

    engine.run(day("2026-11-12"))
    engine.run(day("2026-11-19"))

    # `after 7 days in state` would fall due on 11-12; under the plan it waits.
    assert [t.to_state for t in engine.transitions("F1")] == ["current", "reminded"]
    assert [m.measure for m in engine.measures("F1")] == ["first"]
    assert engine.charges("F1") == []
    # Next looked at the day after instalment 1 falls due: 2027-02-01.
    next_check = engine.store.conn.execute(
        "SELECT next_check FROM claims WHERE id = 'F1'"
    ).fetchone()[0]
    assert next_check == "2027-02-01"
    text = render_explanation(engine.why("F1", day("2026-11-19")))
    assert "no instalment is overdue" in text
    assert (
        "under a payment plan with no instalment overdue: it takes no timed step, "
        "measure or fee; its next check is 2027-02-01" in text
    )
    assert "next: `" not in text


def test_dunning_resumes_for_the_overdue_instalment_only(tmp_path: Path) -> None:
    """Instalment 1 unpaid: second notice and final notice ask for 300.00 only."""
    engine = make_engine(tmp_path, STEPS)
    add_claim(engine, "F1", due="2026-10-31", amount="900.00")
    engine.run(day("2026-11-05"))
    engine.add_plan(
        "F1",
        [
            (day("2027-01-31"), "300.00"),
            (day("2027-02-28"), "300.00"),
            (day("2027-03-31"), "300.00"),
        ],
        by="Bea",
    )
    for current in ("2026-11-12", "2027-01-31", "2027-02-01", "2027-02-08"):
        engine.run(day(current))

    # 02-01: instalment 1 (300.00, due 01-31) is overdue; reminded since 11-05,
    # so `after 7 days in state` has long passed: second notice on 02-01.
    # 02-08: 7 days later, the final notice. Instalment 2 (due 02-28) is not
    # overdue yet, so both ask for 300.00.
    moves = [(t.as_of, t.to_state) for t in engine.transitions("F1")]
    assert moves[-2:] == [
        (day("2027-02-01"), "second_notice"),
        (day("2027-02-08"), "final_notice"),
    ]
    rows = engine.store.conn.execute(
        "SELECT as_of, measure, open_amount, fee FROM measures ORDER BY id"
    ).fetchall()
    # second: 2.5 % of 300.00 = 7.50, between min 1.00 and max 20.00;
    # final: the fixed 5 EUR fee, written with the currency's two decimals.
    assert rows == [
        ("2026-11-05", "first", "900.00", None),
        ("2027-02-01", "second", "300.00", "7.50"),
        ("2027-02-08", "final", "300.00", "5.00"),
    ]
    booked = [
        (c.kind, c.measure, str(c.amount.amount), c.basis) for c in engine.charges("F1")
    ]
    assert booked[:2] == [
        ("fee", "second", "7.50", "2.5 % of 300.00 EUR open"),
        ("fee", "final", "5.00", "fixed fee of 5.00 EUR"),
    ]
    # The flat fee of 40.00 for a business debtor, with interest switched on.
    assert (booked[2][0], booked[2][2]) == ("flat_fee", "40.00")
