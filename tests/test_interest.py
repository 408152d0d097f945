"""Default interest: the worked examples, the base rate table and invariants.

Every amount below is worked out by hand in the comment next to it. A part's
interest is principal x rate / 100 x days / 365, rounded half up to the cent;
the total is the sum of the rounded parts.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from decimal import Decimal
from fractions import Fraction
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dunlang.model import Interest, InterestKind, Money
from engine.interest import (
    BaseRate,
    BaseRateError,
    BaseRateTable,
    DebtorKind,
    InterestBreakdown,
    InterestError,
    compute_interest,
    load_base_rates,
    statutory_points,
)

STATUTORY = Interest(InterestKind.STATUTORY)
EU = Interest(InterestKind.EU)
CONSUMER = DebtorKind.CONSUMER
BUSINESS = DebtorKind.BUSINESS
FEE = Money(Decimal("40.00"), "EUR")


def day(text: str) -> dt.date:
    """A date from YYYY-MM-DD."""
    return dt.date.fromisoformat(text)


def eur(amount: str) -> Money:
    """An amount in euros."""
    return Money(Decimal(amount), "EUR")


def fixed(rate: str) -> Interest:
    """A fixed yearly rate in percent."""
    return Interest(InterestKind.FIXED, Decimal(rate))


def rows(result: InterestBreakdown) -> list[tuple[str, str, int, str, str]]:
    """The parts as (first day, last day, days, rate, amount) for compact asserts."""
    return [
        (
            part.first_day.isoformat(),
            part.last_day.isoformat(),
            part.days,
            str(part.rate),
            str(part.amount.amount),
        )
        for part in result.parts
    ]


# ---- the worked examples -----------------------------------------------------


def test_consumer_statutory_interest_split_at_the_year_end() -> None:
    """35.00 due 2010-09-15, paid 2011-03-17, consumer: 0.53 + 0.37 = 0.90."""
    result = compute_interest(
        STATUTORY, eur("35.00"), day("2010-09-15"), day("2011-03-17"), debtor=CONSUMER
    )

    # Base rate 0.12 all through (2010-07-01 and 2011-01-01 did not change it),
    # so 0.12 + 5 = 5.12 % and the only split is the turn of the year.
    # 2010-09-16..2010-12-31: 15 + 31 + 30 + 31 = 107 days;
    #   35.00 x 5.12 / 100 x 107 / 365 = 191.744 / 365 = 0.52532... -> 0.53
    # 2011-01-01..2011-03-17: 31 + 28 + 17 = 76 days;
    #   35.00 x 5.12 / 100 x 76 / 365 = 136.192 / 365 = 0.37313... -> 0.37
    assert rows(result) == [
        ("2010-09-16", "2010-12-31", 107, "5.12", "0.53"),
        ("2011-01-01", "2011-03-17", 76, "5.12", "0.37"),
    ]
    assert result.interest == eur("0.90")
    assert [part.base_rate for part in result.parts] == [Decimal("0.12")] * 2
    assert result.points == Decimal(5)
    assert result.flat_fee is None


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        # 10,000.00 x 6.62 / 100 x 181 / 365 = 119,822 / 365 = 328.279... -> 328.28
        ("6.62", "328.28"),
        # 10,000.00 x 10.62 / 100 x 181 / 365 = 192,222 / 365 = 526.635... -> 526.64
        ("10.62", "526.64"),
    ],
)
def test_fixed_rate_over_a_half_year(rate: str, expected: str) -> None:
    """10,000.00 due 2023-01-01, paid 2023-07-01 at a fixed rate: 181 days."""
    result = compute_interest(
        fixed(rate), eur("10000.00"), day("2023-01-01"), day("2023-07-01")
    )

    # 2023-01-02..2023-07-01: 30 + 28 + 31 + 30 + 31 + 30 + 1 = 181 days. A fixed
    # rate does not change on 2023-07-01, so there is one part. (180 days would
    # give 326.47 / 523.73, 182 days 330.09: the payment day counts, the due day
    # does not.)
    assert rows(result) == [("2023-01-02", "2023-07-01", 181, rate, expected)]
    assert result.interest == eur(expected)
    assert result.parts[0].base_rate is None
    assert result.flat_fee is None


def test_business_statutory_interest_split_where_the_base_rate_changes() -> None:
    """1,000.00 between businesses, 2024-06-14 to 2024-07-20: 12.31 plus EUR 40."""
    result = compute_interest(
        STATUTORY, eur("1000.00"), day("2024-06-14"), day("2024-07-20"), debtor=BUSINESS
    )

    # 2024-06-15..2024-06-30: 16 days at 3.62 + 9 = 12.62 %;
    #   1,000.00 x 12.62 / 100 x 16 / 365 = 2,019.2 / 365 = 5.532... -> 5.53
    # 2024-07-01..2024-07-20: 20 days at 3.37 + 9 = 12.37 %;
    #   1,000.00 x 12.37 / 100 x 20 / 365 = 2,474 / 365 = 6.778... -> 6.78
    # 2024 is a leap year, still 1/365 per day: with 1/366 the parts would be
    # 5.52 + 6.76 = 12.28.
    assert rows(result) == [
        ("2024-06-15", "2024-06-30", 16, "12.62", "5.53"),
        ("2024-07-01", "2024-07-20", 20, "12.37", "6.78"),
    ]
    assert [part.base_rate for part in result.parts] == [
        Decimal("3.62"),
        Decimal("3.37"),
    ]
    assert result.interest == eur("12.31")
    assert result.flat_fee == FEE


# ---- days and rounding -------------------------------------------------------


@pytest.mark.parametrize("paid", ["2024-06-14", "2024-06-01"])
def test_paid_on_or_before_the_due_date_earns_nothing(paid: str) -> None:
    """A claim paid on or before its due date earns no interest and no flat fee."""
    result = compute_interest(
        STATUTORY, eur("1000.00"), day("2024-06-14"), day(paid), debtor=BUSINESS
    )

    assert result.parts == ()
    assert result.interest == eur("0.00")
    assert result.unrounded == 0
    assert result.flat_fee is None


def test_one_day_late_is_one_day_of_interest() -> None:
    """Paid the day after the due date: exactly that one day counts."""
    result = compute_interest(
        fixed("7.30"), eur("10000.00"), day("2023-03-31"), day("2023-04-01")
    )

    # 10,000.00 x 7.30 / 100 / 365 = 730 / 365 = 2.00
    assert rows(result) == [("2023-04-01", "2023-04-01", 1, "7.30", "2.00")]


def test_half_a_cent_rounds_up() -> None:
    """A part of exactly half a cent rounds up, not to the even cent."""
    result = compute_interest(
        fixed("5"), eur("36.50"), day("2023-03-31"), day("2023-04-01")
    )

    # 36.50 x 5 / 100 x 1 / 365 = 1.825 / 365 = 0.005 exactly -> 0.01
    assert result.unrounded == Fraction(1, 200)
    assert result.interest == eur("0.01")


def test_each_part_is_rounded_before_the_parts_are_summed() -> None:
    """Two parts of 0.005 each make 0.02, where the unrounded sum 0.01 would not."""
    result = compute_interest(
        fixed("5"), eur("36.50"), day("2023-12-30"), day("2024-01-01")
    )

    # 2023-12-31 and 2024-01-01, one day in each year, 0.005 each -> 0.01 + 0.01
    assert rows(result) == [
        ("2023-12-31", "2023-12-31", 1, "5", "0.01"),
        ("2024-01-01", "2024-01-01", 1, "5", "0.01"),
    ]
    assert result.interest == eur("0.02")
    assert result.unrounded == Fraction(1, 100)


def test_a_leap_year_has_366_days_of_1_365() -> None:
    """A whole leap year earns 366/365 of the yearly rate."""
    result = compute_interest(
        fixed("10"), eur("36500.00"), day("2023-12-31"), day("2024-12-31")
    )

    # 36,500.00 x 10 / 100 / 365 = 10.00 a day; 2024-01-01..2024-12-31 = 366 days
    assert rows(result) == [("2024-01-01", "2024-12-31", 366, "10", "3660.00")]


def test_a_period_over_several_years_is_split_at_each_new_year() -> None:
    """Each calendar year gets its own part."""
    result = compute_interest(
        fixed("10"), eur("36500.00"), day("2021-11-30"), day("2023-02-01")
    )

    # 10.00 a day: 31 days in 2021, 365 in 2022, 32 in 2023
    assert rows(result) == [
        ("2021-12-01", "2021-12-31", 31, "10", "310.00"),
        ("2022-01-01", "2022-12-31", 365, "10", "3650.00"),
        ("2023-01-01", "2023-02-01", 32, "10", "320.00"),
    ]
    assert result.interest == eur("4280.00")


def test_no_split_at_a_half_year_whose_base_rate_did_not_change() -> None:
    """The base rate stayed -0.88 on 2019-07-01, so June and July are one part."""
    result = compute_interest(
        STATUTORY, eur("3650.00"), day("2019-06-15"), day("2019-07-15"), debtor=CONSUMER
    )

    # 2019-06-16..2019-07-15: 15 + 15 = 30 days at -0.88 + 5 = 4.12 %;
    #   3,650.00 x 4.12 / 100 x 30 / 365 = 150.38 x 30 / 365 = 12.36
    assert rows(result) == [("2019-06-16", "2019-07-15", 30, "4.12", "12.36")]


def test_yen_are_rounded_to_whole_yen() -> None:
    """JPY has no minor unit: parts and total are whole yen."""
    amount = Money(Decimal("100000"), "JPY")
    result = compute_interest(fixed("10"), amount, day("2023-01-31"), day("2023-03-02"))

    # 2023-02-01..2023-03-02: 28 + 2 = 30 days;
    #   100,000 x 10 / 100 x 30 / 365 = 300,000 / 365 = 821.9... -> 822
    assert rows(result) == [("2023-02-01", "2023-03-02", 30, "10", "822")]
    assert result.interest == Money(Decimal("822"), "JPY")


def test_half_a_yen_rounds_up() -> None:
    """Half a yen rounds up to one yen."""
    amount = Money(Decimal("3650"), "JPY")
    result = compute_interest(fixed("5"), amount, day("2023-03-31"), day("2023-04-01"))

    # 3,650 x 5 / 100 / 365 = 0.5 -> 1
    assert result.interest == Money(Decimal("1"), "JPY")


# ---- partial payments --------------------------------------------------------


def test_a_partial_payment_lowers_the_amount_from_the_next_day() -> None:
    """4,000.00 paid on 2023-02-10: the payment day still earns on 10,000.00."""
    payments = [(day("2023-02-10"), eur("4000.00"))]
    result = compute_interest(
        fixed("7.30"),
        eur("10000.00"),
        day("2023-01-31"),
        day("2023-02-20"),
        payments=payments,
    )

    # 7.30 % / 365 = 0.02 % a day: 2.00 a day on 10,000.00, 1.20 on 6,000.00.
    # 2023-02-01..2023-02-10: 10 days x 2.00 = 20.00
    # 2023-02-11..2023-02-20: 10 days x 1.20 = 12.00
    assert rows(result) == [
        ("2023-02-01", "2023-02-10", 10, "7.30", "20.00"),
        ("2023-02-11", "2023-02-20", 10, "7.30", "12.00"),
    ]
    assert [part.principal for part in result.parts] == [
        eur("10000.00"),
        eur("6000.00"),
    ]
    assert result.interest == eur("32.00")


def test_interest_stops_once_the_claim_is_paid_in_full() -> None:
    """After the last payment settles the claim, later days earn nothing."""
    payments = [
        (day("2023-02-20"), Decimal("6000.00")),
        (day("2023-02-10"), Decimal("4000.00")),
    ]
    result = compute_interest(
        STATUTORY,
        eur("10000.00"),
        day("2023-01-31"),
        day("2023-03-31"),
        debtor=BUSINESS,
        payments=payments,
    )

    # Base rate 1.62 + 9 = 10.62 % in 2023-H1.
    # 2023-02-01..2023-02-10: 10,000.00 x 10.62 / 100 x 10 / 365 = 29.095... -> 29.10
    # 2023-02-11..2023-02-20: 6,000.00 x 10.62 / 100 x 10 / 365 = 17.457... -> 17.46
    assert rows(result) == [
        ("2023-02-01", "2023-02-10", 10, "10.62", "29.10"),
        ("2023-02-11", "2023-02-20", 10, "10.62", "17.46"),
    ]
    assert result.interest == eur("46.56")
    assert result.flat_fee == FEE


def test_a_payment_before_the_due_date_lowers_the_amount_from_the_start() -> None:
    """Paid in part before falling due: interest runs only on the rest."""
    payments = [(day("2023-03-01"), eur("5000.00"))]
    result = compute_interest(
        fixed("7.30"),
        eur("10000.00"),
        day("2023-03-31"),
        day("2023-04-10"),
        payments=payments,
    )

    # 5,000.00 x 0.02 % = 1.00 a day, 10 days -> 10.00
    assert rows(result) == [("2023-04-01", "2023-04-10", 10, "7.30", "10.00")]


def test_a_claim_settled_before_it_fell_due_earns_no_flat_fee() -> None:
    """Paid in full before the due date: no parts and no flat fee."""
    result = compute_interest(
        STATUTORY,
        eur("100.00"),
        day("2023-03-31"),
        day("2023-04-30"),
        debtor=BUSINESS,
        payments=[(day("2023-03-31"), eur("100.00"))],
    )

    assert result.parts == ()
    assert result.flat_fee is None


# ---- rates -------------------------------------------------------------------


def test_a_negative_base_rate_is_added_to_the_points() -> None:
    """Base rate -0.63 in 2014-H1: a consumer pays -0.63 + 5 = 4.37 %."""
    result = compute_interest(
        STATUTORY, eur("1000.00"), day("2014-03-31"), day("2014-04-30"), debtor=CONSUMER
    )

    # 2014-04-01..2014-04-30: 30 days; 1,000.00 x 4.37 / 100 x 30 / 365
    #   = 1,311 / 365 = 3.591... -> 3.59
    assert rows(result) == [("2014-04-01", "2014-04-30", 30, "4.37", "3.59")]
    assert result.parts[0].base_rate == Decimal("-0.63")


def test_business_contract_before_2014_07_29_has_8_points_and_no_flat_fee() -> None:
    """An obligation from before the 2014 reform: base + 8 points, no EUR 40."""
    result = compute_interest(
        STATUTORY,
        eur("1000.00"),
        day("2014-03-31"),
        day("2014-04-30"),
        debtor=BUSINESS,
        contract_date=day("2014-07-28"),
    )

    # -0.63 + 8 = 7.37 %; 1,000.00 x 7.37 / 100 x 30 / 365 = 2,211 / 365
    #   = 6.057... -> 6.06
    assert rows(result) == [("2014-04-01", "2014-04-30", 30, "7.37", "6.06")]
    assert result.flat_fee is None


def test_business_contract_from_2014_07_29_has_9_points_and_the_flat_fee() -> None:
    """An obligation from the reform date on: base + 9 points and EUR 40."""
    result = compute_interest(
        STATUTORY,
        eur("1000.00"),
        day("2015-03-31"),
        day("2015-04-30"),
        debtor=BUSINESS,
        contract_date=day("2014-07-29"),
    )

    # Base rate -0.83 in 2015-H1; -0.83 + 9 = 8.17 %;
    #   1,000.00 x 8.17 / 100 x 30 / 365 = 2,451 / 365 = 6.715... -> 6.72
    assert rows(result) == [("2015-04-01", "2015-04-30", 30, "8.17", "6.72")]
    assert result.flat_fee == FEE


def test_eu_interest_is_the_reference_rate_plus_8_points() -> None:
    """Late payment directive: base rate + 8 points, and the fixed sum of EUR 40."""
    result = compute_interest(
        EU, eur("2000.00"), day("2025-06-20"), day("2025-07-10"), debtor=BUSINESS
    )

    # 2025-06-21..2025-06-30: 10 days at 2.27 + 8 = 10.27 %;
    #   2,000.00 x 10.27 / 100 x 10 / 365 = 2,054 / 365 = 5.627... -> 5.63
    # 2025-07-01..2025-07-10: 10 days at 1.27 + 8 = 9.27 %;
    #   2,000.00 x 9.27 / 100 x 10 / 365 = 1,854 / 365 = 5.079... -> 5.08
    assert rows(result) == [
        ("2025-06-21", "2025-06-30", 10, "10.27", "5.63"),
        ("2025-07-01", "2025-07-10", 10, "9.27", "5.08"),
    ]
    assert result.interest == eur("10.71")
    assert result.points == Decimal(8)
    assert result.flat_fee == FEE


def test_eu_interest_for_a_consumer_has_no_flat_fee() -> None:
    """The fixed sum of EUR 40 is owed by businesses only."""
    result = compute_interest(
        EU, eur("2000.00"), day("2025-06-20"), day("2025-07-10"), debtor=CONSUMER
    )

    assert result.interest == eur("10.71")
    assert result.flat_fee is None


def test_the_flat_fee_is_in_euros_whatever_the_claim_currency() -> None:
    """§ 288(5) BGB names EUR 40; a claim in yen still gets EUR 40.00."""
    amount = Money(Decimal("100000"), "JPY")
    result = compute_interest(
        STATUTORY, amount, day("2024-06-14"), day("2024-06-20"), debtor=BUSINESS
    )

    assert result.interest.currency == "JPY"
    assert result.flat_fee == FEE


def test_statutory_points() -> None:
    """5 points for consumers, 9 between businesses, 8 for old business contracts."""
    assert statutory_points(CONSUMER) == Decimal(5)
    assert statutory_points(CONSUMER, day("2010-01-01")) == Decimal(5)
    assert statutory_points(BUSINESS) == Decimal(9)
    assert statutory_points(BUSINESS, day("2014-07-29")) == Decimal(9)
    assert statutory_points(BUSINESS, day("2014-07-28")) == Decimal(8)


def test_the_debtor_may_be_given_as_a_customers_kind() -> None:
    """ "consumer" and "business", as stored for a customer, work like the enum."""
    assert statutory_points("consumer") == Decimal(5)
    assert statutory_points("business") == Decimal(9)
    result = compute_interest(
        STATUTORY,
        eur("1000.00"),
        day("2024-06-14"),
        day("2024-07-20"),
        debtor="business",
    )

    assert result.interest == eur("12.31")
    assert result.flat_fee == FEE


def test_an_unknown_debtor_kind_is_refused() -> None:
    """A debtor that is neither consumer nor business is named."""
    with pytest.raises(InterestError) as caught:
        compute_interest(
            STATUTORY,
            eur("1.00"),
            day("2023-01-01"),
            day("2023-02-01"),
            debtor="retail",
        )

    assert (
        str(caught.value) == "the debtor `retail` is neither a consumer nor a business"
    )


def test_a_custom_table_is_used_instead_of_the_bundled_one() -> None:
    """Passing a table computes with its rates."""
    table = BaseRateTable((BaseRate(day("2030-01-01"), Decimal("-1.00")),), "mine.csv")
    result = compute_interest(
        STATUTORY,
        eur("3650.00"),
        day("2030-01-31"),
        day("2030-02-10"),
        debtor=CONSUMER,
        base_rates=table,
    )

    # -1.00 + 5 = 4 %; 3,650.00 x 4 / 100 / 365 = 0.40 a day, 10 days -> 4.00
    assert rows(result) == [("2030-02-01", "2030-02-10", 10, "4.00", "4.00")]


# ---- what cannot be computed -------------------------------------------------


def test_a_fixed_rate_needs_a_rate() -> None:
    """Fixed interest without a rate is refused."""
    with pytest.raises(InterestError, match="a fixed interest rate needs a rate"):
        compute_interest(
            Interest(InterestKind.FIXED),
            eur("1.00"),
            day("2023-01-01"),
            day("2023-02-01"),
        )


def test_statutory_interest_needs_the_debtor() -> None:
    """Without knowing consumer or business the points are unknown."""
    with pytest.raises(InterestError) as caught:
        compute_interest(STATUTORY, eur("1.00"), day("2023-01-01"), day("2023-02-01"))

    assert str(caught.value) == (
        "statutory interest depends on whether the debtor is a consumer or a "
        "business; give the debtor"
    )


def test_a_payment_in_another_currency_is_refused() -> None:
    """Payments must be in the claim's currency."""
    with pytest.raises(InterestError) as caught:
        compute_interest(
            fixed("5"),
            eur("100.00"),
            day("2023-01-01"),
            day("2023-02-01"),
            payments=[(day("2023-01-10"), Money(Decimal("10.00"), "USD"))],
        )

    assert str(caught.value) == (
        "the payment of 10.00 USD on 2023-01-10 is not in EUR, the currency of the "
        "claim"
    )


def test_a_negative_amount_is_refused() -> None:
    """Interest on a negative amount makes no sense."""
    with pytest.raises(InterestError, match="the amount -1.00 EUR is negative"):
        compute_interest(fixed("5"), eur("-1.00"), day("2023-01-01"), day("2023-02-01"))


def test_days_after_the_end_of_the_table_need_a_newer_table() -> None:
    """The last half-year of the table is not silently carried forward."""
    with pytest.raises(InterestError) as caught:
        compute_interest(
            STATUTORY,
            eur("1.00"),
            day("2026-12-01"),
            day("2027-08-01"),
            debtor=CONSUMER,
        )

    assert str(caught.value) == (
        "base_rates.csv has base rates only up to 2026-12-31; add the rate of the "
        "half-year starting 2027-07-01 to compute interest for 2027-08-01"
    )


def test_days_before_the_start_of_the_table_are_refused() -> None:
    """The bundled table starts on 2002-01-01."""
    with pytest.raises(InterestError) as caught:
        compute_interest(
            STATUTORY,
            eur("1.00"),
            day("2001-12-01"),
            day("2002-02-01"),
            debtor=CONSUMER,
        )

    assert str(caught.value) == (
        "base_rates.csv has no base rate before 2002-01-01 (interest was asked for "
        "2001-12-02)"
    )


# ---- the base rate table -----------------------------------------------------


def test_the_bundled_table() -> None:
    """Every half-year from 2002-01-01 to 2026-07-01, with known values."""
    table = load_base_rates()

    assert len(table.rates) == 50
    assert table.first_day == day("2002-01-01")
    assert table.last_day == day("2026-12-31")
    assert table.rate_on(day("2002-01-01")) == Decimal("2.57")
    assert table.rate_on(day("2013-01-01")) == Decimal("-0.13")
    assert table.rate_on(day("2016-07-01")) == Decimal("-0.88")
    assert table.rate_on(day("2023-06-30")) == Decimal("1.62")
    assert table.rate_on(day("2024-07-01")) == Decimal("3.37")
    assert table.rate_on(day("2026-07-01")) == Decimal("1.52")


@pytest.mark.shared
def test_the_bundled_table_agrees_with_the_compiled_facts(shared_data: Path) -> None:
    """Dates and rates match the compiled list of published values."""
    path = shared_data / "de-base-rate" / "basiszinssatz.csv"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with path.open(encoding="utf-8", newline="") as handle:
        facts = [
            (day(row["valid_from"]), Decimal(row["rate_percent"]))
            for row in csv.DictReader(handle)
        ]

    table = load_base_rates()

    assert [(rate.valid_from, rate.rate) for rate in table.rates] == facts


def test_changes_lists_only_days_the_rate_changed() -> None:
    """Unchanged half-years are not change points."""
    table = load_base_rates()

    assert table.changes(day("2009-12-31"), day("2012-12-31")) == [
        day("2011-07-01"),
        day("2012-01-01"),
    ]


def test_a_users_table_with_comments_and_a_byte_order_mark(tmp_path: Path) -> None:
    """A spreadsheet's CSV with a BOM, comments and blank lines reads fine."""
    path = tmp_path / "rates.csv"
    path.write_text(
        "\ufeff# my rates\nvalid_from,rate_percent\n\n2026-07-01,1.52\n"
        "# checked against the Bundesbank\n2027-01-01, -0.50\n",
        encoding="utf-8",
    )

    table = load_base_rates(path)

    assert table.rates == (
        BaseRate(day("2026-07-01"), Decimal("1.52")),
        BaseRate(day("2027-01-01"), Decimal("-0.50")),
    )
    assert table.last_day == day("2027-06-30")
    assert table.source == str(path)


def test_every_problem_of_a_table_is_reported(tmp_path: Path) -> None:
    """Each bad row names the file, the row, the column and the value."""
    path = tmp_path / "rates.csv"
    path.write_text(
        "valid_from,rate_percent\n"
        "2024-01-01,3.62\n"
        '2024-07-01,"3,37"\n'
        "2024-07-01,3.37\n"
        "2025-07-01,1.27\n"
        "1.1.2026,1.27\n"
        "2026-03-01,1.27\n"
        "2026-07-01,1.52,DG\n"
        "2027-01-01,NaN\n",
        encoding="utf-8",
    )

    with pytest.raises(BaseRateError) as caught:
        load_base_rates(path)

    f = str(path)
    assert str(caught.value) == "\n".join(
        [
            f"{f}:3: column `rate_percent`: `3,37` is not a number (expected a percentage like 3.37 or -0.88, with a point)",
            f"{f}:4: column `valid_from`: `2024-07-01` does not come after 2024-07-01 of row 3 (rows must be in date order, each half-year once)",
            f"{f}:5: column `valid_from`: `2025-07-01` follows 2024-07-01 of row 4; the half-year starting 2025-01-01 is missing (list every half-year, also when the rate did not change)",
            f"{f}:6: column `valid_from`: `1.1.2026` is not a date (expected YYYY-MM-DD like 2024-07-01)",
            f"{f}:7: column `valid_from`: `2026-03-01` is not the start of a half-year (the base rate changes only on 1 January and 1 July)",
            f"{f}:8: `2026-07-01,1.52,DG` has 3 values (expected 2: valid_from,rate_percent)",
            f"{f}:9: column `rate_percent`: `NaN` is not a number (expected a percentage like 3.37 or -0.88, with a point)",
            f"{f}: base rates not loaded (7 problems)",
        ]
    )
    assert len(caught.value.problems) == 7


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "",
            "{f}: is empty (expected the header valid_from,rate_percent and one row per half-year)",
        ),
        (
            "# only a comment\n",
            "{f}: is empty (expected the header valid_from,rate_percent and one row per half-year)",
        ),
        (
            "valid_from,rate_percent\n",
            "{f}: has no rows under the header (expected rows like 2024-07-01,3.37)",
        ),
        (
            "# rates\nvalid_from,rate\n2024-07-01,3.37\n",
            "{f}:2: the header is `valid_from,rate` (expected valid_from,rate_percent)",
        ),
    ],
)
def test_a_table_without_header_or_rows_is_refused(
    tmp_path: Path, text: str, message: str
) -> None:
    """An empty file, a missing header or a header without rows is named."""
    path = tmp_path / "rates.csv"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(BaseRateError) as caught:
        load_base_rates(path)

    expected = message.format(f=path)
    assert str(caught.value) == f"{expected}\n{path}: base rates not loaded (1 problem)"


def test_a_missing_table_file_is_named(tmp_path: Path) -> None:
    """A path that does not exist is reported, not a traceback."""
    path = tmp_path / "missing.csv"

    with pytest.raises(BaseRateError) as caught:
        load_base_rates(path)

    assert caught.value.problems == (
        f"{path}: cannot be read (No such file or directory)",
    )


# ---- invariants ----------------------------------------------------------------

amounts = st.decimals(min_value=0, max_value=10_000_000, places=2).map(
    lambda value: Money(value, "EUR")
)
rates = st.decimals(min_value=0, max_value=25, places=2)
days_in_table = st.dates(min_value=day("2002-01-01"), max_value=day("2026-12-31"))
debtors = st.sampled_from([CONSUMER, BUSINESS])
kinds = st.one_of(
    rates.map(lambda rate: Interest(InterestKind.FIXED, rate)),
    st.sampled_from([STATUTORY, EU]),
)
payment_lists = st.lists(
    st.tuples(days_in_table, st.decimals(min_value=0, max_value=5_000_000, places=2)),
    max_size=4,
)


@given(kinds, amounts, days_in_table, days_in_table, debtors, payment_lists)
def test_interest_is_never_negative(
    terms: Interest,
    amount: Money,
    due: dt.date,
    last: dt.date,
    debtor: DebtorKind,
    payments: list[tuple[dt.date, Decimal]],
) -> None:
    """With a total rate of zero or more, no part and no total is negative.

    The lowest base rate in the table is -0.88, so statutory and eu rates are
    at least 4.12 %.
    """
    due = min(due, last)
    result = compute_interest(
        terms, amount, due, last, debtor=debtor, payments=payments
    )

    assert all(part.amount.amount >= 0 for part in result.parts)
    assert result.interest.amount >= 0


@given(
    kinds,
    amounts,
    st.lists(days_in_table, min_size=3, max_size=3).map(sorted),
    debtors,
    payment_lists,
)
def test_splitting_the_period_keeps_the_unrounded_sum(
    terms: Interest,
    amount: Money,
    dates: list[dt.date],
    debtor: DebtorKind,
    payments: list[tuple[dt.date, Decimal]],
) -> None:
    """Interest up to a day plus interest after it equals the whole, unrounded."""
    due, middle, last = dates

    def unrounded(start: dt.date, end: dt.date) -> Fraction:
        """The exact interest from the day after start up to end."""
        return compute_interest(
            terms, amount, start, end, debtor=debtor, payments=payments
        ).unrounded

    assert unrounded(due, last) == unrounded(due, middle) + unrounded(middle, last)


@given(
    kinds,
    amounts,
    st.lists(days_in_table, min_size=3, max_size=3).map(sorted),
    debtors,
    payment_lists,
)
def test_a_later_payment_day_never_means_less_interest(
    terms: Interest,
    amount: Money,
    dates: list[dt.date],
    debtor: DebtorKind,
    payments: list[tuple[dt.date, Decimal]],
) -> None:
    """Paying later never lowers the rounded interest."""
    due, earlier, later = dates

    def interest(end: dt.date) -> Decimal:
        """The rounded interest up to end."""
        return compute_interest(
            terms, amount, due, end, debtor=debtor, payments=payments
        ).interest.amount

    assert interest(earlier) <= interest(later)


any_days = st.dates(min_value=day("1900-01-01"), max_value=day("2100-12-31"))


@given(rates, amounts, any_days, any_days)
def test_the_parts_cover_every_day_once(
    rate: Decimal, amount: Money, due: dt.date, last: dt.date
) -> None:
    """The parts are consecutive, each within one year, and count every day."""
    due, last = min(due, last), max(due, last)
    terms = Interest(InterestKind.FIXED, rate)
    result = compute_interest(terms, amount, due, last)

    if amount.amount == 0 or due == last:
        assert result.parts == ()
        return
    assert result.parts[0].first_day == due + dt.timedelta(days=1)
    assert result.parts[-1].last_day == last
    for before, after in zip(result.parts, result.parts[1:], strict=False):
        assert after.first_day == before.last_day + dt.timedelta(days=1)
    for part in result.parts:
        assert part.first_day.year == part.last_day.year
        assert part.days == (part.last_day - part.first_day).days + 1
    assert sum(part.days for part in result.parts) == (last - due).days


# ---- the documentation -------------------------------------------------------

DOCS = Path(__file__).resolve().parent.parent / "docs" / "interest.md"


def test_the_documented_example_runs() -> None:
    """The python example in docs/interest.md runs and its asserts hold."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)

    assert len(blocks) == 1
    exec(compile(blocks[0], str(DOCS), "exec"), {})


def test_the_documented_table_problems_are_what_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bad table shown in docs/interest.md gives exactly the message shown."""
    text = DOCS.read_text(encoding="utf-8")
    start = text.index("For a file\nwith the rows")
    table, message = re.findall(r"```\n(.*?)```", text[start:], re.S)[:2]
    (tmp_path / "rates.csv").write_text(table, encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    with pytest.raises(BaseRateError) as caught:
        load_base_rates("rates.csv")

    assert str(caught.value) + "\n" == message


def test_the_documented_bundled_header_is_the_bundled_file() -> None:
    """The first lines of the table shown in the docs are those of the file."""
    text = DOCS.read_text(encoding="utf-8")
    shown = text[text.index("The table ships as") :].split("```\n")[1].splitlines()
    bundled = resources.files("engine").joinpath("data", "base_rates.csv")
    lines = bundled.read_text(encoding="utf-8").splitlines()

    assert shown[:4] == lines[:4]
    assert shown[-1] == lines[-1]


def test_a_rate_with_digits_of_another_script_is_refused(tmp_path: Path) -> None:
    """Full-width digits are not 0-9: the row, column and value are named."""
    rates = tmp_path / "rates.csv"
    rates.write_text(
        "valid_from,rate_percent\n2026-01-01,1.27\n2026-07-01,\uff11.52\n",
        encoding="utf-8",
    )

    with pytest.raises(BaseRateError) as refused:
        load_base_rates(rates)

    assert str(refused.value) == (
        f"{rates}:3: column `rate_percent`: `\uff11.52` is not a number (expected "
        f"a percentage like 3.37 or -0.88, with a point)\n"
        f"{rates}: base rates not loaded (1 problem)"
    )
