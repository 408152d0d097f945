"""Odd input found by trying the product as a user: each is refused or handled."""

from __future__ import annotations

import datetime as dt
import sqlite3
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner

from engine import Claim, Customer, Money
from engine.cli.main import cli

from .conftest import add_claim, add_payment, day, make_engine, run_days
from .test_engine import THREE_STEPS


def invoke(*args: str) -> tuple[int, str]:
    """Run the CLI; exit code and all it printed."""
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_a_timer_beyond_the_last_calendar_day_never_fires(tmp_path: Path) -> None:
    """A claim due 9999-12-20 (stored by hand: the API refuses such dates) is 5
    days past due only after 9999-12-31: no crash."""
    engine = make_engine(tmp_path, THREE_STEPS)
    add_claim(engine, "FAR", due="2012-12-20", issued="2012-05-01")
    with engine.store.transaction() as conn:
        conn.execute("UPDATE claims SET due_date = '9999-12-20' WHERE id = 'FAR'")

    moves = run_days(engine, "2012-06-01", "2012-06-02")

    assert moves[day("2012-06-01")] == ["FAR:None->current"]
    next_check = engine.store.conn.execute("SELECT next_check FROM claims").fetchone()
    # 9999-12-20 + 5 days is Sat 9999-12-25 (9999-12-31 is a Friday); a
    # deadline moves to the next working day, Mon 9999-12-27.
    assert next_check == ("9999-12-27",)


def test_dates_outside_the_working_years_are_usage_errors(tmp_path: Path) -> None:
    """--as-of 9999-12-31 is refused before anything runs."""
    code, out = invoke(
        "run",
        "--policy",
        "policies/oca-3-time.dun",
        "--as-of",
        "9999-12-31",
        "--db",
        str(tmp_path / "x.db"),
    )

    assert code == 2
    assert (
        "Invalid value for '--as-of': '9999-12-31' is outside the years this "
        "program works with (1900 to 2199)"
    ) in out
    assert not (tmp_path / "x.db").exists()


def test_a_run_far_in_the_future_is_refused(tmp_path: Path) -> None:
    """A mistyped year (2125) would be irreversible, so it is refused."""
    code, out = invoke(
        "run",
        "--policy",
        "policies/oca-3-time.dun",
        "--as-of",
        "2125-04-01",
        "--db",
        str(tmp_path / "x.db"),
    )

    assert code == 2
    assert (
        "Invalid value for '--as-of': 2125-04-01 is more than 7 days after today" in out
    )


def test_run_does_not_create_a_missing_database(tmp_path: Path) -> None:
    """A mistyped --db path is an error, not a new empty database."""
    missing = tmp_path / "typo.db"

    code, out = invoke(
        "run",
        "--policy",
        "policies/oca-3-time.dun",
        "--as-of",
        "2025-01-02",
        "--db",
        str(missing),
    )

    assert code == 1
    assert out == (
        f"Error: {missing}: no such database; import data first "
        "(dunning import ... --db PATH) or give the path of a dunning "
        "database\n"
    )
    assert not missing.exists()


def test_a_busy_database_gives_a_message_not_a_traceback(tmp_path: Path) -> None:
    """Another program holding a write lock: the run stops with a plain message."""
    engine = make_engine(tmp_path, THREE_STEPS, "busy.db")
    add_claim(engine, "A", due="2012-05-31")
    engine.close()
    policy = tmp_path / "three.dun"
    policy.write_text(THREE_STEPS)
    other = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        code, out = invoke(
            "run",
            "--policy",
            str(policy),
            "--as-of",
            "2012-06-05",
            "--db",
            str(tmp_path / "busy.db"),
        )
    finally:
        other.execute("ROLLBACK")
        other.close()

    assert code == 1
    assert out.startswith("Error: the database is in use by another program")
    assert "Traceback" not in out


def test_claims_in_another_currency_are_not_dunned(tmp_path: Path) -> None:
    """A USD claim under a EUR policy gets no group and no fee; the run says why."""
    engine = make_engine(tmp_path, THREE_STEPS)
    engine.add_customers([Customer("K1")])
    usd = Money(Decimal("100.00"), "USD")
    engine.add_claims(
        [Claim("U1", "K1", usd, usd, dt.date(2012, 5, 1), dt.date(2012, 5, 31))]
    )

    result = engine.run(day("2012-06-20"), collect=True)

    assert result.steps == ()
    assert result.problems == (
        "claim U1: the claim is in USD and the policy works in EUR; it is not "
        "dunned by this policy; left as it was",
    )
    assert engine.store.conn.execute("SELECT count(*) FROM measures").fetchone() == (0,)


OTHER_POLICY = """\
policy "Other" version "2"
  currency EUR

group retail otherwise

dunning retail
  terminal reminded
  current -> reminded after 30 days overdue
"""


def test_a_policy_change_reports_claims_it_cannot_move(tmp_path: Path) -> None:
    """After switching policy, claims of a vanished group are named once."""
    engine = make_engine(tmp_path, THREE_STEPS)
    add_claim(engine, "A", due="2012-05-31")
    add_claim(engine, "B", due="2012-05-31", customer="K2")
    engine.run(day("2012-06-05"))
    other = make_engine(tmp_path, OTHER_POLICY)
    other.close()
    policy = tmp_path / "other.dun"
    policy.write_text(OTHER_POLICY)
    engine.close()

    code, out = invoke(
        "run",
        "--policy",
        str(policy),
        "--as-of",
        "2012-06-06",
        "--db",
        str(tmp_path / "test.db"),
    )

    assert code == 0
    assert (
        "warning: 2 open claims (e.g. A): group `everyone` is not in this policy; "
        "they are left as they are until the policy has it again"
    ) in out
    code, out = invoke(
        "why", "A", "--db", str(tmp_path / "test.db"), "--policy", str(policy)
    )
    assert "this policy cannot move it: group `everyone` is not in this policy" in out


def test_why_mentions_payments_not_yet_applied(tmp_path: Path) -> None:
    """A payment dated after the last run is named as still to be applied."""
    engine = make_engine(tmp_path, THREE_STEPS)
    add_claim(engine, "A", due="2012-05-31")
    add_payment(engine, "P1", "A", "100.00", "2012-06-08")
    engine.run(day("2012-06-05"))

    explanation = engine.why("A", day("2012-06-06"))

    assert explanation.pending == ("payment P1 of 100.00 EUR dated 2012-06-08",)


def test_why_says_a_claim_in_another_currency_is_not_dunned(tmp_path: Path) -> None:
    """After a run refused it, `why` gives the reason instead of 'not yet run'."""
    engine = make_engine(tmp_path, THREE_STEPS)
    engine.add_customers([Customer("K1")])
    usd = Money(Decimal("100.00"), "USD")
    engine.add_claims(
        [Claim("U1", "K1", usd, usd, dt.date(2012, 5, 1), dt.date(2012, 5, 31))]
    )
    engine.run(day("2012-06-20"))

    from engine.explain import render_explanation

    text = render_explanation(engine.why("U1", day("2012-06-21")))

    assert text == (
        "claim U1 is not dunned: the claim is in USD and the policy works in EUR"
    )


def test_why_finds_the_last_runs_policy_from_another_folder(
    tmp_path: Path, monkeypatch
) -> None:
    """A run started with a relative policy path; `why` works from elsewhere."""
    work = tmp_path / "work"
    work.mkdir()
    engine = make_engine(work, THREE_STEPS, "d.db")
    add_claim(engine, "A", due="2012-05-31")
    engine.close()
    (work / "three.dun").write_text(THREE_STEPS)
    monkeypatch.chdir(work)
    assert (
        invoke("run", "--policy", "three.dun", "--as-of", "2012-06-05", "--db", "d.db")[
            0
        ]
        == 0
    )
    monkeypatch.chdir(tmp_path)

    code, out = invoke("why", "A", "--db", str(work / "d.db"))

    assert code == 0
    assert out.startswith("claim A (customer K1) is in state `first`")
