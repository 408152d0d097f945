"""Sending: the outbox carried out as letters, e-mails and plug-in measures.

A run leaves its letters and e-mails in the outbox as `pending` items, one per
claim and measure. Sending groups them into one notice per customer, listing
each claim once at its newest level (older items of a claim are closed as
superseded), writes letters as HTML and PDF files, hands e-mails to an SMTP
server (a letter instead when it refuses an address for good), and gives
plug-in items to their handlers (an older one is superseded by a newer item of
its claim of the same plug-in kind, or a newer letter or e-mail). Items queued
by a run after the day of sending, items of claims on hold that day, and items
of claims with payments or events no run has applied yet are left as they are.
Items of claims settled since the run are closed without sending. A claim
under a payment plan is dunned for its instalments overdue on the day of
sending. Each notice's items are marked in one transaction right after it went
out, so sending again never sends twice; a transient failure leaves the items
`failed` for the next send to try again.
docs/sending.md describes it for users.

The parts of a send live in modules of their own: `send_plan` (which items go
into which notice), `send_templates`, `send_notice`, `send_email` and
`send_delivery` (carrying them out), with `send_settings` and `send_report`
for what a send is told and what it tells.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from filelock import FileLock, Timeout

from dunlang import Policy

from .calendar import calendar_for
from .outbox import FAILED, PENDING, UNDELIVERABLE, held_back, outbox_items
from .rendering import NoticeRenderer
from .send_delivery import Sending
from .send_notice import file_stem, message_id
from .send_plan import (
    EMAIL,
    LETTER,
    PLUGIN,
    NoticePlan,
    plan_notices,
    split_superseded,
    split_superseded_plugins,
    superseded_detail,
    usable_email,
)
from .send_report import Delivery, SendReport
from .send_settings import SendingError, SendSettings, SmtpSettings, load_sender
from .send_templates import (
    MissingTemplate,
    MissingTemplatesError,
    missing_templates,
    searched_folders,
    templates_folder,
)
from .store import Store

__all__ = [
    "Delivery",
    "MissingTemplate",
    "MissingTemplatesError",
    "SendReport",
    "SendSettings",
    "SEND_LOCK_SUFFIX",
    "SendingError",
    "SmtpSettings",
    "load_sender",
    "message_id",
    "send_outbox",
    "superseded_detail",
    "templates_folder",
]

log = logging.getLogger(__name__)

SEND_LOCK_SUFFIX = ".send-lock"
"""The send lock is the database's file name with this added."""

SENT_KINDS = (LETTER, EMAIL, PLUGIN)
"""The kinds of measure `send` carries out; the others wait for people."""


def closed_reason(policy: Policy, on: dt.date) -> str | None:
    """Why nothing is sent on a day of the policy's calendar; None on business days."""
    calendar = calendar_for(policy.header.calendar)
    if calendar.is_business_day(on):
        return None
    holiday = calendar.holiday_name(on)
    if holiday and on.weekday() < 5:
        return f"{on.isoformat()} is a public holiday ({holiday})"
    return f"{on.isoformat()} is a {on.strftime('%A')}, not a business day"


def send_outbox(
    store: Store,
    policy: Policy,
    on: dt.date,
    settings: SendSettings,
    *,
    run_id: int | None = None,
    dry_run: bool = False,
) -> SendReport:
    """Carry out the pending and failed letters, e-mails and plug-in measures.

    Nothing is sent on a day that is not a business day of the policy's
    calendar. `run_id` limits sending to one run; `dry_run` plans and writes
    nothing. Templates come from `templates_folder` and the bundled ones; if a
    notice needs one that is missing, `MissingTemplatesError` lists them all
    and nothing is sent. Only one send at a time works on a database: another
    one started meanwhile stops with `SendingError` and sends nothing.
    """
    if settings.max_attempts < 1:
        raise SendingError("the most attempts allowed must be 1 or more")
    closed = closed_reason(policy, on)
    if closed:
        following = calendar_for(policy.header.calendar).next_business_day(on)
        return SendReport(on, dry_run, closed=closed, next_business_day=following)

    if dry_run:
        return _send(store, policy, on, settings, run_id, dry_run=True)
    with _only_sender(store):
        return _send(store, policy, on, settings, run_id, dry_run=False)


@contextmanager
def _only_sender(store: Store) -> Iterator[None]:
    """Hold the database's send lock while a send lasts: a second send started
    meanwhile (a scheduled job overlapping a manual one, say) would read the
    same pending items and send them again. The lock is a file beside the
    database; the operating system lets go of it when the process ends."""
    if store.path == ":memory:":
        yield
        return
    # The file itself, however it was reached (a link, another relative path):
    # every send to one database must meet the same lock.
    path = f"{os.path.realpath(store.path)}{SEND_LOCK_SUFFIX}"
    lock = FileLock(path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise SendingError(
            f"another send is working on {store.path} (it holds {path}); "
            "nothing was sent: try again once it has finished"
        ) from None
    except OSError as error:
        raise SendingError(
            f"cannot take the send lock {path}: {error.strerror or error}; "
            "nothing was sent"
        ) from None
    try:
        yield
    finally:
        lock.release()


def _send(
    store: Store,
    policy: Policy,
    on: dt.date,
    settings: SendSettings,
    run_id: int | None,
    *,
    dry_run: bool,
) -> SendReport:
    conn = store.conn
    items = outbox_items(
        conn, statuses=(PENDING, FAILED), kinds=SENT_KINDS, run_id=run_id
    )
    exhausted = tuple(
        i for i in items if i.status == FAILED and i.attempts >= settings.max_attempts
    )
    # A run still going (or interrupted) may not have written all of a
    # customer's items yet: its notices wait until the run is complete.
    finished = {
        row[0] for row in conn.execute("SELECT id FROM runs WHERE status = 'done'")
    }
    ready = [i for i in items if i not in exhausted and i.run_id in finished]
    waiting = len(outbox_items(conn, statuses=(PENDING,), run_id=run_id)) - sum(
        1 for i in items if i.status == PENDING
    )
    held = tuple(held_back(conn, [(i.id, i.claim_id, i.as_of) for i in ready], on))
    aside = {ident for group in held for ident in group.items}
    ready = [i for i in ready if i.id not in aside]
    kept, replaced = split_superseded([i for i in ready if i.kind != PLUGIN])
    plugins, replaced_plugins = split_superseded_plugins(ready, policy)
    replaced += replaced_plugins
    superseded = tuple(sorted(item.id for item, _ in replaced))
    plans = plan_notices(conn, kept, policy)

    # Every notice of a template that is not there would fail: say so once,
    # for all of them, before anything goes out.
    folder = templates_folder(policy, settings)
    renderer = NoticeRenderer(folder)
    if folder is not None:
        log.info("templates from %s, then the bundled ones", folder)
    missing = missing_templates(plans, renderer, policy)
    if missing:
        raise MissingTemplatesError(
            missing, policy.path, searched_folders(policy, settings, folder)
        )

    if dry_run:
        planned = [_planned(plan) for plan in plans] + [
            Delivery(i.run_id, i.customer_id, PLUGIN, (i.claim_id,), (i.id,), "planned")
            for i in plugins
        ]
        return SendReport(
            on,
            True,
            tuple(planned),
            exhausted,
            waiting=waiting,
            held_back=held,
            superseded=superseded,
        )

    emails = sum(1 for plan in plans if plan.channel == EMAIL)
    if emails and settings.smtp is None:
        raise SendingError(
            f"{emails} notice{'s go' if emails != 1 else ' goes'} by e-mail but no "
            "SMTP server is set; give --smtp-host and --smtp-from (or "
            "DUNNING_SMTP_HOST and DUNNING_SMTP_FROM); nothing was sent"
        )

    sending = Sending(store, policy, on, settings, renderer)
    deliveries: list[Delivery] = []
    if replaced:
        sending.supersede(replaced)
    try:
        for plan in plans:
            deliveries.append(sending.notice(plan))
        for item in plugins:
            deliveries.append(sending.plugin(item))
    finally:
        if sending.mailer is not None:
            sending.mailer.close()
    return SendReport(
        on,
        False,
        tuple(deliveries),
        exhausted,
        waiting=waiting,
        held_back=held,
        superseded=superseded,
    )


def _planned(plan: NoticePlan) -> Delivery:
    if plan.channel is None:
        to, status = None, UNDELIVERABLE
    elif plan.channel == EMAIL:
        to, status = usable_email(plan.customer), "planned"
    else:
        to, status = f"{file_stem(plan.run_id, plan.customer.id)}.pdf", "planned"
    return Delivery(
        plan.run_id,
        plan.customer.id,
        plan.channel or LETTER,
        plan.claim_ids,
        tuple(item.id for item in plan.items),
        status,
        plan.note,
        to,
    )
