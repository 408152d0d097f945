"""A notice made from a plan: the claims it lists at their levels, with the
fees and interest they owe on the day of sending, and the names that stay the
same for the same notice every time (its letter files, its e-mail's
Message-ID)."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import sqlite3
from collections.abc import Iterable, Sequence
from decimal import Decimal

from .charges import charges_summary
from .interest import BaseRateTable
from .notices import Notice, NoticeClaim, NoticeCustomer, Sender
from .outbox import OutboxItem
from .records import Claim, Money
from .send_plan import NoticePlan, levels_by_transition


def charges_as_of(
    conn: sqlite3.Connection,
    claim_ids: Sequence[str],
    on: dt.date,
    rounding: Decimal | None = None,
    base_rates: BaseRateTable | None = None,
) -> dict[str, tuple[Money | None, Money | None]]:
    """Fees and interest per claim as of a day: (fees, interest), None when none."""
    summary = charges_summary(
        conn, list(claim_ids), on, rounding=rounding, base_rates=base_rates
    )
    return {
        claim_id: (_nonzero(entry.fees), _nonzero(entry.interest))
        for claim_id, entry in summary.items()
    }


def _nonzero(money: Money | None) -> Money | None:
    return money if money is not None and money.amount != 0 else None


def message_id(run_id: int, customer_id: str, items: Iterable[int], domain: str) -> str:
    """The Message-ID of a notice's e-mail: the same for the same notice, every time.

    A receiving system that sees the same Message-ID twice knows it is one
    notice sent again, not a new one.
    """
    key = f"{run_id}\0{customer_id}\0{','.join(map(str, sorted(items)))}"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<dunning.{run_id}.{digest}@{domain}>"


def file_stem(run_id: int, customer_id: str) -> str:
    """The name (without extension) of a notice's letter files: `<run>-<customer>`.

    Characters that do not belong in a file name are replaced, and then a short
    digest of the customer id keeps two customers from sharing a name.
    """
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", customer_id).strip(".") or "_"
    if safe != customer_id:
        safe += "-" + hashlib.sha256(customer_id.encode("utf-8")).hexdigest()[:8]
    return f"{run_id}-{safe}"


def build_notice(
    conn: sqlite3.Connection,
    plan: NoticePlan,
    sender: Sender,
    on: dt.date,
    claims: dict[str, Claim],
    rounding: Decimal | None = None,
    overdue: dict[str, Money] | None = None,
    *,
    pay_by: dt.date | None = None,
    base_rates: BaseRateTable | None = None,
) -> Notice:
    """The notice of a plan; `overdue` holds, for claims under a payment plan,
    the overdue part of the instalments, which is asked for instead; `pay_by`
    the day by which the customer is asked to pay."""
    overdue = overdue or {}
    levels = levels_by_transition(conn, plan.items)
    charges = charges_as_of(conn, list(claims), on, rounding, base_rates)
    latest: dict[str, OutboxItem] = {}
    for item in sorted(plan.items, key=lambda i: (i.transition_id, i.id)):
        if item.claim_id in claims:
            latest[item.claim_id] = item
    lines = []
    for claim_id in plan.claim_ids:
        if claim_id not in latest:
            continue
        item, claim = latest[claim_id], claims[claim_id]
        fee, interest = charges.get(claim_id, (None, None))
        level = levels.get(item.transition_id) or claim.state
        lines.append(
            NoticeClaim.from_claim(
                claim,
                level,
                fee=fee,
                interest=interest,
                measure=item.measure,
                overdue=overdue.get(claim_id),
            )
        )
    return Notice(
        NoticeCustomer.from_customer(plan.customer),
        sender,
        on,
        lines,
        run_id=plan.run_id,
        pay_by=pay_by,
    )
