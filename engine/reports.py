"""Figures of a period: what the measures cost and how fast money came in.

Everything is computed from the store: the outbox, the audit trail, the claims
and the payments. Money is summed per currency and never mixed.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from attrs import define, field, frozen

from dunlang.model import Policy

from .charges import CANCELLED, charges_summary
from .interest import BaseRateTable, InterestError
from .measures import round_money
from .store import Store
from .writeoffs import WriteOff, recovered, write_offs

AGE_BUCKETS = ("not yet due", "0-30", "31-60", "61-90", "over 90")
TOTAL = "(all groups)"
ZERO = Decimal(0)

Amounts = dict[str, Decimal]
"""Money by currency."""


def _add(amounts: Amounts, currency: str, amount: Decimal) -> None:
    amounts[currency] = amounts.get(currency, Decimal(0)) + amount


def _add_interest_accrued(
    conn: Any,
    policy: Policy,
    end: dt.date,
    both: Any,
    base_rates: BaseRateTable | None = None,
    written_off: frozenset[str] = frozenset(),
) -> None:
    """Default interest a measure switched on and no run has booked yet (the
    principal is still open at the end, or its rate waits for the base rate
    table): what it comes to on the period's last day. The interest of a
    claim still written off is written off with it."""
    rows = conn.execute(
        "SELECT c.id, c.group_name FROM claims c WHERE c.interest IS NOT NULL "
        "AND c.interest_since <= ? AND NOT EXISTS (SELECT 1 FROM charges g "
        "WHERE g.claim_id = c.id AND g.kind = 'interest' AND g.as_of <= ?) "
        "ORDER BY c.id",
        (end.isoformat(), end.isoformat()),
    ).fetchall()
    for ident, group in rows:
        if ident in written_off:
            continue
        try:
            owed = charges_summary(
                conn,
                [ident],
                end,
                rounding=policy.header.rounding,
                base_rates=base_rates,
            )[ident]
        except InterestError:
            for figures in both(group):
                figures.interest_not_computed += 1
            continue
        if owed.interest.amount:
            for figures in both(group):
                _add(figures.interest_accrued, owed.currency, owed.interest.amount)


def _add_written_off(
    write_offs_left: list[tuple[WriteOff, Decimal]], first: str, both: Any
) -> None:
    """Claims written off by runs in the period, as small balances or by a
    `write_off` measure: the open amount the run wrote off, less what payments
    recovered of it by the end of the period (engine/writeoffs.py)."""
    for write_off, left in write_offs_left:
        if left > 0 and write_off.as_of >= first:
            for figures in both(write_off.group):
                _add(figures.written_off, write_off.currency, left)


def _balance_days(
    amount: Decimal,
    issued: str,
    payments: list[tuple[str, Decimal]],
    start: dt.date,
    end: dt.date,
) -> Decimal:
    """Open balance times days open, counted inside the period only."""
    total = Decimal(0)
    balance = amount
    since = max(dt.date.fromisoformat(issued), start)
    for paid_on, paid in payments:
        day = dt.date.fromisoformat(paid_on)
        if day > since:
            total += balance * (day - since).days
            since = day
        balance -= paid
        if balance <= 0:
            return total
    return total + balance * max(0, (end - since).days + 1)


def _bucket(days_past_due: int) -> str:
    if days_past_due <= 0:
        return AGE_BUCKETS[0]
    if days_past_due <= 30:
        return AGE_BUCKETS[1]
    if days_past_due <= 60:
        return AGE_BUCKETS[2]
    if days_past_due <= 90:
        return AGE_BUCKETS[3]
    return AGE_BUCKETS[4]


@define
class GroupFigures:
    """The figures of one dunning group (or of all groups together)."""

    claims: int = 0
    measures: Counter[str] = field(factory=Counter)
    fees: Amounts = field(factory=dict)
    """Fee and flat fee charges booked in the period (cancelled ones left out)."""
    cost: Amounts = field(factory=dict)
    final_states: Counter[str] = field(factory=Counter)
    billed: Amounts = field(factory=dict)
    fell_due: Amounts = field(factory=dict)
    collected: Amounts = field(factory=dict)
    """Payments on the claims that fell due in the period (credit notes not)."""
    credited: Amounts = field(factory=dict)
    """Credit notes on those claims: they reduce what is owed, nothing is
    collected."""
    owed: Amounts = field(factory=dict)
    """What those claims came to after their credit notes (the ratio's base)."""
    realized: Amounts = field(factory=dict)
    """What was paid of that, each claim counted up to what it came to: money
    paid beyond (charges, or to be paid back) is collected, not realized."""
    open_at_end: Amounts = field(factory=dict)
    ages: dict[str, Amounts] = field(factory=lambda: {b: {} for b in AGE_BUCKETS})
    settled: int = 0
    days_late_total: int = 0
    balance_days: Amounts = field(factory=dict)
    interest: Amounts = field(factory=dict)
    """Interest charges booked in the period (when a principal was paid)."""
    interest_accrued: Amounts = field(factory=dict)
    """Interest switched on and not booked by the end of the period."""
    interest_not_computed: int = 0
    written_off: Amounts = field(factory=dict)
    """Small balances the policy wrote off in the period (the principal left)."""

    @property
    def currencies(self) -> list[str]:
        """Every currency any of the money figures is in."""
        found: set[str] = set()
        for amounts in (self.billed, self.fell_due, self.collected, self.credited,
                        self.open_at_end,
                        self.fees, self.cost, self.interest,
                        self.interest_accrued, self.written_off):  # fmt: skip
            found.update(amounts)
        return sorted(found)

    @property
    def average_days_late(self) -> Decimal | None:
        """Mean days between due date and settlement, early payments counted as 0."""
        if not self.settled:
            return None
        return (Decimal(self.days_late_total) / self.settled).quantize(
            Decimal("0.01"), ROUND_HALF_UP
        )

    def realization(self, currency: str) -> Decimal | None:
        """Of what the claims that fell due in the period came to after their
        credit notes, the share that was paid."""
        owed = self.owed.get(currency)
        if not owed:
            return None
        share = self.realized.get(currency, Decimal(0)) / owed
        return (share * 100).quantize(Decimal("0.01"), ROUND_HALF_UP)

    def collection_period(self, currency: str) -> Decimal | None:
        """Days sales outstanding: the average open balance over the period,
        divided by what was billed per day (both over the same days)."""
        billed = self.billed.get(currency)
        if not billed:
            return None
        balance_days = self.balance_days.get(currency, Decimal(0))
        return (balance_days / billed).quantize(Decimal("0.1"), ROUND_HALF_UP)


@frozen
class Report:
    """The figures of a period, per dunning group and in total."""

    policy: str
    start: dt.date
    end: dt.date
    groups: dict[str, GroupFigures]
    other_currencies: dict[str, int] = field(factory=dict)
    """Claims in another currency than the policy's, by currency: no run of
    the policy dunned them or applied their payments, so they are left out."""

    @property
    def days(self) -> int:
        """Calendar days in the period, both ends included."""
        return (self.end - self.start).days + 1

    def as_rows(self) -> list[dict[str, Any]]:
        """One row per group, metric and currency, for CSV and JSON output."""
        rows: list[dict[str, Any]] = []

        def put(group: str, metric: str, value: Any, currency: str = "") -> None:
            if (
                currency
                and isinstance(value, Decimal)
                and not metric.endswith(("_percent", "_days"))
            ):
                value = round_money(value, currency)
            rows.append(
                {
                    "group": group,
                    "metric": metric,
                    "currency": currency,
                    "value": "" if value is None else str(value),
                }
            )

        for currency, count in sorted(self.other_currencies.items()):
            put(TOTAL, "claims_left_out_other_currency", count, currency)
        for name, figures in self.groups.items():
            put(name, "claims", figures.claims)
            for kind in sorted(figures.measures):
                put(name, f"measures.{kind}", figures.measures[kind])
            for state in sorted(figures.final_states):
                put(name, f"final_state.{state}", figures.final_states[state])
            put(name, "settled_claims", figures.settled)
            if figures.interest_not_computed:
                put(name, "interest_not_computed_claims", figures.interest_not_computed)
            put(name, "average_days_late", figures.average_days_late)
            for currency in figures.currencies:
                put(name, "fees", figures.fees.get(currency, Decimal(0)), currency)
                put(
                    name,
                    "interest",
                    figures.interest.get(currency, Decimal(0)),
                    currency,
                )
                put(
                    name,
                    "interest_accrued",
                    figures.interest_accrued.get(currency, Decimal(0)),
                    currency,
                )
                put(
                    name,
                    "cost_of_measures",
                    figures.cost.get(currency, Decimal(0)),
                    currency,
                )
                put(name, "billed", figures.billed.get(currency, Decimal(0)), currency)
                put(
                    name,
                    "collected",
                    figures.collected.get(currency, Decimal(0)),
                    currency,
                )
                put(
                    name,
                    "credited",
                    figures.credited.get(currency, Decimal(0)),
                    currency,
                )
                put(
                    name,
                    "realization_ratio_percent",
                    figures.realization(currency),
                    currency,
                )
                put(
                    name,
                    "collection_period_days",
                    figures.collection_period(currency),
                    currency,
                )
                put(
                    name,
                    "written_off",
                    figures.written_off.get(currency, Decimal(0)),
                    currency,
                )
                put(
                    name,
                    "open_at_end",
                    figures.open_at_end.get(currency, Decimal(0)),
                    currency,
                )
                for bucket in AGE_BUCKETS:
                    put(
                        name,
                        f"open_by_age.{bucket}",
                        figures.ages[bucket].get(currency, Decimal(0)),
                        currency,
                    )
        return rows


def build_report(
    store: Store,
    policy: Policy,
    start: dt.date,
    end: dt.date,
    base_rates: BaseRateTable | None = None,
) -> Report:
    """The figures of the period from `start` to `end` (both included)."""
    conn = store.conn
    first, last = start.isoformat(), end.isoformat()
    groups: dict[str, GroupFigures] = defaultdict(GroupFigures)
    total = GroupFigures()

    def both(group: str | None) -> tuple[GroupFigures, GroupFigures]:
        return groups[group or "(not allocated)"], total

    # What runs up to the end wrote off, less what payments recovered by then.
    # Claims still written off were settled without being paid: they do not
    # count for the days late.
    write_offs_left = [
        (write_off, write_off.amount - recovered(conn, write_off, until=last))
        for write_off in write_offs(conn, last=last)
    ]
    written_off = {
        write_off.claim_id for write_off, left in write_offs_left if left > 0
    }
    # Payments and credit notes the runs applied, by claim, as the claims'
    # open amounts count them.
    paid: dict[str, list[tuple[str, str, Decimal]]] = defaultdict(list)
    for claim_id, kind, paid_on, amount in conn.execute(
        "SELECT claim_id, kind, paid_on, amount FROM payments WHERE paid_on <= ? "
        "AND applied_run IS NOT NULL ORDER BY paid_on",
        (last,),
    ):
        paid[claim_id].append((paid_on, kind, Decimal(amount)))
    # The open balance goes down with payments and credit notes on their
    # days, and to nothing on the day of a write-off that still stands (one
    # recovered in full was a late payment after all).
    reductions = {
        claim: [(day, amount) for day, _, amount in items]
        for claim, items in paid.items()
    }
    for write_off, left in write_offs_left:
        if left > 0:
            reductions.setdefault(write_off.claim_id, []).append(
                (write_off.as_of, write_off.amount)
            )
    claims = conn.execute(
        "SELECT id, group_name, state, currency, amount, open_amount, issue_date, "
        "due_date, settled_on FROM claims WHERE issue_date <= ? AND currency = ?",
        (last, policy.header.currency),
    )
    for (
        ident,
        group,
        state,
        currency,
        amount,
        open_amount,
        issued,
        due,
        settled,
    ) in claims:
        amount, open_amount = Decimal(amount), Decimal(open_amount)
        due_date = dt.date.fromisoformat(due)
        received = paid.get(ident, [])
        # Money paid counts as collected; a credit note takes off what was owed.
        money = sum((a for _, k, a in received if k == "payment"), ZERO)
        credit = sum((a for _, k, a in received if k != "payment"), ZERO)
        weight = _balance_days(
            amount, issued, sorted(reductions.get(ident, [])), start, end
        )
        for figures in both(group):
            figures.claims += 1
            figures.final_states[state or "(not allocated)"] += 1
            _add(figures.balance_days, currency, weight)
            if issued >= first:
                _add(figures.billed, currency, amount)
            if first <= due <= last:
                owed = max(amount - credit, ZERO)
                _add(figures.fell_due, currency, amount)
                if money:
                    _add(figures.collected, currency, money)
                if credit:
                    _add(figures.credited, currency, credit)
                _add(figures.owed, currency, owed)
                _add(figures.realized, currency, min(money, owed))
            if open_amount > 0:
                _add(figures.open_at_end, currency, open_amount)
                _add(
                    figures.ages[_bucket((end - due_date).days)], currency, open_amount
                )
            # A claim settled without money paid was not paid late.
            if (
                settled
                and first <= settled <= last
                and ident not in written_off
                and money > 0
            ):
                figures.settled += 1
                late = (dt.date.fromisoformat(settled) - due_date).days
                figures.days_late_total += max(0, late)

    measures = conn.execute(
        "SELECT t.group_name, m.measure, m.kind, m.currency, m.cost, "
        "m.claim_id, m.as_of, m.run_id FROM measures m "
        "JOIN transitions t ON t.id = m.transition_id "
        "WHERE m.as_of BETWEEN ? AND ?",
        (first, last),
    )
    for group, name, kind, currency, cost, claim_id, as_of, run_id in measures:
        amount_cost = Decimal(cost) if cost else Decimal(0)
        definition = policy.measures.get(name)
        percent = (
            definition.cost.percent_of_collected
            if (definition and definition.cost)
            else None
        )
        if percent is not None:
            # A share of the money paid after the measure, not of credit
            # notes: dated on or after its day and applied by a later run (a
            # run applies the day's payments before its timed steps).
            after = conn.execute(
                "SELECT amount FROM payments WHERE claim_id = ? AND paid_on <= ? "
                "AND kind = 'payment' AND applied_run > ? AND paid_on >= ?",
                (claim_id, last, run_id or 0, as_of),
            ).fetchall()
            base = sum((Decimal(a) for (a,) in after), Decimal(0))
            amount_cost += round_money(base * percent / 100, currency)
        for figures in both(group):
            figures.measures[kind] += 1
            if amount_cost:
                _add(figures.cost, currency, amount_cost)

    # Charges booked by runs in the period (engine/charges.py): fees with the
    # flat fee, and interest booked when a principal was paid in full. A fee
    # a back-dated payment cancelled was never owed.
    for group, kind, currency, amount in conn.execute(
        "SELECT c.group_name, g.kind, g.currency, g.amount FROM charges g "
        "JOIN claims c ON c.id = g.claim_id WHERE g.as_of BETWEEN ? AND ? "
        "AND instr(g.basis, ?) = 0",
        (first, last, CANCELLED),
    ):
        booked = "interest" if kind == "interest" else "fees"
        for figures in both(group):
            _add(getattr(figures, booked), currency, Decimal(amount))
    _add_interest_accrued(conn, policy, end, both, base_rates, frozenset(written_off))
    _add_written_off(write_offs_left, first, both)

    ordered = {name: groups[name] for name in sorted(groups)}
    ordered[TOTAL] = total
    other = dict(
        conn.execute(
            "SELECT currency, count(*) FROM claims WHERE issue_date <= ? "
            "AND currency != ? GROUP BY currency",
            (last, policy.header.currency),
        ).fetchall()
    )
    return Report(policy.header.name, start, end, ordered, other)


def render_text(report: Report) -> str:
    """The report as aligned text for a terminal."""
    lines = [
        f'policy "{report.policy}", {report.start} to {report.end} ({report.days} days)'
    ]
    if report.other_currencies:
        counts = ", ".join(
            f"{count} claim{'' if count == 1 else 's'} in {currency}"
            for currency, count in sorted(report.other_currencies.items())
        )
        lines.append(
            f"({counts} left out: in another currency than the policy's, which "
            "dunns no such claim)"
        )
    for name, figures in report.groups.items():
        lines.append("")
        noun = "claim" if figures.claims == 1 else "claims"
        lines.append(f"{name}: {figures.claims} {noun}")
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(figures.measures.items()))
        lines.append(f"  measures              {kinds or 'none'}")
        states = ", ".join(f"{k} {v}" for k, v in sorted(figures.final_states.items()))
        lines.append(f"  claims by state       {states}")
        late = figures.average_days_late
        lines.append(
            f"  average days late     {late if late is not None else '-'} "
            f"({figures.settled} claim{'' if figures.settled == 1 else 's'} settled)"
        )
        for currency in figures.currencies:

            def money(amounts: Amounts, currency: str = currency) -> str:
                amount = round_money(amounts.get(currency, Decimal(0)), currency)
                return f"{amount:,} {currency}"

            ratio = figures.realization(currency)
            period = figures.collection_period(currency)
            lines.append(f"  fees charged          {money(figures.fees)}")
            lines.append(f"  interest charged      {money(figures.interest)}")
            lines.append(f"  interest accrued      {money(figures.interest_accrued)}")
            if figures.interest_not_computed:
                count = figures.interest_not_computed
                noun = "claim" if count == 1 else "claims"
                dates = "its dates" if count == 1 else "their dates"
                lines.append(
                    f"  (interest not computed for {count} {noun}: the base rate "
                    f"table does not reach {dates})"
                )
            lines.append(f"  cost of measures      {money(figures.cost)}")
            lines.append(f"  billed                {money(figures.billed)}")
            lines.append(
                f"  collected             {money(figures.collected)} of "
                f"{money(figures.fell_due)} that fell due"
            )
            if figures.credited.get(currency):
                lines.append(
                    f"  credited              {money(figures.credited)} "
                    "(credit notes: owed no more, not collected)"
                )
            lines.append(
                f"  realization ratio     {f'{ratio} %' if ratio is not None else '-'}"
            )
            lines.append(
                f"  collection period     "
                f"{f'{period} days' if period is not None else '-'}"
            )
            ages = ", ".join(
                f"{bucket} {money(figures.ages[bucket])}" for bucket in AGE_BUCKETS
            )
            if figures.written_off.get(currency):
                lines.append(f"  written off           {money(figures.written_off)}")
            lines.append(f"  open at end           {money(figures.open_at_end)}")
            lines.append(f"  open by days overdue  {ages}")
    return "\n".join(lines)
