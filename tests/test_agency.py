"""Handing claims to a collection agency, and importing the agency's report."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine import Customer, Engine, Payment
from engine.agency import HANDOVER_COLUMNS
from engine.cli.main import cli
from engine.importer import ImportFailed

from .conftest import add_claim, day, eur, make_engine, run_days, steady_base_rates
from .test_calls import COLLECTION, count

# Both claims are due 2025-01-01: `called` on 01-06 (5 days overdue),
# `final_notice` on 01-13 (7 days in state), `agency` on 01-27 (14 days in
# state, open amount >= 250 EUR). B (100.00) goes to `decision` instead.
HISTORY = (
    "2025-01-01 (new) -> current; 2025-01-06 current -> called; "
    "2025-01-13 called -> final_notice; 2025-01-27 final_notice -> agency"
)
# Fees: the final letter's 5.00 and the flat fee of 40.00 a business debtor owes
# once statutory interest is on = 45.00. Interest: base rate 2.27 % + 9 points
# = 11.27 % a year from 01-02 to 01-27, 26 days:
# A: 300.00 x 11.27 % x 26/365 = 2.4084 -> 2.41
# E: 600.00 x 11.27 % x 26/365 = 4.8168 -> 4.82
ROW_A = {
    "claim_id": "A",
    "customer_id": "K1",
    "customer_name": "Alpha GmbH",
    "address": "Königsallee 1, 40212 Düsseldorf",
    "email": "ap@alpha.example",
    "phone": "+49 211 5550",
    "currency": "EUR",
    "original_amount": "300.00",
    "open_principal": "300.00",
    "fees": "45.00",
    "interest": "2.41",
    "due_date": "2025-01-01",
    "days_overdue": "26",
    "history": HISTORY,
}
ROW_E = {
    **ROW_A,
    "claim_id": "E",
    "customer_id": "K5",
    "customer_name": "Customer K5",
    "address": "",
    "email": "",
    "phone": "",
    "original_amount": "600.00",
    "open_principal": "600.00",
    "interest": "4.82",
}
AT = dt.datetime(2025, 1, 27, 18, 0, tzinfo=dt.UTC)


def handed(tmp_path: Path) -> Engine:
    """Claims A (300.00) and E (600.00) in `agency` on 2025-01-27, B in `decision`."""
    engine = make_engine(tmp_path, COLLECTION)
    engine.add_customers(
        [
            Customer(
                "K1",
                "Alpha GmbH",
                email="ap@alpha.example",
                address="Königsallee 1, 40212 Düsseldorf",
                attributes={"phone": "+49 211 5550"},
            )
        ]
    )
    add_claim(engine, "A", "2025-01-01", "300.00", "K1")
    add_claim(engine, "E", "2025-01-01", "600.00", "K5")
    add_claim(engine, "B", "2025-01-01", "100.00", "K2")
    run_days(engine, "2025-01-01", "2025-01-27")
    return engine


def exported(tmp_path: Path, form: str = "csv") -> tuple[Engine, Path]:
    """`handed`, then exported on 2025-01-27 into tmp_path/out."""
    engine = handed(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    engine.export_handover(day("2025-01-27"), out_dir=out, form=form)
    return engine, out


def test_handover_csv_file(tmp_path: Path) -> None:
    """The CSV file holds both claims with amounts as of the handover day."""
    engine = handed(tmp_path)
    out = tmp_path / "out"
    out.mkdir()

    results = engine.export_handover(day("2025-01-27"), out_dir=out)

    path = out / "handover-inkasso-2025-01-27.csv"
    assert [(r.agency, r.files, r.claims) for r in results] == [
        ("inkasso", (str(path),), ("A", "E"))
    ]
    with path.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == list(HANDOVER_COLUMNS)
    assert rows == [ROW_A, ROW_E]


def test_handover_json_file(tmp_path: Path) -> None:
    """--format both writes a JSON file with the same claims as the CSV file."""
    engine, out = exported(tmp_path, "both")

    content = json.loads((out / "handover-inkasso-2025-01-27.json").read_text())

    assert content["agency"] == "inkasso"
    assert content["handed_over_on"] == "2025-01-27"
    expected = [
        {**row, "days_overdue": 26, "address": row["address"] or None}
        for row in (ROW_A, ROW_E)
    ]
    for row in expected:
        row["email"] = row["email"] or None
        row["phone"] = row["phone"] or None
    assert content["claims"] == expected
    assert (out / "handover-inkasso-2025-01-27.csv").is_file()


def test_handover_is_recorded(tmp_path: Path) -> None:
    """Items are sent with the file, handovers rows and claims.agency are set."""
    engine, out = exported(tmp_path)
    conn = engine.store.conn
    path = str(out / "handover-inkasso-2025-01-27.csv")

    items = conn.execute(
        "SELECT claim_id, status, document FROM measures WHERE kind = 'agency' "
        "ORDER BY claim_id"
    ).fetchall()
    assert items == [("A", "sent", path), ("E", "sent", path)]
    handovers = conn.execute(
        "SELECT agency, claim_id, handed_over_on, file, principal, fees, interest, "
        "currency FROM handovers ORDER BY claim_id"
    ).fetchall()
    assert handovers == [
        ("inkasso", "A", "2025-01-27", path, "300.00", "45.00", "2.41", "EUR"),
        ("inkasso", "E", "2025-01-27", path, "600.00", "45.00", "4.82", "EUR"),
    ]
    agencies = conn.execute("SELECT id, agency FROM claims ORDER BY id").fetchall()
    assert agencies == [("A", "inkasso"), ("B", None), ("E", "inkasso")]


def test_handover_shows_in_history_and_why(tmp_path: Path) -> None:
    """`history` has the handover with its amounts and file; `why` names it."""
    engine, out = exported(tmp_path)

    entries = [e for e in engine.history("A") if e.kind == "handover"]
    explanation = engine.why("A", day("2025-01-28"))

    assert [(e.on, e.text, e.details) for e in entries] == [
        (
            "2025-01-27",
            "handed over to inkasso: principal 300.00, fees 45.00, interest 2.41 EUR",
            (f"file: {out / 'handover-inkasso-2025-01-27.csv'}",),
        )
    ]
    assert explanation.agency == "inkasso since 2025-01-27"


def test_exporting_again_hands_over_nothing(tmp_path: Path) -> None:
    """A second export writes no file and adds no handover."""
    engine, out = exported(tmp_path)

    again = engine.export_handover(day("2025-01-28"), out_dir=out)

    assert [(r.files, r.claims) for r in again] == []
    assert sorted(p.name for p in out.iterdir()) == ["handover-inkasso-2025-01-27.csv"]
    assert count(engine, "handovers") == 2
    assert count(engine, "deliveries") == 2


def write_report(tmp_path: Path, name: str, *rows: str) -> str:
    """An agency report with the given rows under the standard header."""
    path = tmp_path / name
    path.write_text(
        "claim_id,date,status,collected_amount,note\n" + "".join(r + "\n" for r in rows)
    )
    return str(path)


def test_report_payments_and_returns(tmp_path: Path) -> None:
    """Collections become payments the next run applies; a return moves E."""
    engine, _ = exported(tmp_path)
    report = write_report(
        tmp_path,
        "report.csv",
        "A,2025-02-10,collected,100.00,first instalment",
        "E,2025-02-12,returned,,debtor insolvent",
    )

    result = engine.import_agency_report(report, "inkasso")
    moves = run_days(engine, "2025-02-10", "2025-02-12")

    assert (result.payments, result.returned, result.known) == (1, 1, 0)
    # A: 300.00 - 100.00 = 200.00 open, still with the agency (no move).
    claim_a = engine.store.conn.execute(
        "SELECT state, open_amount FROM claims WHERE id = 'A'"
    ).fetchone()
    assert claim_a == ("agency", "200.00")
    # E: `on agency_returned from agency -> decision do decide`.
    assert moves[day("2025-02-12")] == ["E:agency->decision"]
    event = engine.store.conn.execute(
        "SELECT kind, happened_on, reason, actor FROM events WHERE claim_id = 'E'"
    ).fetchone()
    assert event == (
        "agency_returned",
        "2025-02-12",
        "inkasso: debtor insolvent",
        "agency inkasso",
    )
    handover = engine.store.conn.execute(
        "SELECT returned_on, outcome FROM handovers WHERE claim_id = 'E'"
    ).fetchone()
    assert handover == ("2025-02-12", "returned: debtor insolvent")
    assert [m.measure for m in engine.measures("E")][-1] == "decide"


def test_report_settles_a_claim(tmp_path: Path) -> None:
    """A collection of the whole open amount settles the claim on the next run."""
    engine, _ = exported(tmp_path)
    report = write_report(tmp_path, "r.csv", "A,2025-02-10,collected,300.00,")

    engine.import_agency_report(report, "inkasso")
    moves = run_days(engine, "2025-02-10", "2025-02-10")

    assert moves[day("2025-02-10")] == ["A:agency->paid"]


def test_reimporting_a_report_adds_nothing(tmp_path: Path) -> None:
    """The same report again is recognised row by row."""
    engine, _ = exported(tmp_path)
    report = write_report(
        tmp_path,
        "report.csv",
        "A,2025-02-10,collected,50.00,",
        "A,2025-02-10,collected,50.00,",
        "E,2025-02-12,returned,,",
    )
    engine.import_agency_report(report, "inkasso")

    again = engine.import_agency_report(report, "inkasso")

    # Two equal rows are two payments; all three rows are known the second time.
    assert (again.payments, again.returned, again.known) == (0, 0, 3)
    assert count(engine, "payments") == 2
    assert count(engine, "events") == 1


def test_a_bad_row_rejects_the_whole_report(tmp_path: Path) -> None:
    """Every bad row is named with file, row and column; nothing is written."""
    engine, _ = exported(tmp_path)
    report = write_report(
        tmp_path,
        "bad.csv",
        "A,2025-02-10,collected,100.00,",
        "X,2025-02-10,collected,1.00,",
        "B,2025-02-10,collected,1.00,",
        "A,2025-02-30,collected,1.005,",
        "E,2025-01-20,colected,,",
        "E,2025-02-10,collected,700.00,",
    )

    with pytest.raises(ImportFailed) as error:
        engine.import_agency_report(report, "inkasso")

    assert [str(p) for p in error.value.problems] == [
        f"{report}:3: column `claim_id`: `X` is not a known claim",
        f"{report}:4: column `claim_id`: claim `B` was not handed over to inkasso",
        f"{report}:5: column `date`: `2025-02-30` is not a date (expected "
        "YYYY-MM-DD like 2013-01-31)",
        f"{report}:5: column `collected_amount`: `1.005` has more decimal places "
        "than EUR allows (2)",
        f"{report}:6: column `date`: `2025-01-20` is before the handover of claim "
        "`E` on 2025-01-27",
        f"{report}:6: column `status`: `colected` is not a status (expected "
        "`collected` or `returned`); did you mean `collected`?",
        # E was handed over with 600.00 + 45.00 + 4.82 = 649.82.
        f"{report}:7: column `collected_amount`: the amounts inkasso collected on "
        "claim `E` come to 700.00 EUR with this row, more than the 649.82 EUR "
        "handed over (principal, fees and interest)",
    ]
    assert count(engine, "payments") == 0
    assert count(engine, "events") == 0


def invoke(*args: str) -> tuple[int, str]:
    """Run the command line; exit code and everything printed."""
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_cli_export_and_import(tmp_path: Path) -> None:
    """`agency export` names its file; `agency import` counts what it recorded."""
    handed(tmp_path).close()
    db = str(tmp_path / "test.db")
    out = tmp_path / "out"
    out.mkdir()

    code, text = invoke(
        "agency", "export", "--out", str(out), "--on", "2025-01-27", "--db", db
    )
    assert code == 0
    assert text == (
        f"inkasso: 2 claims handed over in {out / 'handover-inkasso-2025-01-27.csv'}\n"
    )

    code, text = invoke(
        "agency", "export", "--out", str(out), "--on", "2025-01-28", "--db", db
    )
    assert (code, text) == (0, "nothing to hand over\n")

    report = write_report(tmp_path, "r.csv", "A,2025-02-10,collected,100.00,")
    code, text = invoke("agency", "import", report, "--agency", "inkasso", "--db", db)
    assert code == 0
    assert (
        text
        == f"{report}: 1 payment recorded, 0 claims returned, 0 rows already imported\n"
    )


def test_cli_import_refused(tmp_path: Path) -> None:
    """A report of another agency's claims is refused with exit code 1."""
    engine, _ = exported(tmp_path)
    engine.close()
    report = write_report(tmp_path, "r.csv", "A,2025-02-10,collected,100.00,")

    code, text = invoke(
        "agency", "import", report, "--agency", "other", "--db",
        str(tmp_path / "test.db"),
    )  # fmt: skip

    assert code == 1
    assert text == (
        f"{report}:2: column `claim_id`: claim `A` was not handed over to other "
        "(it was handed to inkasso)\n"
        f"{report}: nothing imported (1 problem)\n"
    )


def test_export_leaves_held_and_later_items_alone(tmp_path: Path) -> None:
    """K1 held from 01-27: A stays pending; an export dated before the run of
    01-27 hands nothing over; E goes out on 01-27."""
    from engine.holds import set_hold

    engine = handed(tmp_path)
    with engine.store.transaction() as conn:
        set_hold(
            conn,
            customer_id="K1",
            reason="insolvency check",
            by="anna",
            starts=day("2025-01-27"),
        )
    out = tmp_path / "out"
    out.mkdir()

    (early,) = engine.export_handover(day("2025-01-20"), out_dir=out)
    assert (early.files, early.claims) == ((), ())
    assert [group.describe() for group in early.held_back] == [
        "2 items held back: queued by the run of 2025-01-27, after 2025-01-20 "
        "(carried out on 2025-01-27 or later)"
    ]
    (result,) = engine.export_handover(day("2025-01-27"), out_dir=out)

    assert result.claims == ("E",)
    assert [group.describe() for group in result.held_back] == [
        "1 item held back: claim or customer on hold (hold 1 by anna: insolvency check)"
    ]
    rows = list(csv.DictReader(io.StringIO(Path(result.files[0]).read_text())))
    assert [row["claim_id"] for row in rows] == ["E"]
    pending = engine.store.conn.execute(
        "SELECT claim_id, status, attempts FROM measures WHERE kind = 'agency'"
    ).fetchall()
    assert sorted(pending) == [("A", "pending", 0), ("E", "sent", 1)]


def test_export_creates_the_folder_and_refuses_a_file(tmp_path: Path) -> None:
    """--out names a folder that does not exist yet: it is created with its
    parents, as `send` does; a path that is a file is refused."""
    handed(tmp_path).close()
    db = str(tmp_path / "test.db")
    plain = tmp_path / "plain.txt"
    plain.write_text("not a folder")

    refused = invoke("agency", "export", "--out", str(plain), "--on", "2025-01-27",
                     "--db", db)  # fmt: skip
    out = tmp_path / "handover" / "2025"
    code, text = invoke(
        "agency", "export", "--out", str(out), "--on", "2025-01-27", "--db", db
    )

    # The command line refuses a file as a usage error (exit 2), the API too.
    assert refused[0] == 2 and f"'{plain}' is a file" in refused[1]
    engine = make_engine(tmp_path, COLLECTION)
    with pytest.raises(ImportFailed) as caught:
        engine.export_handover(day("2025-01-27"), out_dir=plain)
    assert str(caught.value) == (
        f"{plain}: is a file, not a folder; give a folder with --out"
    )
    assert code == 0
    target = out / "handover-inkasso-2025-01-27.csv"
    assert text == f"inkasso: 2 claims handed over in {target}\n"
    assert target.is_file()


def test_export_past_the_base_rates_is_refused_before_writing(
    tmp_path: Path,
) -> None:
    """On 2027-02-01 the interest cannot be computed: exit 1, no file, nothing
    recorded, the items stay pending."""
    handed(tmp_path).close()
    db = str(tmp_path / "test.db")
    out = tmp_path / "out"

    code, text = invoke(
        "agency", "export", "--out", str(out), "--on", "2027-02-01", "--db", db
    )

    assert code == 1
    assert text == (
        "Error: nothing was handed over: interest cannot be computed: "
        "base_rates.csv has base rates only up to 2026-12-31; add the rate of the "
        "half-year starting 2027-01-01 to compute interest for 2027-02-01; update "
        "the base rate table (see docs/interest.md, `dunning run --base-rates "
        "FILE`)\n"
    )
    assert not out.exists()
    engine = make_engine(tmp_path, COLLECTION)
    assert count(engine, "handovers") == 0
    pending = engine.store.conn.execute(
        "SELECT status FROM measures WHERE kind = 'agency'"
    ).fetchall()
    assert pending == [("pending",), ("pending",)]


def test_export_holds_back_a_claim_paid_since_the_run(tmp_path: Path) -> None:
    """A payment to A recorded after the run: A waits for the next run, E goes."""
    engine = handed(tmp_path)
    engine.add_payments([Payment("P1", "A", eur("300.00"), day("2025-01-27"))])
    out = tmp_path / "out"

    (result,) = engine.export_handover(day("2025-01-27"), out_dir=out)

    assert result.claims == ("E",)
    assert [group.describe() for group in result.held_back] == [
        "1 item held back: payments or events recorded since the last run "
        "(run again first)"
    ]


def test_export_takes_a_base_rate_table(tmp_path: Path) -> None:
    """On 2027-02-01 with a table of the user's, the interest is worked out."""
    handed(tmp_path).close()
    db = str(tmp_path / "test.db")
    out = tmp_path / "out"
    rates = steady_base_rates(tmp_path / "rates.csv", "3.00", 2024, 2027)

    code, text = invoke(
        "agency", "export", "--out", str(out), "--on", "2027-02-01",
        "--base-rates", str(rates), "--db", db,
    )  # fmt: skip

    assert code == 0, text
    with (out / "handover-inkasso-2027-02-01.csv").open(encoding="utf-8") as file:
        rows = {row["claim_id"]: row for row in csv.DictReader(file)}
    # 3.00 + 9 = 12.00 % from 2025-01-02 to 2027-02-01; the rate never
    # changes, so the parts are the calendar years (docs/interest.md): 364,
    # 365 and 32 days, each amount x 12 % x days / 365 rounded:
    # A, 300.00: 35.90 + 36.00 + 3.16 = 75.06;
    # E, 600.00: 71.80 + 72.00 + 6.31 = 150.11.
    assert (rows["A"]["interest"], rows["E"]["interest"]) == ("75.06", "150.11")
