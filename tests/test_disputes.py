"""Disputes: opened and resolved by command, in the customer's or company's favour."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from engine import Engine
from engine.cli.main import cli
from engine.promises import AgreementError

from .conftest import add_claim, add_payment, day, make_engine, run_days
from .test_promises import moves_only

DISPUTES = """\
policy "Disputes" version "1"
  currency EUR

group everyone otherwise

measure reminder = letter "reminder"
measure second = letter "second"
measure check = task "Check the objection" queue "receivables"

dunning everyone
  hold disputed
  terminal closed
  current -> reminded after 10 days overdue do reminder
  reminded -> second_notice after 14 days in state do second
  second_notice -> closed after 30 days in state
  on dispute_opened from current, reminded, second_notice -> disputed do check
  on dispute_resolved from disputed -> back
"""


def disputed_claim(tmp_path: Path) -> Engine:
    """Claim A of 1000.00 due 2026-02-01 (reminded 02-11), disputed on 02-16."""
    engine = make_engine(tmp_path, DISPUTES)
    add_claim(engine, "A", due="2026-02-01", amount="1000.00")
    engine.open_dispute("A", "goods damaged", on=day("2026-02-16"), by="Carla")
    return engine


def letters(engine: Engine) -> list[tuple[str, ...]]:
    """The outbox: (as of, measure, open amount)."""
    return engine.store.conn.execute(
        "SELECT as_of, measure, open_amount FROM measures ORDER BY id"
    ).fetchall()


def test_no_second_reminder_during_a_dispute_and_resumed_after(
    tmp_path: Path,
) -> None:
    """Disputed 02-16 to 03-02 (14 days): the second notice moves from 02-25 to 03-11."""
    engine = disputed_claim(tmp_path)
    engine.resolve_dispute("A", "company", on=day("2026-03-02"), by="Carla")

    moves = run_days(engine, "2026-02-01", "2026-03-20")

    # Reminded 02-11 (10 days overdue); 14 days in state would be 02-25, but
    # the 14 days disputed (02-16 to 03-02) do not count: 02-25 + 14 = 03-11.
    assert moves_only(moves) == {
        "2026-02-11": ["A:current->reminded"],
        "2026-02-16": ["A:reminded->disputed"],
        "2026-03-02": ["A:disputed->reminded"],
        "2026-03-11": ["A:reminded->second_notice"],
    }
    assert letters(engine) == [
        ("2026-02-11", "reminder", "1000.00"),
        ("2026-02-16", "check", "1000.00"),
        ("2026-03-11", "second", "1000.00"),
    ]
    reason = engine.store.conn.execute(
        "SELECT reason, actor FROM events WHERE kind = 'dispute_resolved'"
    ).fetchone()
    assert reason == ("resolved in the company's favour", "Carla")


def test_resolved_for_the_customer_in_full_closes_the_claim(tmp_path: Path) -> None:
    """A credit note of all 1000.00 on 03-02 settles the claim; nothing follows."""
    engine = disputed_claim(tmp_path)
    recorded = engine.resolve_dispute(
        "A", "customer", note="damage confirmed", on=day("2026-03-02"), by="Carla"
    )

    moves = run_days(engine, "2026-02-01", "2026-04-30")

    assert recorded == ("A/dispute/1/credit/1", "A/dispute/1/resolved/1")
    assert moves_only(moves) == {
        "2026-02-11": ["A:current->reminded"],
        "2026-02-16": ["A:reminded->disputed"],
        "2026-03-02": ["A:disputed->paid"],
    }
    claim = engine.store.conn.execute(
        "SELECT open_amount, settled_on FROM claims"
    ).fetchone()
    assert claim == ("0.00", "2026-03-02")
    credit = engine.store.conn.execute(
        "SELECT amount, kind, paid_on FROM payments"
    ).fetchone()
    assert credit == ("1000.00", "credit_note", "2026-03-02")


def test_resolved_for_the_customer_in_part_reduces_and_resumes(tmp_path: Path) -> None:
    """A credit of 400.00: 600.00 left, dunning resumes and the second notice asks it."""
    engine = disputed_claim(tmp_path)
    engine.resolve_dispute(
        "A", "customer", amount="400.00", on=day("2026-03-02"), by="Carla"
    )

    moves = run_days(engine, "2026-02-01", "2026-03-20")

    # As in the company's case the second notice comes on 03-11, now for
    # 1000.00 - 400.00 = 600.00.
    assert moves_only(moves)["2026-03-11"] == ["A:reminded->second_notice"]
    assert letters(engine)[-1] == ("2026-03-11", "second", "600.00")
    reason = engine.store.conn.execute(
        "SELECT reason FROM events WHERE kind = 'dispute_resolved'"
    ).fetchone()
    assert reason == ("resolved in the customer's favour, credit note of 400.00 EUR",)


@pytest.mark.parametrize(
    ("outcome", "amount", "on", "message"),
    [
        ("customer", "1000.01", "2026-03-02", "more than claim `A` still owes"),
        ("customer", "0", "2026-03-02", "must be more than zero"),
        ("company", "10.00", "2026-03-02", "an amount is credited only when"),
        ("customer", None, "2026-02-15", "before it was opened (2026-02-16)"),
        ("maybe", None, "2026-03-02", "the outcome 'maybe' is not known"),
    ],
)
def test_bad_resolutions_are_refused(
    tmp_path: Path, outcome: str, amount: str | None, on: str, message: str
) -> None:
    """Bad amounts, dates and outcomes store nothing."""
    engine = disputed_claim(tmp_path)

    with pytest.raises(AgreementError) as error:
        engine.resolve_dispute("A", outcome, amount=amount, on=day(on), by="Carla")

    assert message in str(error.value)
    counts = engine.store.conn.execute(
        "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM payments)"
    ).fetchone()
    assert counts == (1, 0)


def test_a_credit_cannot_exceed_what_pending_payments_leave(tmp_path: Path) -> None:
    """700.00 recorded but not yet applied: at most 300.00 can be credited."""
    engine = disputed_claim(tmp_path)
    add_payment(engine, "P1", "A", "700.00", "2026-02-20")

    with pytest.raises(AgreementError, match=r"still owes \(300.00 EUR\)"):
        engine.resolve_dispute(
            "A", "customer", amount="300.01", on=day("2026-03-02"), by="Carla"
        )


def test_resolving_without_an_open_dispute_is_refused(tmp_path: Path) -> None:
    """No dispute, or one already resolved: nothing to resolve."""
    engine = make_engine(tmp_path, DISPUTES)
    add_claim(engine, "A", due="2026-02-01", amount="1000.00")

    with pytest.raises(AgreementError, match="claim `A` has no open dispute"):
        engine.resolve_dispute("A", "company", on=day("2026-03-02"))
    engine.open_dispute("A", "wrong price", on=day("2026-02-16"))
    engine.resolve_dispute("A", "company", on=day("2026-03-02"))
    with pytest.raises(AgreementError, match="claim `A` has no open dispute"):
        engine.resolve_dispute("A", "company", on=day("2026-03-03"))


def test_a_second_open_dispute_is_refused(tmp_path: Path) -> None:
    """While one dispute is open another cannot be opened."""
    engine = disputed_claim(tmp_path)

    with pytest.raises(AgreementError, match="already has an open dispute"):
        engine.open_dispute("A", "again", on=day("2026-02-17"))


def cli_database(tmp_path: Path) -> str:
    """A database with claim A (1000.00 EUR due 2026-02-01), closed for the CLI."""
    engine = make_engine(tmp_path, DISPUTES)
    add_claim(engine, "A", due="2026-02-01", amount="1000.00")
    engine.close()
    return str(tmp_path / "test.db")


def test_cli_opens_and_resolves_a_dispute(tmp_path: Path) -> None:
    """`dispute open` then `dispute resolve --outcome customer --amount 250.00`."""
    db = cli_database(tmp_path)
    runner = CliRunner()

    opened = runner.invoke(
        cli,
        ["dispute", "open", "A", "--reason", "wrong price", "--by", "Carla"]
        + ["--on", "2026-02-16", "--db", db],
    )
    resolved = runner.invoke(
        cli,
        ["dispute", "resolve", "A", "--outcome", "customer", "--amount", "250.00"]
        + ["--note", "price list 2026", "--on", "2026-03-02", "--db", db],
    )

    assert opened.exit_code == 0, opened.output
    assert opened.output == (
        "claim A: dispute opened on 2026-02-16 (event A/dispute/1); the next run "
        "applies it\n"
    )
    assert resolved.exit_code == 0, resolved.output
    assert resolved.output == (
        "claim A: dispute resolved in the customer's favour on 2026-03-02 (credit "
        "note A/dispute/1/credit/1 of 250.00 EUR, event A/dispute/1/resolved/1); "
        "the next run applies it\n"
    )


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (["resolve", "A", "--outcome", "company"], 1, "has no open dispute"),
        (["resolve", "A", "--outcome", "nobody"], 2, "'nobody' is not one of"),
        (["open", "A", "--reason", "x", "--on", "2026-02-30"], 2, "not a day in"),
        (["open", "A"], 2, "Missing option '--reason'"),
        (["open", "Z", "--reason", "x"], 1, "no claim `Z` in the database"),
        (["open", "A", "--reason", "  "], 1, "give the reason for the dispute"),
    ],
)
def test_cli_dispute_refuses_bad_input(
    tmp_path: Path, arguments: list[str], code: int, message: str
) -> None:
    """Bad disputes exit 1 (refused) or 2 (bad arguments) with the reason."""
    db = cli_database(tmp_path)

    result = CliRunner().invoke(cli, ["dispute", *arguments, "--db", db])

    assert result.exit_code == code
    assert message in result.output
