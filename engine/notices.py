"""Notices: what one letter or e-mail tells one customer about the claims of a run.

A notice lists every claim of one customer that got a letter (or an e-mail) in
a run, with the level each claim reached and what it owes. Amounts stay `Money`
(an exact `Decimal` with its currency) throughout, and the totals are kept per
currency, so amounts in different currencies are never added up. Turning a
notice into HTML, PDF or an e-mail is the business of `engine.rendering`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from attrs import field, frozen

from .records import Claim, Customer, Money

__all__ = [
    "CurrencyTotal",
    "Notice",
    "NoticeClaim",
    "NoticeCustomer",
    "NoticeError",
    "Sender",
    "notices_by_customer",
]


class NoticeError(ValueError):
    """A notice cannot be built or rendered; the message says why in plain words."""


def _lines(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """Address lines from text with line breaks, or from a sequence of lines."""
    if value is None:
        return ()
    parts = value.splitlines() if isinstance(value, str) else list(value)
    return tuple(line.strip() for line in parts if line.strip())


def _optional(value: Any) -> Any:
    """Empty texts count as missing, so templates test one thing: is it there."""
    return value if value not in ("", None) else None


@frozen
class Sender:
    """The company a notice comes from, as printed in the letterhead and footer."""

    name: str
    address: tuple[str, ...] = field(default=(), converter=_lines)
    email: str | None = field(default=None, converter=_optional)
    phone: str | None = field(default=None, converter=_optional)
    website: str | None = field(default=None, converter=_optional)
    iban: str | None = field(default=None, converter=_optional)
    bic: str | None = field(default=None, converter=_optional)
    vat_id: str | None = field(default=None, converter=_optional)


@frozen
class NoticeCustomer:
    """The customer a notice is addressed to, in the language it is written in."""

    id: str
    name: str
    address: tuple[str, ...] = field(default=(), converter=_lines)
    language: str | None = field(default=None, converter=_optional)
    email: str | None = field(default=None, converter=_optional)

    @classmethod
    def from_customer(cls, customer: Customer) -> NoticeCustomer:
        """The addressee for a customer of the store."""
        return cls(
            customer.id,
            customer.name,
            customer.address,
            customer.language,
            customer.email,
        )


def _one_currency(claim: NoticeClaim, _attribute: Any, _value: Any) -> None:
    """A claim's amounts, fee and interest are all in the claim's currency."""
    currency = claim.open_amount.currency
    for label, money in (
        ("original amount", claim.amount),
        ("fee", claim.fee),
        ("interest", claim.interest),
    ):
        if money is not None and money.currency != currency:
            raise NoticeError(
                f"claim {claim.claim_id}: the {label} is in {money.currency} but "
                f"the open amount is in {currency}; all amounts of a claim must "
                "be in one currency"
            )


@frozen
class NoticeClaim:
    """One claim on a notice: the level it reached in the run, and what it owes.

    `level` is the state the claim reached; `measure` the measure that wrote
    the letter or e-mail. A claim without fee or interest has `None` there.
    `plan_overdue`: the claim is under a payment plan, and `open_amount` is
    only the overdue part of its instalments, not all that is open.
    """

    claim_id: str
    level: str
    issue_date: dt.date
    due_date: dt.date
    amount: Money
    open_amount: Money = field(validator=_one_currency)
    fee: Money | None = None
    interest: Money | None = None
    measure: str | None = None
    plan_overdue: bool = False

    @classmethod
    def from_claim(
        cls,
        claim: Claim,
        level: str | None = None,
        *,
        fee: Money | None = None,
        interest: Money | None = None,
        measure: str | None = None,
        overdue: Money | None = None,
    ) -> NoticeClaim:
        """The notice line for a claim of the store; the level defaults to its state.

        `overdue`: for a claim under a payment plan, the overdue part of its
        instalments, which the notice asks for instead of all that is open.
        """
        reached = level or claim.state
        if not reached:
            raise NoticeError(
                f"claim {claim.id}: no level given and the claim has no state yet"
            )
        return cls(
            claim.id,
            reached,
            claim.issue_date,
            claim.due_date,
            claim.amount,
            claim.open_amount if overdue is None else overdue,
            fee,
            interest,
            measure,
            overdue is not None,
        )

    @property
    def currency(self) -> str:
        """The currency all of this claim's amounts are in."""
        return self.open_amount.currency

    @property
    def total(self) -> Money:
        """What the customer owes on this claim: the open amount, fee and interest."""
        extra = sum(
            (m.amount for m in (self.fee, self.interest) if m is not None), Decimal(0)
        )
        return Money(self.open_amount.amount + extra, self.currency)


@frozen
class CurrencyTotal:
    """What the claims of a notice in one currency add up to."""

    currency: str
    amount: Money
    open_amount: Money
    fee: Money
    interest: Money
    total: Money


def _as_claims(claims: Iterable[NoticeClaim]) -> tuple[NoticeClaim, ...]:
    """The claims of a notice as a tuple, which templates cannot change."""
    return tuple(claims)


def _claims_fit(
    notice: Notice, _attribute: Any, claims: tuple[NoticeClaim, ...]
) -> None:
    """A notice lists at least one claim, and each claim once."""
    if not claims:
        raise NoticeError(
            f"the notice for customer {notice.customer.id} lists no claim; "
            "a notice needs at least one"
        )
    seen: set[str] = set()
    for claim in claims:
        if claim.claim_id in seen:
            raise NoticeError(
                f"the notice for customer {notice.customer.id} lists claim "
                f"{claim.claim_id} twice; a claim appears on a notice once"
            )
        seen.add(claim.claim_id)


def _pay_by_fits(notice: Notice, _attribute: Any, pay_by: dt.date | None) -> None:
    """A payment deadline lies on or after the as-of date."""
    if pay_by is not None and pay_by < notice.as_of:
        raise NoticeError(
            f"the notice for customer {notice.customer.id} asks for payment by "
            f"{pay_by.isoformat()}, before its own date {notice.as_of.isoformat()}"
        )


@frozen
class Notice:
    """One letter or e-mail to one customer about the claims a run dunned.

    `as_of` is the run's date, printed as the date of the notice; `pay_by`, if
    given, the date by which the customer is asked to pay.
    """

    customer: NoticeCustomer
    sender: Sender
    as_of: dt.date
    claims: tuple[NoticeClaim, ...] = field(converter=_as_claims, validator=_claims_fit)
    run_id: int | None = None
    pay_by: dt.date | None = field(default=None, validator=_pay_by_fits)

    @property
    def currencies(self) -> tuple[str, ...]:
        """The currencies of the claims, in the order the claims are listed."""
        return tuple(dict.fromkeys(claim.currency for claim in self.claims))

    @property
    def totals(self) -> tuple[CurrencyTotal, ...]:
        """One total per currency, in the order of `currencies`; never mixed."""
        return tuple(self._total(currency) for currency in self.currencies)

    def _total(self, currency: str) -> CurrencyTotal:
        claims = [claim for claim in self.claims if claim.currency == currency]

        def add(amounts: Iterable[Money | None]) -> Money:
            values = (money.amount for money in amounts if money is not None)
            return Money(sum(values, Decimal(0)), currency)

        return CurrencyTotal(
            currency,
            amount=add(claim.amount for claim in claims),
            open_amount=add(claim.open_amount for claim in claims),
            fee=add(claim.fee for claim in claims),
            interest=add(claim.interest for claim in claims),
            total=add(claim.total for claim in claims),
        )


def notices_by_customer(
    entries: Iterable[tuple[NoticeCustomer, NoticeClaim]],
    *,
    sender: Sender,
    as_of: dt.date,
    run_id: int | None = None,
    pay_by: dt.date | None = None,
) -> list[Notice]:
    """One notice per customer from the claims a run wrote to, in first-seen order.

    Give the letters and the e-mails of a run separately: each gets its own
    notices.
    """
    customers: dict[str, NoticeCustomer] = {}
    claims: dict[str, list[NoticeClaim]] = {}
    for customer, claim in entries:
        known = customers.setdefault(customer.id, customer)
        if known != customer:
            raise NoticeError(
                f"customer {customer.id} is given twice with different details "
                f"(on claim {claim.claim_id}); give one record per customer"
            )
        claims.setdefault(customer.id, []).append(claim)

    return [
        Notice(
            customers[customer_id],
            sender,
            as_of,
            listed,
            run_id=run_id,
            pay_by=pay_by,
        )
        for customer_id, listed in claims.items()
    ]
