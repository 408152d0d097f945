"""Exclusions and small balances: claims the policy keeps out of dunning."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import attrs

from dunlang.model import (
    Attribute,
    Compare,
    Exclusion,
    Literal,
    Money,
    SmallBalance,
    SmallBalanceAction,
    ValueKind,
)
from engine import Customer, Engine
from engine.explain import render_explanation
from engine.reports import build_report, render_text

from .conftest import add_claim, add_payment, day, make_engine, run_days
from .test_holds import TWO_LETTERS, moves_after_allocation

INTERCOMPANY = Exclusion(
    guard=Compare(
        "=",
        Attribute("customer", "segment"),
        Literal("intercompany", ValueKind.TEXT),
    ),
    reason="intercompany invoices are settled by netting",
)


def excluding_engine(tmp_path: Path) -> Engine:
    """TWO_LETTERS plus `exclude when customer.segment = "intercompany"`."""
    plain = make_engine(tmp_path, TWO_LETTERS)
    return Engine(plain.store, attrs.evolve(plain.policy, exclusions=(INTERCOMPANY,)))


def test_an_excluded_customers_claims_are_skipped_and_reported(tmp_path: Path) -> None:
    """Customer IC (intercompany): no letters, one skip each; K2 is reminded."""
    engine = excluding_engine(tmp_path)
    engine.add_customers([Customer("IC", "Sister company", segment="intercompany")])
    add_claim(engine, "A", due="2025-03-05", customer="IC")
    add_claim(engine, "B", due="2025-03-05", customer="IC")
    add_claim(engine, "C", due="2025-03-05", customer="K2")

    moves = run_days(engine, "2025-03-05", "2025-03-25")

    # C: 5 days overdue = Mon 03-10, 14 days = Wed 03-19; A and B nothing.
    assert moves_after_allocation(moves) == {
        "2025-03-10": ["C:current->first"],
        "2025-03-19": ["C:first->second"],
    }
    # One skip per claim, on the first run that looked at it.
    assert [
        (s.as_of.isoformat(), s.claim_id, s.cause, s.detail) for s in engine.skips()
    ] == [
        (
            "2025-03-05",
            "A",
            "exclusion",
            "excluded: intercompany invoices are settled by netting "
            "(customer.segment = intercompany)",
        ),
        (
            "2025-03-05",
            "B",
            "exclusion",
            "excluded: intercompany invoices are settled by netting "
            "(customer.segment = intercompany)",
        ),
    ]
    # Excluded claims stay in reports: three claims in group `everyone`.
    report = build_report(
        engine.store, engine.policy, day("2025-03-01"), day("2025-03-25")
    )
    assert report.groups["everyone"].claims == 3


def test_why_explains_an_excluded_claim(tmp_path: Path) -> None:
    """`why` names the exclusion's reason and the value it read."""
    engine = excluding_engine(tmp_path)
    engine.add_customers([Customer("IC", "Sister company", segment="intercompany")])
    add_claim(engine, "A", due="2025-03-05", customer="IC")
    run_days(engine, "2025-03-05", "2025-03-06")

    text = render_explanation(engine.why("A", day("2025-03-07")))

    assert text.splitlines()[-2:] == [
        "excluded from dunning by the policy: intercompany invoices are settled "
        "by netting; it read customer.segment = intercompany.",
        "it takes no step and no measure, and stays in reports.",
    ]


def small_balance_engine(tmp_path: Path, action: SmallBalanceAction) -> Engine:
    """TWO_LETTERS with `small balance below 5 EUR write off|leave`."""
    plain = make_engine(tmp_path, TWO_LETTERS)
    rule = SmallBalance(Money(Decimal("5"), "EUR"), action)
    return Engine(plain.store, attrs.evolve(plain.policy, small_balance=rule))


def test_a_small_balance_after_a_partial_payment_is_written_off(tmp_path: Path) -> None:
    """100.00 claim, 97.00 paid on 03-07, limit 5 EUR: 3.00 written off that day."""
    engine = small_balance_engine(tmp_path, SmallBalanceAction.WRITE_OFF)
    add_claim(engine, "A", due="2025-03-05")
    add_payment(engine, "P1", "A", "97.00", "2025-03-07")

    moves = run_days(engine, "2025-03-05", "2025-03-20")

    assert moves_after_allocation(moves) == {"2025-03-07": ["A:current->paid"]}
    last = engine.transitions("A")[-1]
    # 100.00 - 97.00 = 3.00, below 5: written off, no measure.
    assert (last.trigger, last.reason, last.measures) == (
        "small_balance",
        "small balance: 3.00 EUR written off (below the limit of 5 EUR)",
        [],
    )
    assert engine.measures("A") == []


def test_a_written_off_small_balance_leaves_nothing_open(tmp_path: Path) -> None:
    """100.00 - 97.00 = 3.00 written off on 03-07: open 0.00, and `why` says so."""
    engine = small_balance_engine(tmp_path, SmallBalanceAction.WRITE_OFF)
    add_claim(engine, "A", due="2025-03-05")
    add_payment(engine, "P1", "A", "97.00", "2025-03-07")

    run_days(engine, "2025-03-05", "2025-03-20")

    # The write-off settles the claim: nothing of the principal stays open.
    row = engine.store.conn.execute(
        "SELECT state, open_amount, settled_on FROM claims WHERE id = 'A'"
    ).fetchone()
    assert row == ("paid", "0.00", "2025-03-07")
    # The transition keeps the amount written off in what it saw.
    assert engine.transitions("A")[-1].seen["open_amount"] == "3.00 EUR"
    lines = render_explanation(engine.why("A", day("2025-03-20"))).splitlines()
    assert lines[1] == "open 0.00 EUR of 100.00 EUR, due 2025-03-05."
    assert lines[-1] == (
        "`paid` is a final state (settled on 2025-03-07 by writing off 3.00 EUR, "
        "a small balance): nothing more will happen; a payment would recover the "
        "3.00 EUR written off."
    )


def test_the_report_shows_the_write_off_and_no_open_amount(tmp_path: Path) -> None:
    """A written off (3.00 of 100.00), B open (50.00): open at end 50.00 only."""
    engine = small_balance_engine(tmp_path, SmallBalanceAction.WRITE_OFF)
    add_claim(engine, "A", due="2025-03-05")
    add_claim(engine, "B", due="2025-03-05", amount="50.00")
    add_payment(engine, "P1", "A", "97.00", "2025-03-07")
    run_days(engine, "2025-03-05", "2025-03-20")

    report = build_report(
        engine.store, engine.policy, day("2025-03-01"), day("2025-05-31")
    )

    total = report.groups["(all groups)"]
    # A's 3.00 is written off, not open: on 05-31 only B (50.00) is open, 87
    # days after its due date 03-05, so in the 61-90 bucket.
    assert total.written_off == {"EUR": Decimal("3.00")}
    assert total.open_at_end == {"EUR": Decimal("50.00")}
    assert total.ages["61-90"] == {"EUR": Decimal("50.00")}
    text = render_text(report)
    assert "  written off           3.00 EUR\n  open at end           50.00 EUR" in text
    rows = {
        (row["group"], row["metric"]): row["value"]
        for row in report.as_rows()
        if row["metric"] in ("written_off", "open_at_end")
    }
    assert rows == {
        ("everyone", "written_off"): "3.00",
        ("everyone", "open_at_end"): "50.00",
        ("(all groups)", "written_off"): "3.00",
        ("(all groups)", "open_at_end"): "50.00",
    }


def test_a_small_balance_left_stops_dunning_once(tmp_path: Path) -> None:
    """`leave`: one skip on 03-07, no letters, the claim stays open at 3.00."""
    engine = small_balance_engine(tmp_path, SmallBalanceAction.LEAVE)
    add_claim(engine, "A", due="2025-03-05")
    add_payment(engine, "P1", "A", "97.00", "2025-03-07")

    moves = run_days(engine, "2025-03-05", "2025-03-25")

    assert moves_after_allocation(moves) == {}
    assert [(s.as_of.isoformat(), s.cause, s.detail) for s in engine.skips()] == [
        (
            "2025-03-07",
            "small_balance",
            "small balance: 3.00 EUR left open without further dunning "
            "(below the limit of 5 EUR)",
        )
    ]
    row = engine.store.conn.execute(
        "SELECT state, open_amount, settled_on FROM claims WHERE id = 'A'"
    ).fetchone()
    assert row == ("current", "3.00", None)


def test_an_exclusion_that_reads_days_overdue_ends_by_itself(tmp_path: Path) -> None:
    """`exclude when claim.days_overdue < 8 days`: the reminder that fell due on
    day 5 waits until day 8, when the rule no longer matches."""
    policy_text = TWO_LETTERS.replace(
        "group everyone otherwise\n",
        "group everyone otherwise\n"
        'exclude when claim.days_overdue < 8 days because "a week of grace"\n',
    )
    engine = make_engine(tmp_path, policy_text)
    add_claim(engine, "A", due="2025-03-05")

    moves = run_days(engine, "2025-03-05", "2025-03-25")

    # Due Wed 03-05. Day 5 overdue (Mon 03-10): the first letter falls due,
    # but 5 < 8, so the claim is excluded and skipped. Day 8 is Thu 03-13:
    # 8 < 8 no longer holds, so the first letter goes out then. The second
    # letter falls due 14 days overdue, Wed 03-19.
    assert moves_after_allocation(moves) == {
        "2025-03-13": ["A:current->first"],
        "2025-03-19": ["A:first->second"],
    }
    skips = [(s.as_of.isoformat(), s.cause) for s in engine.skips()]
    assert skips == [("2025-03-05", "exclusion")]
