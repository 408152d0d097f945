"""Call lists and call results: the phone measures of the outbox."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine import Customer, Engine, Payment
from engine.calls import CallError, call_rows, calls_on, render_calls
from engine.cli.main import cli

from .conftest import add_claim, day, eur, make_engine, run_days, steady_base_rates

COLLECTION = """\
policy "Collection" version "1"
  currency EUR

group key when customer.segment = "key"
group standard otherwise

measure call_key = phone queue "key-accounts"
measure call     = phone queue "receivables"
measure final    = letter "final" fee 5.00 EUR interest statutory
measure handover = agency "inkasso" cost 12 % of collected
measure decide   = task "Write off?" queue "receivables"

dunning key
  current -> called after 3 days overdue do call_key
  called -> final_notice after 10 days in state do final
  terminal final_notice

dunning standard
  current -> called after 5 days overdue do call
  called -> final_notice after 7 days in state do final
  final_notice -> agency after 14 days in state when claim.open_amount >= 250 EUR do handover
  final_notice -> decision after 14 days in state do decide
  on agency_returned from agency -> decision do decide
  terminal decision
"""

AT = dt.datetime(2025, 1, 10, 9, 30, tzinfo=dt.UTC)


def called(tmp_path: Path, last: str = "2025-01-10") -> Engine:
    """Four claims, each with a phone item after running up to `last`.

    A: K1 (phone known), 300.00 due 01-01, called on 01-06 (5 days overdue).
    B: K2, 100.00 due 01-03, called on 01-08. D: K4, 400.00 due 01-03, called
    on 01-08. C: K3, a key account, 500.00 due 01-05, called on 01-08 (3 days).
    """
    engine = make_engine(tmp_path, COLLECTION)
    engine.add_customers(
        [
            Customer("K1", "Alpha GmbH", attributes={"phone": "+49 211 5550"}),
            Customer("K3", "Key AG", segment="key"),
        ]
    )
    add_claim(engine, "A", "2025-01-01", "300.00", "K1")
    add_claim(engine, "B", "2025-01-03", "100.00", "K2")
    add_claim(engine, "C", "2025-01-05", "500.00", "K3")
    add_claim(engine, "D", "2025-01-03", "400.00", "K4")
    run_days(engine, "2025-01-01", last)
    return engine


def count(engine: Engine, table: str) -> int:
    """The number of rows in a table."""
    return int(engine.store.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_call_list_content_and_order(tmp_path: Path) -> None:
    """The list has one line per phone item: most days overdue, then largest."""
    engine = called(tmp_path)

    items = engine.calls(day("2025-01-10"))

    # On 01-10: A is 9 days overdue, B and D 7 days (D's 400.00 before B's
    # 100.00), C 5 days.
    assert [(i.claim_id, i.days_overdue) for i in items] == [
        ("A", 9),
        ("D", 7),
        ("B", 7),
        ("C", 5),
    ]
    first = items[0]
    assert (first.customer_id, first.customer_name, first.phone) == (
        "K1",
        "Alpha GmbH",
        "+49 211 5550",
    )
    assert (first.queue, first.state, first.measure, first.attempts) == (
        "receivables",
        "called",
        "call",
        0,
    )
    assert str(first.open_amount) == "300.00 EUR"
    assert first.reason == (
        "current -> called after 5 days overdue do call: after 5 days overdue: "
        "fell due on 2025-01-06 (due 2025-01-01, 5 days overdue)"
    )
    assert items[1].phone is None


def test_call_list_by_queue(tmp_path: Path) -> None:
    """--queue keeps only that queue's calls."""
    engine = called(tmp_path)

    items = engine.calls(day("2025-01-10"), queue="key-accounts")

    assert [i.claim_id for i in items] == ["C"]


def test_call_list_shows_fees_and_interest(tmp_path: Path) -> None:
    """A call still open after the final notice shows its fees and interest."""
    engine = called(tmp_path, last="2025-01-14")

    items = {i.claim_id: i for i in engine.calls(day("2025-01-14"))}

    # A got the final notice on 01-13 (7 days in `called`): its fee 5.00 and
    # the flat fee of 40.00 owed by a business debtor = 45.00. Statutory
    # interest: base rate 2.27 % + 9 points = 11.27 % on 300.00 from 01-02 to
    # 01-14, 13 days: 300.00 x 11.27 % x 13/365 = 1.2042 -> 1.20.
    assert (str(items["A"].fees), str(items["A"].interest)) == (
        "45.00 EUR",
        "1.20 EUR",
    )
    # C (key account) is still in `called`: nothing charged yet.
    assert (items["C"].fees.amount, items["C"].interest.amount) == (0, 0)


def test_csv_and_json_parse_back_to_the_rows(tmp_path: Path) -> None:
    """The CSV and JSON forms read back to the same rows."""
    engine = called(tmp_path)
    items = engine.calls(day("2025-01-10"))
    rows = call_rows(items)

    from_json = json.loads(render_calls(items, "json"))
    from_csv = list(csv.DictReader(io.StringIO(render_calls(items, "csv"))))

    assert from_json == rows
    as_text = [{k: "" if v is None else str(v) for k, v in row.items()} for row in rows]
    assert from_csv == as_text
    assert [row["claim_id"] for row in from_csv] == ["A", "D", "B", "C"]


def test_reached_closes_the_call(tmp_path: Path) -> None:
    """`reached` marks the item done and takes it off the list."""
    engine = called(tmp_path)

    result = engine.record_call("A", "reached", on=day("2025-01-10"), by="anna")

    assert (result.status, result.attempts, result.event_id) == ("done", 1, None)
    item = engine.store.conn.execute(
        "SELECT status, attempts FROM measures WHERE id = ?", (result.item_id,)
    ).fetchone()
    assert item == ("done", 1)
    delivery = engine.store.conn.execute(
        "SELECT channel, status, detail FROM deliveries WHERE measure_id = ?",
        (result.item_id,),
    ).fetchall()
    assert delivery == [("phone", "done", "reached by anna on 2025-01-10")]
    assert "A" not in [i.claim_id for i in engine.calls(day("2025-01-10"))]


def test_no_answer_keeps_the_call_with_one_more_attempt(tmp_path: Path) -> None:
    """`no-answer` marks the item failed; it stays listed, attempts counted."""
    engine = called(tmp_path)

    engine.record_call("A", "no-answer", on=day("2025-01-10"), note="voicemail")
    engine.record_call("A", "no-answer", on=day("2025-01-11"))

    first = engine.calls(day("2025-01-11"))[0]
    assert (first.claim_id, first.status, first.attempts) == ("A", "failed", 2)
    assert first.last_note == "no-answer by staff on 2025-01-11"
    assert count(engine, "deliveries") == 2


def test_promise_closes_the_call_and_records_the_event(tmp_path: Path) -> None:
    """`promise` marks the item done and adds a `promise_given` event."""
    engine = called(tmp_path)

    result = engine.record_call(
        "A",
        "promise",
        on=day("2025-01-10"),
        until=day("2025-01-20"),
        amount="150.00",
        note="pays half first",
        by="anna",
    )

    assert (result.status, result.event_id) == ("done", f"call-{result.item_id}")
    event = engine.store.conn.execute(
        "SELECT claim_id, kind, happened_on, until, amount, reason, actor "
        "FROM events WHERE id = ?",
        (result.event_id,),
    ).fetchone()
    assert event == (
        "A",
        "promise_given",
        "2025-01-10",
        "2025-01-20",
        "150.00",
        "pays half first",
        "anna",
    )


@pytest.mark.parametrize(
    ("claim", "outcome", "options", "message"),
    [
        ("X", "reached", {}, "there is no claim `X`"),
        (
            "A",
            "promise",
            {},
            "a promise needs the day the customer promised to pay by (--until DATE)",
        ),
        (
            "A",
            "promise",
            {"until": day("2025-01-09")},
            "--until 2025-01-09 is before the day of the call (2025-01-10); a "
            "promise runs until that day or a later one",
        ),
        (
            "A",
            "promise",
            {"until": day("2025-01-20"), "amount": "0"},
            "--amount `0` is not more than zero; a promised amount must be positive",
        ),
        (
            "A",
            "promise",
            {"until": day("2025-01-20"), "amount": "300.01"},
            "--amount `300.01` is more than the open amount of the claim (300.00 "
            "EUR); a customer can promise at most what is open",
        ),
        (
            "A",
            "promise",
            {"until": day("2025-01-20"), "amount": "10.005"},
            "--amount `10.005` has more decimal places than EUR allows (2)",
        ),
        (
            "A",
            "promise",
            {"until": day("2025-01-20"), "amount": "ten"},
            "--amount `ten` is not an amount (expected digits with `.` as decimal "
            "separator, like 150.00)",
        ),
        (
            "A",
            "reached",
            {"until": day("2025-01-20")},
            "--until and --amount belong to a promise; give them only with "
            "--outcome promise",
        ),
    ],
)
def test_bad_call_results_are_refused(
    tmp_path: Path,
    claim: str,
    outcome: str,
    options: dict[str, object],
    message: str,
) -> None:
    """Each bad call result gets its message and writes nothing."""
    engine = called(tmp_path)

    with pytest.raises(CallError) as error:
        engine.record_call(claim, outcome, on=day("2025-01-10"), **options)  # type: ignore[arg-type]

    assert str(error.value) == message
    assert count(engine, "deliveries") == 0
    assert count(engine, "events") == 0


def test_claim_without_open_call_is_refused(tmp_path: Path) -> None:
    """A claim whose phone item is done has no call to record on."""
    engine = called(tmp_path)
    engine.record_call("A", "reached", on=day("2025-01-10"))

    with pytest.raises(CallError) as error:
        engine.record_call("A", "reached", on=day("2025-01-10"))

    assert str(error.value) == (
        "claim `A` has no open phone call in the outbox (none pending or failed); "
        "there is nothing to record the call on"
    )
    assert count(engine, "deliveries") == 1


def invoke(*args: str) -> tuple[int, str]:
    """Run the command line; exit code and everything printed."""
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_cli_calls_and_call_result(tmp_path: Path) -> None:
    """`calls` lists the queue as CSV; `call-result` records and reports."""
    called(tmp_path).close()
    db = str(tmp_path / "test.db")

    code, out = invoke(
        "calls", "--queue", "key-accounts", "--format", "csv", "--on", "2025-01-10",
        "--db", db,
    )  # fmt: skip
    assert code == 0
    assert out == (
        "item_id,queue,claim_id,customer_id,customer_name,phone,state,measure,"
        "days_overdue,currency,open_amount,fees,interest,attempts,last_note,reason\n"
        "3,key-accounts,C,K3,Key AG,,called,call_key,5,EUR,500.00,0.00,0.00,0,,"
        '"current -> called after 3 days overdue do call_key: after 3 days overdue: '
        'fell due on 2025-01-08 (due 2025-01-05, 3 days overdue)"\n'
    )

    code, out = invoke(
        "call-result", "C", "--outcome", "promise", "--until", "2025-01-31",
        "--on", "2025-01-10", "--by", "anna", "--db", db,
    )  # fmt: skip
    assert code == 0
    assert out == (
        "claim C: promise; phone item 3 is done after 1 attempt\n"
        "promise recorded as event call-3 (until 2025-01-31); the next run "
        "applies it\n"
    )


def test_cli_call_result_error(tmp_path: Path) -> None:
    """A bad call result exits 1 with its message."""
    called(tmp_path).close()
    db = str(tmp_path / "test.db")

    code, out = invoke(
        "call-result", "A", "--outcome", "promise", "--on", "2025-01-10", "--db", db
    )

    assert code == 1
    assert out == (
        "Error: a promise needs the day the customer promised to pay by "
        "(--until DATE)\n"
    )


def test_cli_calls_to_a_file(tmp_path: Path) -> None:
    """--output writes the list to a file and says how many calls it holds."""
    called(tmp_path).close()
    target = tmp_path / "calls.json"

    code, out = invoke(
        "calls", "--format", "json", "--output", str(target), "--on", "2025-01-10",
        "--db", str(tmp_path / "test.db"),
    )  # fmt: skip

    assert code == 0
    assert out == f"4 calls written to {target}\n"
    assert [row["claim_id"] for row in json.loads(target.read_text())] == [
        "A",
        "D",
        "B",
        "C",
    ]


def test_a_held_claim_is_left_off_the_call_list(tmp_path: Path) -> None:
    """K1 held from 01-10: A's call is left off the list and the CLI says why."""
    from engine.holds import set_hold

    engine = called(tmp_path)
    with engine.store.transaction() as conn:
        set_hold(
            conn,
            customer_id="K1",
            reason="insolvency check",
            by="anna",
            starts=day("2025-01-10"),
        )
    engine.close()

    result = CliRunner().invoke(
        cli,
        ["calls", "--db", str(tmp_path / "test.db"), "--on", "2025-01-10"],
    )

    assert result.exit_code == 0
    assert "\nA " not in result.output
    assert result.output.endswith(
        "1 call held back: claim or customer on hold (hold 1 by anna: "
        "insolvency check)\n"
    )


def test_a_call_before_it_was_queued_is_refused(tmp_path: Path) -> None:
    """A was queued by the run of 01-06: a call on 01-05 is an error, nothing written."""
    engine = called(tmp_path)

    with pytest.raises(CallError) as error:
        engine.record_call("A", "no-answer", on=day("2025-01-05"))

    assert str(error.value) == (
        "the call on 2025-01-05 is before 2025-01-06, the day the run queued "
        "phone item 1 of claim `A`; give --on 2025-01-06 or a later day"
    )
    assert count(engine, "deliveries") == 0


def test_a_call_on_a_held_claim_is_still_recorded(tmp_path: Path) -> None:
    """A call may have happened before the hold: its result is recorded."""
    from engine.holds import set_hold

    engine = called(tmp_path)
    with engine.store.transaction() as conn:
        set_hold(
            conn, claim_id="A", reason="dispute", by="anna", starts=day("2025-01-08")
        )

    result = engine.record_call("A", "reached", on=day("2025-01-10"))

    assert (result.status, result.attempts) == ("done", 1)


def test_call_list_past_the_base_rates_shows_interest_as_unknown(
    tmp_path: Path,
) -> None:
    """On 2027-02-01 (past the bundled base rates) A's interest is unknown:
    `?` in the table, null in JSON, empty in CSV, and one warning; no traceback."""
    engine = called(tmp_path, last="2025-01-14")
    engine.close()
    db = str(tmp_path / "test.db")

    result = CliRunner().invoke(cli, ["calls", "--on", "2027-02-01", "--db", db])

    assert result.exit_code == 0
    assert result.stderr == (
        "warning: interest cannot be computed: base_rates.csv has base rates only "
        "up to 2026-12-31; add the rate of the half-year starting 2027-01-01 to "
        "compute interest for 2027-02-01; update the base rate table (see "
        "docs/interest.md, `dunning run --base-rates FILE`)\n"
    )
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    # A (due 2025-01-01) is 761 days overdue on 2027-02-01 (365 + 365 + 31);
    # it owes the final letter's fee 5.00 and the flat fee 40.00 = 45.00, its
    # interest unknown. C (due 01-05, 757 days) has no interest terms: 0.00.
    assert re.search(r" 761 +300\.00 EUR +45\.00 +\? +0 ", lines["A"])
    assert re.search(r" 757 +500\.00 EUR +0\.00 +0\.00 +0 ", lines["C"])

    as_json = CliRunner().invoke(
        cli, ["calls", "--on", "2027-02-01", "--format", "json", "--db", db]
    )
    by_claim = {row["claim_id"]: row for row in json.loads(as_json.stdout)}
    assert (by_claim["A"]["fees"], by_claim["A"]["interest"]) == ("45.00", None)
    as_csv = CliRunner().invoke(
        cli, ["calls", "--on", "2027-02-01", "--format", "csv", "--db", db]
    )
    by_claim = {
        row["claim_id"]: row for row in csv.DictReader(io.StringIO(as_csv.stdout))
    }
    assert by_claim["A"]["interest"] == ""


def test_call_list_takes_a_base_rate_table(tmp_path: Path) -> None:
    """With a table of the user's reaching 2027, A's interest on 2027-02-01 is known."""
    engine = called(tmp_path, last="2025-01-14")
    engine.close()
    rates = steady_base_rates(tmp_path / "rates.csv", "3.00", 2024, 2027)

    result = CliRunner().invoke(
        cli,
        [
            "calls",
            "--on",
            "2027-02-01",
            "--format",
            "json",
            "--base-rates",
            str(rates),
            "--db",
            str(tmp_path / "test.db"),
        ],
    )

    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    by_claim = {row["claim_id"]: row for row in json.loads(result.stdout)}
    # A (business, 300.00 due 2025-01-01): 3.00 + 9 = 12.00 % from 2025-01-02
    # to 2027-02-01; the rate never changes, so the parts are the calendar
    # years (docs/interest.md): 364 days 35.90, 365 days 36.00 and 32 days
    # 3.16 = 75.06 (300.00 x 12 % x days / 365 each, rounded).
    assert (by_claim["A"]["fees"], by_claim["A"]["interest"]) == ("45.00", "75.06")


def test_call_list_asks_for_the_overdue_part_of_a_payment_plan(
    tmp_path: Path,
) -> None:
    """A claim under a payment plan is listed with its overdue instalments only."""
    engine = make_engine(tmp_path, COLLECTION)
    add_claim(engine, "P", "2025-01-01", "900.00", "K1")
    engine.add_plan(
        "P",
        [
            (day("2025-01-02"), "300.00"),
            (day("2025-02-02"), "300.00"),
            (day("2025-03-02"), "300.00"),
        ],
    )
    run_days(engine, "2025-01-01", "2025-01-08")

    (item,) = engine.calls(day("2025-01-08"))

    # The plan's due date is instalment 1's, 01-02: called 5 days later, on
    # 01-07; on 01-08 only instalment 1 (300.00) is overdue, not all 900.00.
    # Days overdue count from the invoice's due date, 01-01: 7.
    assert (item.claim_id, item.days_overdue) == ("P", 7)
    assert str(item.open_amount) == "300.00 EUR"
    assert item.plan_overdue


def test_calls_hold_back_a_claim_paid_since_the_run(tmp_path: Path) -> None:
    """A payment recorded after the run takes A off the list until a run applies it."""
    engine = called(tmp_path)
    engine.add_payments([Payment("P1", "A", eur("300.00"), day("2025-01-09"))])

    result = calls_on(engine.store.conn, day("2025-01-10"))

    assert [i.claim_id for i in result.items] == ["D", "B", "C"]
    assert [group.describe() for group in result.held_back] == [
        "1 item held back: payments or events recorded since the last run "
        "(run again first)"
    ]


def test_why_takes_a_base_rate_table(tmp_path: Path) -> None:
    """`why --base-rates` gives the interest accrued on a day past the bundled table."""
    engine = called(tmp_path, last="2025-01-14")
    engine.close()
    (tmp_path / "c.dun").write_text(COLLECTION, encoding="utf-8")
    rates = steady_base_rates(tmp_path / "rates.csv", "3.00", 2024, 2027)
    arguments = ["why", "A", "--as-of", "2027-02-01", "--policy"]
    arguments += [str(tmp_path / "c.dun"), "--db", str(tmp_path / "test.db")]

    result = CliRunner().invoke(cli, [*arguments, "--base-rates", str(rates)])

    assert result.exit_code == 0, result.output
    # As in the call list: 35.90 + 36.00 + 3.16 = 75.06 (12.00 % on 300.00,
    # parts at each 1 January).
    assert "interest runs since 2025-01-02: 75.06 EUR so far" in result.output
