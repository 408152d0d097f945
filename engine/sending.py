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
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import smtplib
import sqlite3
import ssl
import tomllib
from collections.abc import Iterable, Sequence
from decimal import Decimal
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

import attrs
from attrs import field, frozen

from dunlang import Policy
from dunlang.model import MeasureKind

from . import plans
from .calendar import calendar_for
from .charges import charges_summary
from .interest import InterestError
from .notices import Notice, NoticeClaim, NoticeCustomer, NoticeError, Sender
from .outbox import (
    DONE,
    FAILED,
    PENDING,
    SENT,
    UNDELIVERABLE,
    HeldBack,
    OutboxItem,
    held_back,
    interest_problem,
    outbox_items,
    record_delivery,
)
from .plugins import (
    MeasureContext,
    MeasureHandler,
    Outcome,
    PluginError,
    load_handler,
)
from .records import Claim, Customer, Money
from .rendering import BUNDLED_TEMPLATES, KINDS, NoticeRenderer, NoticeTemplateError
from .store import Store

__all__ = [
    "Delivery",
    "MissingTemplate",
    "MissingTemplatesError",
    "SendReport",
    "SendSettings",
    "SendingError",
    "SmtpSettings",
    "message_id",
    "send_outbox",
    "superseded_detail",
    "templates_folder",
]

log = logging.getLogger(__name__)

LETTER, EMAIL = MeasureKind.LETTER.value, MeasureKind.EMAIL.value
PLUGIN = MeasureKind.PLUGIN.value
SENT_KINDS = (LETTER, EMAIL, PLUGIN)
"""The kinds of measure `send` carries out; the others wait for people."""

DEFAULT_MAX_ATTEMPTS = 5
NO_ADDRESS = "no e-mail address and no postal address: a clerk must find one"
SETTLED = "not sent: the claim was settled before the notice went out"
_EMAIL = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+\Z")


class SendingError(Exception):
    """Sending cannot start as asked (no SMTP server for e-mails, a bad setting)."""


@frozen
class MissingTemplate:
    """A template that notices to send need and that no templates folder holds."""

    template: str
    kind: str
    """`letter` (an HTML file is needed) or `email` (a text file is needed)."""
    measure: str
    notices: int
    line: int | None = None
    """The line of the policy that defines the measure; None if it has none."""
    source: str = ""
    reason: str = ""
    """Which files were looked for, or why the name cannot be a template."""


class MissingTemplatesError(SendingError):
    """Notices to send need templates that do not exist: nothing is sent at all."""

    def __init__(
        self,
        missing: Sequence[MissingTemplate],
        policy_path: str,
        searched: str,
    ) -> None:
        self.missing = tuple(missing)
        self.policy_path = policy_path
        self.searched = searched
        count = len(self.missing)
        lines = [
            f"{count} template{' is' if count == 1 else 's are'} missing; "
            "nothing was sent:"
        ]
        for entry in self.missing:
            what = "letter" if entry.kind == LETTER else "e-mail"
            notices = f"{entry.notices} notice{'s' if entry.notices != 1 else ''}"
            place = f"{policy_path}:{entry.line}" if entry.line else policy_path
            unknown = (
                ""
                if entry.line
                else ", which this policy does not define (send with the policy "
                "the run used)"
            )
            lines.append(
                f"  {place}: the {what} template `{entry.template}` of measure "
                f"`{entry.measure}`{unknown} ({notices}): {entry.reason}"
            )
            if entry.source:
                lines.append(f"      {entry.source}")
        lines.append(f"searched: {searched}")
        super().__init__("\n".join(lines))


@frozen
class SmtpSettings:
    """The SMTP server e-mails are handed to, and how to log in to it."""

    host: str
    sender: str
    """The From address of every e-mail (`dunning@example.com`)."""
    port: int = 25
    starttls: bool = False
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0


@frozen
class SendSettings:
    """Where letters go, where templates come from, and how e-mails are sent."""

    sender: Sender
    out_dir: Path = Path("letters")
    templates: Path | None = None
    smtp: SmtpSettings | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS


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


# ---- planning ------------------------------------------------------------------


@frozen
class _Plan:
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
        return tuple(dict.fromkeys(item.claim_id for item in self.items))


def _usable_email(customer: Customer) -> str | None:
    text = (customer.email or "").strip()
    return text if _EMAIL.match(text) else None


def _has_address(customer: Customer) -> bool:
    return bool((customer.address or "").strip())


def _channel(requested: str, customer: Customer) -> tuple[str | None, str | None]:
    """How a notice reaches the customer, and a note when not as the policy asked."""
    email, postal = _usable_email(customer) is not None, _has_address(customer)
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


def _superseded(
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


def _plugin_kind(item: OutboxItem, policy: Policy) -> str | None:
    """The plug-in kind of an item's measure; None if the policy has no such
    plug-in measure."""
    measure = policy.measures.get(item.measure)
    return measure.plugin if measure is not None else None


def _superseded_plugins(
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
        kind = _plugin_kind(item, policy)
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


def _plans(
    conn: sqlite3.Connection, items: Sequence[OutboxItem], policy: Policy
) -> list[_Plan]:
    """One plan per customer, in the order the customers' items were created."""
    groups: dict[str, list[OutboxItem]] = {}
    for item in items:
        groups.setdefault(item.customer_id, []).append(item)
    customers = _customers(conn, groups)

    plans = []
    for customer_id, listed in groups.items():
        run_id = max(item.run_id for item in listed)
        customer = customers[customer_id]
        requested = LETTER if any(i.kind == LETTER for i in listed) else EMAIL
        channel, note = _channel(requested, customer)
        strongest = _strongest([i for i in listed if i.kind == requested], policy)
        plans.append(
            _Plan(
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


def _customers(conn: sqlite3.Connection, ids: Iterable[str]) -> dict[str, Customer]:
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


def _claims(conn: sqlite3.Connection, ids: Iterable[str]) -> dict[str, Claim]:
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


def _levels(conn: sqlite3.Connection, items: Sequence[OutboxItem]) -> dict[int, str]:
    """The state each item's transition reached: the level printed on the notice."""
    ids = {item.transition_id for item in items}
    rows = conn.execute(
        f"SELECT id, to_state FROM transitions WHERE id IN ({_marks(ids)})", list(ids)
    )
    return {row[0]: row[1] for row in rows}


def _marks(values: Iterable[object]) -> str:
    return ", ".join("?" for _ in list(values)) or "NULL"


def charges_as_of(
    conn: sqlite3.Connection,
    claim_ids: Sequence[str],
    on: dt.date,
    rounding: Decimal | None = None,
) -> dict[str, tuple[Money | None, Money | None]]:
    """Fees and interest per claim as of a day: (fees, interest), None when none."""
    summary = charges_summary(conn, list(claim_ids), on, rounding=rounding)
    return {
        claim_id: (_nonzero(entry.fees), _nonzero(entry.interest))
        for claim_id, entry in summary.items()
    }


def _nonzero(money: Money | None) -> Money | None:
    return money if money is not None and money.amount != 0 else None


# ---- notices -------------------------------------------------------------------


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


def _notice(
    conn: sqlite3.Connection,
    plan: _Plan,
    sender: Sender,
    on: dt.date,
    claims: dict[str, Claim],
    rounding: Decimal | None = None,
    overdue: dict[str, Money] | None = None,
) -> Notice:
    """The notice of a plan; `overdue` holds, for claims under a payment plan,
    the overdue part of the instalments, which is asked for instead."""
    overdue = overdue or {}
    levels = _levels(conn, plan.items)
    charges = charges_as_of(conn, list(claims), on, rounding)
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
    )


# ---- e-mail --------------------------------------------------------------------


class _Refused(Exception):
    """The SMTP server refused a message for good: the notice is undeliverable."""


class _Mailer:
    """One SMTP connection for a send, opened when the first e-mail goes out."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self.smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        try:
            if s.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.user:
                smtp.login(s.user, s.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message: EmailMessage, recipient: str) -> str:
        """Hand one message over; the server's words, or an exception saying why not."""
        fresh = self.smtp is None
        if self.smtp is None:
            self.smtp = self._connect()
        try:
            self.smtp.send_message(message, self.settings.sender, [recipient])
        except smtplib.SMTPServerDisconnected:
            self.close()
            if fresh:
                raise
            # A connection kept open between notices may have timed out: once more.
            self.smtp = self._connect()
            self.smtp.send_message(message, self.settings.sender, [recipient])
        except smtplib.SMTPRecipientsRefused as error:
            code, text = next(iter(error.recipients.values()))
            reply = f"{code} {_text(text)}"
            if 500 <= code < 600:
                raise _Refused(f"the server refused {recipient}: {reply}") from error
            raise OSError(f"the server put off {recipient}: {reply}") from error
        except smtplib.SMTPDataError as error:
            reply = f"{error.smtp_code} {_text(error.smtp_error)}"
            if 500 <= error.smtp_code < 600:
                raise _Refused(f"the server refused the message: {reply}") from error
            raise
        except OSError:
            self.close()
            raise
        return f"{self.settings.host}:{self.settings.port}"

    def close(self) -> None:
        """Say goodbye to the server, if connected."""
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (OSError, smtplib.SMTPException):
                self.smtp.close()
            self.smtp = None


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _smtp_error(error: BaseException) -> str:
    """An SMTP or network failure in words."""
    if isinstance(error, smtplib.SMTPResponseException):
        return f"SMTP {error.smtp_code} {_text(error.smtp_error)}"
    if isinstance(error, ConnectionRefusedError):
        return "the SMTP server refused the connection"
    if isinstance(error, TimeoutError):
        return "the SMTP server did not answer in time"
    return str(error) or type(error).__name__


def _email(
    notice: Notice,
    plan: _Plan,
    renderer: NoticeRenderer,
    smtp: SmtpSettings,
    recipient: str,
) -> EmailMessage:
    """The e-mail of a notice: text, the letter as HTML and PDF when it has one."""
    written = renderer.render_email(notice, plan.template)
    has_letter = plan.template in renderer.templates(LETTER)
    html, pdf = (
        renderer.render_letter(notice, plan.template) if has_letter else (None, None)
    )

    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = recipient
    message["Subject"] = written.subject
    message["Date"] = formatdate(localtime=False)
    domain = smtp.sender.rpartition("@")[2] or "dunning.invalid"
    message["Message-ID"] = message_id(
        plan.run_id, plan.customer.id, (i.id for i in plan.items), domain
    )
    message.set_content(written.body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    if pdf is not None:
        stem = file_stem(plan.run_id, plan.customer.id)
        message.add_attachment(
            pdf, maintype="application", subtype="pdf", filename=f"{stem}.pdf"
        )
    return message


# ---- carrying out --------------------------------------------------------------


class _Sending:
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
        self.mailer = _Mailer(settings.smtp) if settings.smtp else None
        self.handlers: dict[str, MeasureHandler | PluginError] = {}

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
        attempt = max(item.attempts for item in items) + 1
        return f"attempt {attempt} of {self.settings.max_attempts}: {reason}"

    def notice(self, plan: _Plan) -> Delivery:
        """Write or send one notice and record what became of it."""
        if plan.channel is None:
            self.mark(plan.items, LETTER, UNDELIVERABLE, NO_ADDRESS)
            return _delivery(plan, LETTER, UNDELIVERABLE, NO_ADDRESS)
        channel = plan.channel

        conn = self.store.conn
        claims = {
            claim_id: claim
            for claim_id, claim in _claims(conn, plan.claim_ids).items()
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
            notice = _notice(
                conn,
                plan,
                self.settings.sender,
                self.on,
                claims,
                self.policy.header.rounding,
                overdue,
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
        self, plan: _Plan, notice: Notice, refused: str | None = None
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

    def email(self, plan: _Plan, notice: Notice) -> Delivery:
        """Hand a notice to the SMTP server as one e-mail."""
        assert self.mailer is not None and self.settings.smtp is not None
        recipient = _usable_email(plan.customer)
        assert recipient is not None
        message = _email(notice, plan, self.renderer, self.settings.smtp, recipient)
        try:
            server = self.mailer.send(message, recipient)
        except _Refused as error:
            return self.refused(plan, notice, str(error), recipient)
        except OSError as error:
            detail = self.failure(plan.items, _smtp_error(error))
            self.mark(plan.items, EMAIL, FAILED, detail)
            log.info("e-mail to %s failed: %s", recipient, detail)
            return _delivery(plan, EMAIL, FAILED, detail, recipient)

        detail = f"accepted by {server}, Message-ID {message['Message-ID']}"
        if plan.note:
            detail = f"{plan.note}; {detail}"
        self.mark(plan.items, EMAIL, SENT, detail)
        return _delivery(plan, EMAIL, SENT, detail, recipient)

    def refused(
        self, plan: _Plan, notice: Notice, reason: str, recipient: str
    ) -> Delivery:
        """After an e-mail refused for good: a letter to the postal address, if
        there is one and the template exists as a letter; else undeliverable."""
        if not _has_address(plan.customer):
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
                kind = _plugin_kind(item, self.policy) if item.kind == PLUGIN else None
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
        claim = _claims(conn, [item.claim_id])[item.claim_id]
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
            customer=_customers(conn, [item.customer_id])[item.customer_id],
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
    plan: _Plan, channel: str, status: str, detail: str | None, to: str | None = None
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


TEMPLATES_BESIDE_POLICY = "templates"
"""The folder beside a policy file that holds its templates, if it exists."""


def templates_folder(policy: Policy, settings: SendSettings) -> Path | None:
    """The company's templates folder: the one given, else `templates/` by the policy.

    A policy that names templates of its own can keep them in a folder
    `templates` next to the policy file; it is used when no folder is given.
    """
    if settings.templates is not None:
        return settings.templates
    policy_file = Path(policy.path)
    if not policy_file.is_file():
        return None
    beside = policy_file.parent / TEMPLATES_BESIDE_POLICY
    return beside if beside.is_dir() else None


def _searched(policy: Policy, settings: SendSettings, folder: Path | None) -> str:
    """The folders templates were looked for in, as said to the user."""
    bundled = f"{BUNDLED_TEMPLATES} (bundled)"
    if folder is None:
        beside = Path(policy.path).parent / TEMPLATES_BESIDE_POLICY
        return (
            f"{bundled}; put the policy's templates into {beside} beside the "
            "policy, or name another folder with --templates"
        )
    given = "given" if settings.templates is not None else "beside the policy"
    return f"{folder} ({given}), {bundled}"


def _missing_templates(
    plans: Sequence[_Plan], renderer: NoticeRenderer, policy: Policy
) -> list[MissingTemplate]:
    """The templates the notices need that exist not even in the fallback language.

    A letter needs its HTML file, an e-mail its text file. Whether a template
    that exists also renders is found out notice by notice, when it is sent.
    """
    needed: dict[tuple[str, str, str], int] = {}
    for plan in plans:
        if plan.channel is not None:
            key = (plan.template, plan.channel, plan.measure or "")
            needed[key] = needed.get(key, 0) + 1

    missing = []
    fallback = renderer.fallback_language
    for (template, kind, measure_name), notices in needed.items():
        try:
            renderer.choose(template, None, kind)
            continue
        except NoticeTemplateError as error:
            extension = KINDS[kind]
            # A name no file can have is refused; any other name is simply absent.
            reason = (
                error.reason
                if error.reason.startswith("refused")
                else f"neither {template}.{extension} nor "
                f"{template}.{fallback}.{extension} exists"
            )
        measure = policy.measures.get(measure_name)
        line = measure.span.line if measure is not None and measure.span.line else None
        missing.append(
            MissingTemplate(
                template,
                kind,
                measure_name,
                notices,
                line,
                policy.source_line(line) if line else "",
                reason,
            )
        )
    return sorted(missing, key=lambda m: (m.line or 0, m.template, m.kind))


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
    and nothing is sent.
    """
    if settings.max_attempts < 1:
        raise SendingError("the most attempts allowed must be 1 or more")
    closed = closed_reason(policy, on)
    if closed:
        following = calendar_for(policy.header.calendar).next_business_day(on)
        return SendReport(on, dry_run, closed=closed, next_business_day=following)

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
    kept, replaced = _superseded([i for i in ready if i.kind != PLUGIN])
    plugins, replaced_plugins = _superseded_plugins(ready, policy)
    replaced += replaced_plugins
    superseded = tuple(sorted(item.id for item, _ in replaced))
    plans = _plans(conn, kept, policy)

    # Every notice of a template that is not there would fail: say so once,
    # for all of them, before anything goes out.
    folder = templates_folder(policy, settings)
    renderer = NoticeRenderer(folder)
    if folder is not None:
        log.info("templates from %s, then the bundled ones", folder)
    missing = _missing_templates(plans, renderer, policy)
    if missing:
        raise MissingTemplatesError(
            missing, policy.path, _searched(policy, settings, folder)
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

    sending = _Sending(store, policy, on, settings, renderer)
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


def _planned(plan: _Plan) -> Delivery:
    if plan.channel is None:
        to, status = None, UNDELIVERABLE
    elif plan.channel == EMAIL:
        to, status = _usable_email(plan.customer), "planned"
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


_SENDER_FIELDS = {field.name for field in attrs.fields(Sender)}


def load_sender(path: str | Path) -> Sender:
    """The company notices come from, read from a TOML file (docs/sending.md)."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise SendingError(f"{path}: cannot read the sender: {error}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SendingError(f"{path}: not a TOML file: {error}") from None

    unknown = sorted(set(data) - _SENDER_FIELDS)
    if unknown:
        raise SendingError(
            f"{path}: unknown field `{unknown[0]}`; a sender has "
            f"{', '.join(sorted(_SENDER_FIELDS))}"
        )
    if not isinstance(data.get("name"), str) or not data["name"].strip():
        raise SendingError(f"{path}: field `name`: the company's name is required")
    for name, value in data.items():
        lines = name == "address" and isinstance(value, list)
        if lines and all(isinstance(line, str) for line in value):
            continue
        if not isinstance(value, str):
            expected = "text or a list of lines" if name == "address" else "text"
            raise SendingError(f"{path}: field `{name}`: {value!r} is not {expected}")
    return Sender(**data)
