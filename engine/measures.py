"""Measures as outbox items: what a measure will do for a claim, with its amounts.

A run only records measures as pending items; sending them is a separate step.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

from babel.numbers import get_currency_precision

from dunlang.model import Measure, MeasureKind, Money


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


OUTBOX_COLUMNS = (
    "run_id",
    "transition_id",
    "as_of",
    "claim_id",
    "customer_id",
    "open_amount",
    "currency",
    "fee",
    # The same for every item of a measure (`outbox_parts`):
    "measure",
    "kind",
    "template",
    "queue",
    "agency",
    "text",
    "cost",
    "status",
)
"""The columns of `measures` a run fills, in the order of `outbox_row`."""


def outbox_parts(measure: Measure) -> tuple[Any, ...]:
    """What every pending outbox item of a measure has in common: the values
    of the columns from `measure` on, as `OUTBOX_COLUMNS` lists them."""
    cost = measure.cost.fixed if measure.cost and measure.cost.fixed else None
    return (
        measure.name,
        measure.kind.value,
        measure.template,
        measure.queue,
        measure.agency,
        measure.text,
        str(cost.amount) if cost else None,
        # A write-off is carried out by the run itself (engine/stepping.py).
        "done" if measure.kind is MeasureKind.WRITE_OFF else "pending",
    )


def outbox_row(
    parts: tuple[Any, ...],
    *,
    run_id: int,
    transition_id: int,
    day: str,
    claim_id: str,
    customer_id: str,
    open_amount: Money,
    fee: Decimal | None,
) -> tuple[Any, ...]:
    """The pending outbox item a measure (its `outbox_parts`) creates for one
    claim, as values in the order of `OUTBOX_COLUMNS`. The fee is the one the
    charges booked with it (`engine.charges`): None when there was none."""
    return (
        run_id,
        transition_id,
        day,
        claim_id,
        customer_id,
        str(open_amount.amount),
        open_amount.currency,
        str(fee) if fee is not None else None,
        *parts,
    )
