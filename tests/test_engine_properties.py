"""Engine invariants over generated claims, payments and run calendars."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import Engine, Event

from .conftest import add_claim, add_payment, make_engine

POLICY = """\
policy "Properties" version "1"
  currency EUR

group everyone otherwise

measure reminder = letter "reminder"
measure final = letter "final" fee 5.00 EUR
measure handover = agency "Collect"

dunning everyone
  hold disputed
  terminal agency, written_off
  current -> reminded after 7 days overdue when claim.open_amount >= 10 EUR do reminder
  reminded -> final after 14 days in state do final
  final -> agency after 10 days in state when claim.open_amount > 500 EUR do handover
  final -> written_off after 10 days in state
  on dispute_opened -> disputed
  on dispute_resolved from disputed -> back
"""

START = dt.date(2024, 1, 1)

claims = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=60),  # due, days after START
        st.sampled_from(["5.00", "80.00", "640.00"]),
        st.one_of(st.none(), st.integers(min_value=0, max_value=90)),  # paid, days
        st.one_of(st.none(), st.integers(min_value=0, max_value=90)),  # dispute start
    ),
    min_size=1,
    max_size=6,
)
run_gaps = st.lists(st.integers(min_value=1, max_value=9), min_size=3, max_size=12)


def load(engine: Engine, data: list[tuple[int, str, int | None, int | None]]) -> None:
    """Put generated claims, payments and disputes into the engine's store."""
    for index, (due, amount, paid, dispute) in enumerate(data):
        ident = f"C{index}"
        due_date = START + dt.timedelta(days=due)
        add_claim(
            engine,
            ident,
            due=due_date.isoformat(),
            amount=amount,
            customer=f"K{index % 3}",
        )
        if paid is not None:
            add_payment(
                engine,
                f"P{index}",
                ident,
                amount,
                (due_date + dt.timedelta(days=paid)).isoformat(),
            )
        if dispute is not None:
            opened = due_date + dt.timedelta(days=dispute)
            engine.add_events(
                [
                    Event(f"D{index}", "dispute_opened", opened, claim_id=ident),
                    Event(
                        f"R{index}",
                        "dispute_resolved",
                        opened + dt.timedelta(days=12),
                        claim_id=ident,
                    ),
                ]
            )


def run_dates(gaps: list[int]) -> list[dt.date]:
    """Run dates from START, each the given number of days after the last."""
    dates, current = [], START
    for gap in gaps:
        current += dt.timedelta(days=gap * 5)
        dates.append(current)
    return dates


def audit(engine: Engine) -> list[tuple[object, ...]]:
    """The audit trail and outbox, without the run start times."""
    conn = engine.store.conn
    return (
        conn.execute("SELECT * FROM transitions ORDER BY id").fetchall()
        + conn.execute("SELECT * FROM measures ORDER BY id").fetchall()
    )


SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@SETTINGS
@given(data=claims, gaps=run_gaps)
def test_running_a_date_again_changes_nothing(data, gaps) -> None:
    """After each run, running the same date again leaves the database as it was."""
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(Path(folder), POLICY)
        load(engine, data)
        for as_of in run_dates(gaps):
            engine.run(as_of)
            before = list(engine.store.conn.iterdump())
            engine.run(as_of)
            assert list(engine.store.conn.iterdump()) == before
        engine.close()


@SETTINGS
@given(data=claims, gaps=run_gaps)
def test_same_input_and_dates_give_the_same_audit_trail(data, gaps) -> None:
    """Two databases fed the same data and dates end with identical audit trails."""
    with tempfile.TemporaryDirectory() as folder:
        trails = []
        for name in ("one.db", "two.db"):
            engine = make_engine(Path(folder), POLICY, name)
            load(engine, data)
            for as_of in run_dates(gaps):
                engine.run(as_of)
            trails.append(audit(engine))
            engine.close()
        assert trails[0] == trails[1]


@SETTINGS
@given(data=claims, gaps=run_gaps)
def test_no_claim_gets_a_measure_after_it_is_settled(data, gaps) -> None:
    """No measure is dated on or after the day of the payment that settled a claim."""
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(Path(folder), POLICY)
        load(engine, data)
        for as_of in run_dates(gaps):
            engine.run(as_of)
        conn = engine.store.conn
        late = conn.execute(
            "SELECT m.claim_id, m.as_of, c.settled_on FROM measures m "
            "JOIN claims c ON c.id = m.claim_id "
            "WHERE c.settled_on IS NOT NULL AND m.as_of >= c.settled_on"
        ).fetchall()
        assert late == []
        engine.close()


@given(
    values=st.dictionaries(st.text(), st.text()),
    names=st.lists(st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True)),
)
def test_audit_json_is_what_json_dumps_writes(values, names) -> None:
    """The fast encoding of audit values and measure names equals json.dumps."""
    import json

    from engine.runner import _json_names, _json_object

    assert _json_object(values) == json.dumps(values, sort_keys=True)
    assert _json_names(tuple(names)) == json.dumps(names)
