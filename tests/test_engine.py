"""Engine v1: daily runs, one step per run, settlement, audit trail, crashes."""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import sqlite3
from pathlib import Path

import pytest

from engine import Engine, Event, RunError, Store, StoreError
from engine.runner import RUN_GC_THRESHOLD, Runner, _collecting_less

from .conftest import add_claim, add_payment, day, make_engine, run_days

THREE_STEPS = """\
policy "Three steps" version "1"
  currency EUR

group everyone otherwise

measure first_letter = letter "first"
measure second_letter = letter "second" fee 5.00 EUR
measure third_letter = letter "third" fee 2 % of open amount min 1.00 EUR max 3.00 EUR

dunning everyone
  terminal collection
  current -> first after 5 days overdue do first_letter
  first -> second after 7 days overdue do second_letter
  second -> collection after 11 days overdue do third_letter
"""


def timed_moves(moves: dict[dt.date, list[str]]) -> dict[str, list[str]]:
    """Only the days with moves other than allocation, as ISO dates."""
    return {
        d.isoformat(): [m for m in ms if not m.split(":")[1].startswith("None")]
        for d, ms in moves.items()
        if any(not m.split(":")[1].startswith("None") for m in ms)
    }


def test_steps_fall_on_the_days_the_timers_name(tmp_path: Path) -> None:
    """Due 2012-05-31 with steps at 5, 7, 11 days overdue: 06-05, 06-07, 06-11."""
    engine = make_engine(tmp_path, THREE_STEPS)
    add_claim(engine, "A", due="2012-05-31")

    moves = run_days(engine, "2012-05-31", "2012-06-20")

    assert timed_moves(moves) == {
        "2012-06-05": ["A:current->first"],
        "2012-06-07": ["A:first->second"],
        "2012-06-11": ["A:second->collection"],
    }


def test_a_claim_first_seen_a_year_late_takes_one_step_per_run(tmp_path: Path) -> None:
    """365 days overdue at its first run: first step only, then one step per day."""
    engine = make_engine(tmp_path, THREE_STEPS)
    add_claim(engine, "OLD", due="2011-06-01")

    moves = run_days(engine, "2012-05-31", "2012-06-04")

    assert (day("2012-05-31") - day("2011-06-01")).days == 365
    assert timed_moves(moves) == {
        "2012-05-31": ["OLD:current->first"],
        "2012-06-01": ["OLD:first->second"],
        "2012-06-02": ["OLD:second->collection"],
    }


def test_a_claim_paid_in_full_is_settled_and_never_dunned_again(tmp_path: Path) -> None:
    """Paid on 06-06 after the first letter: settled at the next run, no more letters."""
    engine = make_engine(tmp_path, THREE_STEPS)
    add_claim(engine, "A", due="2012-05-31")
    add_payment(engine, "P1", "A", "100.00", "2012-06-06")

    moves = run_days(engine, "2012-06-01", "2012-06-30")

    assert timed_moves(moves) == {
        "2012-06-05": ["A:current->first"],
        "2012-06-06": ["A:first->paid"],
    }
    measures = engine.store.conn.execute(
        "SELECT measure, as_of FROM measures WHERE claim_id = 'A'"
    ).fetchall()
    assert measures == [("first_letter", "2012-06-05")]
    claim = engine.store.conn.execute(
        "SELECT state, open_amount, settled_on, next_check FROM claims"
    ).fetchone()
    assert claim == ("paid", "0.00", "2012-06-06", None)


def test_a_payment_on_the_day_a_step_falls_due_prevents_that_step(
    tmp_path: Path,
) -> None:
    """Payments come first in a run: paid on 06-05, the 06-05 reminder is not sent."""
    engine = make_engine(tmp_path, THREE_STEPS)
    add_claim(engine, "A", due="2012-05-31")
    add_payment(engine, "P1", "A", "100.00", "2012-06-05")

    moves = run_days(engine, "2012-06-04", "2012-06-08")

    assert timed_moves(moves) == {"2012-06-05": ["A:current->paid"]}
    assert engine.store.conn.execute("SELECT count(*) FROM measures").fetchone() == (0,)


def test_a_partial_payment_keeps_the_level_and_lowers_the_fee_base(
    tmp_path: Path,
) -> None:
    """40.00 paid of 100.00: the steps go on; the 2 % fee of 60.00 is 1.20."""
    engine = make_engine(tmp_path, THREE_STEPS)
    add_claim(engine, "A", due="2012-05-31")
    add_payment(engine, "P1", "A", "40.00", "2012-06-06")

    run_days(engine, "2012-06-01", "2012-06-12")

    rows = engine.store.conn.execute(
        "SELECT measure, open_amount, fee FROM measures ORDER BY id"
    ).fetchall()
    # 2 % of 60.00 = 1.20, inside the bounds 1.00 .. 3.00.
    assert rows == [
        ("first_letter", "100.00", None),
        ("second_letter", "60.00", "5.00"),
        ("third_letter", "60.00", "1.20"),
    ]


def test_percentage_fees_respect_minimum_and_maximum(tmp_path: Path) -> None:
    """2 % of 20.00 is 0.40, raised to 1.00; 2 % of 500.00 is 10.00, capped at 3.00."""
    engine = make_engine(tmp_path, THREE_STEPS)
    add_claim(engine, "SMALL", due="2012-05-31", amount="20.00")
    add_claim(engine, "LARGE", due="2012-05-31", amount="500.00")

    run_days(engine, "2012-06-01", "2012-06-11")

    fees = dict(
        engine.store.conn.execute(
            "SELECT claim_id, fee FROM measures WHERE measure = 'third_letter'"
        )
    )
    assert fees == {"SMALL": "1.00", "LARGE": "3.00"}


def test_running_a_date_twice_changes_nothing(tmp_path: Path) -> None:
    """The second run of 06-05 finds nothing to do and writes nothing."""
    engine = make_engine(tmp_path, THREE_STEPS)
    add_claim(engine, "A", due="2012-05-31")
    engine.run(day("2012-06-05"))
    before = list(engine.store.conn.iterdump())

    again = engine.run(day("2012-06-05"))

    assert again.nothing_to_do
    assert list(engine.store.conn.iterdump()) == before


def test_an_earlier_date_is_refused_unless_replayed(tmp_path: Path) -> None:
    """After a run for 06-05, a run for 06-01 is refused with the reason."""
    engine = make_engine(tmp_path, THREE_STEPS)
    add_claim(engine, "A", due="2012-05-31")
    engine.run(day("2012-06-05"))

    with pytest.raises(RunError, match="before the last run \\(2012-06-05\\)"):
        engine.run(day("2012-06-01"))
    assert engine.run(day("2012-06-01"), replay=True).transitions == 0


def test_a_missed_day_is_caught_up(tmp_path: Path) -> None:
    """No run on 06-05: the run of 06-06 still sends the first reminder."""
    engine = make_engine(tmp_path, THREE_STEPS)
    add_claim(engine, "A", due="2012-05-31")
    engine.run(day("2012-06-04"))

    result = engine.run(day("2012-06-06"), collect=True)

    assert [(s.from_state, s.to_state) for s in result.steps] == [("current", "first")]


def test_a_dry_run_shows_the_proposal_and_writes_nothing(tmp_path: Path) -> None:
    """A dry run on 06-05 proposes the first letter; the database is unchanged."""
    engine = make_engine(tmp_path, THREE_STEPS)
    add_claim(engine, "A", due="2012-05-31")
    engine.run(day("2012-06-01"))
    before = list(engine.store.conn.iterdump())

    result = engine.run(day("2012-06-05"), dry_run=True)

    assert [(s.to_state, s.measures) for s in result.steps] == [
        ("first", ("first_letter",))
    ]
    assert result.run_id is None
    assert list(engine.store.conn.iterdump()) == before


def test_the_audit_trail_records_rule_line_values_and_policy(tmp_path: Path) -> None:
    """Each move records run, date, rule text and line, values seen, policy hash."""
    engine = make_engine(tmp_path, THREE_STEPS)
    add_claim(engine, "A", due="2012-05-31")
    engine.run(day("2012-06-05"))

    row = engine.store.conn.execute(
        "SELECT run_id, as_of, group_name, from_state, to_state, trigger, rule, "
        "policy_path, policy_line, policy_digest, reason, seen, measures, actor "
        "FROM transitions WHERE trigger = 'timer'"
    ).fetchone()

    digest = hashlib.sha256(THREE_STEPS.encode()).hexdigest()
    assert row == (
        1,
        "2012-06-05",
        "everyone",
        "current",
        "first",
        "timer",
        "current -> first after 5 days overdue do first_letter",
        "test.dun",
        12,
        digest,
        "after 5 days overdue: fell due on 2012-06-05 (due 2012-05-31, 5 days overdue)",
        '{"days_overdue": "5", "open_amount": "100.00 EUR"}',
        '["first_letter"]',
        "run",
    )


def test_the_database_rejects_changes_to_the_audit_trail(tmp_path: Path) -> None:
    """UPDATE and DELETE on audit rows fail inside SQLite itself."""
    engine = make_engine(tmp_path, THREE_STEPS)
    add_claim(engine, "A", due="2012-05-31")
    engine.run(day("2012-06-05"))
    conn = engine.store.conn

    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE transitions SET to_state = 'paid'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM transitions")


def test_an_interrupted_run_completes_without_duplicates(tmp_path: Path) -> None:
    """A crash after the first of three batches; the run again finishes the rest."""
    engine = make_engine(tmp_path, THREE_STEPS)
    for ident in ("A", "B", "C"):
        add_claim(engine, ident, due="2012-05-31", customer=f"K{ident}")
    engine.run(day("2012-06-01"))

    def crash(batch: int) -> None:
        raise KeyboardInterrupt("power cut")

    runner = Runner(engine.store, engine.policy, batch_size=1, after_batch=crash)
    with pytest.raises(KeyboardInterrupt):
        runner.run(day("2012-06-05"))
    conn = engine.store.conn
    assert conn.execute(
        "SELECT status FROM runs WHERE as_of = '2012-06-05'"
    ).fetchone() == ("running",)
    assert conn.execute("SELECT count(*) FROM measures").fetchone() == (1,)
    with pytest.raises(RunError, match="was interrupted"):
        engine.run(day("2012-06-06"))

    engine.run(day("2012-06-05"))

    assert conn.execute(
        "SELECT claim_id, count(*) FROM measures GROUP BY claim_id"
    ).fetchall() == [("A", 1), ("B", 1), ("C", 1)]
    assert conn.execute(
        "SELECT status, transitions, measures FROM runs WHERE as_of = '2012-06-05'"
    ).fetchone() == ("done", 3, 3)


HOLD_POLICY = """\
policy "Disputes" version "1"
  currency EUR

group everyone otherwise

measure reminder = letter "reminder"
measure final = letter "final"

dunning everyone
  hold disputed
  terminal done
  current -> reminded after 10 days overdue do reminder
  reminded -> final_notice after 14 days in state do final
  final_notice -> done after 30 days in state
  on dispute_opened -> disputed
  on dispute_resolved from disputed -> back
"""


def test_days_on_hold_do_not_count_as_days_in_state(tmp_path: Path) -> None:
    """Reminded 06-11, disputed 06-15..06-25 (10 days): final on 06-25 + 10 = 07-05."""
    engine = make_engine(tmp_path, HOLD_POLICY)
    add_claim(engine, "A", due="2012-05-31")
    engine.add_events(
        [
            Event("E1", "dispute_opened", day("2012-06-15"), claim_id="A"),
            Event("E2", "dispute_resolved", day("2012-06-25"), claim_id="A"),
        ]
    )

    moves = run_days(engine, "2012-06-01", "2012-07-10")

    # 10 days overdue from 05-31 is Sun 2012-06-10; no deadline falls on a
    # weekend, so the reminder comes on Mon 06-11. Without the dispute the final
    # notice would come 14 days after 06-11, on Mon 06-25; the 10 days on hold
    # (06-15 to 06-25) push it to Thu 07-05, a working day.
    assert timed_moves(moves) == {
        "2012-06-11": ["A:current->reminded"],
        "2012-06-15": ["A:reminded->disputed"],
        "2012-06-25": ["A:disputed->reminded"],
        "2012-07-05": ["A:reminded->final_notice"],
    }


BUSINESS_DAYS = """\
policy "Business days" version "1"
  currency EUR
  calendar DE-NI

group everyone otherwise

dunning everyone
  terminal reminded
  current -> reminded after 3 business days overdue
"""


def test_business_days_skip_weekends_and_holidays(tmp_path: Path) -> None:
    """Due Tue 2026-12-22: Wed 23 (1), Thu 24 (2), 25/26 holidays, 27 Sunday, Mon 28 (3)."""
    engine = make_engine(tmp_path, BUSINESS_DAYS)
    add_claim(engine, "A", due="2026-12-22")

    moves = run_days(engine, "2026-12-22", "2026-12-31")

    assert timed_moves(moves) == {"2026-12-28": ["A:current->reminded"]}


GROUPS = """\
policy "Groups" version "1"
  currency EUR

group key_accounts when customer.segment = "key" or claim.amount >= 10000 EUR
group consumers when customer.kind = "consumer"
group standard otherwise

dunning key_accounts
  terminal called
  current -> called after 3 days overdue

dunning consumers
  terminal reminded
  current -> reminded after 10 days overdue

dunning standard
  terminal reminded
  current -> reminded after 7 days overdue
"""


def test_customers_are_allocated_by_the_first_matching_rule(tmp_path: Path) -> None:
    """A big claim goes to key accounts, a consumer to consumers, the rest standard."""
    engine = make_engine(tmp_path, GROUPS)
    add_claim(engine, "BIG", due="2012-05-31", amount="12000.00", customer="B1")
    add_claim(engine, "CONS", due="2012-05-31", customer="C1", kind="consumer")
    add_claim(engine, "BIZ", due="2012-05-31", customer="B2")

    engine.run(day("2012-06-01"))

    groups = dict(engine.store.conn.execute("SELECT id, group_name FROM claims"))
    assert groups == {"BIG": "key_accounts", "CONS": "consumers", "BIZ": "standard"}


def test_an_explicit_group_in_the_customer_data_wins(tmp_path: Path) -> None:
    """A consumer whose data names `key_accounts` is dunned as a key account."""
    engine = make_engine(tmp_path, GROUPS)
    add_claim(engine, "X", due="2012-05-31", customer="C1", kind="consumer")
    engine.store.conn.execute(
        "UPDATE customers SET dunning_group = 'key_accounts' WHERE id = 'C1'"
    )

    engine.run(day("2012-06-01"))

    row = engine.store.conn.execute(
        "SELECT reason FROM transitions WHERE claim_id = 'X'"
    ).fetchone()
    assert row == (
        "allocated to group `key_accounts`: the customer data names group "
        "`key_accounts`",
    )


def test_transition_listeners_hear_every_committed_move(tmp_path: Path) -> None:
    """A registered callback receives the allocation and the reminder."""
    engine = make_engine(tmp_path, THREE_STEPS)
    add_claim(engine, "A", due="2012-05-31")
    heard: list[str] = []
    engine.on_transition(lambda step: heard.append(f"{step.claim_id}:{step.to_state}"))

    engine.run(day("2012-06-01"))
    engine.run(day("2012-06-05"))

    assert heard == ["A:current", "A:first"]


def test_a_file_that_is_not_a_dunning_database_is_refused_untouched(
    tmp_path: Path,
) -> None:
    """A text file, another app's SQLite file: refused, bytes unchanged."""
    text = tmp_path / "notes.db"
    text.write_text("not a database at all\n" * 100)
    foreign = tmp_path / "foreign.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE invoices (id)")
    conn.commit()
    conn.close()

    for path in (text, foreign):
        before = path.read_bytes()
        with pytest.raises(StoreError, match="left untouched|not a dunning database"):
            Store.open(path)
        assert path.read_bytes() == before


def test_a_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    """Schema version 99 is refused with a message to upgrade."""
    path = tmp_path / "new.db"
    Store.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()

    with pytest.raises(StoreError, match="newer version of dunning \\(schema 99"):
        Store.open(path)


def test_engine_open_loads_policy_and_database(tmp_path: Path) -> None:
    """Engine.open takes file paths, as an embedding application would."""
    policy = tmp_path / "p.dun"
    policy.write_text(THREE_STEPS)

    engine = Engine.open(tmp_path / "x.db", policy)

    assert engine.policy.header.name == "Three steps"
    engine.close()


OLDEST_UNPAID = """\
policy "Oldest unpaid" version "1"
  currency EUR

group everyone otherwise

dunning everyone
  terminal flagged
  current -> flagged when customer.days_since_oldest_unpaid >= 40 days
"""


def test_customer_figures_see_todays_payments_first(tmp_path: Path) -> None:
    """A (issued 01-01) paid 02-10 no longer counts that day; B (01-20) flags 02-29.

    On 02-10 A would be 40 days old, but it is paid that day and payments come
    first, so the oldest unpaid claim is B at 21 days. B reaches 40 days on
    2012-02-29 (2012 is a leap year: 01-20 + 40 days).
    """
    engine = make_engine(tmp_path, OLDEST_UNPAID)
    add_claim(engine, "A", due="2012-01-31", issued="2012-01-01")
    add_claim(engine, "B", due="2012-02-19", issued="2012-01-20")
    add_payment(engine, "P1", "A", "100.00", "2012-02-10")

    moves = run_days(engine, "2012-01-20", "2012-03-05")

    assert timed_moves(moves) == {
        "2012-02-10": ["A:current->paid"],
        "2012-02-29": ["B:current->flagged"],
    }


def test_a_payment_settles_a_claim_even_in_a_terminal_state(tmp_path: Path) -> None:
    """Handed over on 06-11 (terminal `collection`), paid 06-20: it ends `paid`."""
    engine = make_engine(tmp_path, THREE_STEPS)
    add_claim(engine, "A", due="2012-05-31")
    add_payment(engine, "P1", "A", "100.00", "2012-06-20")

    moves = run_days(engine, "2012-06-01", "2012-06-25")

    assert timed_moves(moves) == {
        "2012-06-05": ["A:current->first"],
        "2012-06-07": ["A:first->second"],
        "2012-06-11": ["A:second->collection"],
        "2012-06-20": ["A:collection->paid"],
    }


def test_a_run_gives_the_garbage_collector_its_thresholds_back(
    tmp_path: Path,
) -> None:
    """After a run, and after overlapping runs, the process's thresholds are back."""
    engine = make_engine(tmp_path, THREE_STEPS)
    add_claim(engine, "A", due="2026-03-02", amount="100.00")
    saved = gc.get_threshold()
    seen: list[tuple[int, ...]] = []
    engine.on_transition(lambda _: seen.append(gc.get_threshold()))
    try:
        gc.set_threshold(700, 10, 10)
        engine.run(day("2026-03-03"))
        assert seen and seen[-1][0] == RUN_GC_THRESHOLD  # raised while it ran
        assert gc.get_threshold() == (700, 10, 10)

        # Two runs that overlap (as in two threads): the last one to end
        # restores what the process had before the first began.
        _collecting_less.__enter__()
        _collecting_less.__enter__()
        _collecting_less.__exit__(None, None, None)
        assert gc.get_threshold()[0] == RUN_GC_THRESHOLD
        _collecting_less.__exit__(None, None, None)
        assert gc.get_threshold() == (700, 10, 10)

        # A process that turned automatic collection off keeps it off.
        gc.set_threshold(0)
        engine.run(day("2026-03-10"))
        assert gc.get_threshold()[0] == 0
    finally:
        gc.set_threshold(*saved)
