"""The run, history and why commands: exit codes and whole output."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from engine.cli.main import cli

from .conftest import add_claim, add_payment, make_engine
from .test_engine import THREE_STEPS


def setup(tmp_path: Path) -> tuple[str, str]:
    """A database with claim A due 2012-05-31, 30.00 paid on 06-06; a policy file."""
    engine = make_engine(tmp_path, THREE_STEPS, "cli.db")
    add_claim(engine, "A", due="2012-05-31", issued="2012-05-01")
    add_payment(engine, "P1", "A", "30.00", "2012-06-06")
    engine.close()
    policy = tmp_path / "three.dun"
    policy.write_text(THREE_STEPS)
    return str(tmp_path / "cli.db"), str(policy)


def run(*args: str) -> tuple[int, str]:
    """Invoke the CLI; exit code and everything it printed."""
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_run_prints_a_summary(tmp_path: Path) -> None:
    """A run prints what it looked at and did."""
    db, policy = setup(tmp_path)

    code, out = run("run", "--policy", policy, "--as-of", "2012-06-05", "--db", db)

    assert code == 0
    assert out == (
        'run 1 for 2012-06-05 (policy "Three steps" version 1): 1 claim '
        "looked at, 2 transitions, 1 measure\n"
    )


def test_dry_run_lists_the_proposal(tmp_path: Path) -> None:
    """--dry-run lists each proposed move with its reason and writes nothing."""
    db, policy = setup(tmp_path)

    code, out = run(
        "run", "--policy", policy, "--as-of", "2012-06-05", "--db", db, "--dry-run"
    )

    assert code == 0
    assert out == (
        "A: (new) -> current  (allocated to group `everyone`: first matching rule)\n"
        "A: current -> first  do first_letter  (after 5 days overdue: fell due on "
        "2012-06-05 (due 2012-05-31, 5 days overdue))\n"
        'dry run for 2012-06-05 (policy "Three steps" version 1): 1 claim looked '
        "at, 2 transitions, 1 measure; nothing was written\n"
    )
    code, out = run("history", "A", "--db", db, "--policy", policy)
    assert out == (
        "claim A of customer K1: 100.00 EUR, issued 2012-05-01, due 2012-05-31, "
        "open 100.00 EUR\ngroup -, state (not yet run)\n\n"
        "2012-06-06  payment     payment P1: 30.00 EUR (not yet applied)\n"
    )


def test_bad_dates_and_missing_files_are_usage_errors(tmp_path: Path) -> None:
    """A malformed date or a missing policy file exits 2 naming the option."""
    db, policy = setup(tmp_path)

    code, out = run("run", "--policy", policy, "--as-of", "2012-13-01", "--db", db)
    assert code == 2
    assert (
        "Invalid value for '--as-of': '2012-13-01' is not a day in the calendar" in out
    )

    code, out = run(
        "run",
        "--policy",
        str(tmp_path / "nope.dun"),
        "--as-of",
        "2012-06-01",
        "--db",
        db,
    )
    assert code == 2
    assert "Invalid value for '--policy'" in out


def test_a_bad_policy_stops_the_run_with_its_errors(tmp_path: Path) -> None:
    """A policy with an error is reported with file and line; exit 1, no traceback."""
    db, _ = setup(tmp_path)
    bad = tmp_path / "bad.dun"
    bad.write_text(
        'policy "x" version "1"\ngroup all otherwise\ndunning all\n'
        "  current -> done after five days overdue\n"
    )

    code, out = run("run", "--policy", str(bad), "--as-of", "2012-06-01", "--db", db)

    assert code == 1
    assert out.startswith(f"{bad}:4:")
    assert "Traceback" not in out


def test_history_and_why_explain_the_claim(tmp_path: Path) -> None:
    """After runs to 06-07 the timeline and the explanation read as pinned."""
    db, policy = setup(tmp_path)
    for as_of in ("2012-06-01", "2012-06-05", "2012-06-06", "2012-06-07"):
        assert run("run", "--policy", policy, "--as-of", as_of, "--db", db)[0] == 0

    code, out = run("history", "A", "--db", db)

    assert code == 0
    assert (
        out
        == f"""\
claim A of customer K1: 100.00 EUR, issued 2012-05-01, due 2012-05-31, open 70.00 EUR
group everyone, state second

2012-06-01  allocation  (new) -> current  [run 1]
                        rule: group everyone otherwise ({policy}:4)
                        why: allocated to group `everyone`: first matching rule
                        saw: days_overdue = 1, open_amount = 100.00 EUR
2012-06-05  timer       current -> first  [run 2]
                        rule: current -> first after 5 days overdue do first_letter ({policy}:12)
                        why: after 5 days overdue: fell due on 2012-06-05 (due 2012-05-31, 5 days overdue)
                        saw: days_overdue = 5, open_amount = 100.00 EUR
                        measure first_letter (letter): pending
2012-06-06  payment     payment P1: 30.00 EUR (applied in run 3)
2012-06-07  timer       first -> second  [run 4]
                        rule: first -> second after 7 days overdue do second_letter ({policy}:13)
                        why: after 7 days overdue: fell due on 2012-06-07 (due 2012-05-31, 7 days overdue)
                        saw: days_overdue = 7, open_amount = 70.00 EUR
                        measure second_letter (letter, fee 5.00 EUR): pending
2012-06-07  charge      fee second_letter of 5.00 EUR booked  [run 4]
                        basis: fixed fee of 5.00 EUR
"""
    )  # noqa: E501

    code, out = run("why", "A", "--db", db)

    assert code == 0
    assert (
        out
        == f"""\
claim A (customer K1) is in state `second` of group `everyone` since 2012-06-07.
open 70.00 EUR of 100.00 EUR, due 2012-05-31.
besides the principal it still owes 5.00 EUR: fee `second_letter` 5.00 EUR (booked 2012-06-07).
it got there by the run of 2012-06-07: first -> second
  rule: first -> second after 7 days overdue do second_letter ({policy}:13)
  why: after 7 days overdue: fell due on 2012-06-07 (due 2012-05-31, 7 days overdue)
next: `second -> collection after 11 days overdue do third_letter` (line 14) -> `collection` on 2012-06-11; no condition, measures: third_letter.
would move it: on full payment: -> paid
"""
    )  # noqa: E501


def test_history_of_an_unknown_claim_is_an_error(tmp_path: Path) -> None:
    """An unknown claim id exits 1 with its name."""
    db, policy = setup(tmp_path)

    code, out = run("history", "NOPE", "--db", db, "--policy", policy)

    assert code == 1
    assert out == f"Error: no claim `NOPE` in {db}\n"


def test_a_quiet_run_prints_nothing(tmp_path: Path) -> None:
    """`dunning -q run` prints nothing on success; the run is recorded all the same."""
    db, policy = setup(tmp_path)

    code, out = run(
        "-q", "run", "--policy", policy, "--as-of", "2012-06-05", "--db", db
    )
    again = run("-q", "run", "--policy", policy, "--as-of", "2012-06-05", "--db", db)

    assert (code, out) == (0, "")
    # The second run of the day has nothing to do, and says nothing either.
    assert again == (0, "")
    code, out = run("history", "A", "--policy", policy, "--db", db)
    assert code == 0 and "2012-06-05" in out


def test_quiet_confirmations_print_nothing(tmp_path: Path) -> None:
    """Under -q, hold, release, dispute and plan print nothing when they succeed."""
    db, policy = setup(tmp_path)
    run("run", "--policy", policy, "--as-of", "2012-06-05", "--db", db)

    outputs = [
        run("-q", "hold", "A", "--reason", "check", "--by", "anna", "--db", db),
        run("-q", "release", "A", "--by", "anna", "--db", db),
        run(
            "-q", "dispute", "open", "A", "--reason", "wrong goods",
            "--on", "2012-06-06", "--db", db,
        ),
    ]  # fmt: skip

    assert outputs == [(0, ""), (0, ""), (0, "")]
