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


# ---- small balances ---------------------------------------------------------------


def test_a_small_claim_not_yet_due_is_not_written_off(tmp_path: Path) -> None:
    """4.99 EUR due 12-31 under `below 5 EUR write off`: untouched until overdue."""
    from dunlang.model import SmallBalanceAction

    from .test_exclusions import small_balance_engine

    engine = small_balance_engine(tmp_path, SmallBalanceAction.WRITE_OFF)
    # Issued on 2026-11-02, the day of the first run.
    add_claim(engine, "A", due="2026-12-31", amount="4.99", issued="2026-11-02")

    moves = run_days(engine, "2026-11-02", "2027-01-10")

    # Allocated on 11-02 and then left alone while not due. The rule applies
    # only once the due date has passed; the next run that looks at the claim
    # is the one of its first timer, 5 days overdue: 2027-01-05.
    assert moves_after_allocation(moves) == {"2027-01-05": ["A:current->paid"]}
    last = engine.transitions("A")[-1]
    assert (last.trigger, last.reason) == (
        "small_balance",
        "small balance: 4.99 EUR written off (below the limit of 5 EUR)",
    )
    assert last.seen["days_overdue"] == "5"


def test_a_small_claim_not_yet_due_is_not_left(tmp_path: Path) -> None:
    """`leave` waits for the due date too: no skip before 2027-01-05."""
    from dunlang.model import SmallBalanceAction

    from .test_exclusions import small_balance_engine

    engine = small_balance_engine(tmp_path, SmallBalanceAction.LEAVE)
    add_claim(engine, "A", due="2026-12-31", amount="4.99", issued="2026-11-02")

    run_days(engine, "2026-11-02", "2026-12-31")
    assert engine.skips() == []

    # 2027-01-05 is 5 days overdue: the first run that looks at it again.
    run_days(engine, "2027-01-01", "2027-01-10")
    assert [(s.as_of.isoformat(), s.cause) for s in engine.skips()] == [
        ("2027-01-05", "small_balance")
    ]
    assert engine.measures("A") == []
