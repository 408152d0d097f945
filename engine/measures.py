"""Measures as outbox items: what a measure will do for a claim, with its amounts.

A run only records measures as pending items; sending them is a separate step.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

from babel.numbers import get_currency_precision

from dunlang.model import Measure, Money


@lru_cache(maxsize=64)
def _minor_unit(currency: str) -> Decimal:
    """0.01 for EUR, 1 for JPY; babel looks it up slowly, so once per currency."""
    return Decimal(1).scaleb(-get_currency_precision(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round half up to the currency's minor unit (2 for EUR, 0 for JPY)."""
    return amount.quantize(_minor_unit(currency), rounding=ROUND_HALF_UP)


def round_charge(amount: Decimal, currency: str, step: Decimal | None) -> Decimal:
    """An amount to charge: half up to the currency's minor unit, then half up
    to a multiple of the policy's cash rounding step (0.05 for CHF), if any."""
    rounded = round_money(amount, currency)
    if not step:
        return rounded
    units = (rounded / step).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return round_money(units * step, currency)


def outbox_row(
    measure: Measure,
    *,
    run_id: int,
    transition_id: int,
    as_of: dt.date,
    claim_id: str,
    customer_id: str,
    open_amount: Money,
) -> dict[str, Any]:
    """The pending outbox item a measure creates for one claim. Its fee is
    the one the charges book with it (`engine.charges`), filled in after."""
    cost = measure.cost.fixed if measure.cost and measure.cost.fixed else None
    return {
        "run_id": run_id,
        "transition_id": transition_id,
        "as_of": as_of.isoformat(),
        "claim_id": claim_id,
        "customer_id": customer_id,
        "measure": measure.name,
        "kind": measure.kind.value,
        "template": measure.template,
        "queue": measure.queue,
        "agency": measure.agency,
        "text": measure.text,
        "open_amount": str(open_amount.amount),
        "currency": open_amount.currency,
        "fee": None,
        "cost": str(cost.amount) if cost else None,
        "status": "pending",
    }
