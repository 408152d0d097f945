"""Customer credits: a credit that covers a claim stops reminders until a clerk acts."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli.main import cli
from engine.credits import Credit, CreditError

from .conftest import add_claim, day, eur, make_engine, run_days
from .test_holds import TWO_LETTERS, moves_after_allocation


def test_a_covering_credit_stops_the_reminder_and_a_smaller_does_not(
    tmp_path: Path,
) -> None:
    """K1: 150.00 credit, 120.00 claim: skipped; K2: 50.00 credit: reminded."""
    engine = make_engine(tmp_path, TWO_LETTERS)
    add_claim(engine, "A", due="2025-03-05", amount="120.00", customer="K1")
    add_claim(engine, "B", due="2025-03-05", amount="120.00", customer="K2")
    engine.add_credits(
        [
            Credit("CR1", "K1", eur("150.00"), day("2025-03-01")),
            Credit("CR2", "K2", eur("50.00"), day("2025-03-01")),
        ],
        by="ledger",
    )

    moves = run_days(engine, "2025-03-05", "2025-03-12")

    # B: first letter 5 days overdue = Mon 03-10; A waits for a clerk.
    assert moves_after_allocation(moves) == {"2025-03-10": ["B:current->first"]}
    skips = engine.skips(cause="credit")
    assert [
        (s.as_of.isoformat(), s.claim_id, s.reference, s.detail) for s in skips
    ] == [
        (
            "2025-03-10",
            "A",
            "CR1",
            "customer credit 150.00 EUR covers the open 120.00 EUR; "
            "a clerk should apply it",
        )
    ]


def test_dunning_resumes_once_the_credit_is_used_up(tmp_path: Path) -> None:
    """The clerk uses 150.00 of CR1 elsewhere on 03-12: A is reminded that day."""
    engine = make_engine(tmp_path, TWO_LETTERS)
    add_claim(engine, "A", due="2025-03-05", amount="120.00", customer="K1")
    engine.add_credits([Credit("CR1", "K1", eur("150.00"), day("2025-03-01"))])
    run_days(engine, "2025-03-05", "2025-03-11")

    left = engine.use_credit("CR1", eur("150.00"), by="clerk", note="invoice R-7")
    moves = run_days(engine, "2025-03-12", "2025-03-12")

    assert left == eur("0.00")
    assert moves_after_allocation(moves) == {"2025-03-12": ["A:current->first"]}
    # One skip only, although runs looked at A on 03-10 and 03-11.
    assert len(engine.skips(claim_id="A")) == 1


def test_bad_credits_are_refused(tmp_path: Path) -> None:
    """Unknown customer, amount of zero: refused, nothing stored."""
    engine = make_engine(tmp_path, TWO_LETTERS)
    add_claim(engine, "A", due="2025-03-05")

    with pytest.raises(CreditError, match="no customer `K9` in the database"):
        engine.add_credits([Credit("CR1", "K9", eur("10.00"), day("2025-03-01"))])
    with pytest.raises(CreditError, match="amount 0.00 EUR must be more than zero"):
        engine.add_credits([Credit("CR1", "K1", eur("0.00"), day("2025-03-01"))])
    assert engine.store.conn.execute("SELECT count(*) FROM credits").fetchone()[0] == 0


def test_cli_credit_records_a_credit(tmp_path: Path) -> None:
    """`dunning credit` prints what it stored; an unknown customer exits 1."""
    engine = make_engine(tmp_path, TWO_LETTERS)
    add_claim(engine, "A", due="2025-03-05")
    engine.close()
    db = str(tmp_path / "test.db")
    runner = CliRunner()

    good = runner.invoke(
        cli,
        ["credit", "--customer", "K1", "--amount", "150.00", "--on", "2025-03-01",
         "--kind", "credit_note", "--reference", "GS-12", "--by", "ledger",
         "--db", db],
    )  # fmt: skip
    bad = runner.invoke(
        cli,
        ["credit", "--customer", "K9", "--amount", "1.00", "--on", "2025-03-01",
         "--db", db],
    )  # fmt: skip
    text = runner.invoke(
        cli,
        ["credit", "--customer", "K1", "--amount", "lots", "--on", "2025-03-01",
         "--db", db],
    )  # fmt: skip

    assert good.exit_code == 0, good.output
    assert good.output == (
        "credit CR-K1-1 of customer K1: 150.00 EUR (credit note) received 2025-03-01\n"
    )
    assert bad.exit_code == 1
    assert bad.output == "Error: credit CR-K9-1: no customer `K9` in the database\n"
    assert text.exit_code == 2
    assert "Invalid value for '--amount': 'lots' is not an amount" in text.output
