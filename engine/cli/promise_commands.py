"""Subcommands for agreements with a customer: promise, dispute, plan."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import click

from dunlang.model import Money

from ..mapping import currency_places
from ..plans import add_plan, parse_instalment, plan_total, schedule
from ..promises import (
    AgreementError,
    claim_row,
    give_promise,
    open_claim_row,
    open_dispute,
    resolve_dispute,
)
from ..store import Store
from .options import (
    AMOUNT,
    DATE,
    WholeNumber,
    acting_user,
    check_places,
    db_option,
    format_amount,
    open_store,
    quiet,
)

by_option = click.option(
    "--by",
    "by",
    default=None,
    help="Who agreed it (default: your login name); kept in the audit trail.",
)
on_option = click.option(
    "--on",
    "on",
    type=DATE,
    default=None,
    help="The day it happened (YYYY-MM-DD; default: today).",
)


def _store(db_path: str) -> Store:
    return open_store(db_path, create=False)


@click.command("promise")
@click.argument("claim_id")
@click.option(
    "--amount", required=True, type=AMOUNT, help="The amount promised, e.g. 500.00."
)
@click.option(
    "--until", "until", required=True, type=DATE, help="The last day to pay it by."
)
@by_option
@on_option
@db_option
def promise_command(
    claim_id: str,
    amount: Decimal,
    until: dt.date,
    by: str | None,
    on: dt.date | None,
    db_path: str,
) -> None:
    """Record a customer's promise to pay AMOUNT of a claim by a date."""
    store = _store(db_path)
    try:
        currency = claim_row(store.conn, claim_id)["currency"]
        check_places(amount, currency)
        ident = give_promise(
            store,
            claim_id,
            amount,
            until,
            on=on or dt.date.today(),
            by=by or acting_user(),
        )
        amount_text = format_amount(amount, currency)
    except AgreementError as error:
        raise click.ClickException(str(error)) from None
    finally:
        store.close()
    if quiet():
        return
    click.echo(
        f"claim {claim_id}: promise to pay {amount_text} by {until} recorded "
        f"(event {ident}); the next run applies it and judges it after {until}"
    )


@click.group("dispute")
def dispute_group() -> None:
    """Open and resolve a customer's dispute of a claim."""


@dispute_group.command("open")
@click.argument("claim_id")
@click.option("--reason", required=True, help="What the customer objects to.")
@by_option
@on_option
@db_option
def dispute_open_command(
    claim_id: str, reason: str, by: str | None, on: dt.date | None, db_path: str
) -> None:
    """Record that the customer disputes a claim; the policy decides the hold."""
    store = _store(db_path)
    day = on or dt.date.today()
    try:
        ident = open_dispute(store, claim_id, reason, on=day, by=by or acting_user())
    except AgreementError as error:
        raise click.ClickException(str(error)) from None
    finally:
        store.close()
    if quiet():
        return
    click.echo(
        f"claim {claim_id}: dispute opened on {day} (event {ident}); the next run "
        "applies it"
    )


@dispute_group.command("resolve")
@click.argument("claim_id")
@click.option(
    "--outcome",
    required=True,
    type=click.Choice(["customer", "company"]),
    help="customer: the customer was right (a credit note is booked); "
    "company: the claim stands.",
)
@click.option(
    "--amount",
    default=None,
    type=AMOUNT,
    help="With --outcome customer: the amount credited (default: all still open).",
)
@click.option("--note", default=None, help="A note kept with the event.")
@by_option
@on_option
@db_option
def dispute_resolve_command(
    claim_id: str,
    outcome: str,
    amount: Decimal | None,
    note: str | None,
    by: str | None,
    on: dt.date | None,
    db_path: str,
) -> None:
    """Close a claim's open dispute in the customer's or the company's favour."""
    store = _store(db_path)
    day = on or dt.date.today()
    try:
        if amount is not None:
            check_places(amount, claim_row(store.conn, claim_id)["currency"])
        recorded = resolve_dispute(
            store,
            claim_id,
            outcome,
            amount=amount,
            note=note,
            on=day,
            by=by or acting_user(),
        )
        credit = None
        if len(recorded) == 2:
            credited, currency = store.conn.execute(
                "SELECT amount, currency FROM payments WHERE id = ?",
                (recorded[0],),
            ).fetchone()
            credit = format_amount(Decimal(credited), currency)
    except AgreementError as error:
        raise click.ClickException(str(error)) from None
    finally:
        store.close()
    if quiet():
        return
    favour = "the customer's" if outcome == "customer" else "the company's"
    credited = f"credit note {recorded[0]} of {credit}, " if credit else ""
    click.echo(
        f"claim {claim_id}: dispute resolved in {favour} favour on {day} "
        f"({credited}event {recorded[-1]}); the next run applies it"
    )


def _instalment(text: str, currency: str) -> tuple[dt.date, Money]:
    """One `--instalment DATE:AMOUNT`; a malformed one is a usage error."""
    date_text, colon, amount_text = text.partition(":")
    if not colon:
        raise click.BadParameter(
            f"{text!r} is not written as DATE:AMOUNT (like 2026-04-01:250.00)",
            param_hint="'--instalment'",
        )
    try:
        DATE.convert(date_text.strip(), None, None)
        amount = AMOUNT.convert(amount_text.strip(), None, None)
    except click.BadParameter as error:
        raise click.BadParameter(
            f"{text!r}: {error.message}", param_hint="'--instalment'"
        ) from None
    check_places(amount, currency, "--instalment")
    return parse_instalment(text, currency)


@click.command("plan")
@click.argument("claim_id")
@click.option(
    "--instalments",
    "count",
    type=WholeNumber(1),
    default=None,
    help="Split what is open into this many equal instalments.",
)
@click.option(
    "--first", type=DATE, default=None, help="The due date of the first instalment."
)
@click.option(
    "--every",
    nargs=2,
    type=(WholeNumber(1), click.Choice(["day", "days", "month", "months"])),
    default=(1, "months"),
    show_default=True,
    help="The time between two instalments, e.g. `--every 14 days`.",
)
@click.option(
    "--instalment",
    "explicit",
    multiple=True,
    metavar="DATE:AMOUNT",
    help="One instalment, e.g. 2026-04-01:250.00; repeat it for each.",
)
@by_option
@db_option
def plan_command(
    claim_id: str,
    count: int | None,
    first: dt.date | None,
    every: tuple[int, str],
    explicit: tuple[str, ...],
    by: str | None,
    db_path: str,
) -> None:
    """Agree a payment plan: instalments that add up to what the claim still owes."""
    if explicit and (count or first):
        raise click.UsageError(
            "give either --instalments N with --first DATE, or --instalment "
            "DATE:AMOUNT for each instalment, not both"
        )
    if not explicit and (count is None or first is None):
        raise click.UsageError(
            "give --instalments N and --first DATE, or --instalment DATE:AMOUNT "
            "for each instalment"
        )
    store = _store(db_path)
    try:
        claim = open_claim_row(store.conn, claim_id)
        currency = claim["currency"]
        if explicit:
            wanted = [_instalment(text, currency) for text in explicit]
        else:
            assert count is not None and first is not None
            unit = every[1] if every[1].endswith("s") else every[1] + "s"
            owed = plan_total(claim)
            wanted = schedule(owed, count, first, every[0], unit)
        plan = add_plan(store, claim_id, wanted, by=by or acting_user())
    except AgreementError as error:
        raise click.ClickException(str(error)) from None
    finally:
        store.close()
    if quiet():
        return
    places = currency_places(currency)
    click.echo(f"claim {claim_id}: payment plan of {len(plan)} instalments")
    for part in plan:
        click.echo(
            f"  {part.number}. due {part.due_date}: "
            f"{part.amount.amount:.{places}f} {currency}"
        )


def register(cli: click.Group) -> None:
    """Attach these commands to the main group."""
    cli.add_command(promise_command)
    cli.add_command(dispute_group)
    cli.add_command(plan_command)
