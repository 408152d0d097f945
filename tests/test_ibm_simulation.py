"""Simulations over IBM's real late-payment histories, checked against counts
computed straight from the CSV in plain Python, without the engine."""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import json
import sqlite3
from collections import Counter, defaultdict
from pathlib import Path

from click.testing import CliRunner

from engine.cli.main import cli

from .conftest import POLICIES

START, END = dt.date(2012, 1, 1), dt.date(2014, 1, 31)
IBM = "ibm-late-payment-histories/WA_Fn-UseC_-Accounts-Receivable.csv"


def read_invoices(shared: Path) -> list[dict[str, object]]:
    """The invoices of the CSV with parsed dates: id, customer, issued, due, settled."""

    def date(text: str) -> dt.date:
        return dt.datetime.strptime(text, "%m/%d/%Y").date()

    with (shared / IBM).open(newline="", encoding="utf-8") as handle:
        return [
            {
                "id": row["invoiceNumber"],
                "customer": row["customerID"],
                "issued": date(row["InvoiceDate"]),
                "due": date(row["DueDate"]),
                "settled": date(row["SettledDate"]),
            }
            for row in csv.DictReader(handle)
        ]


def weekdays() -> list[dt.date]:
    """Monday to Friday from START to END: the run days of a policy without calendar."""
    days = (START + dt.timedelta(days=n) for n in range((END - START).days + 1))
    return [d for d in days if d.weekday() < 5]


def first_run_on_or_after(day: dt.date, runs: list[dt.date]) -> dt.date | None:
    """The first run day on or after `day`, if the period has one."""
    return next((run for run in runs if run >= day), None)


def simulate(shared: Path, policy: str, db: Path) -> dict[str, str]:
    """Run `dunning simulate` on the IBM file; the total figures by metric."""
    result = CliRunner().invoke(
        cli,
        [
            "simulate",
            "--policy",
            str(POLICIES / policy),
            "--data",
            str(shared / IBM),
            "--mapping",
            "ibm-late-payment-histories",
            "--from",
            START.isoformat(),
            "--to",
            END.isoformat(),
            "--db",
            str(db),
            "--format",
            "json",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)["figures"]
    return {
        row["metric"]: row["value"] for row in figures if row["group"] == "(all groups)"
    }


def entered(db: Path) -> Counter[str]:
    """How many timed or event moves went into each state."""
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT to_state, count(*) FROM transitions "
        "WHERE trigger != 'allocation' GROUP BY to_state"
    ).fetchall()
    conn.close()
    return Counter(dict(rows))


def test_oca_3_time_policy_on_ibm_matches_an_independent_count(
    shared_data: Path,
    tmp_path: Path,
) -> None:
    """Levels at due+10, end of month of due+30, then +10 days, on weekday runs.

    A payment is applied before the run of its day, so an invoice gets a level
    only when it is settled after the run that would send it.
    """
    invoices = read_invoices(shared_data)
    runs = weekdays()
    counts: Counter[str] = Counter()
    for invoice in invoices:
        due, settled = invoice["due"], invoice["settled"]
        first = first_run_on_or_after(due + dt.timedelta(days=10), runs)
        if first is None or settled <= first:
            continue
        counts["first_reminder"] += 1
        month_day = due + dt.timedelta(days=30)
        month_end = month_day.replace(
            day=calendar.monthrange(month_day.year, month_day.month)[1]
        )
        second = first_run_on_or_after(month_end, runs)
        if second is None or settled <= second:
            continue
        counts["second_reminder"] += 1
        last = first_run_on_or_after(second + dt.timedelta(days=10), runs)
        if last is not None and settled > last:
            counts["last_reminder"] += 1

    totals = simulate(shared_data, "oca-3-time.dun", tmp_path / "oca.db")
    moves = entered(tmp_path / "oca.db")

    assert counts["first_reminder"] > 0 and counts["second_reminder"] > 0
    assert moves["first_reminder"] == counts["first_reminder"]
    assert moves["second_reminder"] == counts["second_reminder"]
    assert moves["last_reminder"] == counts["last_reminder"]
    assert moves["paid"] == len(invoices) == 2466
    assert int(totals["measures.email"]) == (
        counts["first_reminder"] + counts["second_reminder"]
    )
    assert int(totals.get("measures.letter", 0)) == counts["last_reminder"]


def level(days: int) -> str:
    """Kill Bill's shipped thresholds: OD1 from 30, OD2 from 40, OD3 from 50 days."""
    return (
        "od3"
        if days >= 50
        else "od2"
        if days >= 40
        else "od1"
        if days >= 30
        else "clear"
    )


def test_killbill_overdue_on_ibm_matches_an_independent_count(
    shared_data: Path,
    tmp_path: Path,
) -> None:
    """Each weekday every open invoice takes the level of its customer's oldest
    unpaid invoice (days since its invoice date); count the moves into each level.
    """
    invoices = read_invoices(shared_data)
    by_customer: dict[str, list[dict[str, object]]] = defaultdict(list)
    for invoice in invoices:
        by_customer[invoice["customer"]].append(invoice)

    counts: Counter[str] = Counter()
    state = {invoice["id"]: "clear" for invoice in invoices}
    for run in weekdays():
        for customer_invoices in by_customer.values():
            unpaid = [
                i
                for i in customer_invoices
                if i["issued"] <= run and i["settled"] > run
            ]
            if not unpaid:
                continue
            days = (run - min(i["issued"] for i in unpaid)).days
            for invoice in unpaid:
                now = level(days)
                if now != state[invoice["id"]]:
                    counts[now] += 1
                    state[invoice["id"]] = now

    simulate(shared_data, "killbill-overdue.dun", tmp_path / "kb.db")
    moves = entered(tmp_path / "kb.db")

    assert counts["od1"] > 0
    for name in ("od1", "od2", "od3", "clear"):
        assert moves[name] == counts[name], name
    assert moves["paid"] == 2466


def test_the_ibm_summary_matches_the_csv(shared_data: Path, tmp_path: Path) -> None:
    """Billed total, days late and collection period computed from the CSV.

    SOURCE.md gives the total 147,703.18 and mean DaysLate 3.44; the collection
    period is the amount-weighted mean of days from invoice to settlement.
    """
    with (shared_data / IBM).open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    billed = sum(float(r["InvoiceAmount"]) for r in rows)
    late = sum(int(r["DaysLate"]) for r in rows) / len(rows)
    weighted = sum(float(r["InvoiceAmount"]) * int(r["DaysToSettle"]) for r in rows)

    totals = simulate(shared_data, "oca-3-time.dun", tmp_path / "oca.db")

    assert totals["billed"] == "147703.18" == f"{billed:.2f}"
    assert totals["average_days_late"] == f"{late:.2f}" == "3.44"
    assert totals["collection_period_days"] == f"{weighted / billed:.1f}" == "26.7"
    assert totals["realization_ratio_percent"] == "100.00"
    assert totals["open_at_end"] == "0.00"
