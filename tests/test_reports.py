"""Simulation figures on a tiny book of claims, every figure worked out by hand."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from engine import Claim, Customer, Engine, Money, Payment
from engine.cli.main import cli
from engine.explain import explain, render_explanation
from engine.reports import TOTAL, build_report, render_text
from engine.simulate import simulate
from engine.store import Store

from .conftest import add_claim, add_payment, day, eur, make_engine

POLICY = """\
policy "Interest" version "1"
  currency EUR

group everyone otherwise

measure reminder = letter "reminder" cost 0.80 EUR
measure final = letter "final" fee 5.00 EUR interest {interest}

dunning everyone
  terminal closed
  current -> reminded after 5 days overdue do reminder
  reminded -> final_notice after 10 days overdue do final
  final_notice -> closed after 90 days in state
"""


def book(tmp_path: Path, interest: str):
    """A (1,000.00, due 01-31, paid Sunday 03-02) and B (200.00, due 02-28, unpaid)."""
    engine = make_engine(tmp_path, POLICY.format(interest=interest))
    engine.add_customers([Customer("K1", "Muster GmbH", kind="business")])
    add_claim(engine, "A", due="2025-01-31", amount="1000.00", issued="2025-01-01")
    add_claim(engine, "B", due="2025-02-28", amount="200.00", issued="2025-01-29")
    add_payment(engine, "P1", "A", "1000.00", "2025-03-02")
    return engine


def test_fixed_interest_fees_cost_and_collection_figures(tmp_path: Path) -> None:
    """Fixed 8 %: A 30 days (02-01..03-02) 6.58, B 31 days (03-01..03-31) 1.36.

    A: 1000.00 * 8 % * 30 / 365 = 6.5753 -> 6.58, booked when A was paid; B:
    200.00 * 8 % * 31 / 365 = 1.3589 -> 1.36, accrued and not booked, as B is
    still open. Each got a reminder (0.80 cost) and a final notice (5.00
    fee, booked). Fell due 1,200.00, collected 1,000.00: 83.33 %. Open balance times
    days: A 1000 * 60 (01-01..03-01) + B 200 * 62 (01-29..03-31) = 72,400;
    billed 1,200.00: collection period 60.3 days. B is 31 days past due on 03-31.
    """
    engine = book(tmp_path, "8 % per year")

    report = simulate(
        engine.store, engine.policy, dt.date(2025, 1, 1), dt.date(2025, 3, 31)
    )
    total = report.groups[TOTAL]

    assert total.interest == {"EUR": Decimal("6.58")}
    assert total.interest_accrued == {"EUR": Decimal("1.36")}
    assert total.fees == {"EUR": Decimal("10.00")}
    assert total.cost == {"EUR": Decimal("1.60")}
    assert dict(total.measures) == {"letter": 4}
    assert total.realization("EUR") == Decimal("83.33")
    assert total.collection_period("EUR") == Decimal("60.3")
    assert total.ages["31-60"] == {"EUR": Decimal("200.00")}
    assert total.open_at_end == {"EUR": Decimal("200.00")}
    assert dict(total.final_states) == {"paid": 1, "final_notice": 1}
    # A paid on 03-02, 30 days after its due date: average days late 30.
    assert total.average_days_late == Decimal("30.00")


def test_statutory_interest_between_businesses_adds_the_flat_fee(
    tmp_path: Path,
) -> None:
    """Base rate 2.27 % in 2025-H1, + 9 points = 11.27 %, plus EUR 40 per claim.

    A: 1000.00 * 11.27 % * 30 / 365 = 9.2630 -> 9.26, booked when A was paid;
    B: 200.00 * 11.27 % * 31 / 365 = 1.9144 -> 1.91, accrued and not booked.
    The two flat fees are fees: 2 * 5.00 + 2 * 40.00 = 90.00.
    """
    engine = book(tmp_path, "statutory")

    report = simulate(
        engine.store, engine.policy, dt.date(2025, 1, 1), dt.date(2025, 3, 31)
    )

    total = report.groups[TOTAL]
    assert total.interest == {"EUR": Decimal("9.26")}
    assert total.interest_accrued == {"EUR": Decimal("1.91")}
    assert total.fees == {"EUR": Decimal("90.00")}


def test_every_money_figure_counts_for_the_currencies_and_jpy_has_no_cents() -> None:
    """A currency seen only in interest is listed; yen amounts print whole."""
    from engine.reports import GroupFigures, Report, render_text

    figures = GroupFigures(claims=1)
    figures.interest = {"USD": Decimal("1.50")}
    figures.billed = {"JPY": Decimal("1234567")}

    text = render_text(
        Report("P", dt.date(2025, 1, 1), dt.date(2025, 1, 31), {"all": figures})
    )

    assert figures.currencies == ["JPY", "USD"]
    assert "  billed                1,234,567 JPY" in text
    assert "  interest charged      1.50 USD" in text


def test_one_claim_without_interest_is_named_in_the_singular() -> None:
    """`interest not computed for 1 claim`, and for 2 claims in the plural."""
    from engine.reports import GroupFigures, Report, render_text

    one = GroupFigures(claims=1, interest_not_computed=1)
    one.billed = {"EUR": Decimal("100.00")}
    two = GroupFigures(claims=2, interest_not_computed=2)
    two.billed = {"EUR": Decimal("200.00")}

    text = render_text(
        Report("P", dt.date(2025, 1, 1), dt.date(2025, 1, 31), {"a": one, "b": two})
    )

    assert (
        "  (interest not computed for 1 claim: the base rate table does not "
        "reach its dates)" in text
    )
    assert (
        "  (interest not computed for 2 claims: the base rate table does not "
        "reach their dates)" in text
    )


STATUTORY = """\
policy "Interest" version "1"
  currency EUR

group everyone otherwise

measure default = letter "default" interest statutory

dunning everyone
  terminal done
  current -> in_default after 1 days overdue do default
  in_default -> done after 400 days in state
"""


def simulation_files(tmp_path: Path) -> list[str]:
    """Policy, data folder and period of a business claim of 1,000.00 due
    2026-11-30 and paid 2027-01-10, past the bundled base rate table."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "customers.csv").write_text(
        "id,name,kind\nK1,Alpha GmbH,business\n", encoding="utf-8"
    )
    (data / "claims.csv").write_text(
        "id,customer_id,currency,amount,issue_date,due_date\n"
        "A,K1,EUR,1000.00,2026-10-31,2026-11-30\n",
        encoding="utf-8",
    )
    (data / "payments.csv").write_text(
        "id,claim_id,amount,currency,paid_on\nP1,A,1000.00,EUR,2027-01-10\n",
        encoding="utf-8",
    )
    (tmp_path / "p.dun").write_text(STATUTORY, encoding="utf-8")
    return ["simulate", "--policy", str(tmp_path / "p.dun"), "--data", str(data)] + [
        "--from", "2026-11-01", "--to", "2027-01-31", "--quiet"
    ]  # fmt: skip


def test_simulate_takes_a_base_rate_table(tmp_path: Path) -> None:
    """With the 2027-01-01 rate of 2.00 % the interest is booked exactly.

    Interest runs from 12-01 (the day after the due date) to 01-10, the day
    of the payment (applied by the run of Monday 01-11):
    31 days at 1.52 + 9 = 10.52 %: 1000.00 x 10.52 % x 31/365 = 8.9348 -> 8.93;
    10 days at 2.00 + 9 = 11.00 %: 1000.00 x 11.00 % x 10/365 = 3.0137 -> 3.01;
    8.93 + 3.01 = 11.94. A business in default also owes the flat fee 40.00.
    """
    rates = tmp_path / "rates.csv"
    rates.write_text(
        "valid_from,rate_percent\n2026-01-01,1.27\n2026-07-01,1.52\n2027-01-01,2.00\n",
        encoding="utf-8",
    )

    result = CliRunner().invoke(
        cli, [*simulation_files(tmp_path), "--base-rates", str(rates)]
    )

    assert result.exit_code == 0, result.output
    assert "  fees charged          40.00 EUR\n" in result.output
    assert "  interest charged      11.94 EUR\n" in result.output
    assert "interest not computed" not in result.output


def test_simulate_without_the_rate_says_so_in_the_singular(tmp_path: Path) -> None:
    """The bundled table ends with 2026: the one claim's interest is not computed."""
    result = CliRunner().invoke(cli, simulation_files(tmp_path))

    assert result.exit_code == 0, result.output
    assert "  interest charged      0.00 EUR\n" in result.output
    assert (
        "  (interest not computed for 1 claim: the base rate table does not "
        "reach its dates)\n" in result.output
    )


def test_simulate_refuses_a_bad_base_rate_table(tmp_path: Path) -> None:
    """An unreadable --base-rates table stops the simulation before it starts."""
    rates = tmp_path / "rates.csv"
    rates.write_text("nonsense\n", encoding="utf-8")

    result = CliRunner().invoke(
        cli, [*simulation_files(tmp_path), "--base-rates", str(rates)]
    )

    assert result.exit_code == 1
    assert "base rates not loaded" in result.output


WRITE_OFF = """\
policy "Write-off" version "1"
  currency EUR

group everyone otherwise

measure reminder = letter "reminder"
measure give_up = write_off

dunning everyone
  terminal written_off
  current -> reminded after 5 days overdue do reminder
  reminded -> written_off after 10 days in state do give_up
"""


def test_a_write_off_measure_settles_the_claim_and_counts_as_written_off(
    tmp_path: Path,
) -> None:
    """30.00 due 2025-03-03: reminded 03-10, written off 10 days later on 03-20."""
    engine = make_engine(tmp_path, WRITE_OFF)
    add_claim(engine, "W", due="2025-03-03", amount="30.00", issued="2025-02-01")
    add_payment(engine, "P1", "W", "10.00", "2025-03-10")

    report = simulate(
        engine.store, engine.policy, dt.date(2025, 3, 1), dt.date(2025, 3, 31)
    )
    total = report.groups[TOTAL]

    # The reminder falls due 5 days after Monday 03-03, on Saturday 03-08, and
    # moves to Monday 03-10, when 10.00 of the 30.00 is paid. 10 days in
    # state later, on Thursday 03-20, the remaining 20.00 is written off.
    assert total.written_off == {"EUR": Decimal("20.00")}
    assert total.open_at_end == {}
    assert dict(total.final_states) == {"written_off": 1}
    claim = engine.store.conn.execute(
        "SELECT open_amount, settled_on FROM claims WHERE id = 'W'"
    ).fetchone()
    assert claim == ("0.00", "2025-03-20")
    (item,) = [m for m in engine.measures("W") if m.measure == "give_up"]
    # The run carries the write-off out itself: nothing waits in the outbox.
    assert (item.status, item.open_amount) == ("done", Money(Decimal("20.00"), "EUR"))


def test_interest_accrued_at_the_end_uses_the_given_base_rate_table(
    tmp_path: Path,
) -> None:
    """Unpaid on 2027-01-08: 8.93 for December and 2.41 for January 1 to 8.

    31 days (12-01..12-31) at 1.52 + 9 = 10.52 %: 1000.00 x 10.52 % x 31/365
    = 8.9348 -> 8.93; 8 days (01-01..01-08) at 2.00 + 9 = 11.00 %: 1000.00 x
    11.00 % x 8/365 = 2.4110 -> 2.41; together 11.34, accrued and not booked.
    """
    rates = tmp_path / "rates.csv"
    rates.write_text(
        "valid_from,rate_percent\n2026-01-01,1.27\n2026-07-01,1.52\n2027-01-01,2.00\n",
        encoding="utf-8",
    )
    arguments = simulation_files(tmp_path)
    arguments[arguments.index("2027-01-31")] = "2027-01-08"

    result = CliRunner().invoke(cli, [*arguments, "--base-rates", str(rates)])

    assert result.exit_code == 0, result.output
    assert "  interest accrued      11.34 EUR\n" in result.output
    assert "interest not computed" not in result.output


RECOVERY = """\
policy "Recovery" version "1"
  currency EUR
  calendar DE-NI

group everyone otherwise

measure reminder = letter "reminder" fee 5.00 EUR
measure give_up = write_off

dunning everyone
  terminal written_off
  current -> reminded after 1 days overdue do reminder
  reminded -> written_off after 10 days in state do give_up
"""


def written_off_claim(tmp_path: Path, amount: str) -> Engine:
    """A claim due Friday 2024-06-14: reminded Monday 06-17 (the step of
    Saturday 06-15 moves to Monday) with a fee of 5.00, written off on
    Thursday 06-27 (10 days in state)."""
    engine = make_engine(tmp_path, RECOVERY)
    add_claim(engine, "W", due="2024-06-14", amount=amount, issued="2024-05-15")
    engine.run(dt.date(2024, 6, 17))
    engine.run(dt.date(2024, 6, 27))
    return engine


def claim_state(engine: Engine) -> tuple[str, str, str | None]:
    """The claim's state, open amount and settlement day."""
    return engine.store.conn.execute(
        "SELECT state, open_amount, settled_on FROM claims WHERE id = 'W'"
    ).fetchone()


def test_a_payment_after_a_write_off_recovers_it_and_is_not_counted_twice(
    tmp_path: Path,
) -> None:
    """1000.00 paid on 06-16 but recorded after the write-off: the claim is paid."""
    engine = written_off_claim(tmp_path, "1000.00")
    assert claim_state(engine) == ("written_off", "0.00", "2024-06-27")

    add_payment(engine, "P1", "W", "1000.00", "2024-06-16")
    engine.run(dt.date(2024, 6, 28))

    # The payment recovers the 1000.00 written off: nothing is open, nothing
    # is paid beyond the principal, and the claim is paid. It was paid on
    # 06-16, before the reminder of 06-17, so the reminder's fee is cancelled.
    state, open_amount, _ = claim_state(engine)
    assert (state, open_amount) == ("paid", "0.00")
    assert [(c.kind, str(c.open_amount.amount)) for c in engine.charges("W")] == [
        ("fee", "0.00")
    ]
    report = build_report(
        engine.store, engine.policy, dt.date(2024, 6, 1), dt.date(2024, 6, 30)
    )
    total = report.groups[TOTAL]
    assert total.written_off == {}
    assert total.realization("EUR") == Decimal("100.00")
    # Paid two days after the due date (06-14 to 06-16).
    assert total.average_days_late == Decimal("2.00")


def test_a_partial_payment_after_a_write_off_leaves_the_rest_written_off(
    tmp_path: Path,
) -> None:
    """500.00 written off, then 200.00 paid: 300.00 stays written off."""
    engine = written_off_claim(tmp_path, "500.00")

    add_payment(engine, "P1", "W", "200.00", "2024-07-01")
    engine.run(dt.date(2024, 7, 1))

    # The 200.00 recovers part of the 500.00 written off; the other 300.00
    # stays written off, nothing is open, and the claim stays written off.
    assert claim_state(engine) == ("written_off", "0.00", "2024-06-27")
    report = build_report(
        engine.store, engine.policy, dt.date(2024, 6, 1), dt.date(2024, 7, 31)
    )
    total = report.groups[TOTAL]
    assert total.written_off == {"EUR": Decimal("300.00")}
    assert total.open_at_end == {}
    # Fell due 500.00, collected 200.00: 40 %. A write-off is no settlement by
    # payment: no days late are counted.
    assert total.realization("EUR") == Decimal("40.00")
    assert total.average_days_late is None


def why_last_line(engine: Engine, claim: str, on: dt.date) -> str:
    """The last line `dunning why` prints for a claim: where it stands."""
    return render_explanation(explain(engine._runner, claim, on)).splitlines()[-1]


def test_why_tells_what_is_still_written_off(tmp_path: Path) -> None:
    """After 200.00 of 500.00 written off came back, `why` names the 300.00 left."""
    engine = written_off_claim(tmp_path, "500.00")
    add_payment(engine, "P1", "W", "200.00", "2024-07-01")
    engine.run(dt.date(2024, 7, 1))

    last = why_last_line(engine, "W", dt.date(2024, 7, 2))

    assert last == (
        "`written_off` is a final state (settled on 2024-06-27 by writing off "
        "500.00 EUR; 200.00 EUR of it recovered since): no more steps or "
        "measures; a further payment recovers the 300.00 EUR still written off "
        "first, then pays the charges it still owes."
    )


def test_why_after_a_write_off_came_back_in_full(tmp_path: Path) -> None:
    """Written off on 06-27, 1000.00 paid on 07-01: settled on 07-01 by payment."""
    engine = written_off_claim(tmp_path, "1000.00")
    add_payment(engine, "P1", "W", "1000.00", "2024-07-01")
    engine.run(dt.date(2024, 7, 1))

    last = why_last_line(engine, "W", dt.date(2024, 7, 2))

    # The fee of 5.00 (reminder of 06-17, before the payment) is still owed.
    assert last == (
        "`paid` is a final state (settled on 2024-07-01; the 1000.00 EUR written "
        "off on 2024-06-27 came back): no more steps or measures; a further "
        "payment pays the charges it still owes."
    )


def test_history_shows_what_each_payment_recovered(tmp_path: Path) -> None:
    """500.00 written off; 200.00 and then 400.00 paid: 200.00 and 300.00 recovered."""
    engine = written_off_claim(tmp_path, "500.00")
    add_payment(engine, "P1", "W", "200.00", "2024-07-01")
    engine.run(dt.date(2024, 7, 1))
    add_payment(engine, "P2", "W", "400.00", "2024-07-02")
    engine.run(dt.date(2024, 7, 2))

    entries = engine.history("W")
    lines = [entry.text for entry in entries if entry.kind == "payment"]

    # The first recovers 200.00 of the 500.00, the second the other 300.00; its
    # remaining 100.00 pays the reminder's fee of 5.00 and is left over.
    assert lines == [
        "payment P1: 200.00 EUR (applied in run 3; recovers 200.00 EUR of the "
        "500.00 EUR written off on 2024-06-27)",
        "payment P2: 400.00 EUR (applied in run 4; recovers 300.00 EUR of the "
        "500.00 EUR written off on 2024-06-27)",
    ]
    # 400.00 - 300.00 - 5.00 = 95.00 paid beyond all the claim owed.
    assert claim_state(engine) == ("paid", "-95.00", "2024-07-02")


CREDITS = """\
policy "Credits" version "1"
  currency EUR

group everyone otherwise

measure reminder = letter "reminder" cost 0.80 EUR
measure handover = agency "partner" cost 10 % of collected

dunning everyone
  terminal with_agency
  current -> reminded after 5 days overdue do reminder
  reminded -> with_agency after 10 days in state do handover
"""


def received(
    ident: str, claim: str, amount: str, on: str, kind: str = "payment"
) -> Payment:
    """A EUR payment (or, with kind `credit_note`, a credit note)."""
    return Payment(ident, claim, eur(amount), day(on), kind=kind)


def first_quarter(engine: Engine) -> Any:
    """Simulate the first quarter of 2025 and report it."""
    return simulate(
        engine.store, engine.policy, dt.date(2025, 1, 1), dt.date(2025, 3, 31)
    )


def test_credit_notes_are_credited_not_collected(tmp_path: Path) -> None:
    """A: 1,000.00 due 01-31, 600.00 paid and 400.00 credited in March; B:
    500.00 due 02-14, 100.00 credited in February, 200.00 paid in March.

    Both fell due in the quarter: 1,500.00. Collected 600.00 + 200.00 =
    800.00, credited 400.00 + 100.00 = 500.00, so 1,000.00 was still owed
    after the credit notes: realization 800.00 / 1,000.00 = 80 %. A was
    handed over in February, B on Mon 03-03 (10 days in state fall on Sat
    03-01), each before its payment: the agency's 10 % is of the money paid,
    60.00 + 20.00, not of the credit note on A; with two reminders at 0.80
    the measures cost 81.60.
    """
    engine = make_engine(tmp_path, CREDITS)
    add_claim(engine, "A", due="2025-01-31", amount="1000.00", issued="2025-01-01")
    add_claim(engine, "B", due="2025-02-14", amount="500.00", issued="2025-01-15")
    engine.add_payments(
        [
            received("C2", "B", "100.00", "2025-02-20", "credit_note"),
            received("P1", "A", "600.00", "2025-03-10"),
            received("C1", "A", "400.00", "2025-03-12", "credit_note"),
            received("P2", "B", "200.00", "2025-03-14"),
        ]
    )

    report = first_quarter(engine)

    total = report.groups[TOTAL]
    assert total.fell_due == {"EUR": Decimal("1500.00")}
    assert total.collected == {"EUR": Decimal("800.00")}
    assert total.credited == {"EUR": Decimal("500.00")}
    assert total.realization("EUR") == Decimal("80.00")
    assert dict(total.measures) == {"letter": 2, "agency": 2}
    assert total.cost == {"EUR": Decimal("81.60")}
    assert total.open_at_end == {"EUR": Decimal("200.00")}
    text = render_text(report)
    assert (
        "  credited              500.00 EUR (credit notes: owed no more, not "
        "collected)" in text
    )
    rows = {(row["group"], row["metric"]): row["value"] for row in report.as_rows()}
    assert rows[(TOTAL, "collected")] == "800.00"
    assert rows[(TOTAL, "credited")] == "500.00"


def test_a_credit_note_after_a_write_off_cancels_part_of_it(tmp_path: Path) -> None:
    """500.00 written off on 06-27, then a credit note of 200.00: 300.00 stays
    written off, nothing was collected, and 300.00 was owed after the credit
    note: realization 0 %."""
    engine = written_off_claim(tmp_path, "500.00")
    engine.add_payments(
        [Payment("C1", "W", Money(Decimal("200.00"), "EUR"), dt.date(2024, 7, 1),
                 kind="credit_note")]
    )  # fmt: skip
    engine.run(dt.date(2024, 7, 1))

    report = build_report(
        engine.store, engine.policy, dt.date(2024, 6, 1), dt.date(2024, 7, 31)
    )
    total = report.groups[TOTAL]
    assert total.written_off == {"EUR": Decimal("300.00")}
    assert total.collected == {}
    assert total.credited == {"EUR": Decimal("200.00")}
    assert total.realization("EUR") == Decimal("0.00")
    lines = [entry.text for entry in engine.history("W") if entry.kind == "credit_note"]
    assert lines == [
        "credit note C1: 200.00 EUR (applied in run 3; cancels 200.00 EUR of the "
        "500.00 EUR written off on 2024-06-27)"
    ]


def test_the_ratio_counts_each_claim_up_to_what_it_came_to(tmp_path: Path) -> None:
    """R 1,000.00 paid in full, then 200.00 credited (goods came back): it came
    to 800.00 and 1,000.00 was paid, so it counts 800.00 of 800.00. K 300.00 is
    credited in full on 02-03: it came to nothing and was not paid, so it is
    no late payment either. L 200.00 is paid on 02-10, 10 days late.

    Collected 1,200.00, credited 500.00; realization (800.00 + 200.00) /
    (800.00 + 0 + 200.00) = 100 %; average days late: R paid on 02-03, 3 days
    late, and L 10 days: 6.50 over 2 claims (K is left out).
    """
    engine = make_engine(tmp_path, CREDITS)
    for ident, amount in (("R", "1000.00"), ("K", "300.00"), ("L", "200.00")):
        add_claim(engine, ident, due="2025-01-31", amount=amount, issued="2025-01-01")
    engine.add_payments(
        [
            received("P1", "R", "1000.00", "2025-02-03"),
            received("C1", "R", "200.00", "2025-02-20", "credit_note"),
            received("C2", "K", "300.00", "2025-02-03", "credit_note"),
            received("P2", "L", "200.00", "2025-02-10"),
        ]
    )

    report = first_quarter(engine)

    total = report.groups[TOTAL]
    assert total.collected == {"EUR": Decimal("1200.00")}
    assert total.credited == {"EUR": Decimal("500.00")}
    assert total.realization("EUR") == Decimal("100.00")
    assert (total.settled, total.average_days_late) == (2, Decimal("6.50"))


def test_the_agency_earns_on_what_is_paid_after_the_handover(tmp_path: Path) -> None:
    """H 500.00 due Fri 01-31: reminded Wed 02-05, handed over Mon 02-17 (10
    days in state fall on Sat 02-15). 100.00 dated 02-17 and recorded before
    that day's run is applied before the handover, and 50.00 dated 02-14 but
    recorded after it was paid before it too; 50.00 dated 02-17 but recorded
    after the run, and 300.00 on 03-03, came in after it. The agency earns
    10 % of 350.00 = 35.00; with the reminder at 0.80 the measures cost
    35.80."""
    engine = make_engine(tmp_path, CREDITS)
    add_claim(engine, "H", due="2025-01-31", amount="500.00", issued="2025-01-01")
    engine.add_payments(
        [Payment("H1", "H", Money(Decimal("100.00"), "EUR"), dt.date(2025, 2, 17))]
    )
    day = dt.date(2025, 2, 1)
    while day <= dt.date(2025, 3, 31):
        engine.run(day)
        if day == dt.date(2025, 2, 17):
            engine.add_payments(
                [
                    Payment("H2", "H", Money(Decimal("50.00"), "EUR"), day),
                    Payment("H3", "H", Money(Decimal("300.00"), "EUR"),
                            dt.date(2025, 3, 3)),
                    Payment("H4", "H", Money(Decimal("50.00"), "EUR"),
                            dt.date(2025, 2, 14)),
                ]
            )  # fmt: skip
        day += dt.timedelta(days=1)

    report = build_report(
        engine.store, engine.policy, dt.date(2025, 1, 1), dt.date(2025, 3, 31)
    )

    handover = engine.store.conn.execute(
        "SELECT as_of FROM measures WHERE measure = 'handover'"
    ).fetchone()
    assert handover == ("2025-02-17",)
    total = report.groups[TOTAL]
    assert total.cost == {"EUR": Decimal("35.80")}


def test_a_write_off_ends_the_balance_the_collection_period_counts(
    tmp_path: Path,
) -> None:
    """W 500.00 issued 05-15, written off on 06-27: open 43 days, 500.00 * 43
    = 21,500 balance days over 500.00 billed: 43.0 days, not the 78 days to
    the end of July."""
    engine = written_off_claim(tmp_path, "500.00")
    engine.run(dt.date(2024, 7, 31))

    report = build_report(
        engine.store, engine.policy, dt.date(2024, 5, 1), dt.date(2024, 7, 31)
    )

    assert report.groups[TOTAL].collection_period("EUR") == Decimal("43.0")


def credit_note(ident: str, amount: str, on: dt.date) -> Payment:
    """A credit note for claim W."""
    return Payment(ident, "W", Money(Decimal(amount), "EUR"), on, kind="credit_note")


def test_why_tells_what_credit_notes_cancelled_of_a_write_off(tmp_path: Path) -> None:
    """500.00 written off, 100.00 paid and 150.00 credited: 250.00 still
    written off, and `why` names both parts."""
    engine = written_off_claim(tmp_path, "500.00")
    add_payment(engine, "P1", "W", "100.00", "2024-07-01")
    engine.add_payments([credit_note("C1", "150.00", dt.date(2024, 7, 1))])
    engine.run(dt.date(2024, 7, 1))

    last = why_last_line(engine, "W", dt.date(2024, 7, 2))

    assert last == (
        "`written_off` is a final state (settled on 2024-06-27 by writing off "
        "500.00 EUR; 100.00 EUR of it recovered since; 150.00 EUR of it cancelled "
        "by credit notes): no more steps or measures; a further payment recovers "
        "the 250.00 EUR still written off first, then pays the charges it still "
        "owes."
    )


def test_why_after_credit_notes_cancelled_a_whole_write_off(tmp_path: Path) -> None:
    """A credit note for all 500.00 written off: the claim is settled on its
    day by the credit note, which pays no charges: the fee of 5.00 is owed."""
    engine = written_off_claim(tmp_path, "500.00")
    engine.add_payments([credit_note("C1", "500.00", dt.date(2024, 7, 1))])
    engine.run(dt.date(2024, 7, 1))

    last = why_last_line(engine, "W", dt.date(2024, 7, 2))

    assert last == (
        "`paid` is a final state (settled on 2024-07-01; the 500.00 EUR written "
        "off on 2024-06-27 was cancelled by credit notes): no more steps or "
        "measures; a further payment pays the charges it still owes."
    )
    (rule,) = engine.store.conn.execute(
        "SELECT rule FROM transitions WHERE claim_id = 'W' AND to_state = 'paid'"
    ).fetchone()
    assert rule == "a credit note for all that is open settles the claim"


def test_why_of_an_open_claim_in_a_final_state_says_a_payment_settles_it(
    tmp_path: Path,
) -> None:
    """Handed over and still open: no more steps, but it is not closed."""
    engine = make_engine(tmp_path, CREDITS)
    add_claim(engine, "H", due="2025-01-31", amount="500.00", issued="2025-01-01")
    engine.run(dt.date(2025, 2, 5))
    engine.run(dt.date(2025, 2, 17))

    last = why_last_line(engine, "H", dt.date(2025, 2, 18))

    assert last == (
        "`with_agency` is a final state: no more steps or measures; a payment of "
        "what is open still settles it."
    )


def test_the_report_command_reports_on_a_database_in_daily_use(
    tmp_path: Path,
) -> None:
    """After daily runs, `dunning report` gives the figures `simulate` would:
    A 1,000.00 paid on 03-02 of 1,200.00 that fell due (83.33 %), 4 letters."""
    database, policy = daily_book(tmp_path)

    result = CliRunner().invoke(
        cli,
        [
            "report",
            *("--policy", str(policy), "--db", str(database)),
            *("--from", "2025-01-01", "--to", "2025-03-31", "--format", "csv"),
        ],
    )

    assert result.exit_code == 0, result.output
    rows = {
        (row["group"], row["metric"]): row["value"]
        for row in csv.DictReader(io.StringIO(result.output))
    }
    assert rows[(TOTAL, "collected")] == "1000.00"
    assert rows[(TOTAL, "realization_ratio_percent")] == "83.33"
    assert rows[(TOTAL, "measures.letter")] == "4"


def test_the_report_command_needs_a_database(tmp_path: Path) -> None:
    """No database at --db: exit 1, nothing created."""
    policy = tmp_path / "interest.dun"
    policy.write_text(POLICY.format(interest="8 % per year"), encoding="utf-8")

    result = CliRunner().invoke(
        cli,
        [
            "report",
            *("--policy", str(policy), "--db", str(tmp_path / "none.db")),
            *("--from", "2025-01-01", "--to", "2025-03-31"),
        ],
    )

    assert result.exit_code == 1
    assert "no such database" in result.output
    assert not (tmp_path / "none.db").exists()


def test_claims_in_another_currency_are_left_out_and_counted(tmp_path: Path) -> None:
    """A EUR policy never dunns U (200.00 USD) nor applies its payments: the
    report leaves it out instead of showing 200.00 USD open and 75.00 USD
    collected, and says so. A (1,000.00 EUR, paid in full) is reported."""
    engine = book(tmp_path, "8 % per year")
    engine.add_claims(
        [
            Claim(
                "U",
                "K1",
                Money(Decimal("200.00"), "USD"),
                Money(Decimal("200.00"), "USD"),
                dt.date(2025, 1, 1),
                dt.date(2025, 1, 31),
            )
        ]
    )
    engine.add_payments(
        [Payment("PU", "U", Money(Decimal("75.00"), "USD"), dt.date(2025, 2, 10))]
    )

    report = simulate(
        engine.store, engine.policy, dt.date(2025, 1, 1), dt.date(2025, 3, 31)
    )

    total = report.groups[TOTAL]
    assert report.other_currencies == {"USD": 1}
    assert total.claims == 2
    assert total.collected == {"EUR": Decimal("1000.00")}
    assert total.open_at_end == {"EUR": Decimal("200.00")}
    assert render_text(report).splitlines()[1] == (
        "(1 claim in USD left out: in another currency than the policy's, which "
        "dunns no such claim)"
    )
    rows = {
        (r["group"], r["metric"], r["currency"]): r["value"] for r in report.as_rows()
    }
    assert rows[(TOTAL, "claims_left_out_other_currency", "USD")] == "1"


def daily_book(tmp_path: Path) -> tuple[Path, Path]:
    """The book of `book`, run every day of the first quarter; the database
    and the policy file."""
    engine = book(tmp_path, "8 % per year")
    day = dt.date(2025, 1, 1)
    while day <= dt.date(2025, 3, 31):
        engine.run(day)
        day += dt.timedelta(days=1)
    engine.close()
    policy = tmp_path / "interest.dun"
    policy.write_text(POLICY.format(interest="8 % per year"), encoding="utf-8")
    return tmp_path / "test.db", policy


def report_of(database: Path, policy: Path, first: str, last: str) -> Any:
    """`dunning report` as a user types it."""
    return CliRunner().invoke(
        cli,
        [
            "report",
            *("--policy", str(policy), "--db", str(database)),
            *("--from", first, "--to", last),
        ],
    )


def test_a_report_cannot_end_before_the_last_run(tmp_path: Path) -> None:
    """The claims are kept as the last run (03-31) left them: a report to
    02-28 would show March's states as February's."""
    database, policy = daily_book(tmp_path)

    result = report_of(database, policy, "2025-02-01", "2025-02-28")

    assert result.exit_code == 1
    assert (
        "Error: the database holds each claim as its last run (2025-03-31) left "
        "it, not as it stood on 2025-02-28; a report ends on 2025-03-31 or later"
    ) in result.output


def test_a_report_warns_of_a_period_without_runs_and_of_another_policy(
    tmp_path: Path,
) -> None:
    """April had no run; a changed policy is not the one the runs used."""
    database, policy = daily_book(tmp_path)
    other = tmp_path / "other.dun"
    other.write_text(
        POLICY.format(interest="statutory").replace('version "1"', 'version "2"'),
        encoding="utf-8",
    )

    quiet = report_of(database, policy, "2025-04-01", "2025-04-30")
    changed = report_of(database, other, "2025-01-01", "2025-03-31")

    assert quiet.exit_code == 0
    assert (
        "warning: no run from 2025-04-01 to 2025-04-30: the claims stand as the "
        "run of 2025-03-31 left them, and nothing happened in the period"
    ) in quiet.output
    assert changed.exit_code == 0
    assert (
        'warning: the runs from 2025-01-01 to 2025-03-31 used "Interest" version '
        "1, not the policy given; its groups and the cost of its measures may differ"
    ) in changed.output


def test_a_report_waits_for_an_interrupted_run_and_for_payments(
    tmp_path: Path,
) -> None:
    """A payment recorded after the last run is left out, and the report says
    so; a run that stopped half-way must be completed first."""
    database, policy = daily_book(tmp_path)
    with Store.open(database, create=False) as store:
        store.conn.execute(
            "INSERT INTO payments (id, claim_id, amount, currency, paid_on, kind) "
            "VALUES ('P9', 'B', '50.00', 'EUR', '2025-03-31', 'payment')"
        )
        # A claim in another currency, with a payment no run will apply.
        store.conn.execute(
            "INSERT INTO claims (id, customer_id, kind, currency, amount, "
            "open_amount, issue_date, due_date, attributes, changed) VALUES "
            "('U', 'K1', 'invoice', 'USD', '90.00', '90.00', '2025-01-01', "
            "'2025-01-31', '{}', 1)"
        )
        store.conn.execute(
            "INSERT INTO payments (id, claim_id, amount, currency, paid_on, kind) "
            "VALUES ('PU', 'U', '10.00', 'USD', '2025-02-01', 'payment')"
        )
    waiting = report_of(database, policy, "2025-01-01", "2025-03-31")
    with Store.open(database, create=False) as store:
        store.conn.execute(
            "INSERT INTO runs (as_of, started_at, status) "
            "VALUES ('2025-04-01', '2025-04-01T06:00:00+00:00', 'running')"
        )
    stopped = report_of(database, policy, "2025-01-01", "2025-04-01")

    assert waiting.exit_code == 0
    assert (
        "warning: 1 payment dated up to 2025-03-31 waits for the next run; the "
        "figures leave them out, as the claims' open amounts do"
    ) in waiting.output
    assert "collected             1,000.00 EUR of 1,200.00 EUR" in waiting.output
    assert stopped.exit_code == 1
    assert (
        "run 91 for 2025-04-01 was interrupted and left claims half-way; complete "
        "it (dunning run --as-of 2025-04-01) before a report"
    ) in stopped.output
