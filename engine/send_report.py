"""What a send tells: what became of each notice and plug-in item, and which
items it closed, left as they are or gave up on."""

from __future__ import annotations

import datetime as dt

from attrs import frozen

from .outbox import FAILED, UNDELIVERABLE, HeldBack, OutboxItem


@frozen
class Delivery:
    """What became of one notice (or one plug-in item) in a send.

    `status` is the outbox status the items got (`sent`, `failed`,
    `undeliverable`, `done` for claims settled in the meantime), or `planned`
    in a dry run. `to` is the e-mail address, the letter file or, for plug-in
    items, the customer.
    """

    run_id: int
    customer_id: str
    channel: str
    claims: tuple[str, ...]
    items: tuple[int, ...]
    status: str
    detail: str | None = None
    to: str | None = None
    attempts: int = 0


@frozen
class SendReport:
    """The outcome of one send: each notice, and the items it gave up on."""

    on: dt.date
    dry_run: bool = False
    deliveries: tuple[Delivery, ...] = ()
    exhausted: tuple[OutboxItem, ...] = ()
    """Failed items not tried again: they reached the most attempts allowed."""
    closed: str | None = None
    """Why nothing was sent on this day (a weekend or public holiday)."""
    next_business_day: dt.date | None = None
    waiting: int = 0
    """Outbox items of kinds that people carry out (calls, tasks), left pending."""
    held_back: tuple[HeldBack, ...] = ()
    """Items left as they are: queued after the day of sending, or on hold."""
    superseded: tuple[int, ...] = ()
    """Older items closed because a newer one of the claim went out instead (in
    a dry run: would be): letters and e-mails replaced by a newer letter or
    e-mail, plug-in items by a newer item of the same plug-in kind or a newer
    letter or e-mail."""

    def count(self, status: str) -> int:
        """How many deliveries ended with this status."""
        return sum(1 for delivery in self.deliveries if delivery.status == status)

    @property
    def ok(self) -> bool:
        """Nothing failed, nothing was undeliverable, nothing was given up on."""
        bad = {FAILED, UNDELIVERABLE}
        return not self.exhausted and not any(d.status in bad for d in self.deliveries)
