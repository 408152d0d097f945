"""The Python API refuses bad records with every problem named, storing nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from engine import Claim, Customer, Engine, Event, Money, Payment, RecordError

from .conftest import add_claim, day, eur, make_engine
from .test_engine import THREE_STEPS


def usd(amount: str) -> Money:
    """An exact amount in US dollars."""
    return Money(Decimal(amount), "USD")


def count(engine: Engine, table: str) -> int:
    """How many rows a table holds."""
    return int(engine.store.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    """An engine with customer K1 and one claim X1 of 100.00 EUR."""
    engine = make_engine(tmp_path, THREE_STEPS)
    add_claim(engine, "X1", due="2026-01-15")
    return engine


def refused(call: object, *args: object) -> list[str]:
    """The problems a RecordError lists for `call(*args)`."""
    with pytest.raises(RecordError) as caught:
        call(*args)  # type: ignore[operator]
    assert isinstance(caught.value, ValueError)
    return list(caught.value.problems)


def test_a_payment_in_another_currency_is_refused(engine: Engine) -> None:
    """A USD payment on an EUR claim is refused and not stored."""
    payment = Payment("P1", "X1", usd("10"), day("2026-02-01"))

    assert refused(engine.add_payments, [payment]) == [
        "payment P1: amount 10 USD is not in the claim's currency EUR"
    ]
    assert count(engine, "payments") == 0


def test_a_negative_payment_is_refused(engine: Engine) -> None:
    """A payment below zero would raise the open amount: refused."""
    payment = Payment("P1", "X1", eur("-10.00"), day("2026-02-01"))

    assert refused(engine.add_payments, [payment]) == [
        "payment P1: amount -10.00 EUR is not more than zero; it must be positive"
    ]
    assert count(engine, "payments") == 0


def test_a_payment_of_an_unknown_claim_is_refused(engine: Engine) -> None:
    """A payment must name a stored claim."""
    payment = Payment("P1", "NOPE", eur("10.00"), day("2026-02-01"))

    assert refused(engine.add_payments, [payment]) == [
        "payment P1: claim NOPE is not a known claim"
    ]
    assert count(engine, "payments") == 0


def test_one_bad_payment_keeps_the_good_ones_out(engine: Engine) -> None:
    """All or nothing: a good payment is not stored beside a bad one."""
    payments = [
        Payment("P1", "X1", eur("10.00"), day("2026-02-01")),
        Payment("P2", "X1", eur("10.001"), "2026-02-01"),  # type: ignore[arg-type]
    ]

    # 10.001 has three decimal places, EUR two; the date is a text.
    assert refused(engine.add_payments, payments) == [
        "payment P2: payment date '2026-02-01' is not a date; expected a "
        "datetime.date (not str)",
        "payment P2: amount 10.001 EUR has more decimal places than EUR allows (2)",
    ]
    assert count(engine, "payments") == 0


def new_claim(
    claim_id: str, amount: Money, open_amount: Money, **dates: object
) -> Claim:
    """A claim of customer K1 issued 2026-01-01, due 2026-01-31 unless given."""
    issued = dates.get("issue_date", day("2026-01-01"))
    due = dates.get("due_date", day("2026-01-31"))
    return Claim(claim_id, "K1", amount, open_amount, issued, due)  # type: ignore[arg-type]


def test_an_open_amount_above_the_amount_is_refused(engine: Engine) -> None:
    """A claim cannot have more open than it amounts to."""
    claim = new_claim("X2", eur("10.00"), eur("50.00"))

    assert refused(engine.add_claims, [claim]) == [
        "claim X2: open amount 50.00 EUR is more than the amount 10.00 EUR"
    ]
    assert count(engine, "claims") == 1  # X1 only


def test_an_open_amount_in_another_currency_is_refused(engine: Engine) -> None:
    """The open amount must be in the claim's currency, not stored as if it were."""
    claim = new_claim("X2", eur("10.00"), usd("10.00"))

    assert refused(engine.add_claims, [claim]) == [
        "claim X2: open amount 10.00 USD is not in the claim's currency EUR"
    ]
    assert count(engine, "claims") == 1


def test_claim_amounts_must_be_positive(engine: Engine) -> None:
    """A negative amount and a negative open amount are both named."""
    claim = new_claim("X2", eur("-10.00"), eur("-5.00"))

    assert refused(engine.add_claims, [claim]) == [
        "claim X2: amount -10.00 EUR is not more than zero; it must be positive",
        "claim X2: open amount -5.00 EUR is below zero; it cannot be negative",
    ]
    assert count(engine, "claims") == 1


def test_a_due_date_before_the_issue_date_is_refused(engine: Engine) -> None:
    """A claim cannot fall due before it is issued."""
    claim = new_claim(
        "X3", eur("10.00"), eur("10.00"),
        issue_date=day("2026-02-01"), due_date=day("2026-01-01"),
    )  # fmt: skip

    assert refused(engine.add_claims, [claim]) == [
        "claim X3: due date 2026-01-01 is before the issue date 2026-02-01; a "
        "claim cannot fall due before it is issued"
    ]
    assert count(engine, "claims") == 1


def test_claim_dates_must_be_dates_within_the_working_years(engine: Engine) -> None:
    """A datetime and a date after 2199 are both refused."""
    claim = new_claim(
        "X4", eur("10.00"), eur("10.00"),
        issue_date=dt.datetime(2026, 1, 1, 12, 0), due_date=day("2300-01-01"),
    )  # fmt: skip

    assert refused(engine.add_claims, [claim]) == [
        "claim X4: issue date datetime.datetime(2026, 1, 1, 12, 0) is not a date; "
        "expected a datetime.date (not datetime)",
        "claim X4: due date 2300-01-01 is outside the dates the engine accepts "
        "(1900-01-01 to 2199-12-31)",
    ]
    assert count(engine, "claims") == 1


def test_every_bad_claim_of_a_batch_is_named(engine: Engine) -> None:
    """Problems of several claims come together, the good claim is not stored."""
    claims = [
        new_claim("X5", eur("10.00"), eur("10.00")),
        Claim("X6", "K9", eur("10.00"), eur("10.00"), day("2026-01-01"),
              day("2026-01-31")),
        new_claim("X7", Money(Decimal("10"), "EUX"), Money(Decimal("10"), "EUX")),
    ]  # fmt: skip

    assert refused(engine.add_claims, claims) == [
        "claim X6: customer K9 is not a known customer",
        "claim X7: amount 10 EUX: `EUX` is not a known currency code; did you "
        "mean EUR?",
        "claim X7: open amount 10 EUX: `EUX` is not a known currency code; did "
        "you mean EUR?",
    ]
    assert count(engine, "claims") == 1


def test_events_must_name_known_claims_and_customers(engine: Engine) -> None:
    """An event of an unknown claim or customer, or of neither, is refused."""
    events = [
        Event("E1", "dispute_opened", day("2026-02-01"), claim_id="NOPE"),
        Event("E2", "customer_note", day("2026-02-01"), customer_id="K9"),
        Event("E3", "customer_note", day("2026-02-01")),
    ]

    assert refused(engine.add_events, events) == [
        "event E1: claim NOPE is not a known claim",
        "event E2: customer K9 is not a known customer",
        "event E3: has neither a claim nor a customer; it needs one",
    ]
    assert count(engine, "events") == 0


def test_event_amounts_and_end_dates_are_checked(engine: Engine) -> None:
    """A promise in another currency that ends before it is given is refused."""
    event = Event(
        "E1", "promise_given", day("2026-02-10"), claim_id="X1",
        customer_id="K2", until=day("2026-02-01"), amount=usd("10.00"),
    )  # fmt: skip

    assert refused(engine.add_events, [event]) == [
        "event E1: end date 2026-02-01 is before the day of the event 2026-02-10; "
        "an event cannot end before it happens",
        "event E1: customer K2 is not a known customer",
        "event E1: customer K2 is not the customer of claim X1 (K1)",
        "event E1: amount 10.00 USD is not in the claim's currency EUR",
    ]
    assert count(engine, "events") == 0


def test_a_customer_with_a_bad_kind_and_credit_limit_is_refused(
    engine: Engine,
) -> None:
    """Kind and credit limit of a customer are checked."""
    customer = Customer("K2", kind="company", credit_limit=eur("-1.00"))

    assert refused(engine.add_customers, [customer]) == [
        "customer K2: kind 'company' is not one of business or consumer",
        "customer K2: credit limit -1.00 EUR is below zero; it cannot be negative",
    ]
    assert count(engine, "customers") == 1  # K1 only


def test_good_records_are_still_stored(engine: Engine) -> None:
    """A right payment and event land as before."""
    engine.add_payments([Payment("P1", "X1", eur("10.00"), day("2026-02-01"))])
    engine.add_events([Event("E1", "dispute_opened", day("2026-02-01"), "X1")])

    assert count(engine, "payments") == 1
    assert count(engine, "events") == 1


def test_a_run_needs_a_date(engine: Engine) -> None:
    """`run("2026-02-01")` is a TypeError that says what is expected."""
    with pytest.raises(TypeError) as caught:
        engine.run("2026-02-01")  # type: ignore[arg-type]

    assert str(caught.value) == (
        "the as-of date of a run must be a datetime.date, not str '2026-02-01'"
    )
    assert engine.runs() == []


@pytest.mark.parametrize(
    ("amount", "currency", "error", "message"),
    [
        (1.1, "EUR", TypeError,
         'an amount of money must be a Decimal, not float 1.1; write Decimal("1.10")'),
        ("1.10", "EUR", TypeError,
         "an amount of money must be a Decimal, not str '1.10'; write "
         'Decimal("1.10")'),
        (Decimal(1), "eur", ValueError,
         "a currency must be three upper-case letters like EUR, not 'eur'"),
        (Decimal("NaN"), "EUR", ValueError,
         "an amount of money must be a number, not NaN"),
    ],
)  # fmt: skip
def test_money_refuses_inexact_amounts_and_bad_currencies(
    amount: object, currency: str, error: type[Exception], message: str
) -> None:
    """Money takes a Decimal and three upper-case letters, nothing else."""
    with pytest.raises(error) as caught:
        Money(amount, currency)  # type: ignore[arg-type]

    assert str(caught.value) == message


def test_money_converts_a_whole_number_exactly() -> None:
    """An int is exact, so Money(5, "EUR") holds Decimal 5."""
    money = Money(5, "EUR")

    assert money.amount == Decimal(5) and isinstance(money.amount, Decimal)
