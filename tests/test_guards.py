"""How guards read the values of extra data columns: as numbers and dates
only when they are written as the policy language writes them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from dunlang.model import Attribute, Compare, Literal, ValueKind
from engine import Customer
from engine.guards import compile_guard

from .conftest import add_claim, make_engine

AT_LEAST_THREE = compile_guard(
    Compare(
        ">=", Attribute("customer", "rating"), Literal(Decimal(3), ValueKind.NUMBER)
    )
)
BEFORE_2020 = compile_guard(
    Compare(
        "<",
        Attribute("customer", "since"),
        Literal(dt.date(2020, 6, 1), ValueKind.DATE),
    )
)


def holds(guard: object, value: object) -> bool:
    """Whether the guard holds for a customer whose attribute has this value."""
    facts = {"customer": {"rating": value, "since": value}, "claim": {}}
    return bool(guard(facts, {}))  # type: ignore[operator]


@pytest.mark.parametrize("value", ["3", " 3 ", "3.0", "+4", "17.25", 3, 3.5])
def test_numbers_in_extra_columns_compare_as_numbers(value: object) -> None:
    """Digits 0-9, a sign and a decimal point; JSON numbers as they are."""
    assert holds(AT_LEAST_THREE, value)


@pytest.mark.parametrize(
    "value",
    ["٣", "３", "३", "1_000", "4.0e0", "Infinity", "NaN", "sNaN", "3,5", "", "drei",
     float("nan"), float("inf")],
)  # fmt: skip
def test_what_is_no_number_compares_to_nothing(value: object) -> None:
    """Other scripts' digits, exponents, NaN and words are not numbers: the
    comparison does not hold, as for an empty value."""
    assert not holds(AT_LEAST_THREE, value)


@pytest.mark.parametrize("value", ["2019-01-01", " 2019-12-31 "])
def test_dates_in_extra_columns_compare_as_dates(value: str) -> None:
    """Year-month-day, as the policy language writes a date."""
    assert holds(BEFORE_2020, value)


@pytest.mark.parametrize(
    "value", ["20190101", "2019-W01-1", "2019-001", "٢٠١٩-٠١-٠١", "2019-02-30"]
)
def test_what_is_no_date_compares_to_nothing(value: str) -> None:
    """Compact, week and ordinal dates, other scripts' digits, impossible days."""
    assert not holds(BEFORE_2020, value)


POLICY = """\
policy "Ratings" version "1"
  currency EUR

group good when customer.rating >= 3
group rest otherwise

measure note = letter "note"

dunning good
  terminal done
  current -> done after 5 days overdue do note

dunning rest
  terminal done
  current -> done after 5 days overdue do note
"""


def test_a_run_goes_on_when_a_rating_is_nan(tmp_path: Path) -> None:
    """`NaN` or `٣` in an extra column: the claim goes to the fallback group,
    the run completes; `3` still counts."""
    engine = make_engine(tmp_path, POLICY)
    engine.add_customers(
        [
            Customer("K1", "Eins", attributes={"rating": "NaN"}),
            Customer("K2", "Zwei", attributes={"rating": "٣"}),
            Customer("K3", "Drei", attributes={"rating": "3"}),
        ]
    )
    for number in (1, 2, 3):
        add_claim(engine, f"A{number}", due="2025-01-31", customer=f"K{number}")

    result = engine.run(dt.date(2025, 2, 1), collect=True)

    groups = {step.claim_id: step.group for step in result.steps}
    assert groups == {"A1": "rest", "A2": "rest", "A3": "good"}


SCORE_AT_LEAST_THRESHOLD = compile_guard(
    Compare(">=", Attribute("customer", "score"), Attribute("customer", "threshold"))
)


@pytest.mark.parametrize(
    ("score", "threshold", "expected"),
    [
        ("10", "9", True),
        ("9", "10", False),
        ("2.5", "2.50", True),
        ("2020-01-10", "2019-12-31", True),
        ("2019-12-31", "2020-01-10", False),
        ("b", "a", False),
        ("10", "nine", False),
    ],
)
def test_two_extra_columns_are_ordered_as_numbers_or_dates(
    score: str, threshold: str, expected: bool
) -> None:
    """Both sides from extra data columns: numbers when both are numbers, dates
    when both are dates, and no order between texts (`10` >= `9`, not as
    text, where `10` comes first)."""
    facts = {"customer": {"score": score, "threshold": threshold}, "claim": {}}

    assert SCORE_AT_LEAST_THRESHOLD(facts, {}) is expected
