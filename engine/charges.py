"""Fees and default interest as receivables of their own, next to the principal.

A run books a `fee` charge when it records a measure with a fee, switches
interest on for a claim when a measure says `interest ...` (with the flat fee
of § 288(5) BGB for business debtors), and books an `interest` charge with the
exact amount once the principal is paid in full. When the base rate table does
not reach the payment day yet, the claim keeps the day in `interest_until`
and every later run tries again, until the table has the rate and the
interest is booked. A payment pays the principal
first; what exceeds it pays the claim's open charges, oldest first. Every
amount charged is rounded to the currency's minor unit and then, if the policy
has `rounding`, to its cash rounding step. docs/charges.md explains the rules.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from attrs import field, frozen

from dunlang.model import Fee, Interest, InterestKind, Measure, Money, Policy

from .interest import (
    FLAT_FEE,
    BaseRateTable,
    InterestBreakdown,
    InterestError,
    bundled_base_rates,
    compute_interest,
)
from .measures import round_charge, round_money

log = logging.getLogger(__name__)

__all__ = [
    "BatchClaim",
    "ChargeBook",
    "ChargesError",
    "ClaimCharges",
    "charges_summary",
    "fee_charge",
    "interest_terms",
    "round_charge",
]

ONE_DAY = dt.timedelta(days=1)
FEE_KINDS = ("fee", "flat_fee")
CANCELLED = "; cancelled: "
"""How the basis of a charge a back-dated payment cancelled goes on."""


class ChargesError(ValueError):
    """Charges cannot be read or worked out: an unknown claim, bad stored terms."""


# ---- amounts ------------------------------------------------------------------


def _text(amount: Decimal, currency: str) -> str:
    """An amount as the basis texts show it: the currency's decimals, no grouping."""
    return f"{round_money(amount, currency)} {currency}"


def fee_charge(
    fee: Fee, open_amount: Money, step: Decimal | None = None
) -> tuple[Money, str]:
    """The fee a measure charges on a claim with this open principal, and in
    words how it was worked out (the charge's `basis`)."""
    currency = open_amount.currency
    if fee.fixed is not None:
        amount = fee.fixed.amount
        basis = f"fixed fee of {_text(amount, currency)}"
    else:
        assert fee.percent is not None
        principal = max(open_amount.amount, Decimal(0))
        amount = principal * fee.percent / Decimal(100)
        basis = f"{fee.percent} % of {_text(principal, currency)} open"
        if fee.minimum is not None and amount < fee.minimum.amount:
            amount = fee.minimum.amount
            basis += f", at least {_text(amount, currency)}"
        elif fee.maximum is not None and amount > fee.maximum.amount:
            amount = fee.maximum.amount
            basis += f", at most {_text(amount, currency)}"
    charged = round_charge(amount, currency, step)
    if step and charged != round_money(amount, currency):
        basis += f", rounded to {step}"
    return Money(charged, currency), basis


# ---- interest terms as stored on a claim ----------------------------------------


def interest_terms(stored: str) -> Interest:
    """The interest a claim's `interest` column names: statutory, eu or fixed:N."""
    if stored == InterestKind.STATUTORY.value:
        return Interest(InterestKind.STATUTORY)
    if stored == InterestKind.EU.value:
        return Interest(InterestKind.EU)
    kind, _, rate = stored.partition(":")
    if kind == InterestKind.FIXED.value and rate:
        return Interest(InterestKind.FIXED, Decimal(rate))
    raise ChargesError(
        f"stored interest `{stored}` is not statutory, eu or fixed:RATE "
        "(for example fixed:8.5)"
    )


def _stored_terms(terms: Interest) -> str:
    if terms.kind is InterestKind.FIXED:
        return f"fixed:{terms.rate}"
    return terms.kind.value


def _owes_flat_fee(terms: Interest, debtor: str, currency: str) -> bool:
    """§ 288(5) BGB (and Article 6 of 2011/7/EU): businesses, EUR claims."""
    return (
        terms.kind in (InterestKind.STATUTORY, InterestKind.EU)
        and debtor == "business"
        and currency == FLAT_FEE.currency
    )


@frozen
class _Principal:
    """How a claim's principal went down: the amount at the start and each
    payment's share of it, in the order the payments were applied."""

    start: Decimal
    reductions: tuple[tuple[dt.date, Decimal], ...]

    @property
    def paid_on(self) -> dt.date | None:
        """The day the principal was paid in full, if it was."""
        left = self.start
        for day, amount in self.reductions:
            left -= amount
            if left <= 0:
                return day
        return None if self.start > 0 else dt.date.min


def _principal(
    start: Decimal, payments: Iterable[tuple[dt.date, Decimal]]
) -> _Principal:
    """Each payment reduces the principal by at most what is still open of it."""
    left = max(start, Decimal(0))
    reductions: list[tuple[dt.date, Decimal]] = []
    for day, amount in payments:
        share = min(amount, left)
        if share > 0:
            reductions.append((day, share))
            left -= share
    return _Principal(max(start, Decimal(0)), tuple(reductions))


def _stored_principal(
    conn: sqlite3.Connection, claim_id: str
) -> tuple[Decimal, list[tuple[dt.date, Decimal]]]:
    """The claim's principal (its amount) and the payments runs applied to it,
    in order. Payments pay the principal first, so the principal on a day is
    the amount less what was paid up to then."""
    row = conn.execute("SELECT amount FROM claims WHERE id = ?", (claim_id,)).fetchone()
    payments = [
        (dt.date.fromisoformat(day), Decimal(amount))
        for day, amount in conn.execute(
            "SELECT paid_on, amount FROM payments WHERE claim_id = ? "
            "AND applied_run IS NOT NULL ORDER BY paid_on, id",
            (claim_id,),
        )
    ]
    return Decimal(row[0]), payments


def _accrued(
    terms: Interest,
    since: dt.date,
    principal: _Principal,
    currency: str,
    debtor: str,
    last_day: dt.date,
    base_rates: BaseRateTable | None = None,
) -> InterestBreakdown:
    """Interest from `since` up to and including `last_day`."""
    return compute_interest(
        terms,
        Money(principal.start, currency),
        since - ONE_DAY,
        last_day,
        debtor=debtor,
        payments=[
            (day, Money(amount, currency)) for day, amount in principal.reductions
        ],
        base_rates=base_rates,
    )


def _interest_basis(breakdown: InterestBreakdown) -> str:
    parts = "; ".join(
        f"{part.first_day}..{part.last_day} {part.days} days at {part.rate} % "
        f"on {part.principal} = {part.amount}"
        for part in breakdown.parts
    )
    return f"{breakdown.kind.value} interest: {parts or 'no days in default'}"


# ---- reading what a claim owes besides the principal ------------------------------


@frozen
class ClaimCharges:
    """What one claim owes besides its principal on a given day."""

    fees: Money
    """Open fee and flat fee charges."""
    interest: Money
    """Open booked interest, plus interest accrued but not yet booked."""
    currency: str


def charges_summary(
    conn: sqlite3.Connection,
    claim_ids: Sequence[str],
    on: dt.date,
    *,
    rounding: Decimal | None = None,
    base_rates: BaseRateTable | None = None,
) -> dict[str, ClaimCharges]:
    """Fees and interest each claim owes on `on`, by claim id.

    Interest not yet booked accrues on the open principal up to `on` (or up to
    the day the principal was paid); `rounding` is the policy's cash rounding
    step for that accrued amount, `base_rates` the base rate table (default:
    the bundled one). An unknown claim id is an error.
    """
    found: dict[str, ClaimCharges] = {}
    for claim_id in dict.fromkeys(claim_ids):
        row = conn.execute(
            "SELECT c.currency, c.settled_on, c.interest, c.interest_since, k.kind "
            "FROM claims c JOIN customers k ON k.id = c.customer_id WHERE c.id = ?",
            (claim_id,),
        ).fetchone()
        if row is None:
            raise ChargesError(f"claim `{claim_id}` does not exist")
        currency, settled_on, stored, since, debtor = row

        fees = interest = Decimal(0)
        booked = False
        for kind, left, as_of in conn.execute(
            "SELECT kind, open_amount, as_of FROM charges WHERE claim_id = ?",
            (claim_id,),
        ):
            if as_of > on.isoformat():
                continue
            if kind == "interest":
                booked = True
                interest += Decimal(left)
            else:
                fees += Decimal(left)

        if stored and since and not booked:
            start, payments = _stored_principal(conn, claim_id)
            principal = _principal(
                start, [(day, amount) for day, amount in payments if day <= on]
            )
            # Interest runs until the principal is paid, or until the claim
            # was settled otherwise (a small balance written off).
            ends = principal.paid_on or (
                dt.date.fromisoformat(settled_on) if settled_on else None
            )
            last_day = min(on, ends) if ends else on
            breakdown = _accrued(
                interest_terms(stored),
                dt.date.fromisoformat(since),
                principal,
                currency,
                debtor,
                last_day,
                base_rates,
            )
            interest += round_charge(breakdown.interest.amount, currency, rounding)

        found[claim_id] = ClaimCharges(
            Money(fees, currency), Money(interest, currency), currency
        )
    return found


# ---- booking during a run ----------------------------------------------------------


@frozen
class BatchClaim:
    """One claim as a run batch leaves it, for booking its charges.

    `steps` are (transition id, day, measure names) in the order of the moves;
    `open_before` is the stored open amount before the batch, `open_amount` the
    amount after its payments (negative when more was paid than was open).
    """

    claim_id: str
    customer_id: str
    currency: str
    due_date: dt.date
    open_before: Decimal
    open_amount: Decimal
    steps: tuple[tuple[int, dt.date, tuple[str, ...]], ...] = field(default=())
    bases: tuple[Decimal, ...] = field(default=())
    """For each step, what its measures ask for: the base of a percentage fee
    (under a payment plan, the overdue part). Empty: the open principal."""
    interest: str | None = None
    """The stored interest terms (`claims.interest`), None while it is off."""
    interest_since: str | None = None
    interest_until: str | None = None
    """Set while interest up to that day waits for the base rate table."""


@frozen
class _Payment:
    position: int
    on: dt.date
    amount: Decimal
    kind: str
    open_before: Decimal


class ChargeBook:
    """Books the charges of the claims one run batch moved or paid.

    `base_rates` is the base rate table for statutory and eu interest; by
    default the bundled one (docs/interest.md says how to update it).
    """

    def __init__(
        self, policy: Policy, *, base_rates: BaseRateTable | None = None
    ) -> None:
        self.measures: dict[str, Measure] = policy.measures
        self.step = policy.header.rounding
        self._with_interest = {
            name for name, measure in self.measures.items() if measure.interest
        }
        self._charging = frozenset(
            name
            for name, measure in self.measures.items()
            if measure.fee is not None or measure.interest is not None
        )
        self.base_rates = base_rates
        self._payments: dict[str, list[_Payment]] = {}
        # Written in bulk at the end of a batch (or before open charges are
        # read back): rows for `charges`, and claims whose interest waits for
        # the base rate table (or no longer).
        self._rows: list[tuple[Any, ...]] = []
        self._waiting: dict[str, str | None] = {}
        # Claims whose interest starts in this batch: kept for the whole
        # batch (a payment after the switch books the interest) and stored
        # by the run with each claim's update (`interest_switched`).
        self._switched: dict[str, tuple[str, str]] = {}
        # Fees the last `book` charged, by transition id and measure, and the
        # (claim, measure) pairs that already have their fee.
        self._fees: dict[tuple[int, str], Decimal] = {}
        self._switches: dict[str, tuple[str, str]] = {}
        self._charged: set[tuple[str, str]] = set()
        # Claims of the batch with open charges stored before it, and claims
        # it booked charges for.
        self._open: set[str] = set()
        self._booked: set[str] = set()

    def concerns(self, claim_id: str, measures: Iterable[tuple[str, ...]]) -> bool:
        """True when a claim of the batch books or pays charges: it has a
        payment noted, or a step with a measure that charges a fee or switches
        interest on. `book` wants only such claims."""
        return claim_id in self._payments or any(
            name in self._charging for names in measures for name in names
        )

    def interest_switched(self) -> dict[str, tuple[str, str]]:
        """The claims whose interest the last `book` switched on: by claim id,
        the terms as `claims.interest` stores them and the first day."""
        return dict(self._switches)

    def fees_booked(self) -> dict[tuple[int, str], Decimal]:
        """The fees the last `book` charged, by transition id and measure name;
        a measure whose fee the claim was charged before is not among them."""
        return dict(self._fees)

    @property
    def table(self) -> BaseRateTable:
        """The base rate table this book computes interest with."""
        return self.base_rates if self.base_rates is not None else bundled_base_rates()

    def note_payment(
        self,
        claim_id: str,
        position: int,
        on: dt.date,
        amount: Money,
        kind: str,
        open_before: Money,
    ) -> None:
        """A payment the run applied; `position` is how many moves the claim
        had made in the batch before it."""
        self._payments.setdefault(claim_id, []).append(
            _Payment(position, on, amount.amount, kind, open_before.amount)
        )

    def forget(self) -> None:
        """Drop what was noted (a batch is done, or it was rolled back)."""
        self._payments.clear()
        self._rows.clear()
        self._switched.clear()
        self._waiting.clear()
        self._charged.clear()

    def _flush(self, conn: sqlite3.Connection) -> None:
        """Write the charges and waiting interest noted so far."""
        if self._rows:
            conn.executemany(
                "INSERT OR IGNORE INTO charges (claim_id, customer_id, kind, "
                "measure, run_id, transition_id, as_of, amount, currency, "
                "open_amount, basis) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                self._rows,
            )
            self._rows.clear()
        if self._waiting:
            conn.executemany(
                "UPDATE claims SET interest_until = ? WHERE id = ?",
                [(until, ident) for ident, until in self._waiting.items()],
            )
            self._waiting.clear()

    def book(
        self,
        conn: sqlite3.Connection,
        claims: Sequence[BatchClaim],
        run_id: int,
        as_of: dt.date,
    ) -> dict[str, Decimal]:
        """Write the batch's charges for the claims `concerns` names; the open
        principal of each claim whose payments also paid charges (the run
        stores that instead). The claims whose interest this batch switched on
        are left to the caller to store, with the rest of each claim
        (`interest_switched`)."""
        self._fees = {}
        self._switches = {}
        self._booked = set()
        try:
            wanted = list(claims)
            if not wanted:
                return {}
            self._charged = self._fees_charged(conn, wanted)
            self._open = self._with_open_charges(
                conn, [c.claim_id for c in wanted if c.claim_id in self._payments]
            )
            # Whether the debtor is a business matters only where interest is
            # on or switched on (its rate, the flat fee).
            debtors = self._debtors(
                conn,
                {
                    c.customer_id
                    for c in wanted
                    if c.interest
                    or any(set(names) & self._with_interest for _, _, names in c.steps)
                },
            )
            adjusted: dict[str, Decimal] = {}
            for claim in wanted:
                used = self._book_claim(
                    conn, claim, debtors.get(claim.customer_id, ""), run_id, as_of
                )
                if used:
                    adjusted[claim.claim_id] = claim.open_amount + used
            self._flush(conn)
            self._switches = dict(self._switched)
            return adjusted
        finally:
            self.forget()

    def book_waiting(
        self, conn: sqlite3.Connection, run_id: int, as_of: dt.date
    ) -> list[str]:
        """Book the interest of paid claims that waited for the base rate table,
        where it now reaches their payment day; a problem line for those that
        still wait."""
        last_day = self.table.last_day
        try:
            for row in conn.execute(
                "SELECT c.id, c.customer_id, c.currency, c.due_date, c.open_amount, "
                "c.interest, c.interest_since, c.interest_until, k.kind "
                "FROM claims c JOIN customers k ON k.id = c.customer_id "
                "WHERE c.interest_until IS NOT NULL AND c.interest_until <= ? "
                "ORDER BY c.interest_until, c.id",
                (last_day.isoformat(),),
            ).fetchall():
                claim = BatchClaim(
                    claim_id=row[0],
                    customer_id=row[1],
                    currency=row[2],
                    due_date=dt.date.fromisoformat(row[3]),
                    open_before=Decimal(row[4]),
                    open_amount=Decimal(row[4]),
                    interest=row[5],
                    interest_since=row[6],
                    interest_until=row[7],
                )
                paid_on = dt.date.fromisoformat(row[7])
                self._book_interest(conn, claim, row[8], paid_on, run_id, as_of)
            self._flush(conn)
        finally:
            self.forget()

        waiting = conn.execute(
            "SELECT count(*) FROM claims WHERE interest_until IS NOT NULL "
            "AND interest_until > ?",
            (last_day.isoformat(),),
        ).fetchone()[0]
        if not waiting:
            return []
        claims = "paid claim" if waiting == 1 else "paid claims"
        return [
            f"interest on {waiting} {claims} waits for the base rate of "
            f"{last_day + ONE_DAY}; update the base rate table"
        ]

    def bookable_waiting(self, conn: sqlite3.Connection) -> bool:
        """True when some claim's waiting interest can now be booked."""
        return bool(
            conn.execute(
                "SELECT 1 FROM claims WHERE interest_until IS NOT NULL "
                "AND interest_until <= ? LIMIT 1",
                (self.table.last_day.isoformat(),),
            ).fetchone()
        )

    def _fees_charged(
        self, conn: sqlite3.Connection, claims: Sequence[BatchClaim]
    ) -> set[tuple[str, str]]:
        """(claim, measure) pairs among these claims whose fee is booked already:
        a fee is charged once per claim and measure."""
        with_fees = {name for name, m in self.measures.items() if m.fee is not None}
        ids = [
            claim.claim_id
            for claim in claims
            if any(set(names) & with_fees for _, _, names in claim.steps)
        ]
        found: set[tuple[str, str]] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            found.update(
                conn.execute(
                    f"SELECT claim_id, measure FROM charges WHERE kind = 'fee' "
                    f"AND claim_id IN ({marks})",
                    chunk,
                ).fetchall()
            )
        return found

    @staticmethod
    def _with_open_charges(conn: sqlite3.Connection, ids: list[str]) -> set[str]:
        """Those of these claims that have open charges: only their payments
        can pay or cancel charges, so only they need the charges read back."""
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            found.update(
                row[0]
                for row in conn.execute(
                    f"SELECT DISTINCT claim_id FROM charges WHERE settled_on IS NULL "
                    f"AND claim_id IN ({marks})",
                    chunk,
                )
            )
        return found

    def _may_have_open_charges(self, claim_id: str) -> bool:
        """True unless the claim surely has no open charge: none stored before
        the batch, and none booked in it."""
        return claim_id in self._open or claim_id in self._booked

    @staticmethod
    def _debtors(conn: sqlite3.Connection, ids: set[str]) -> dict[str, str]:
        if not ids:
            return {}
        marks = ", ".join("?" for _ in ids)
        return dict(
            conn.execute(
                f"SELECT id, kind FROM customers WHERE id IN ({marks})", tuple(ids)
            ).fetchall()
        )

    def _book_claim(
        self,
        conn: sqlite3.Connection,
        claim: BatchClaim,
        debtor: str,
        run_id: int,
        as_of: dt.date,
    ) -> Decimal:
        """Moves and payments of one claim in the order they happened; returns
        what its payments paid on charges."""
        payments = self._payments.get(claim.claim_id, [])
        principal = payments[0].open_before if payments else claim.open_amount
        used = Decimal(0)
        index = 0
        for position, (transition_id, day, names) in enumerate(claim.steps):
            while index < len(payments) and payments[index].position <= position:
                used += self._pay(conn, claim, debtor, payments[index], run_id, as_of)
                principal = payments[index].open_before - payments[index].amount
                index += 1
            base = claim.bases[position] if claim.bases else principal
            for name in names:
                self._measure(
                    conn,
                    claim,
                    debtor,
                    self.measures[name],
                    Money(max(base, Decimal(0)), claim.currency),
                    transition_id,
                    day,
                    run_id,
                    as_of,
                )
        for payment in payments[index:]:
            used += self._pay(conn, claim, debtor, payment, run_id, as_of)
        return used

    def _measure(
        self,
        conn: sqlite3.Connection,
        claim: BatchClaim,
        debtor: str,
        measure: Measure,
        principal: Money,
        transition_id: int,
        day: dt.date,
        run_id: int,
        as_of: dt.date,
    ) -> None:
        """The fee of a measure, once per claim; interest switched on, once."""
        charged = (claim.claim_id, measure.name)
        if measure.fee is not None and charged not in self._charged:
            amount, basis = fee_charge(measure.fee, principal, self.step)
            self._insert(
                conn, claim, "fee", measure.name, amount, basis, run_id,
                transition_id, as_of,
            )  # fmt: skip
            self._charged.add(charged)
            if amount.amount > 0:
                self._fees[(transition_id, measure.name)] = amount.amount
        if measure.interest is None:
            return

        since = claim.due_date + ONE_DAY
        switched = not claim.interest and claim.claim_id not in self._switched
        if switched:
            terms = _stored_terms(measure.interest)
            self._switched[claim.claim_id] = (terms, since.isoformat())
            log.debug("claim %s: %s interest from %s", claim.claim_id, terms, since)
        if switched and _owes_flat_fee(measure.interest, debtor, claim.currency):
            flat = round_charge(FLAT_FEE.amount, claim.currency, self.step)
            self._insert(
                conn, claim, "flat_fee", "", Money(flat, claim.currency),
                f"flat fee of {FLAT_FEE} owed by a business debtor in default "
                f"(§ 288(5) BGB), with {measure.interest.kind.value} interest "
                f"switched on by measure `{measure.name}` on {day}",
                run_id, transition_id, as_of,
            )  # fmt: skip

    def _pay(
        self,
        conn: sqlite3.Connection,
        claim: BatchClaim,
        debtor: str,
        payment: _Payment,
        run_id: int,
        as_of: dt.date,
    ) -> Decimal:
        """Book interest if this payment completes the principal, then let what
        exceeds the principal pay open charges, oldest first."""
        after = payment.open_before - payment.amount
        if payment.open_before > 0 and after <= 0:
            self._cancel_after(conn, claim.claim_id, payment.on)
            self._book_interest(conn, claim, debtor, payment.on, run_id, as_of)
        if payment.kind != "payment":
            return Decimal(0)
        excess = payment.amount - max(payment.open_before, Decimal(0))
        if excess <= 0:
            return Decimal(0)

        if not self._may_have_open_charges(claim.claim_id):
            return Decimal(0)
        used = Decimal(0)
        self._flush(conn)  # charges booked earlier in this batch are open too
        for ident, left in conn.execute(
            "SELECT id, open_amount FROM charges WHERE claim_id = ? "
            "AND settled_on IS NULL ORDER BY as_of, id",
            (claim.claim_id,),
        ).fetchall():
            share = min(Decimal(left), excess - used)
            if share <= 0:
                break
            rest = Decimal(left) - share
            conn.execute(
                "UPDATE charges SET open_amount = ?, settled_on = ? WHERE id = ?",
                (str(rest), payment.on.isoformat() if rest <= 0 else None, ident),
            )
            used += share
        return used

    def _cancel_after(
        self, conn: sqlite3.Connection, claim_id: str, paid_on: dt.date
    ) -> None:
        """Cancel the open fees and flat fee booked for steps after the day the
        principal was paid in full: a payment recorded late (back-dated) shows
        that the customer owed them nothing. The rows stay, with open amount 0,
        `settled_on` the payment day and the reason in the basis; each change
        lands in `audit_changes`."""
        if not self._may_have_open_charges(claim_id):
            return
        self._flush(conn)  # fees booked earlier in this batch count too
        day = paid_on.isoformat()
        marks = ", ".join("?" for _ in FEE_KINDS)
        rows = conn.execute(
            f"SELECT id, kind, measure, as_of, open_amount, basis FROM charges "
            f"WHERE claim_id = ? AND kind IN ({marks}) AND as_of > ? "
            "AND settled_on IS NULL ORDER BY id",
            (claim_id, *FEE_KINDS, day),
        ).fetchall()
        now = _now()
        for ident, kind, measure, step_day, left, basis in rows:
            note = f"the claim was paid on {day}, before the step of {step_day}"
            conn.execute(
                "UPDATE charges SET open_amount = ?, settled_on = ?, basis = ? "
                "WHERE id = ?",
                (_zero_text(left), day, basis + CANCELLED + note, ident),
            )
            what = f"{kind.replace('_', ' ')} {measure}".strip()
            source = f"{what} cancelled: {note}"
            conn.executemany(
                "INSERT INTO audit_changes (recorded_at, actor, table_name, row_id, "
                "field, old_value, new_value, source) "
                "VALUES (?, 'run', 'charges', ?, ?, ?, ?, ?)",
                [
                    (now, str(ident), "open_amount", left, _zero_text(left), source),
                    (now, str(ident), "settled_on", None, day, source),
                ],
            )
            log.info("claim %s: %s", claim_id, source)

    def _book_interest(
        self,
        conn: sqlite3.Connection,
        claim: BatchClaim,
        debtor: str,
        paid_on: dt.date,
        run_id: int,
        as_of: dt.date,
    ) -> None:
        """The interest charge, once the principal is paid in full."""
        stored = (
            (claim.interest, claim.interest_since)
            if claim.interest
            else self._switched.get(claim.claim_id)
        )
        if stored is None or not stored[0] or not stored[1]:
            return
        start, applied = _stored_principal(conn, claim.claim_id)
        batch = [
            (p.on, p.amount)
            for p in self._payments.get(claim.claim_id, [])
            if p.on <= paid_on
        ]
        principal = _principal(start, [*applied, *batch])
        terms = interest_terms(stored[0])
        try:
            breakdown = _accrued(
                terms,
                dt.date.fromisoformat(stored[1]),
                principal,
                claim.currency,
                debtor,
                paid_on,
                self.table,
            )
        except InterestError as error:
            if terms.kind is not InterestKind.FIXED and paid_on > self.table.last_day:
                # Owed, but the rate is not published yet: a later run books it.
                self._waiting[claim.claim_id] = paid_on.isoformat()
                log.info("claim %s: interest waits: %s", claim.claim_id, error)
            else:
                log.warning("claim %s: interest not booked: %s", claim.claim_id, error)
            return
        if claim.interest_until:
            self._waiting[claim.claim_id] = None
        amount = round_charge(breakdown.interest.amount, claim.currency, self.step)
        if amount <= 0:
            return
        basis = _interest_basis(breakdown)
        if amount != breakdown.interest.amount:
            basis += f"; {breakdown.interest} rounded to {self.step}"
        self._insert(
            conn, claim, "interest", "", Money(amount, claim.currency), basis,
            run_id, None, as_of,
        )  # fmt: skip

    def _insert(
        self,
        conn: sqlite3.Connection,
        claim: BatchClaim,
        kind: str,
        measure: str,
        amount: Money,
        basis: str,
        run_id: int,
        transition_id: int | None,
        as_of: dt.date,
    ) -> None:
        if amount.amount <= 0:
            return
        self._booked.add(claim.claim_id)
        self._rows.append(
            (
                claim.claim_id,
                claim.customer_id,
                kind,
                measure,
                run_id,
                transition_id,
                as_of.isoformat(),
                str(amount.amount),
                amount.currency,
                str(amount.amount),
                basis,
            ),
        )


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _zero_text(amount: str) -> str:
    """Zero with the decimals of a stored amount: `0.00` for `20.00`."""
    return str(Decimal(amount) * 0)
