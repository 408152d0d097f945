"""Planning a send: which outbox items go into which notice, and how it goes.

Items are grouped into one notice per customer, written from the template of
the strongest measure among them; a claim is listed once, at its newest level,
and the older items it replaces are paired with the newer one. A notice goes
by letter or e-mail as the policy asks, or the other way when the customer
has only that address. Also the reads of customers, claims and levels the
plans and notices are made from.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
from collections.abc import Iterable, Sequence
from decimal import Decimal

from attrs import frozen

from dunlang import Policy
from dunlang.model import MeasureKind

from .outbox import OutboxItem
from .records import Claim, Customer, Money

LETTER, EMAIL = MeasureKind.LETTER.value, MeasureKind.EMAIL.value
PLUGIN = MeasureKind.PLUGIN.value
NO_ADDRESS = "no e-mail address and no postal address: a clerk must find one"
_EMAIL = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+\Z")


# ---- planning ------------------------------------------------------------------


@frozen
class NoticePlan:
    """One notice to a customer about the letters and e-mails of one send."""

    run_id: int
    """The latest run among the items: it names the letter file."""
    customer: Customer
    items: tuple[OutboxItem, ...]
    channel: str | None
    """`letter` or `email`; None when the customer cannot be reached."""
    template: str
    note: str | None = None
    measure: str | None = None
    """The measure whose template the notice is written from."""

    @property
    def claim_ids(self) -> tuple[str, ...]:
        """The claims the notice lists, each once, in the order of the items."""
        return tuple(dict.fromkeys(item.claim_id for item in self.items))


def usable_email(customer: Customer) -> str | None:
    """The customer's e-mail address if it can take a notice; None if not."""
    text = (customer.email or "").strip()
    return text if _EMAIL.match(text) else None


def has_address(customer: Customer) -> bool:
    """Whether the customer has a postal address a letter can go to."""
    return bool((customer.address or "").strip())


def _channel(requested: str, customer: Customer) -> tuple[str | None, str | None]:
    """How a notice reaches the customer, and a note when not as the policy asked."""
    email, postal = usable_email(customer) is not None, has_address(customer)
    if requested == EMAIL:
        if email:
            return EMAIL, None
        if postal:
            return LETTER, "no e-mail address: sent as a letter instead"
    else:
        if postal:
            return LETTER, None
        if email:
            return EMAIL, "no postal address: sent by e-mail instead"
    return None, NO_ADDRESS


def _strongest(items: Sequence[OutboxItem], policy: Policy) -> OutboxItem:
    """The item of the strongest measure: the one last in the policy's catalogue."""
    order = {name: position for position, name in enumerate(policy.measures)}
    return max(
        items, key=lambda item: (order.get(item.measure, -1), item.transition_id)
    )


def split_superseded(
    items: Sequence[OutboxItem],
) -> tuple[list[OutboxItem], list[tuple[OutboxItem, OutboxItem]]]:
    """The items to send, and the older items of a claim each newer one replaces.

    A claim with items of several transitions (several runs, or several steps)
    is dunned once, at its newest level: the items of its latest transition
    go out, and each older item is paired with the newest item that replaces it.
    """
    latest: dict[str, OutboxItem] = {}
    for item in items:
        known = latest.get(item.claim_id)
        if known is None or (item.transition_id, item.id) > (
            known.transition_id,
            known.id,
        ):
            latest[item.claim_id] = item
    kept, replaced = [], []
    for item in items:
        newest = latest[item.claim_id]
        if item.transition_id == newest.transition_id:
            kept.append(item)
        else:
            replaced.append((item, newest))
    return kept, replaced


def plugin_kind(item: OutboxItem, policy: Policy) -> str | None:
    """The plug-in kind of an item's measure; None if the policy has no such
    plug-in measure."""
    measure = policy.measures.get(item.measure)
    return measure.plugin if measure is not None else None


def split_superseded_plugins(
    items: Sequence[OutboxItem], policy: Policy
) -> tuple[list[OutboxItem], list[tuple[OutboxItem, OutboxItem]]]:
    """The plug-in items to hand over, and the older ones a newer item replaces.

    `items` are all the items of a send. A plug-in item is replaced by the
    newest item of its claim from a later transition that is of the same
    plug-in kind, or a letter or e-mail (which lists the claim at its newer
    level). A plug-in item never replaces a letter or e-mail, nor an item of
    another plug-in kind: what a plug-in does is not known here.
    """

    def rival(item: OutboxItem) -> tuple[str, str, str]:
        if item.kind != PLUGIN:
            return (item.claim_id, "notice", "")
        kind = plugin_kind(item, policy)
        if kind is None:
            return (item.claim_id, "measure", item.measure)
        return (item.claim_id, "plugin", kind)

    newest: dict[tuple[str, str, str], OutboxItem] = {}
    for item in items:
        key = rival(item)
        known = newest.get(key)
        if known is None or (item.transition_id, item.id) > (
            known.transition_id,
            known.id,
        ):
            newest[key] = item

    kept, replaced = [], []
    for item in items:
        if item.kind != PLUGIN:
            continue
        later = [
            candidate
            for candidate in (
                newest[rival(item)],
                newest.get((item.claim_id, "notice", "")),
            )
            if candidate is not None and candidate.transition_id > item.transition_id
        ]
        if later:
            replaced.append((item, max(later, key=lambda i: (i.transition_id, i.id))))
        else:
            kept.append(item)
    return kept, replaced


def superseded_detail(newest: OutboxItem) -> str:
    """What an item replaced by a newer one of its claim records."""
    return (
        f"superseded by item {newest.id} (measure {newest.measure} of "
        f"{newest.as_of.isoformat()})"
    )


def plan_notices(
    conn: sqlite3.Connection, items: Sequence[OutboxItem], policy: Policy
) -> list[NoticePlan]:
    """One plan per customer, in the order the customers' items were created."""
    groups: dict[str, list[OutboxItem]] = {}
    for item in items:
        groups.setdefault(item.customer_id, []).append(item)
    customers = customers_by_id(conn, groups)

    plans = []
    for customer_id, listed in groups.items():
        run_id = max(item.run_id for item in listed)
        customer = customers[customer_id]
        requested = LETTER if any(i.kind == LETTER for i in listed) else EMAIL
        channel, note = _channel(requested, customer)
        strongest = _strongest([i for i in listed if i.kind == requested], policy)
        plans.append(
            NoticePlan(
                run_id,
                customer,
                tuple(listed),
                channel,
                strongest.template or strongest.measure,
                note,
                strongest.measure,
            )
        )
    return plans


# ---- what the database holds ---------------------------------------------------


def customers_by_id(
    conn: sqlite3.Connection, ids: Iterable[str]
) -> dict[str, Customer]:
    """The customers with these ids, by id."""
    found: dict[str, Customer] = {}
    for row in conn.execute(
        "SELECT id, name, kind, segment, country, language, email, address, "
        f"attributes FROM customers WHERE id IN ({_marks(ids)})",
        list(ids),
    ):
        found[row[0]] = Customer(
            id=row[0],
            name=row[1],
            kind=row[2],
            segment=row[3],
            country=row[4],
            language=row[5],
            email=row[6],
            address=row[7],
            attributes=json.loads(row[8] or "{}"),
        )
    return found


def claims_by_id(conn: sqlite3.Connection, ids: Iterable[str]) -> dict[str, Claim]:
    """The claims with these ids, by id."""
    found: dict[str, Claim] = {}
    for row in conn.execute(
        "SELECT id, customer_id, currency, amount, open_amount, issue_date, "
        f"due_date, kind, state, settled_on FROM claims WHERE id IN ({_marks(ids)})",
        list(ids),
    ):
        found[row[0]] = Claim(
            id=row[0],
            customer_id=row[1],
            amount=Money(Decimal(row[3]), row[2]),
            open_amount=Money(Decimal(row[4]), row[2]),
            issue_date=dt.date.fromisoformat(row[5]),
            due_date=dt.date.fromisoformat(row[6]),
            kind=row[7],
            state=row[8],
            settled_on=dt.date.fromisoformat(row[9]) if row[9] else None,
        )
    return found


def levels_by_transition(
    conn: sqlite3.Connection, items: Sequence[OutboxItem]
) -> dict[int, str]:
    """The state each item's transition reached: the level printed on the notice."""
    ids = {item.transition_id for item in items}
    rows = conn.execute(
        f"SELECT id, to_state FROM transitions WHERE id IN ({_marks(ids)})", list(ids)
    )
    return {row[0]: row[1] for row in rows}


def _marks(values: Iterable[object]) -> str:
    return ", ".join("?" for _ in list(values)) or "NULL"
