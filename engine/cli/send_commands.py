"""Subcommands that carry out the outbox and show it: send, outbox."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from dunlang.model import MeasureKind

from ..notices import NoticeError, Sender
from ..outbox import STATUSES, OutboxError, OutboxItem, outbox_items
from ..send_settings import DEFAULT_MAX_ATTEMPTS
from ..sending import (
    SendingError,
    SendReport,
    SendSettings,
    SmtpSettings,
    load_sender,
    send_outbox,
)
from .options import (
    DATE,
    WholeNumber,
    base_rates_option,
    db_option,
    load_base_rates_or_exit,
    load_or_exit,
    open_store,
    policy_option,
    quiet,
)

SHOWN_ITEMS = 20
"""At most this many item numbers in one line of the summary."""


def _console() -> Console:
    """A console as wide as the terminal, and wide enough for a table in a file."""
    wide = None if sys.stdout.isatty() else 1000
    return Console(file=sys.stdout, width=wide, highlight=False, soft_wrap=False)


def _plural(number: int, word: str) -> str:
    return f"{number} {word}" + ("" if number == 1 else "s")


def _smtp(
    host: str | None,
    port: int,
    sender: str | None,
    starttls: bool,
    implicit_tls: bool | None,
    ca_file: str | None,
    user: str | None,
    password: str | None,
    timeout: float,
) -> SmtpSettings | None:
    """The SMTP settings the options give; None without a host. `implicit_tls`
    None: encrypted from the start on port 465, unless STARTTLS is asked for."""
    if not host:
        return None
    if starttls and implicit_tls:
        raise click.BadParameter(
            "a connection is encrypted either from the start or with STARTTLS, "
            "not both (--no-smtp-starttls or --no-smtp-implicit-tls turns one off "
            "that the environment turned on)",
            param_hint="'--smtp-implicit-tls' and '--smtp-starttls'",
        )
    if not sender or "@" not in sender:
        raise click.BadParameter(
            f"{sender!r} is not an e-mail address; e-mails need a From address "
            "(or DUNNING_SMTP_FROM)"
            if sender
            else "e-mails need a From address (or DUNNING_SMTP_FROM)",
            param_hint="'--smtp-from'",
        )
    try:
        return SmtpSettings(
            host,
            sender,
            port,
            starttls,
            user,
            password,
            timeout,
            implicit_tls=implicit_tls,
            ca_file=Path(ca_file) if ca_file else None,
        )
    except SendingError as error:  # the certificates to trust
        raise click.BadParameter(str(error), param_hint="'--smtp-ca-file'") from None


@click.command("send")
@policy_option(help="The policy: its calendar says which days are business days.")
@click.option("--on", "on", type=DATE, help="The day of sending (default: today).")
@click.option("--run", "run_id", type=WholeNumber(1), help="Only this run.")
@click.option("--dry-run", is_flag=True, help="List what would go out; send nothing.")
@click.option(
    "--out",
    "out_dir",
    default="letters",
    show_default=True,
    type=click.Path(file_okay=False),
    help="The folder letters are written to.",
)
@click.option(
    "--templates",
    type=click.Path(exists=True, file_okay=False),
    help="A folder of the company's own templates, searched before the bundled "
    "ones (default: the folder `templates` beside the policy, if there is one).",
)
@click.option(
    "--sender",
    "sender_path",
    type=click.Path(exists=True, dir_okay=False),
    envvar="DUNNING_SENDER",
    help="A TOML file with the company's name, address and bank details.",
)
@click.option("--smtp-host", envvar="DUNNING_SMTP_HOST", help="The SMTP server.")
@click.option(
    "--smtp-port",
    envvar="DUNNING_SMTP_PORT",
    default=25,
    show_default=True,
    type=WholeNumber(1, 65535),
    help="The SMTP server's port.",
)
@click.option("--smtp-from", envvar="DUNNING_SMTP_FROM", help="The From address.")
@click.option(
    "--smtp-starttls/--no-smtp-starttls",
    default=False,
    envvar="DUNNING_SMTP_STARTTLS",
    help="Encrypt the connection with STARTTLS once it is open (usually port 587).",
)
@click.option(
    "--smtp-implicit-tls/--no-smtp-implicit-tls",
    default=None,
    envvar="DUNNING_SMTP_IMPLICIT_TLS",
    help="Encrypt the connection from the start (SMTPS); the default on port 465 "
    "without STARTTLS.",
)
@click.option(
    "--smtp-ca-file",
    envvar="DUNNING_SMTP_CA_FILE",
    type=click.Path(dir_okay=False),
    help="Trust the server's certificate if these PEM certificates vouch for it, "
    "instead of the system's (a company's own certificate authority).",
)
@click.option("--smtp-user", envvar="DUNNING_SMTP_USER", help="Log in as this user.")
@click.option(
    "--smtp-password",
    envvar="DUNNING_SMTP_PASSWORD",
    help="The password (better given as DUNNING_SMTP_PASSWORD).",
)
@click.option(
    "--smtp-timeout",
    envvar="DUNNING_SMTP_TIMEOUT",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds to wait for the SMTP server.",
)
@click.option(
    "--max-attempts",
    default=DEFAULT_MAX_ATTEMPTS,
    show_default=True,
    type=WholeNumber(1),
    help="Failed items are tried again until they failed this often.",
)
@click.option(
    "--pay-within",
    type=WholeNumber(0, 365),
    metavar="DAYS",
    help="Ask for payment by this many days after the day of sending (the "
    "next business day if that is none); without it the notices name no date.",
)
@base_rates_option
@db_option
def send_command(
    policy_path: str,
    on: dt.date | None,
    run_id: int | None,
    dry_run: bool,
    out_dir: str,
    templates: str | None,
    sender_path: str | None,
    smtp_host: str | None,
    smtp_port: int,
    smtp_from: str | None,
    smtp_starttls: bool,
    smtp_implicit_tls: bool | None,
    smtp_ca_file: str | None,
    smtp_user: str | None,
    smtp_password: str | None,
    smtp_timeout: float,
    max_attempts: int,
    pay_within: int | None,
    base_rates_path: str | None,
    db_path: str,
) -> None:
    """Send the pending letters, e-mails and plug-in measures of the outbox."""
    smtp = _smtp(
        smtp_host,
        smtp_port,
        smtp_from,
        smtp_starttls,
        smtp_implicit_tls,
        smtp_ca_file,
        smtp_user,
        smtp_password,
        smtp_timeout,
    )
    policy = load_or_exit(policy_path)
    try:
        sender = load_sender(sender_path) if sender_path else Sender(policy.header.name)
    except SendingError as error:
        raise click.ClickException(str(error)) from None
    settings = SendSettings(
        sender,
        Path(out_dir),
        Path(templates) if templates else None,
        smtp,
        max_attempts,
        base_rates=load_base_rates_or_exit(base_rates_path),
        pay_within=pay_within,
    )

    store = open_store(db_path, create=False)
    try:
        report = send_outbox(
            store,
            policy,
            on or dt.date.today(),
            settings,
            run_id=run_id,
            dry_run=dry_run,
        )
    except (SendingError, OutboxError, NoticeError) as error:
        raise click.ClickException(str(error)) from None
    finally:
        store.close()

    if quiet():
        _print_errors(report)
    else:
        _print_report(report, policy.header.calendar)
    if not dry_run and not report.ok:
        raise SystemExit(1)


def _summary(report: SendReport) -> str:
    """The last line of a send: how many notices, and what became of them."""
    # "sent" always, so that a send in which everything failed says 0 sent.
    counts = ", ".join(
        f"{report.count(status)} {status}"
        for status in ("sent", "failed", "undeliverable", "done")
        if status == "sent" or report.count(status)
    )
    return (
        f"{_plural(len(report.deliveries), 'notice')} on "
        f"{report.on.isoformat()}: {counts}"
    )


def _exhausted(report: SendReport) -> str:
    ids = ", ".join(str(item.id) for item in report.exhausted)
    return (
        f"{_plural(len(report.exhausted), 'item')} failed too often and "
        f"{'is' if len(report.exhausted) == 1 else 'are'} no longer tried: "
        f"{ids}; see `dunning outbox --status failed`"
    )


def _print_errors(report: SendReport) -> None:
    """Under -q: the notices that failed or were undeliverable, and the summary;
    nothing at all when everything went out."""
    if report.dry_run or report.ok:
        return
    for line in report.deliveries:
        if line.status in ("failed", "undeliverable"):
            click.echo(
                f"customer {line.customer_id} ({', '.join(line.claims)}): "
                f"{line.channel} {line.status}: {line.detail or ''}".rstrip(),
                err=True,
            )
    if report.exhausted:
        click.echo(_exhausted(report), err=True)
    if report.deliveries:
        click.echo(_summary(report), err=True)


def _print_report(report: SendReport, calendar: object) -> None:
    if report.closed:
        assert report.next_business_day is not None
        following = report.next_business_day
        where = f" ({calendar})" if calendar else ""
        click.echo(
            f"nothing sent: {report.closed} in the policy's calendar{where}; "
            f"the next business day is {following.isoformat()} "
            f"({following.strftime('%A')})"
        )
        return

    if report.deliveries:
        table = Table(
            "run", "customer", "channel", "claims", "to", "status", "attempt", "detail"
        )
        for line in report.deliveries:
            table.add_row(
                str(line.run_id),
                line.customer_id,
                line.channel,
                ", ".join(line.claims),
                line.to or "",
                line.status,
                str(line.attempts) if line.attempts else "",
                line.detail or "",
            )
        _console().print(table)

    if report.dry_run:
        click.echo(
            f"dry run for {report.on.isoformat()}: "
            f"{_plural(len(report.deliveries), 'notice')} would go out; "
            "nothing was sent"
        )
    elif not report.deliveries:
        click.echo(f"nothing to send on {report.on.isoformat()}")
    else:
        click.echo(_summary(report))
    if report.superseded:
        count = len(report.superseded)
        closed = "would be closed" if report.dry_run else "closed"
        names = [str(ident) for ident in report.superseded[:SHOWN_ITEMS]]
        if count > SHOWN_ITEMS:
            names.append(f"{count - SHOWN_ITEMS} more (see `dunning outbox`)")
        shown = ", ".join(names)
        click.echo(
            f"{_plural(count, 'older item')} {closed} as done, superseded by a "
            f"newer notice of {'its' if count == 1 else 'their'} claim: {shown}"
        )
    for group in report.held_back:
        click.echo(group.describe())
    if report.exhausted:
        click.echo(_exhausted(report))
    if report.waiting:
        click.echo(
            f"{_plural(report.waiting, 'pending item')} of other kinds (calls, "
            f"tasks, stops, agency handovers) {'is' if report.waiting == 1 else 'are'}"
            " not sent by this command; see `dunning outbox --status pending`"
        )


# ---- outbox ----------------------------------------------------------------------

_FIELDS = (
    "id",
    "run",
    "as_of",
    "claim",
    "customer",
    "measure",
    "kind",
    "status",
    "attempts",
    "channel",
    "sent_at",
    "document",
    "last_error",
)


def _row(item: OutboxItem) -> dict[str, object]:
    return {
        "id": item.id,
        "run": item.run_id,
        "as_of": item.as_of.isoformat(),
        "claim": item.claim_id,
        "customer": item.customer_id,
        "measure": item.measure,
        "kind": item.kind,
        "status": item.status,
        "attempts": item.attempts,
        "channel": item.channel,
        "sent_at": item.sent_at,
        "document": item.document,
        "last_error": item.last_error,
    }


@click.command("outbox")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(STATUSES),
    help="Only items with this status (repeatable).",
)
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    type=click.Choice([kind.value for kind in MeasureKind]),
    help="Only items of this kind of measure (repeatable).",
)
@click.option("--run", "run_id", type=WholeNumber(1), help="Only this run.")
@click.option(
    "--format",
    "form",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@db_option
def outbox_command(
    statuses: tuple[str, ...],
    kinds: tuple[str, ...],
    run_id: int | None,
    form: str,
    db_path: str,
) -> None:
    """List outbox items: status, attempts and the last error, for review."""
    store = open_store(db_path, create=False)
    try:
        items = outbox_items(store.conn, statuses=statuses, kinds=kinds, run_id=run_id)
    except OutboxError as error:
        raise click.ClickException(str(error)) from None
    finally:
        store.close()

    rows = [_row(item) for item in items]
    if form == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    elif form == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        click.echo(buffer.getvalue(), nl=False)
    elif not rows:
        click.echo("the outbox holds no such items")
    else:
        table = Table(*_FIELDS[:10], "last error")
        for row in rows:
            table.add_row(
                *("" if row[name] is None else str(row[name]) for name in _FIELDS[:10]),
                str(row["last_error"] or ""),
            )
        _console().print(table)
        click.echo(_plural(len(rows), "item"))


def register(cli: click.Group) -> None:
    """Attach send and outbox."""
    cli.add_command(send_command)
    cli.add_command(outbox_command)
