"""Promises to pay: kept in full, kept in part, broken, and judged only once."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from engine import Engine, Event, Store
from engine.cli.main import cli
from engine.explain import render_explanation
from engine.importer import ImportFailed, import_file
from engine.promises import AgreementError, judge_promises

from .conftest import add_claim, add_payment, day, eur, make_engine, run_days

PROMISES = """\
policy "Promises" version "1"
  currency EUR

group everyone otherwise

measure reminder = letter "reminder"
measure second = letter "second"
measure final = letter "final"
measure broken_letter = letter "broken"

dunning everyone
  hold promised
  terminal closed
  current -> reminded after 10 days overdue do reminder
  reminded -> second_notice after 14 days in state do second
  second_notice -> final_notice after 14 days in state do final
  final_notice -> closed after 30 days in state
  on promise_given from reminded, second_notice -> promised
  on promise_broken from promised -> final_notice do broken_letter
  on promise_kept from promised -> back
"""


def moves_only(moves: dict[object, list[str]]) -> dict[str, list[str]]:
    """The days with moves other than allocation."""
    found = {}
    for on, names in moves.items():
        kept = [name for name in names if ":None->" not in name]
        if kept:
            found[str(on)] = kept
    return found


def promised_claim(tmp_path: Path, amount: str = "500.00") -> Engine:
    """Claim A due 2026-02-01, reminded 02-11, promise of `amount` by 03-13 on 02-16."""
    engine = make_engine(tmp_path, PROMISES)
    add_claim(engine, "A", due="2026-02-01", amount="1000.00")
    engine.promise("A", amount, day("2026-03-13"), on=day("2026-02-16"), by="Anna")
    return engine


def engine_events(engine: Engine, kind: str) -> list[tuple[str, ...]]:
    """The events of a kind, as (id, happened_on, amount, reason, actor)."""
    return engine.store.conn.execute(
        "SELECT id, happened_on, amount, reason, actor FROM events WHERE kind = ? "
        "ORDER BY id",
        (kind,),
    ).fetchall()


def test_a_promise_kept_in_full_settles_the_claim(tmp_path: Path) -> None:
    """Promise of all 1000.00 by 03-13, paid 03-10: paid on 03-10, kept event 03-10."""
    engine = promised_claim(tmp_path, "1000.00")
    add_payment(engine, "P1", "A", "1000.00", "2026-03-10")

    moves = run_days(engine, "2026-02-01", "2026-03-20")

    # 10 days overdue on 02-11; the promise holds the claim from 02-16; without
    # it the second notice would come 14 days after 02-11, on 02-25.
    assert moves_only(moves) == {
        "2026-02-11": ["A:current->reminded"],
        "2026-02-16": ["A:reminded->promised"],
        "2026-03-10": ["A:promised->paid"],
    }
    assert engine_events(engine, "promise_kept") == [
        (
            "A/promise/1/kept",
            "2026-03-10",
            "1000.00",
            "promised 1000.00 EUR by 2026-03-13, received 1000.00 EUR by 2026-03-10",
            "engine",
        )
    ]
    claim = engine.store.conn.execute(
        "SELECT settled_on, promise_until, promise_amount FROM claims"
    ).fetchone()
    assert claim == ("2026-03-10", None, None)


def test_a_promise_kept_for_part_of_the_claim_resumes_dunning(tmp_path: Path) -> None:
    """Promise of 400.00 of 1000.00 met on 03-04: back to `reminded`, rest dunned."""
    engine = promised_claim(tmp_path, "400.00")
    add_payment(engine, "P1", "A", "400.00", "2026-03-04")

    moves = run_days(engine, "2026-02-01", "2026-03-20")

    # Reminded 02-11, promised 02-16 to 03-04 = 16 days that do not count:
    # back in `reminded` as if since 02-11 + 16 = 02-27, so the second notice
    # (14 days in state) comes on Friday 03-13 instead of 02-25.
    assert moves_only(moves) == {
        "2026-02-11": ["A:current->reminded"],
        "2026-02-16": ["A:reminded->promised"],
        "2026-03-04": ["A:promised->reminded"],
        "2026-03-13": ["A:reminded->second_notice"],
    }
    letters = engine.store.conn.execute(
        "SELECT measure, open_amount FROM measures ORDER BY id"
    ).fetchall()
    # The second letter asks for what is left: 1000.00 - 400.00 = 600.00.
    assert letters == [("reminder", "1000.00"), ("second", "600.00")]
    state = engine.store.conn.execute(
        "SELECT state, state_since FROM claims"
    ).fetchone()
    assert state == ("second_notice", "2026-03-13")


def test_a_broken_promise_leads_to_the_policys_transition(tmp_path: Path) -> None:
    """Promise of 500.00 by 03-13, only 200.00 paid: final notice on 03-14."""
    engine = promised_claim(tmp_path, "500.00")
    add_payment(engine, "P1", "A", "200.00", "2026-03-05")

    moves = run_days(engine, "2026-02-01", "2026-04-20")

    # No escalation from 02-16 to 03-13 while the promise runs; the first run
    # after 03-13 breaks it (dated 03-14); then 30 days in `final_notice`:
    # 03-14 + 30 = 04-13.
    assert moves_only(moves) == {
        "2026-02-11": ["A:current->reminded"],
        "2026-02-16": ["A:reminded->promised"],
        "2026-03-14": ["A:promised->final_notice"],
        "2026-04-13": ["A:final_notice->closed"],
    }
    assert engine_events(engine, "promise_broken") == [
        (
            "A/promise/1/broken",
            "2026-03-14",
            "200.00",
            "promised 500.00 EUR by 2026-03-13, received 200.00 EUR",
            "engine",
        )
    ]
    letters = engine.store.conn.execute(
        "SELECT as_of, measure, open_amount FROM measures ORDER BY id"
    ).fetchall()
    # The broken-promise letter asks for 1000.00 - 200.00 = 800.00.
    assert letters == [
        ("2026-02-11", "reminder", "1000.00"),
        ("2026-03-14", "broken_letter", "800.00"),
    ]


def test_a_promise_broken_while_no_run_happened_is_caught_up(tmp_path: Path) -> None:
    """Runs on 02-11 and then 03-20 only: promised and broken (03-14) in one run."""
    engine = promised_claim(tmp_path, "500.00")

    engine.run(day("2026-02-11"))
    result = engine.run(day("2026-03-20"), collect=True)

    assert [(s.from_state, s.to_state, str(s.on)) for s in result.steps] == [
        ("reminded", "promised", "2026-02-16"),
        ("promised", "final_notice", "2026-03-14"),
    ]


def test_rerunning_and_interrupted_runs_judge_a_promise_once(tmp_path: Path) -> None:
    """A dry run, a second run of the same day and a repeated judgement add nothing."""
    engine = promised_claim(tmp_path, "500.00")
    run_days(engine, "2026-02-01", "2026-03-13")

    engine.run(day("2026-03-14"), dry_run=True)
    assert engine_events(engine, "promise_broken") == []
    engine.run(day("2026-03-14"))
    again = engine.run(day("2026-03-14"))
    added = judge_promises(engine.store.conn, day("2026-03-20"))

    assert again.nothing_to_do
    assert added == 0
    assert len(engine_events(engine, "promise_broken")) == 1
    moves = engine.store.conn.execute(
        "SELECT count(*) FROM transitions WHERE to_state = 'final_notice'"
    ).fetchone()
    assert moves == (1,)


def test_the_promise_is_stored_on_the_claim_and_explained(tmp_path: Path) -> None:
    """While it runs, the claim carries the promise and `why` states it."""
    engine = promised_claim(tmp_path, "500.00")
    add_payment(engine, "P1", "A", "200.00", "2026-03-05")
    run_days(engine, "2026-02-01", "2026-03-06")

    stored = engine.store.conn.execute(
        "SELECT promise_until, promise_amount, next_check FROM claims"
    ).fetchone()
    text = render_explanation(engine.why("A", day("2026-03-07")))

    # The run looks at the claim again the day after the promise ends.
    assert stored == ("2026-03-13", "500.00", "2026-03-14")
    assert (
        "promised 500.00 EUR by 2026-03-13 (given by Anna on 2026-02-16); received "
        "200.00 EUR so far; if less than 500.00 EUR is paid by then, the promise "
        "counts as broken on 2026-03-14" in text
    )


def test_a_later_promise_replaces_one_still_running(tmp_path: Path) -> None:
    """A second promise on 03-10 (by 03-31) replaces the first: judged on 04-01."""
    engine = promised_claim(tmp_path, "500.00")
    engine.add_events(
        [
            Event(
                "E2",
                "promise_given",
                day("2026-03-10"),
                claim_id="A",
                until=day("2026-03-31"),
                amount=eur("300.00"),
            )
        ]
    )

    moves = run_days(engine, "2026-02-01", "2026-04-02")

    # The first promise (by 03-13) is never judged; the second one breaks on
    # the day after 03-31. Its event changes nothing in `promised`: no rule.
    assert moves_only(moves) == {
        "2026-02-11": ["A:current->reminded"],
        "2026-02-16": ["A:reminded->promised"],
        "2026-04-01": ["A:promised->final_notice"],
    }
    assert [row[0] for row in engine_events(engine, "promise_broken")] == ["E2/broken"]


@pytest.mark.parametrize(
    ("amount", "until", "on", "message"),
    [
        ("0", "2026-03-13", "2026-02-16", "the promised amount '0' must be more than"),
        ("abc", "2026-03-13", "2026-02-16", "the promised amount 'abc' is not an"),
        ("1.005", "2026-03-13", "2026-02-16", "more decimal places than EUR allows"),
        ("1000.01", "2026-03-13", "2026-02-16", "more than claim `A` still owes"),
        ("10.00", "2026-02-15", "2026-02-16", "the promise ends on 2026-02-15, before"),
        ("10.00", "2026-03-13", "2025-12-01", "is before claim `A` was issued"),
    ],
)
def test_bad_promises_are_refused(
    tmp_path: Path, amount: str, until: str, on: str, message: str
) -> None:
    """A promise with a bad amount or dates is refused and nothing is stored."""
    engine = make_engine(tmp_path, PROMISES)
    add_claim(engine, "A", due="2026-02-01", amount="1000.00")

    with pytest.raises(AgreementError) as error:
        engine.promise("A", amount, day(until), on=day(on), by="Anna")

    assert message in str(error.value)
    assert engine.store.conn.execute("SELECT count(*) FROM events").fetchone() == (0,)


def cli_database(tmp_path: Path) -> str:
    """A database with claim A (1000.00 EUR due 2026-02-01), closed for the CLI."""
    engine = make_engine(tmp_path, PROMISES)
    add_claim(engine, "A", due="2026-02-01", amount="1000.00")
    engine.close()
    return str(tmp_path / "test.db")


def test_cli_records_a_promise(tmp_path: Path) -> None:
    """`dunning promise A --amount 500 --until 2026-03-13` stores the event."""
    db = cli_database(tmp_path)

    result = CliRunner().invoke(
        cli,
        ["promise", "A", "--amount", "500", "--until", "2026-03-13", "--by", "Anna"]
        + ["--on", "2026-02-16", "--db", db],
    )

    assert result.exit_code == 0, result.output
    assert result.output == (
        "claim A: promise to pay 500.00 EUR by 2026-03-13 recorded (event "
        "A/promise/1); the next run applies it and judges it after 2026-03-13\n"
    )
    with Store.open(db) as store:
        event = store.conn.execute(
            "SELECT kind, happened_on, until, amount, actor FROM events"
        ).fetchone()
    assert event == ("promise_given", "2026-02-16", "2026-03-13", "500.00", "Anna")


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (["--amount", "500", "--until", "13.03.2026"], 2, "not a date written as"),
        (["--amount", "500"], 2, "Missing option '--until'"),
        (["--amount", "5,00", "--until", "2026-03-13"], 2, "'5,00' is not an amount"),
        (["--amount", "2000", "--until", "2026-03-13"], 1, "more than claim `A`"),
    ],
)
def test_cli_promise_refuses_bad_input(
    tmp_path: Path, arguments: list[str], code: int, message: str
) -> None:
    """Bad promises exit 1 (refused) or 2 (bad arguments) with the reason."""
    db = cli_database(tmp_path)

    result = CliRunner().invoke(
        cli, ["promise", "A", *arguments, "--on", "2026-02-16", "--db", db]
    )

    assert result.exit_code == code
    assert message in result.output


def test_imported_promises_need_an_end_date_and_an_amount(tmp_path: Path) -> None:
    """promise_given rows with an empty `until`, or an empty or zero amount, are refused."""
    engine = make_engine(tmp_path, PROMISES)
    add_claim(engine, "A", due="2026-02-01", amount="1000.00")
    with_columns = tmp_path / "e.csv"
    with_columns.write_text(
        "id,claim_id,kind,happened_on,until,amount\n"
        "E1,A,promise_given,2026-02-16,,500.00\n"
        "E2,A,promise_given,2026-02-16,2026-03-13,\n"
        "E3,A,promise_given,2026-02-16,2026-03-13,0\n"
        "E4,A,promise_given,2026-02-16,2026-03-13,500.00\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportFailed) as first:
        import_file(engine.store, "events", str(with_columns))

    assert [str(p).replace(f"{tmp_path}/", "") for p in first.value.problems] == [
        "e.csv:2: column `until`: is empty, but a promise_given event needs the day "
        "the customer promised to pay by",
        "e.csv:3: column `amount`: is empty, but a promise_given event needs the "
        "amount the customer promised to pay",
        "e.csv:4: column `amount`: `0` is not more than zero; the amount of a "
        "promise must be positive",
    ]
    assert engine.store.conn.execute("SELECT count(*) FROM events").fetchone() == (0,)


def test_a_payment_dated_after_the_promise_does_not_lower_what_is_owed(
    tmp_path: Path,
) -> None:
    """A payment recorded for 03-10 is not made yet on 02-16: all 1000.00 can be
    promised; one recorded for 02-10 leaves 1000.00 - 700.00 = 300.00."""
    engine = make_engine(tmp_path, PROMISES)
    add_claim(engine, "A", due="2026-02-01", amount="1000.00")
    add_payment(engine, "P1", "A", "1000.00", "2026-03-10")

    ident = engine.promise(
        "A", "1000.00", day("2026-03-13"), on=day("2026-02-16"), by="Anna"
    )

    assert ident == "A/promise/1"
    add_claim(engine, "B", due="2026-02-01", amount="1000.00")
    add_payment(engine, "P2", "B", "700.00", "2026-02-10")
    with pytest.raises(AgreementError) as error:
        engine.promise("B", "300.01", day("2026-03-13"), on=day("2026-02-16"), by="A")
    assert str(error.value) == (
        "the promised amount 300.01 EUR is more than claim `B` still owes "
        "(300.00 EUR) on 2026-02-16, the day of the promise"
    )


def test_cli_promise_ignores_a_payment_dated_after_it(tmp_path: Path) -> None:
    """Payment of 300.00 dated 2026-03-10, promise of 300.00 on 2026-01-29: the
    claim still owes all 300.00 on that day, so the promise is recorded."""
    engine = make_engine(tmp_path, PROMISES)
    add_claim(engine, "R2", due="2026-01-15", amount="300.00")
    add_payment(engine, "Q1", "R2", "300.00", "2026-03-10")
    engine.close()
    db = str(tmp_path / "test.db")

    result = CliRunner().invoke(
        cli,
        ["promise", "R2", "--amount", "300.00", "--until", "2026-02-20"]
        + ["--on", "2026-01-29", "--by", "Anna", "--db", db],
    )

    assert result.exit_code == 0, result.output
    assert result.output == (
        "claim R2: promise to pay 300.00 EUR by 2026-02-20 recorded (event "
        "R2/promise/1); the next run applies it and judges it after 2026-02-20\n"
    )


def test_imported_promises_count_payments_up_to_their_day(tmp_path: Path) -> None:
    """Claim A (1000.00) has 700.00 recorded for 02-10 and 300.00 for 03-10: a
    promise of 300.00 on 02-16 fits (1000.00 - 700.00 = 300.00), 300.01 on
    02-16 does not; 1000.00 promised on 02-09 fits (no payment made yet)."""
    engine = make_engine(tmp_path, PROMISES)
    add_claim(engine, "A", due="2026-02-01", amount="1000.00")
    add_payment(engine, "P1", "A", "700.00", "2026-02-10")
    add_payment(engine, "P2", "A", "300.00", "2026-03-10")
    events = tmp_path / "e.csv"
    header = "id,claim_id,kind,happened_on,until,amount\n"
    events.write_text(
        header + "E1,A,promise_given,2026-02-16,2026-03-13,300.01\n", encoding="utf-8"
    )

    with pytest.raises(ImportFailed) as refused:
        import_file(engine.store, "events", str(events))

    assert [str(p).replace(f"{tmp_path}/", "") for p in refused.value.problems] == [
        "e.csv:2: column `amount`: `300.01` is more than claim `A` still owes "
        "(300.00 EUR) on 2026-02-16, the day of the promise; a promise can be at "
        "most the open amount"
    ]
    events.write_text(
        header
        + "E1,A,promise_given,2026-02-16,2026-03-13,300.00\n"
        + "E2,A,promise_given,2026-02-09,2026-02-12,1000.00\n",
        encoding="utf-8",
    )
    result = import_file(engine.store, "events", str(events))
    assert (result.new, result.changed) == (2, 0)
