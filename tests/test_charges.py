"""Fees, flat fee and default interest booked as charges by runs and payments."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import attrs

import dunlang
from engine import Claim, Customer, Engine, Event, Money, Payment, Store
from engine.charges import ClaimCharges, charges_summary, fee_charge, round_charge
from engine.interest import load_base_rates
from engine.records import ChargeRecord
from engine.runner import Runner

from .conftest import add_claim, add_payment, day, eur, make_engine, run_days

FEES = """\
policy "Fees" version "1"
  currency EUR

group everyone otherwise

measure reminder = letter "reminder" fee 5 % of open amount min 5 EUR max 20 EUR
measure final = letter "final" fee 10 EUR

dunning everyone
  hold promised
  terminal done
  current -> reminded after 1 days overdue do reminder
  reminded -> final_notice after 7 days in state do final
  final_notice -> done after 30 days in state
  on promise_given from reminded, final_notice -> promised
  on promise_broken from promised -> final_notice do final
"""


def interest_policy(terms: str, currency: str = "EUR") -> str:
    """A policy whose only measure switches interest on the day after the due date."""
    return f"""\
policy "Interest" version "1"
  currency {currency}

group everyone otherwise

measure default = letter "default" interest {terms}

dunning everyone
  terminal done
  current -> in_default after 1 days overdue do default
  in_default -> done after 400 days in state
"""


def charges(engine: Engine, claim_id: str) -> list[tuple[str, str, str, str]]:
    """A claim's charges as (kind, measure, amount, open amount)."""
    return [
        (c.kind, c.measure, str(c.amount.amount), str(c.open_amount.amount))
        for c in engine.charges(claim_id)
    ]


def add_money_claim(
    engine: Engine, claim_id: str, due: str, amount: Money, kind: str = "business"
) -> None:
    """One claim in any currency, with its customer C-<claim id>."""
    customer = f"C-{claim_id}"
    engine.add_customers([Customer(customer, customer, kind=kind)])
    engine.add_claims(
        [
            Claim(
                claim_id,
                customer,
                amount,
                amount,
                day(due) - dt.timedelta(days=30),
                day(due),
            )
        ]
    )


# ---- fees ---------------------------------------------------------------------


def test_a_fee_is_charged_once_when_the_run_is_repeated(tmp_path: Path) -> None:
    """Running the same day again books no second fee."""
    engine = make_engine(tmp_path, FEES)
    add_claim(engine, "A", due="2026-03-02", amount="230.00")

    engine.run(day("2026-03-03"))
    engine.run(day("2026-03-03"))
    engine.run(day("2026-03-03"), replay=True)

    # 5 % of 230.00 = 11.50, between the minimum 5.00 and the maximum 20.00.
    assert charges(engine, "A") == [("fee", "reminder", "11.50", "11.50")]
    (record,) = engine.charges("A")
    assert isinstance(record, ChargeRecord)
    assert record.basis == "5 % of 230.00 EUR open"
    assert record.transition_id is not None


def test_a_fee_is_charged_once_when_the_claim_reenters_its_step(
    tmp_path: Path,
) -> None:
    """Back in final_notice after a broken promise: the final fee is not charged again."""
    engine = make_engine(tmp_path, FEES)
    add_claim(engine, "A", due="2026-03-02", amount="230.00")
    engine.add_events(
        [
            Event("P1", "promise_given", day("2026-03-12"), claim_id="A"),
            Event("P2", "promise_broken", day("2026-03-16"), claim_id="A"),
        ]
    )

    # Reminded Tue 03-03, final notice 7 days later on Tue 03-10, promised
    # 03-12, back in final_notice with measure `final` on 03-16.
    for current in ("2026-03-03", "2026-03-10", "2026-03-12", "2026-03-16"):
        engine.run(day(current))

    moves = [(t.to_state, t.measures) for t in engine.transitions("A")]
    assert moves[-2:] == [("promised", []), ("final_notice", ["final"])]
    assert [m.measure for m in engine.measures("A")] == ["reminder", "final", "final"]
    # The outbox shows the fee booked with each item: none the second time.
    assert [m.fee for m in engine.measures("A")] == [eur("11.50"), eur("10.00"), None]
    assert charges(engine, "A") == [
        ("fee", "reminder", "11.50", "11.50"),
        # `fee 10 EUR`, written with the currency's two decimals.
        ("fee", "final", "10.00", "10.00"),
    ]


def test_percent_fees_keep_to_their_minimum_and_maximum(tmp_path: Path) -> None:
    """5 % of 60.00 is 3.00, raised to 5.00; 5 % of 1,000.00 is 50.00, cut to 20.00."""
    engine = make_engine(tmp_path, FEES)
    add_claim(engine, "LOW", due="2026-03-02", amount="60.00")
    add_claim(engine, "HIGH", due="2026-03-02", amount="1000.00")

    engine.run(day("2026-03-03"))

    low, high = engine.charges("LOW")[0], engine.charges("HIGH")[0]
    assert (low.amount, low.basis) == (
        eur("5.00"),
        "5 % of 60.00 EUR open, at least 5.00 EUR",
    )
    assert (high.amount, high.basis) == (
        eur("20.00"),
        "5 % of 1000.00 EUR open, at most 20.00 EUR",
    )


def test_fees_stay_open_after_the_principal_and_a_later_payment_pays_them(
    tmp_path: Path,
) -> None:
    """230.00 paid: claim paid, fee 11.50 open; 5.00 more, then 6.50: fee settled."""
    engine = make_engine(tmp_path, FEES)
    add_claim(engine, "A", due="2026-03-02", amount="230.00")
    engine.run(day("2026-03-03"))

    add_payment(engine, "P1", "A", "230.00", "2026-03-04")
    engine.run(day("2026-03-04"))
    row = engine.store.conn.execute(
        "SELECT state, open_amount FROM claims WHERE id = 'A'"
    ).fetchone()
    assert row == ("paid", "0.00")
    assert charges(engine, "A") == [("fee", "reminder", "11.50", "11.50")]
    assert charges_summary(engine.store.conn, ["A"], day("2026-03-04"))[
        "A"
    ].fees == eur("11.50")

    # What exceeds the principal (all of it now) pays the fee: 11.50 - 5.00.
    add_payment(engine, "P2", "A", "5.00", "2026-03-05")
    engine.run(day("2026-03-05"))
    assert charges(engine, "A") == [("fee", "reminder", "11.50", "6.50")]

    add_payment(engine, "P3", "A", "6.50", "2026-03-06")
    engine.run(day("2026-03-06"))
    (fee,) = engine.charges("A")
    assert fee.open_amount == eur("0.00")
    assert fee.settled_on == day("2026-03-06")
    # The principal stays at 0.00: nothing of the payments was left over.
    assert engine.store.conn.execute(
        "SELECT open_amount FROM claims WHERE id = 'A'"
    ).fetchone() == ("0.00",)


def test_a_payment_beyond_the_principal_pays_the_oldest_charge_first(
    tmp_path: Path,
) -> None:
    """Fees 11.50 (reminder) and 10 (final); 250.00 on 230.00 pays 11.50, then 8.50."""
    engine = make_engine(tmp_path, FEES)
    add_claim(engine, "A", due="2026-03-02", amount="230.00")
    engine.run(day("2026-03-03"))
    engine.run(day("2026-03-10"))

    # 250.00 - 230.00 = 20.00 beyond the principal: 11.50 for the reminder
    # fee, the remaining 8.50 on the final fee of 10, leaving 1.50.
    add_payment(engine, "P1", "A", "250.00", "2026-03-11")
    engine.run(day("2026-03-11"))

    assert charges(engine, "A") == [
        ("fee", "reminder", "11.50", "0.00"),
        ("fee", "final", "10.00", "1.50"),
    ]
    assert engine.store.conn.execute(
        "SELECT state, open_amount FROM claims WHERE id = 'A'"
    ).fetchone() == ("paid", "0.00")


# ---- interest: the worked examples of docs/interest.md --------------------------


def test_consumer_statutory_interest_is_booked_when_the_principal_is_paid(
    tmp_path: Path,
) -> None:
    """35.00 due 2010-09-15, paid 2011-03-17, consumer: 0.53 + 0.37 = 0.90."""
    engine = make_engine(tmp_path, interest_policy("statutory"))
    add_claim(engine, "A", due="2010-09-15", amount="35.00", kind="consumer")
    engine.run(day("2010-09-16"))

    stored = engine.store.conn.execute(
        "SELECT interest, interest_since FROM claims WHERE id = 'A'"
    ).fetchone()
    assert stored == ("statutory", "2010-09-16")

    add_payment(engine, "P1", "A", "35.00", "2011-03-17")
    engine.run(day("2011-03-17"))

    # 2010-09-16..2010-12-31: 107 days, 35.00 x 5.12 % x 107/365 = 0.5253 ->
    # 0.53; 2011-01-01..2011-03-17: 76 days, 0.3731 -> 0.37. No flat fee for
    # a consumer.
    (charge,) = engine.charges("A")
    assert (charge.kind, charge.amount) == ("interest", eur("0.90"))
    assert charge.basis == (
        "statutory interest: 2010-09-16..2010-12-31 107 days at 5.12 % on "
        "35.00 EUR = 0.53 EUR; 2011-01-01..2011-03-17 76 days at 5.12 % on "
        "35.00 EUR = 0.37 EUR"
    )


def test_fixed_interest_over_half_a_year(tmp_path: Path) -> None:
    """10,000.00 due 2023-01-01, paid 2023-07-01: 181 days at 6.62 % and 10.62 %."""
    for rate, expected in (("6.62", "328.28"), ("10.62", "526.64")):
        engine = make_engine(
            tmp_path, interest_policy(f"{rate} % per year"), f"{rate}.db"
        )
        add_claim(engine, "A", due="2023-01-01", amount="10000.00")
        engine.run(day("2023-01-02"))
        add_payment(engine, "P1", "A", "10000.00", "2023-07-01")
        engine.run(day("2023-07-03"))

        # 10,000.00 x 6.62 % x 181/365 = 328.279 -> 328.28;
        # 10,000.00 x 10.62 % x 181/365 = 526.636 -> 526.64. A fixed rate
        # carries no flat fee, even for a business.
        assert charges(engine, "A") == [("interest", "", expected, expected)]


def test_business_statutory_interest_and_the_flat_fee(tmp_path: Path) -> None:
    """1,000.00 B2B due 2024-06-14, paid 2024-07-20: 5.53 + 6.78 = 12.31, and 40.00."""
    engine = make_engine(tmp_path, interest_policy("statutory"))
    add_claim(engine, "A", due="2024-06-14", amount="1000.00", kind="business")
    engine.run(day("2024-06-17"))

    # The flat fee is owed as soon as the business debtor is in default.
    assert charges(engine, "A") == [("flat_fee", "", "40.00", "40.00")]

    add_payment(engine, "P1", "A", "1000.00", "2024-07-20")
    engine.run(day("2024-07-22"))

    # 2024-06-15..06-30: 16 days at 3.62 + 9 = 12.62 % -> 5.532 -> 5.53;
    # 2024-07-01..07-20: 20 days at 3.37 + 9 = 12.37 % -> 6.778 -> 6.78.
    assert charges(engine, "A") == [
        ("flat_fee", "", "40.00", "40.00"),
        ("interest", "", "12.31", "12.31"),
    ]


def test_interest_in_yen_has_no_decimals(tmp_path: Path) -> None:
    """100,000 JPY due 2023-01-31 at 10 %, paid 2023-03-02: 30 days -> 822 JPY."""
    engine = make_engine(tmp_path, interest_policy("10 % per year", "JPY"))
    add_money_claim(engine, "Y", "2023-01-31", Money(Decimal("100000"), "JPY"))
    engine.run(day("2023-02-01"))
    engine.add_payments(
        [Payment("P1", "Y", Money(Decimal("100000"), "JPY"), day("2023-03-02"))]
    )
    engine.run(day("2023-03-02"))

    # 100,000 x 10 % x 30/365 = 821.9 -> 822.
    assert charges(engine, "Y") == [("interest", "", "822", "822")]


def test_a_partial_payment_lowers_the_interest_base(tmp_path: Path) -> None:
    """10,000.00 at 7.30 %, 4,000.00 paid 02-10, 6,000.00 on 02-20: 20.00 + 12.00."""
    engine = make_engine(tmp_path, interest_policy("7.30 % per year"))
    add_claim(engine, "A", due="2023-01-31", amount="10000.00")
    engine.run(day("2023-02-01"))
    add_payment(engine, "P1", "A", "4000.00", "2023-02-10")
    engine.run(day("2023-02-10"))

    # 10,000.00 x 7.30 % / 365 = 2.00 a day, 1.20 a day on 6,000.00.
    # On 02-15, accrued and not yet booked: 02-01..02-10 10 x 2.00 = 20.00,
    # 02-11..02-15 5 x 1.20 = 6.00.
    summary = charges_summary(engine.store.conn, ["A"], day("2023-02-15"))["A"]
    assert summary.interest == eur("26.00")
    assert summary.fees == eur("0")
    assert engine.charges("A") == []

    add_payment(engine, "P2", "A", "6000.00", "2023-02-20")
    engine.run(day("2023-02-20"))

    # 20.00 + 02-11..02-20 10 x 1.20 = 12.00: 32.00, booked; nothing accrues
    # after the principal is paid.
    assert charges(engine, "A") == [("interest", "", "32.00", "32.00")]
    later = charges_summary(engine.store.conn, ["A"], day("2023-06-30"))["A"]
    assert later.interest == eur("32.00")


def test_the_payment_that_completes_the_principal_also_pays_interest(
    tmp_path: Path,
) -> None:
    """1,052.31 on 1,000.00 B2B: principal, then the flat fee 40.00, then 12.31."""
    engine = make_engine(tmp_path, interest_policy("statutory"))
    add_claim(engine, "A", due="2024-06-14", amount="1000.00", kind="business")
    engine.run(day("2024-06-17"))
    add_payment(engine, "P1", "A", "1052.31", "2024-07-20")
    engine.run(day("2024-07-22"))

    # Interest is booked the moment the principal is paid (12.31, as in the
    # example above); the 52.31 beyond it pays the older flat fee first.
    assert charges(engine, "A") == [
        ("flat_fee", "", "40.00", "0.00"),
        ("interest", "", "12.31", "0.00"),
    ]
    summary = charges_summary(engine.store.conn, ["A"], day("2024-07-22"))["A"]
    assert (summary.fees, summary.interest) == (eur("0.00"), eur("0.00"))


def test_the_summary_of_a_claim_without_charges_is_zero(tmp_path: Path) -> None:
    """A claim dunning has not charged owes nothing besides its principal."""
    engine = make_engine(tmp_path, FEES)
    add_claim(engine, "A", due="2026-03-02")
    engine.run(day("2026-03-02"))

    summary = charges_summary(engine.store.conn, ["A"], day("2026-03-02"))
    assert summary["A"].fees == eur("0")
    assert summary["A"].interest == eur("0")
    assert summary["A"].currency == "EUR"


# ---- cash rounding -------------------------------------------------------------


def test_round_charge_to_a_cash_rounding_step() -> None:
    """2.468 CHF -> 2.47 (cents) -> 2.45 (five cents); JPY has no decimals."""
    step = Decimal("0.05")
    assert round_charge(Decimal("2.468"), "CHF", step) == Decimal("2.45")
    # 2.475 -> 2.48 -> 49.6 steps -> 50 steps = 2.50 (half up at each stage).
    assert round_charge(Decimal("2.475"), "CHF", step) == Decimal("2.50")
    assert round_charge(Decimal("246.9"), "JPY", None) == Decimal("247")
    fee = fee_charge(
        dunlang.model.Fee(percent=Decimal(2)), Money(Decimal("123.40"), "CHF"), step
    )
    assert fee == (
        Money(Decimal("2.45"), "CHF"),
        "2 % of 123.40 CHF open, rounded to 0.05",
    )


def test_a_chf_fee_is_rounded_to_five_centimes_in_a_run(tmp_path: Path) -> None:
    """2 % of 123.40 CHF = 2.468 -> 2.47 -> 2.45, in the charge and the outbox."""
    text = """\
policy "Swiss" version "1"
  currency CHF

group everyone otherwise

measure reminder = letter "reminder" fee 2 % of open amount

dunning everyone
  terminal reminded
  current -> reminded after 1 days overdue do reminder
"""
    policy = dunlang.parse_policy(text, "swiss.dun")
    policy = attrs.evolve(
        policy, header=attrs.evolve(policy.header, rounding=Decimal("0.05"))
    )
    engine = Engine(Store.open(tmp_path / "chf.db"), policy)
    add_money_claim(engine, "S", "2026-03-02", Money(Decimal("123.40"), "CHF"))
    engine.run(day("2026-03-03"))

    (charge,) = engine.charges("S")
    assert charge.amount == Money(Decimal("2.45"), "CHF")
    (item,) = engine.measures("S")
    assert item.fee == Money(Decimal("2.45"), "CHF")


def test_a_yen_fee_has_no_decimals(tmp_path: Path) -> None:
    """2 % of 12,345 JPY = 246.9 -> 247 JPY."""
    text = """\
policy "Yen" version "1"
  currency JPY

group everyone otherwise

measure reminder = letter "reminder" fee 2 % of open amount

dunning everyone
  terminal reminded
  current -> reminded after 1 days overdue do reminder
"""
    engine = make_engine(tmp_path, text)
    add_money_claim(engine, "Y", "2026-03-02", Money(Decimal("12345"), "JPY"))
    engine.run(day("2026-03-03"))

    assert charges(engine, "Y") == [("fee", "reminder", "247", "247")]


def test_the_report_shows_fees_and_interest_booked(tmp_path: Path) -> None:
    """The B2B example in July 2024: 40.00 flat fee and 12.31 interest booked.

    At the end of June the interest is accrued, not booked: 06-15..06-30 is 16
    days at 3.62 % + 9 = 12.62 %: 1000.00 * 12.62 % * 16 / 365 = 5.5321 -> 5.53.
    """
    from engine.reports import TOTAL, build_report

    engine = make_engine(tmp_path, interest_policy("statutory"))
    add_claim(engine, "A", due="2024-06-14", amount="1000.00", kind="business")
    engine.run(day("2024-06-17"))
    add_payment(engine, "P1", "A", "1000.00", "2024-07-20")
    engine.run(day("2024-07-22"))

    # The flat fee was booked in the run of 06-17, the interest on 07-22.
    june = build_report(
        engine.store, engine.policy, day("2024-06-01"), day("2024-06-30")
    )
    july = build_report(
        engine.store, engine.policy, day("2024-07-01"), day("2024-07-31")
    )
    assert june.groups[TOTAL].fees == {"EUR": Decimal("40.00")}
    assert june.groups[TOTAL].interest == {}
    assert june.groups[TOTAL].interest_accrued == {"EUR": Decimal("5.53")}
    assert july.groups["everyone"].interest == {"EUR": Decimal("12.31")}
    assert july.groups["everyone"].interest_accrued == {}
    assert july.groups["everyone"].fees == {}


def test_the_example_in_the_charges_docs_runs() -> None:
    """The python example in docs/charges.md runs and its asserts hold."""
    from .test_docs import python_blocks

    (block,) = python_blocks("charges.md")
    exec(compile(block, "docs/charges.md", "exec"), {})


def test_a_payment_beyond_the_base_rate_table_does_not_stop_the_run(
    tmp_path: Path,
) -> None:
    """Paid 2027-01-05, past the bundled table (to 2026-12-31): paid, no interest."""
    engine = make_engine(tmp_path, interest_policy("statutory"))
    add_claim(engine, "A", due="2026-12-01", amount="100.00", kind="consumer")
    engine.run(day("2026-12-02"))
    add_payment(engine, "P1", "A", "100.00", "2027-01-05")

    result = engine.run(day("2027-01-05"))

    assert engine.store.conn.execute(
        "SELECT state, interest_until FROM claims WHERE id = 'A'"
    ).fetchone() == ("paid", "2027-01-05")
    assert engine.charges("A") == []
    assert result.problems == (
        "interest on 1 paid claim waits for the base rate of 2027-01-01; update "
        "the base rate table",
    )


RATES_2026 = """\
valid_from,rate_percent
2026-01-01,1.27
2026-07-01,1.52
"""


def test_interest_waits_for_the_base_rate_table_and_is_booked_once(
    tmp_path: Path,
) -> None:
    """Paid 2027-01-10, past a table ending 2026-12-31: no interest charge and a
    problem line in every run; with the 2027-01-01 rate added, the next run
    books the exact amount, and later runs book nothing more."""
    short = tmp_path / "rates.csv"
    short.write_text(RATES_2026, encoding="utf-8")
    longer = tmp_path / "rates-2027.csv"
    longer.write_text(RATES_2026 + "2027-01-01,2.00\n", encoding="utf-8")
    engine = make_engine(tmp_path, interest_policy("statutory"))
    add_claim(engine, "A", due="2026-11-30", amount="1000.00", kind="business")
    add_claim(engine, "B", due="2026-11-30", amount="1000.00", customer="K2")
    before = Runner(engine.store, engine.policy, base_rates=load_base_rates(short))
    after = Runner(engine.store, engine.policy, base_rates=load_base_rates(longer))
    waits = (
        "interest on 1 paid claim waits for the base rate of 2027-01-01; update "
        "the base rate table",
    )

    before.run(day("2026-12-01"))
    add_payment(engine, "P1", "A", "1000.00", "2027-01-10")
    paid = before.run(day("2027-01-10"))
    again = before.run(day("2027-01-11"))

    # Claim B is not paid: its interest is not owed yet and does not wait.
    assert paid.problems == waits
    assert again.problems == waits
    assert charges(engine, "A") == [("flat_fee", "", "40.00", "40.00")]

    booked = after.run(day("2027-01-12"))
    repeated = after.run(day("2027-01-12"))
    later = after.run(day("2027-01-13"))

    # 1000.00 from 2026-12-01 (the day after the due date) to 2027-01-10:
    # 31 days at 1.52 + 9 = 10.52 %: 1000.00 x 10.52 % x 31/365 = 8.9348 -> 8.93;
    # 10 days at 2.00 + 9 = 11.00 %: 1000.00 x 11.00 % x 10/365 = 3.0137 -> 3.01;
    # 8.93 + 3.01 = 11.94, booked by the run of 2027-01-12.
    assert booked.problems == ()
    assert repeated.nothing_to_do
    assert later.problems == ()
    assert charges(engine, "A") == [
        ("flat_fee", "", "40.00", "40.00"),
        ("interest", "", "11.94", "11.94"),
    ]
    interest = engine.charges("A")[1]
    assert interest.as_of == day("2027-01-12")
    assert interest.basis == (
        "statutory interest: 2026-12-01..2026-12-31 31 days at 10.52 % on "
        "1000.00 EUR = 8.93 EUR; 2027-01-01..2027-01-10 10 days at 11.00 % on "
        "1000.00 EUR = 3.01 EUR"
    )
    assert engine.store.conn.execute(
        "SELECT interest_until FROM claims WHERE id = 'A'"
    ).fetchone() == (None,)


# ---- a payment recorded late -------------------------------------------------------

BACK_DATED = """\
policy "Swiss fees" version "1"
  currency CHF

group everyone otherwise

measure reminder = letter "reminder" fee 20 CHF
measure second = letter "second" fee 20 CHF

dunning everyone
  terminal closed
  current -> reminded after 1 days overdue do reminder
  reminded -> second_notice after 7 days in state do second
  second_notice -> closed after 30 days in state
"""


def test_a_back_dated_payment_cancels_the_fees_of_later_steps(tmp_path: Path) -> None:
    """Paid on 10-05, recorded after the steps of 10-06 and 10-13: both fees go."""
    engine = make_engine(tmp_path, BACK_DATED)
    chf = "CHF"
    add_money_claim(engine, "A", "2026-10-05", Money(Decimal("1000.00"), chf))
    add_money_claim(engine, "B", "2026-10-05", Money(Decimal("1000.00"), chf))
    # Reminded on 10-06 (1 day overdue), second notice on 10-13 (7 days in
    # state): a fee of 20.00 each time, on each claim.
    engine.run(day("2026-10-06"))
    engine.run(day("2026-10-13"))
    assert [str(c.open_amount.amount) for c in engine.charges("A")] == [
        "20.00",
        "20.00",
    ]
    # A was paid on 10-05, before both steps; B on 10-08, between them.
    engine.add_payments(
        [
            Payment("P-A", "A", Money(Decimal("1000.00"), chf), day("2026-10-05")),
            Payment("P-B", "B", Money(Decimal("1000.00"), chf), day("2026-10-08")),
        ]
    )
    engine.run(day("2026-10-14"))

    # A: both steps (10-06, 10-13) fell after 10-05: both fees cancelled.
    assert [
        (c.measure, str(c.amount.amount), str(c.open_amount.amount), c.settled_on)
        for c in engine.charges("A")
    ] == [
        ("reminder", "20.00", "0.00", day("2026-10-05")),
        ("second", "20.00", "0.00", day("2026-10-05")),
    ]
    assert engine.charges("A")[0].basis == (
        "fixed fee of 20.00 CHF; cancelled: the claim was paid on 2026-10-05, "
        "before the step of 2026-10-06"
    )
    # B: the reminder of 10-06 came before the payment of 10-08 and stays
    # open; the second notice of 10-13 came after it and is cancelled.
    assert [
        (c.measure, str(c.open_amount.amount), c.settled_on)
        for c in engine.charges("B")
    ] == [("reminder", "20.00", None), ("second", "0.00", day("2026-10-08"))]
    assert charges_summary(engine.store.conn, ["A", "B"], day("2026-10-14")) == {
        "A": ClaimCharges(Money(Decimal("0.00"), chf), Money(Decimal(0), chf), chf),
        "B": ClaimCharges(Money(Decimal("20.00"), chf), Money(Decimal(0), chf), chf),
    }
    # Each cancellation is in the audit trail: open amount and settled_on.
    changes = engine.store.conn.execute(
        "SELECT actor, table_name, field, old_value, new_value, source "
        "FROM audit_changes WHERE table_name = 'charges' ORDER BY id"
    ).fetchall()
    assert len(changes) == 6
    assert changes[0] == (
        "run",
        "charges",
        "open_amount",
        "20.00",
        "0.00",
        "fee reminder cancelled: the claim was paid on 2026-10-05, before the "
        "step of 2026-10-06",
    )
    assert changes[1][2:5] == ("settled_on", None, "2026-10-05")


WRITTEN_OFF = """\
policy "Interest, then a small balance" version "1"
  currency EUR

group everyone otherwise
small balance below 5 EUR write off

measure final = letter "final-notice" interest 10 % per year
measure decide = task "Decide"

dunning everyone
  terminal decision
  current -> final_notice after 5 days overdue do final
  final_notice -> decision after 60 days in state do decide
"""


def test_interest_stops_when_a_small_balance_is_written_off(tmp_path: Path) -> None:
    """Interest on a claim written off as a small balance runs to the write-off."""
    engine = make_engine(tmp_path, WRITTEN_OFF)
    add_claim(engine, "A", due="2025-01-01", amount="1000.00")
    add_payment(engine, "P", "A", "997.00", "2025-01-31")

    run_days(engine, "2025-01-01", "2025-01-31")

    # Interest from the day after the due date, 01-02, to the payment day 01-31
    # inclusive: 30 days on 1,000.00 at 10 % act/365 = 8.219... -> 8.22. The
    # 3.00 left is written off on 01-31, so nothing accrues after it; months
    # later the claim still owes 8.22 of interest, not more.
    (move,) = [t for t in engine.transitions("A") if t.trigger == "small_balance"]
    assert (move.as_of, move.to_state) == (day("2025-01-31"), "paid")
    summary = charges_summary(engine.store.conn, ["A"], day("2025-06-30"))["A"]
    assert summary.interest == eur("8.22")


def test_interest_switched_on_by_an_event_is_booked_by_a_payment_of_the_same_run(
    tmp_path: Path,
) -> None:
    """An event step that switches interest on and the payment after it, in one run."""
    text = """\
policy "Event interest" version "1"
  currency EUR

group everyone otherwise

measure default = letter "default" fee 10 EUR interest 8 % per year

dunning everyone
  terminal done
  current -> done after 400 days overdue
  on promise_broken from current -> in_default do default
  in_default -> done after 400 days in state
"""
    engine = make_engine(tmp_path, text)
    add_claim(engine, "A", due="2026-01-01", amount="1000.00", kind="consumer")
    engine.add_events([Event("E1", "promise_broken", day("2026-01-31"), claim_id="A")])
    add_payment(engine, "P1", "A", "1000.00", "2026-03-02")
    # One run applies the event (its measure books the fee and switches
    # interest on from the day after the due date) and then the payment.
    engine.run(day("2026-03-02"))

    # 2026-01-02..2026-03-02: 30 + 28 + 2 = 60 days; 1000.00 x 8 % x 60/365
    # = 13.1507 -> 13.15. The fee stays open: the payment covers the principal.
    assert charges(engine, "A") == [
        ("fee", "default", "10.00", "10.00"),
        ("interest", "", "13.15", "13.15"),
    ]
