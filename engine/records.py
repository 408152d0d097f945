"""Typed records of the engine: what is imported, what a run decides, what is audited.

Money is always `Decimal` with a currency, never float.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from attrs import field, frozen

from dunlang.model import Money

__all__ = [
    "AuditChange",
    "ChargeRecord",
    "Claim",
    "Customer",
    "Event",
    "MeasureItem",
    "Money",
    "Payment",
    "Run",
    "TransitionRecord",
]


@frozen
class Customer:
    """Someone who owes the company money."""

    id: str
    name: str = ""
    kind: str = "business"
    segment: str | None = None
    country: str | None = None
    language: str | None = None
    email: str | None = None
    address: str | None = None
    credit_limit: Money | None = None
    dunning_group: str | None = None
    attributes: dict[str, Any] = field(factory=dict)


@frozen
class Claim:
    """An open receivable (an invoice or an instalment) and where dunning has it."""

    id: str
    customer_id: str
    amount: Money
    open_amount: Money
    issue_date: dt.date
    due_date: dt.date
    kind: str = "invoice"
    attributes: dict[str, Any] = field(factory=dict)
    group: str | None = None
    state: str | None = None
    state_since: dt.date | None = None
    next_check: dt.date | None = None
    settled_on: dt.date | None = None


@frozen
class Payment:
    """Money received for a claim, or a credit note that reduces it."""

    id: str
    claim_id: str
    amount: Money
    paid_on: dt.date
    kind: str = "payment"


@frozen
class Event:
    """Something that happened to a claim or customer outside the timers."""

    id: str
    kind: str
    happened_on: dt.date
    claim_id: str | None = None
    customer_id: str | None = None
    until: dt.date | None = None
    amount: Money | None = None
    reason: str | None = None
    actor: str = "import"


@frozen
class Run:
    """One daily run of a policy for an as-of date."""

    id: int
    as_of: dt.date
    status: str
    policy_name: str
    policy_version: str
    policy_digest: str
    claims_evaluated: int = 0
    transitions: int = 0
    measures: int = 0
    replay: bool = False


@frozen
class TransitionRecord:
    """One audit-trail entry: a claim moved from one state to another, and why."""

    id: int
    run_id: int | None
    as_of: dt.date
    claim_id: str
    customer_id: str
    group: str
    from_state: str | None
    to_state: str
    trigger: str
    rule: str
    policy_path: str | None
    policy_line: int | None
    policy_digest: str | None
    reason: str
    seen: dict[str, Any]
    measures: list[str]
    actor: str


@frozen
class MeasureItem:
    """A measure waiting in the outbox (or already carried out)."""

    id: int
    run_id: int
    transition_id: int
    as_of: dt.date
    claim_id: str
    customer_id: str
    measure: str
    kind: str
    open_amount: Money
    fee: Money | None = None
    cost: Money | None = None
    template: str | None = None
    queue: str | None = None
    agency: str | None = None
    text: str | None = None
    status: str = "pending"
    attempts: int = 0
    last_error: str | None = None
    channel: str | None = None
    sent_at: str | None = None
    document: str | None = None


@frozen
class ChargeRecord:
    """A fee, flat fee or interest a claim owes besides its principal."""

    id: int
    claim_id: str
    customer_id: str
    kind: str
    """`fee`, `flat_fee` or `interest`."""
    measure: str
    """The measure that charged a fee; empty for flat fee and interest."""
    run_id: int | None
    transition_id: int | None
    as_of: dt.date
    amount: Money
    open_amount: Money
    settled_on: dt.date | None
    basis: str
    """In words, how the amount was worked out."""


@frozen
class AuditChange:
    """A change to imported data (a corrected amount, a new address), audited."""

    id: int
    recorded_at: str
    actor: str
    table: str
    row_id: str
    field: str
    old_value: str | None
    new_value: str | None
    source: str | None


def money(amount: str | Decimal | None, currency: str | None) -> Money | None:
    """A Money from stored text, or None when the amount is empty."""
    if amount is None or amount == "" or currency is None:
        return None
    return Money(Decimal(amount), currency)
