"""Carrying out a send: letters written, e-mails handed over, plug-in items
given to their handlers, and each outcome recorded in the outbox.

A claim settled since the run is not dunned, and under a payment plan only
the instalments overdue on the day of sending are asked for. Each notice's
items are marked in one transaction right after it went out.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from pathlib import Path

import attrs

from dunlang import Policy

from . import plans
from .calendar import calendar_for
from .interest import InterestError
from .notices import Notice, NoticeError
from .outbox import (
    DONE,
    FAILED,
    SENT,
    UNDELIVERABLE,
    OutboxItem,
    interest_problem,
    record_delivery,
)
from .plugins import (
    MeasureContext,
    MeasureHandler,
    Outcome,
    PluginError,
    load_handler,
)
from .rendering import NoticeRenderer
from .send_email import Mailer, MessageRefused, email_message, smtp_error_text
from .send_notice import build_notice, file_stem
from .send_plan import (
    EMAIL,
    LETTER,
    NO_ADDRESS,
    PLUGIN,
    NoticePlan,
    claims_by_id,
    customers_by_id,
    has_address,
    plugin_kind,
    superseded_detail,
    usable_email,
)
from .send_report import Delivery
from .send_settings import SendSettings
from .store import Store

log = logging.getLogger(__name__)

SETTLED = "not sent: the claim was settled before the notice went out"


def pay_by_day(policy: Policy, on: dt.date, days: int | None) -> dt.date | None:
    """The day notices sent on `on` ask for payment by: `days` later, moved to
    the next business day of the policy's calendar; None without `days`."""
    if days is None:
        return None
    calendar = calendar_for(policy.header.calendar)
    return calendar.next_business_day(on + dt.timedelta(days=days))


class Sending:
    """One send: the store, the policy, the settings and the open connections."""

    def __init__(
        self,
        store: Store,
        policy: Policy,
        on: dt.date,
        settings: SendSettings,
        renderer: NoticeRenderer,
    ) -> None:
        self.store = store
        self.policy = policy
        self.on = on
        self.settings = settings
        self.renderer = renderer
        self.mailer = Mailer(settings.smtp) if settings.smtp else None
        self.handlers: dict[str, MeasureHandler | PluginError] = {}
        self.pay_by = pay_by_day(policy, on, settings.pay_within)

    def mark(
        self,
        items: Sequence[OutboxItem],
        channel: str,
        status: str,
        detail: str | None = None,
        document: str | None = None,
        refused: str | None = None,
    ) -> None:
        """Record the outcome for every item of a notice, in one transaction.

        `refused`: the e-mail was refused for good first; that attempt is
        recorded before the outcome of the letter sent instead.
        """
        at = dt.datetime.now(dt.UTC)
        with self.store.transaction() as conn:
            for item in items:
                if refused is not None:
                    record_delivery(
                        conn,
                        item.id,
                        channel=EMAIL,
                        status=UNDELIVERABLE,
                        detail=refused,
                        at=at,
                        fallback=True,
                    )
                record_delivery(
                    conn,
                    item.id,
                    channel=channel,
                    status=status,
                    detail=detail,
                    document=document,
                    at=at,
                )

    def failure(self, items: Sequence[OutboxItem], reason: str) -> str:
        """The detail of a failed attempt: which attempt of how many, and why."""
        attempt = max(item.attempts for item in items) + 1
        return f"attempt {attempt} of {self.settings.max_attempts}: {reason}"

    def notice(self, plan: NoticePlan) -> Delivery:
        """Write or send one notice and record what became of it."""
        if plan.channel is None:
            self.mark(plan.items, LETTER, UNDELIVERABLE, NO_ADDRESS)
            return _delivery(plan, LETTER, UNDELIVERABLE, NO_ADDRESS)
        channel = plan.channel

        conn = self.store.conn
        claims = {
            claim_id: claim
            for claim_id, claim in claims_by_id(conn, plan.claim_ids).items()
            if claim.open_amount.amount > 0
        }
        settled = [item for item in plan.items if item.claim_id not in claims]
        if settled:
            # A claim paid since the run is not dunned; its item is closed.
            self.mark(settled, channel, DONE, SETTLED)
            if len(settled) == len(plan.items):
                return _delivery(plan, channel, DONE, SETTLED)
            plan = attrs.evolve(
                plan, items=tuple(i for i in plan.items if i.claim_id in claims)
            )

        # Under a payment plan only the overdue instalments are asked for, as
        # of the day of sending; with none overdue the claim is not dunned.
        overdue = plans.overdue_on(
            conn, [(c.id, c.open_amount) for c in claims.values()], self.on
        )
        waiting = {claim for claim, due in overdue.items() if due.amount <= 0}
        kept = [i for i in plan.items if i.claim_id not in waiting]
        if len(kept) < len(plan.items):
            detail = _nothing_overdue(self.on)
            self.mark([i for i in plan.items if i not in kept], channel, DONE, detail)
            if not kept:
                return _delivery(plan, channel, DONE, detail)
            plan = attrs.evolve(plan, items=tuple(kept))

        try:
            notice = build_notice(
                conn,
                plan,
                self.settings.sender,
                self.on,
                claims,
                self.policy.header.rounding,
                overdue,
                pay_by=self.pay_by,
                base_rates=self.settings.base_rates,
            )
            if channel == LETTER:
                return self.letter(plan, notice)
            return self.email(plan, notice)
        except NoticeError as error:
            detail = self.failure(plan.items, str(error))
            self.mark(plan.items, channel, FAILED, detail)
            return _delivery(plan, channel, FAILED, detail)
        except InterestError as error:
            # Tried again by the next send, once the base rate table reaches
            # the day of sending.
            detail = self.failure(plan.items, interest_problem(error))
            self.mark(plan.items, channel, FAILED, detail)
            return _delivery(plan, channel, FAILED, detail)

    def letter(
        self, plan: NoticePlan, notice: Notice, refused: str | None = None
    ) -> Delivery:
        """Write a notice as HTML and PDF files into the letters folder.

        `refused`: why the e-mail this letter replaces was refused for good.
        """
        html, pdf = self.renderer.render_letter(notice, plan.template)
        folder = self.settings.out_dir
        try:
            folder.mkdir(parents=True, exist_ok=True)
            stem = _free_stem(folder, file_stem(plan.run_id, plan.customer.id))
            _write(folder / f"{stem}.html", html.encode("utf-8"))
            _write(folder / f"{stem}.pdf", pdf)
        except OSError as error:
            detail = self.failure(plan.items, f"the letter cannot be written: {error}")
            self.mark(plan.items, LETTER, FAILED, detail, refused=refused)
            return _delivery(plan, LETTER, FAILED, detail)

        document = str(folder / f"{stem}.pdf")
        note = f"{refused}: sent as a letter instead" if refused else plan.note
        self.mark(plan.items, LETTER, SENT, note, document, refused=refused)
        log.info("letter for customer %s written to %s", plan.customer.id, document)
        return _delivery(plan, LETTER, SENT, note, document)

    def email(self, plan: NoticePlan, notice: Notice) -> Delivery:
        """Hand a notice to the SMTP server as one e-mail."""
        assert self.mailer is not None and self.settings.smtp is not None
        recipient = usable_email(plan.customer)
        assert recipient is not None
        message = email_message(
            notice, plan, self.renderer, self.settings.smtp, recipient
        )
        try:
            server = self.mailer.send(message, recipient)
        except MessageRefused as error:
            return self.refused(plan, notice, str(error), recipient)
        except OSError as error:
            reason = smtp_error_text(error, self.settings.smtp)
            detail = self.failure(plan.items, reason)
            self.mark(plan.items, EMAIL, FAILED, detail)
            log.info("e-mail to %s failed: %s", recipient, detail)
            return _delivery(plan, EMAIL, FAILED, detail, recipient)

        detail = f"accepted by {server}, Message-ID {message['Message-ID']}"
        if plan.note:
            detail = f"{plan.note}; {detail}"
        self.mark(plan.items, EMAIL, SENT, detail)
        return _delivery(plan, EMAIL, SENT, detail, recipient)

    def refused(
        self, plan: NoticePlan, notice: Notice, reason: str, recipient: str
    ) -> Delivery:
        """After an e-mail refused for good: a letter to the postal address, if
        there is one and the template exists as a letter; else undeliverable."""
        if not has_address(plan.customer):
            detail = f"{reason}; no postal address for a letter instead"
        elif plan.template not in self.renderer.templates(LETTER):
            detail = f"{reason}; no letter template `{plan.template}` for a letter"
        else:
            log.info("e-mail to %s refused; a letter instead", recipient)
            return self.letter(plan, notice, refused=reason)
        self.mark(plan.items, EMAIL, UNDELIVERABLE, detail)
        return _delivery(plan, EMAIL, UNDELIVERABLE, detail, recipient)

    def supersede(self, replaced: Sequence[tuple[OutboxItem, OutboxItem]]) -> None:
        """Close older items of claims whose newer item goes out, in one
        transaction."""
        at = dt.datetime.now(dt.UTC)
        with self.store.transaction() as conn:
            for item, newest in replaced:
                kind = plugin_kind(item, self.policy) if item.kind == PLUGIN else None
                record_delivery(
                    conn,
                    item.id,
                    channel=kind or item.kind,
                    status=DONE,
                    detail=superseded_detail(newest),
                    at=at,
                )

    def plugin(self, item: OutboxItem) -> Delivery:
        """Hand one plug-in item to its handler and record the outcome."""
        measure = self.policy.measures.get(item.measure)
        kind = measure.plugin if measure is not None else None
        channel = kind or PLUGIN

        def done(status: str, detail: str | None) -> Delivery:
            return Delivery(
                item.run_id,
                item.customer_id,
                channel,
                (item.claim_id,),
                (item.id,),
                status,
                detail,
                item.customer_id,
                item.attempts + 1,
            )

        # As for letters: a claim settled since the run is not dunned, and
        # under a payment plan only the instalments overdue on the day of
        # sending are asked for (none overdue: nothing is sent).
        conn = self.store.conn
        claim = claims_by_id(conn, [item.claim_id])[item.claim_id]
        if claim.open_amount.amount <= 0:
            self.mark([item], channel, DONE, SETTLED)
            return done(DONE, SETTLED)
        overdue = plans.overdue_on(conn, [(claim.id, claim.open_amount)], self.on)
        if claim.id in overdue and overdue[claim.id].amount <= 0:
            detail = _nothing_overdue(self.on)
            self.mark([item], channel, DONE, detail)
            return done(DONE, detail)

        if measure is None or kind is None:
            detail = self.failure(
                [item],
                f"the measure `{item.measure}` is not a plug-in measure of the "
                f"policy {self.policy.path}; send with the policy the run used",
            )
            self.mark([item], channel, FAILED, detail)
            return done(FAILED, detail)

        handler = self.handlers.get(kind)
        if handler is None:
            try:
                handler = load_handler(kind)
            except PluginError as error:
                handler = error
            self.handlers[kind] = handler
        if isinstance(handler, PluginError):
            detail = self.failure([item], str(handler))
            self.mark([item], channel, FAILED, detail)
            return done(FAILED, detail)

        context = MeasureContext(
            customer=customers_by_id(conn, [item.customer_id])[item.customer_id],
            claim=claim,
            measure=measure,
            on=self.on,
            open_amount_now=overdue.get(claim.id, claim.open_amount),
        )
        try:
            answer: object = handler.send(item, context)
        except Exception as error:
            answer = Outcome(FAILED, f"the `{kind}` plug-in failed: {error}")
        if isinstance(answer, Outcome):
            outcome = answer
        else:
            outcome = Outcome(
                FAILED,
                f"the plug-in for `{kind}` returned {type(answer).__name__}, "
                "not an Outcome",
            )
        said = outcome.detail
        if outcome.status == FAILED:
            said = self.failure([item], said or "the plug-in reported a failure")
        self.mark([item], channel, outcome.status, said)
        return done(outcome.status, said)


def _nothing_overdue(on: dt.date) -> str:
    """Why an item of a claim under a payment plan is closed without sending."""
    return (
        "not sent: no instalment of the claim's payment plan is overdue "
        f"on {on.isoformat()}"
    )


def _delivery(
    plan: NoticePlan,
    channel: str,
    status: str,
    detail: str | None,
    to: str | None = None,
) -> Delivery:
    """The report line of a notice after an attempt."""
    return Delivery(
        plan.run_id,
        plan.customer.id,
        channel,
        plan.claim_ids,
        tuple(item.id for item in plan.items),
        status,
        detail,
        to,
        max(item.attempts for item in plan.items) + 1,
    )


def _free_stem(folder: Path, stem: str) -> str:
    """`stem`, or `stem-2`, `stem-3`, ... if a letter of that name exists.

    A letter once written is a document of what was sent; a later letter
    to the same customer from the same run never replaces it.
    """
    candidate, number = stem, 1
    while (folder / f"{candidate}.pdf").exists() or (
        folder / f"{candidate}.html"
    ).exists():
        number += 1
        candidate = f"{stem}-{number}"
    return candidate


def _write(path: Path, content: bytes) -> None:
    """Write a file whole or not at all: a half-written letter is never left."""
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(content)
    partial.replace(path)
