"""Shared fixtures: paths to the real data sets, temporary databases, policies."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
POLICIES = ROOT / "policies"


@pytest.fixture
def shared_data() -> Path:
    """The folder of real public data sets; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data sets not found at {SHARED_DATA}")
    return SHARED_DATA


import datetime as dt  # noqa: E402
from decimal import Decimal  # noqa: E402

import dunlang  # noqa: E402
from engine import Claim, Customer, Engine, Money, Payment, Store  # noqa: E402


def day(text: str) -> dt.date:
    """A date from YYYY-MM-DD, for readable tests."""
    return dt.date.fromisoformat(text)


def eur(amount: str) -> Money:
    """An amount in euros."""
    return Money(Decimal(amount), "EUR")


def make_engine(tmp_path: Path, policy_text: str, name: str = "test.db") -> Engine:
    """An engine over a new database in tmp_path with the given policy text."""
    policy = dunlang.parse_policy(policy_text, "test.dun")
    return Engine(Store.open(tmp_path / name), policy)


def add_claim(
    engine: Engine,
    claim_id: str,
    due: str,
    amount: str = "100.00",
    customer: str = "K1",
    issued: str | None = None,
    kind: str = "business",
) -> None:
    """Add one EUR claim (and its customer if new)."""
    exists = engine.store.conn.execute(
        "SELECT 1 FROM customers WHERE id = ?", (customer,)
    ).fetchone()
    if not exists:
        engine.add_customers([Customer(customer, f"Customer {customer}", kind=kind)])
    due_date = day(due)
    engine.add_claims(
        [
            Claim(
                claim_id,
                customer,
                eur(amount),
                eur(amount),
                day(issued) if issued else due_date - dt.timedelta(days=30),
                due_date,
            )
        ]
    )


def add_payment(
    engine: Engine, payment_id: str, claim_id: str, amount: str, paid_on: str
) -> None:
    """Record one EUR payment."""
    engine.add_payments([Payment(payment_id, claim_id, eur(amount), day(paid_on))])


def run_days(engine: Engine, first: str, last: str) -> dict[dt.date, list[str]]:
    """Run every day from first to last; the moves of each day as 'claim:a->b'."""
    moves: dict[dt.date, list[str]] = {}
    current = day(first)
    while current <= day(last):
        result = engine.run(current, collect=True)
        moves[current] = [
            f"{s.claim_id}:{s.from_state}->{s.to_state}" for s in result.steps
        ]
        current += dt.timedelta(days=1)
    return moves


def steady_base_rates(path: Path, rate: str, first: int, last: int) -> Path:
    """A base rate table of the user's at `path`: the same rate in every
    half-year from 1 January of year `first` to 1 January of year `last`."""
    starts = [
        f"{year}-{month}-01" for year in range(first, last) for month in ("01", "07")
    ]
    rows = "".join(f"{start},{rate}\n" for start in [*starts, f"{last}-01-01"])
    path.write_text("valid_from,rate_percent\n" + rows, encoding="utf-8")
    return path
