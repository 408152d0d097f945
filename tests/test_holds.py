"""Holds: no timed step while held, resuming after release, audit trail, CLI."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner

from engine import Engine, Event
from engine.cli.main import cli
from engine.explain import render_explanation
from engine.holds import HoldError

from .conftest import add_claim, add_payment, day, eur, make_engine, run_days

TWO_LETTERS = """\
policy "Two letters" version "1"
  currency EUR

group everyone otherwise

measure first_letter = letter "first"
measure second_letter = letter "second"

dunning everyone
  terminal second
  current -> first after 5 days overdue do first_letter
  first -> second after 14 days overdue do second_letter
"""

IN_STATE = """\
policy "In state" version "1"
  currency EUR

group everyone otherwise

measure first_letter = letter "first"

dunning everyone
  terminal first
  current -> first after 40 days in state do first_letter
"""


def moves_after_allocation(moves: dict) -> dict[str, list[str]]:
    """The days with moves other than allocation, as ISO dates."""
    found: dict[str, list[str]] = {}
    for on, names in moves.items():
        kept = [name for name in names if ":None->" not in name]
        if kept:
            found[on.isoformat()] = kept
    return found


def held_engine(tmp_path: Path, wait: int = 0) -> Engine:
    """Claim A of K1, 100.00 EUR due Wed 2025-03-05, held by anna from 03-06."""
    plain = make_engine(tmp_path, TWO_LETTERS)
    engine = Engine(plain.store, attrs.evolve(plain.policy, resume_wait_days=wait))
    add_claim(engine, "A", due="2025-03-05")
    engine.hold(
        "A", reason="delivery disputed by phone", by="anna", starts=day("2025-03-06")
    )
    return engine


def test_a_held_claim_gets_its_first_letter_on_release_day(tmp_path: Path) -> None:
    """Continue: the overdue timer (03-10) fell due while held, fires at release."""
    engine = held_engine(tmp_path)

    held = run_days(engine, "2025-03-05", "2025-03-16")
    engine.release("A", by="bob", on=day("2025-03-17"), note="customer called back")
    after = run_days(engine, "2025-03-17", "2025-03-25")

    # Due 03-05: first letter 5 days overdue = Mon 03-10, held then; released
    # Mon 03-17, so it goes out that day; the second letter at 14 days overdue
    # = Wed 03-19, unchanged by the hold.
    assert moves_after_allocation(held) == {}
    assert moves_after_allocation(after) == {
        "2025-03-17": ["A:current->first"],
        "2025-03-19": ["A:first->second"],
    }
    skips = engine.skips(claim_id="A")
    assert [(s.as_of.isoformat(), s.cause, s.reference) for s in skips] == [
        ("2025-03-10", "hold", "1")
    ]
    assert skips[0].detail == (
        "held by anna since 2025-03-06: delivery disputed by phone, until released"
    )


def test_after_hold_wait_three_days_delays_the_first_letter(tmp_path: Path) -> None:
    """Wait 3 days: released 03-17, no timed step before 03-20, then one a day."""
    engine = held_engine(tmp_path, wait=3)

    run_days(engine, "2025-03-05", "2025-03-16")
    engine.release("A", by="bob", on=day("2025-03-17"))
    after = run_days(engine, "2025-03-17", "2025-03-25")

    # 03-17 + 3 days = Thu 03-20 for the first letter; the second (due since
    # 03-19) waits one run because a claim takes one step per run: Fri 03-21.
    assert moves_after_allocation(after) == {
        "2025-03-20": ["A:current->first"],
        "2025-03-21": ["A:first->second"],
    }


def test_days_held_do_not_count_as_days_in_state(tmp_path: Path) -> None:
    """In-state timer of 40 days from 02-05 (03-17) moves on by the 7 days held."""
    engine = make_engine(tmp_path, IN_STATE)
    add_claim(engine, "A", due="2025-03-05", issued="2025-02-05")
    engine.hold("A", reason="address check", by="anna", starts=day("2025-03-03"))

    run_days(engine, "2025-02-05", "2025-03-09")
    engine.release("A", by="bob", on=day("2025-03-10"))
    after = run_days(engine, "2025-03-10", "2025-03-31")

    # In state since the issue date 02-05; held 03-03 to 03-09 = 7 days, so
    # the state counts from 02-12 and 40 days later is Mon 03-24 (not 03-17).
    assert moves_after_allocation(after) == {"2025-03-24": ["A:current->first"]}
    # The timer never fell due while held: nothing was skipped.
    assert engine.skips(claim_id="A") == []
    change = engine.changes("claims", "A")[-1]
    assert (change.field, change.old_value, change.new_value, change.actor) == (
        "state_since",
        "2025-02-05",
        "2025-02-12",
        "bob",
    )


def test_a_customer_hold_covers_all_their_claims(tmp_path: Path) -> None:
    """K1's two claims get nothing while K1 is held; K2's claim is reminded."""
    engine = make_engine(tmp_path, TWO_LETTERS)
    add_claim(engine, "A", due="2025-03-05", customer="K1")
    add_claim(engine, "B", due="2025-03-05", customer="K1")
    add_claim(engine, "C", due="2025-03-05", customer="K2")
    hold = engine.hold(
        customer_id="K1", reason="insolvency check", by="anna", starts=day("2025-03-01")
    )

    moves = run_days(engine, "2025-03-05", "2025-03-25")

    # Only C: first letter Mon 03-10 (5 days overdue), second Wed 03-19 (14).
    assert moves_after_allocation(moves) == {
        "2025-03-10": ["C:current->first"],
        "2025-03-19": ["C:first->second"],
    }
    assert [(s.claim_id, s.reference, s.detail) for s in engine.skips()] == [
        (
            "A",
            str(hold.id),
            "customer K1 held by anna since 2025-03-01: insolvency check, "
            "until released",
        ),
        (
            "B",
            str(hold.id),
            "customer K1 held by anna since 2025-03-01: insolvency check, "
            "until released",
        ),
    ]


def test_a_hold_with_an_end_date_lifts_itself(tmp_path: Path) -> None:
    """Held 03-06 to Wed 03-12: the run of 03-13 releases it and sends the letter."""
    engine = make_engine(tmp_path, TWO_LETTERS)
    add_claim(engine, "A", due="2025-03-05")
    engine.hold(
        "A",
        reason="waiting for a credit note",
        by="anna",
        starts=day("2025-03-06"),
        until=day("2025-03-12"),
    )

    moves = run_days(engine, "2025-03-05", "2025-03-18")

    # First letter due Mon 03-10, held; last day held 03-12, so 03-13.
    assert moves_after_allocation(moves) == {"2025-03-13": ["A:current->first"]}
    (hold,) = engine.holds("A")
    assert (hold.released_on, hold.released_by, hold.release_note) == (
        day("2025-03-13"),
        "expired",
        "its end date 2025-03-12 has passed",
    )
    assert engine.skips(claim_id="A")[0].detail == (
        "held by anna since 2025-03-06: waiting for a credit note, until 2025-03-12"
    )


def test_a_held_claim_paid_in_full_is_settled(tmp_path: Path) -> None:
    """Payment of 100.00 on 03-12 while held: settled, no letter ever."""
    engine = held_engine(tmp_path)
    add_payment(engine, "P1", "A", "100.00", "2025-03-12")

    moves = run_days(engine, "2025-03-05", "2025-03-25")

    assert moves_after_allocation(moves) == {"2025-03-12": ["A:current->paid"]}
    assert engine.measures("A") == []
    state = engine.store.conn.execute(
        "SELECT state, settled_on FROM claims WHERE id = 'A'"
    ).fetchone()
    assert state == ("paid", "2025-03-12")


DISPUTES = """\
policy "Disputes" version "1"
  currency EUR

group everyone otherwise

measure first_letter = letter "first" fee 5 EUR
measure check_objection = task "Check the objection" queue "receivables" fee 3 EUR

dunning everyone
  hold disputed
  terminal first
  current -> first after 14 days overdue do first_letter
  on dispute_opened from current -> disputed do check_objection
  on dispute_resolved from disputed -> back
"""


def test_an_event_rule_moves_a_held_claim_but_its_measure_is_withheld(
    tmp_path: Path,
) -> None:
    """Dispute on 03-07 while held: to `disputed`, no task, no fee, one skip;
    the dispute opened again after the release gets its task and fee."""
    engine = make_engine(tmp_path, DISPUTES)
    add_claim(engine, "A", due="2025-03-05")
    engine.hold("A", reason="address check", by="anna", starts=day("2025-03-06"))
    engine.add_events(
        [
            Event("D1", "dispute_opened", day("2025-03-07"), claim_id="A"),
            Event("D2", "dispute_resolved", day("2025-03-11"), claim_id="A"),
            Event("D3", "dispute_opened", day("2025-03-12"), claim_id="A"),
        ]
    )

    held = run_days(engine, "2025-03-05", "2025-03-09")
    engine.release("A", by="bob", on=day("2025-03-10"))
    after = run_days(engine, "2025-03-10", "2025-03-12")

    # 03-07: the dispute is a fact, so the claim moves although it is held.
    # 03-11: back to `current`; the first letter waits for 14 days overdue
    # (03-19), so on 03-12 the second dispute moves it again.
    assert moves_after_allocation(held) == {"2025-03-07": ["A:current->disputed"]}
    assert moves_after_allocation(after) == {
        "2025-03-11": ["A:disputed->current"],
        "2025-03-12": ["A:current->disputed"],
    }
    moves = [
        (t.as_of.isoformat(), t.to_state, t.measures, t.reason)
        for t in engine.transitions("A")
        if t.to_state == "disputed"
    ]
    assert moves == [
        (
            "2025-03-07",
            "disputed",
            [],
            "event D1: `dispute_opened` on 2025-03-07; measure check_objection "
            "withheld: on hold 1",
        ),
        ("2025-03-12", "disputed", ["check_objection"], (
            "event D3: `dispute_opened` on 2025-03-12"
        )),
    ]  # fmt: skip
    skips = engine.skips(claim_id="A")
    assert [(s.as_of.isoformat(), s.cause, s.reference, s.detail) for s in skips] == [
        (
            "2025-03-07",
            "hold",
            "1",
            "withheld measure check_objection of `dispute_opened` on 2025-03-07: "
            "held by anna since 2025-03-06: address check, until released",
        )
    ]
    # Only the task of 03-12 goes out, with its fee of 3.00; the withheld one
    # books nothing, so the fee is not used up by it either.
    assert [(m.measure, m.as_of.isoformat()) for m in engine.measures("A")] == [
        ("check_objection", "2025-03-12")
    ]
    assert [(c.kind, c.measure, c.amount) for c in engine.charges("A")] == [
        ("fee", "check_objection", eur("3.00"))
    ]


PROMISES = """\
policy "Promises" version "1"
  currency EUR

group everyone otherwise

measure reminder = letter "reminder"
measure broken_promise = letter "broken promise" fee 10 EUR
measure final = letter "final"

dunning everyone
  hold promised
  terminal done
  current -> reminded after 1 days overdue do reminder
  on promise_given from reminded -> promised
  on promise_broken from promised -> final_notice do broken_promise
  final_notice -> done after 5 days in state do final
"""


def test_a_promise_broken_under_a_customer_hold_sends_no_letter(
    tmp_path: Path,
) -> None:
    """Customer hold from 03-10: the broken promise (03-15) moves the claim
    without its letter or fee, and the timer of 03-20 is skipped too."""
    engine = make_engine(tmp_path, PROMISES)
    add_claim(engine, "A", due="2025-03-05")
    engine.add_events(
        [
            Event(
                "P1",
                "promise_given",
                day("2025-03-07"),
                claim_id="A",
                until=day("2025-03-14"),
                amount=eur("100.00"),
            )
        ]
    )
    engine.hold(
        customer_id="K1", reason="insolvency check", by="anna", starts=day("2025-03-10")
    )

    moves = run_days(engine, "2025-03-05", "2025-03-23")

    # Due Wed 03-05: reminded on 03-06 (1 day overdue), promised on 03-07;
    # nothing paid by 03-14, so the promise breaks on Sat 03-15 and the claim
    # goes to final_notice; 5 days in state from 03-15 is Thu 03-20, held.
    assert moves_after_allocation(moves) == {
        "2025-03-06": ["A:current->reminded"],
        "2025-03-07": ["A:reminded->promised"],
        "2025-03-15": ["A:promised->final_notice"],
    }
    held_by = "customer K1 held by anna since 2025-03-10: insolvency check, "
    skips = engine.skips(claim_id="A")
    assert [(s.as_of.isoformat(), s.reference, s.detail) for s in skips] == [
        (
            "2025-03-15",
            "1",
            "withheld measure broken_promise of `promise_broken` on 2025-03-15: "
            + held_by
            + "until released",
        ),
        ("2025-03-20", "1", held_by + "until released"),
    ]
    assert [m.measure for m in engine.measures("A")] == ["reminder"]
    assert engine.charges("A") == []


def test_the_audit_trail_shows_hold_skip_and_release(tmp_path: Path) -> None:
    """audit_changes has set (anna) and release (bob); history shows all three."""
    engine = held_engine(tmp_path)
    run_days(engine, "2025-03-05", "2025-03-16")
    engine.release("A", by="bob", on=day("2025-03-17"), note="customer called back")

    changes = engine.changes("holds", "1")
    assert [(c.actor, c.field, c.new_value, c.source) for c in changes] == [
        ("anna", "held", "claim A", "hold set"),
        ("anna", "reason", "delivery disputed by phone", "hold set"),
        ("anna", "starts", "2025-03-06", "hold set"),
        ("bob", "released_on", "2025-03-17", "hold released"),
        ("bob", "release_note", "customer called back", "hold released"),
    ]
    texts = [
        (e.on, e.kind, e.text)
        for e in engine.history("A")
        if e.kind in ("hold", "skip")
    ]
    assert texts == [
        (
            "2025-03-06",
            "hold",
            "hold 1 set: held by anna since 2025-03-06: delivery disputed by phone, "
            "until released",
        ),
        (
            "2025-03-10",
            "skip",
            "skipped (hold): held by anna since 2025-03-06: delivery disputed by "
            "phone, until released  [run 6]",
        ),
        ("2025-03-17", "hold", "hold 1 released by bob: customer called back"),
    ]


def test_why_explains_a_held_claim(tmp_path: Path) -> None:
    """`why` says who held it, why, since and until when, and what follows."""
    engine = held_engine(tmp_path)
    run_days(engine, "2025-03-05", "2025-03-12")

    text = render_explanation(engine.why("A", day("2025-03-13")))

    assert text == "\n".join(
        [
            "claim A (customer K1) is in state `current` of group `everyone` "
            "since 2025-02-03.",
            "open 100.00 EUR of 100.00 EUR, due 2025-03-05.",
            "it got there by the run of 2025-03-05: (new) -> current",
            "  rule: group everyone otherwise (test.dun:4)",
            "  why: allocated to group `everyone`: first matching rule",
            "on hold since 2025-03-06, set by anna: delivery disputed by phone; "
            "until someone releases it (hold 1 on claim A).",
            "while held it takes no timed step, measure or fee; payments and "
            "events still apply and move it, without the measures of their "
            "rules; after the hold its timers continue; the days held do not "
            "count as days in a state.",
        ]
    )


def test_bad_holds_are_refused_and_nothing_is_stored(tmp_path: Path) -> None:
    """Unknown claim, end before start, a second hold, release without a hold."""
    engine = make_engine(tmp_path, TWO_LETTERS)
    add_claim(engine, "A", due="2025-03-05")

    with pytest.raises(HoldError, match="no claim `NOPE` in the database"):
        engine.hold("NOPE", reason="x", by="anna", starts=day("2025-03-06"))
    with pytest.raises(HoldError, match="before it starts on 2025-03-06"):
        engine.hold(
            "A",
            reason="x",
            by="anna",
            starts=day("2025-03-06"),
            until=day("2025-03-01"),
        )
    with pytest.raises(HoldError, match="claim A has no hold to release"):
        engine.release("A", by="bob", on=day("2025-03-06"))
    assert engine.holds() == []

    engine.hold("A", reason="x", by="anna", starts=day("2025-03-06"))
    with pytest.raises(HoldError, match="already held"):
        engine.hold("A", reason="y", by="anna", starts=day("2025-03-07"))
    assert len(engine.holds()) == 1


# ---- command line ----------------------------------------------------------------


def cli_db(tmp_path: Path) -> str:
    """A database with claim A of customer K1, for the commands."""
    engine = make_engine(tmp_path, TWO_LETTERS)
    add_claim(engine, "A", due="2025-03-05")
    engine.close()
    return str(tmp_path / "test.db")


def test_cli_hold_and_release(tmp_path: Path) -> None:
    """`dunning hold` then `dunning release` print the hold; exit 0."""
    db = cli_db(tmp_path)
    runner = CliRunner()

    held = runner.invoke(
        cli,
        ["hold", "A", "--reason", "disputed", "--by", "anna", "--from", "2025-03-06",
         "--until", "2025-03-31", "--db", db],
    )  # fmt: skip
    released = runner.invoke(
        cli,
        ["release", "A", "--by", "bob", "--on", "2025-03-10", "--note", "settled",
         "--db", db],
    )  # fmt: skip

    assert held.exit_code == 0, held.output
    assert held.output == (
        "hold 1 on claim A: held by anna since 2025-03-06: disputed, until 2025-03-31\n"
    )
    assert released.exit_code == 0, released.output
    assert released.output == (
        "hold 1 on claim A: held by anna since 2025-03-06: disputed, until "
        "2025-03-31; released on 2025-03-10 by bob (settled)\n"
    )


def test_cli_hold_of_an_unknown_claim_fails(tmp_path: Path) -> None:
    """Exit 1 and the claim named; nothing stored."""
    db = cli_db(tmp_path)
    result = CliRunner().invoke(
        cli, ["hold", "NOPE", "--reason", "x", "--by", "anna", "--db", db]
    )
    assert result.exit_code == 1
    assert result.output == "Error: no claim `NOPE` in the database\n"


def test_cli_hold_until_before_from_is_a_usage_error(tmp_path: Path) -> None:
    """Exit 2 with the two dates named."""
    db = cli_db(tmp_path)
    result = CliRunner().invoke(
        cli,
        ["hold", "A", "--reason", "x", "--by", "anna", "--from", "2025-03-06",
         "--until", "2025-03-01", "--db", db],
    )  # fmt: skip
    assert result.exit_code == 2
    assert (
        "Invalid value for '--until': 2025-03-01 is before the first day held "
        "(2025-03-06)" in result.output
    )


def test_cli_release_without_a_hold_fails(tmp_path: Path) -> None:
    """Exit 1: claim A has no hold to release."""
    db = cli_db(tmp_path)
    result = CliRunner().invoke(cli, ["release", "A", "--by", "bob", "--db", db])
    assert result.exit_code == 1
    assert result.output == "Error: claim A has no hold to release\n"


def test_cli_hold_needs_a_claim_or_a_customer(tmp_path: Path) -> None:
    """Neither a claim nor --customer: exit 2."""
    db = cli_db(tmp_path)
    result = CliRunner().invoke(cli, ["hold", "--reason", "x", "--db", db])
    assert result.exit_code == 2
    assert "name a CLAIM or a --customer ID: one of them is needed" in result.output


def test_cli_skipped_lists_held_claims(tmp_path: Path) -> None:
    """After the runs, `skipped --cause hold` prints the one skip; csv too."""
    engine = held_engine(tmp_path)
    run_days(engine, "2025-03-05", "2025-03-12")
    engine.close()
    db = str(tmp_path / "test.db")
    runner = CliRunner()

    text = runner.invoke(cli, ["skipped", "--cause", "hold", "--db", db])
    table = runner.invoke(cli, ["skipped", "--format", "csv", "--db", db])
    none = runner.invoke(cli, ["skipped", "--cause", "credit", "--db", db])

    assert text.exit_code == 0, text.output
    assert text.output == (
        "2025-03-10  A (customer K1)  hold: held by anna since 2025-03-06: "
        "delivery disputed by phone, until released\n"
    )
    assert table.output == (
        "as_of,run,claim,customer,cause,reference,detail\n"
        # The detail holds a comma, so CSV quotes it.
        '2025-03-10,6,A,K1,hold,1,"held by anna since 2025-03-06: delivery disputed '
        'by phone, until released"\n'
    )
    assert (none.exit_code, none.output) == (0, "no skipped claims\n")
