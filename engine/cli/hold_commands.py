"""Subcommands for individual treatment: hold, release, holds, skipped, credit."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal

import click

from dunlang.model import Money

from ..credits import CREDIT_KINDS, Credit, CreditError, add_credits
from ..holds import (
    SKIP_CAUSES,
    Hold,
    HoldError,
    holds_of,
    release_hold,
    set_hold,
    skips_of,
)
from .options import (
    AMOUNT,
    CURRENCY,
    DATE,
    acting_user,
    check_places,
    db_option,
    format_amount,
    open_store,
    quiet,
)


def _target(claim_id: str | None, customer_id: str | None) -> None:
    if claim_id is None and customer_id is None:
        raise click.UsageError("name a CLAIM or a --customer ID: one of them is needed")
    if claim_id is not None and customer_id is not None:
        raise click.UsageError("name either a CLAIM or a --customer ID, not both")


def _line(hold: Hold) -> str:
    described = hold.describe().removeprefix(f"customer {hold.customer_id} ")
    text = f"hold {hold.id} on {hold.target}: {described}"
    if hold.released_on:
        note = f" ({hold.release_note})" if hold.release_note else ""
        text += f"; released on {hold.released_on} by {hold.released_by}{note}"
    return text


@click.command("hold")
@click.argument("claim_id", required=False)
@click.option("--customer", "customer_id", help="Hold every claim of this customer.")
@click.option("--reason", required=True, help="Why, for the audit trail and `why`.")
@click.option("--until", type=DATE, help="The last day held (default: until released).")
@click.option(
    "--from", "starts", type=DATE, help="The first day held (default: today)."
)
@click.option("--by", "by", help="Who sets the hold (default: your user name).")
@db_option
def hold_command(
    claim_id: str | None,
    customer_id: str | None,
    reason: str,
    until: dt.date | None,
    starts: dt.date | None,
    by: str | None,
    db_path: str,
) -> None:
    """Hold a claim, or all claims of a customer: no timed step, measure or fee
    while held; payments still apply."""
    _target(claim_id, customer_id)
    first = starts or dt.date.today()
    if until is not None and until < first:
        raise click.BadParameter(
            f"{until} is before the first day held ({first})", param_hint="'--until'"
        )
    with open_store(db_path, create=False) as store:
        try:
            with store.transaction() as conn:
                hold = set_hold(
                    conn,
                    claim_id=claim_id,
                    customer_id=customer_id,
                    reason=reason,
                    by=by or acting_user(),
                    starts=first,
                    until=until,
                )
        except HoldError as error:
            raise click.ClickException(str(error)) from None
    if not quiet():
        click.echo(_line(hold))


@click.command("release")
@click.argument("claim_id", required=False)
@click.option("--customer", "customer_id", help="Release the customer's hold.")
@click.option("--note", help="Why the hold ends, for the audit trail.")
@click.option("--on", "on", type=DATE, help="The first day no longer held (today).")
@click.option("--by", "by", help="Who releases it (default: your user name).")
@db_option
def release_command(
    claim_id: str | None,
    customer_id: str | None,
    note: str | None,
    on: dt.date | None,
    by: str | None,
    db_path: str,
) -> None:
    """Release the hold of a claim or customer; dunning resumes as the policy says."""
    _target(claim_id, customer_id)
    with open_store(db_path, create=False) as store:
        try:
            with store.transaction() as conn:
                hold = release_hold(
                    conn,
                    claim_id=claim_id,
                    customer_id=customer_id,
                    by=by or acting_user(),
                    on=on or dt.date.today(),
                    note=note,
                )
        except HoldError as error:
            raise click.ClickException(str(error)) from None
    if not quiet():
        click.echo(_line(hold))


@click.command("holds")
@click.argument("claim_id", required=False)
@click.option("--customer", "customer_id", help="Only this customer's holds.")
@click.option("--open", "open_only", is_flag=True, help="Only holds not released.")
@db_option
def holds_command(
    claim_id: str | None, customer_id: str | None, open_only: bool, db_path: str
) -> None:
    """List holds: all, of one claim (with its customer's), or of one customer."""
    with open_store(db_path, create=False) as store:
        try:
            found = holds_of(
                store.conn,
                claim_id=claim_id,
                customer_id=customer_id,
                open_only=open_only,
            )
        except HoldError as error:
            raise click.ClickException(str(error)) from None
    for hold in found:
        click.echo(_line(hold))
    if not found:
        click.echo("no holds")


@click.command("skipped")
@click.option("--cause", type=click.Choice(SKIP_CAUSES), help="Only this cause.")
@click.option("--claim", "claim_id", help="Only this claim.")
@click.option(
    "--format",
    "form",
    type=click.Choice(["text", "csv", "json"]),
    default="text",
    show_default=True,
    help="How to print the list.",
)
@db_option
def skipped_command(
    cause: str | None, claim_id: str | None, form: str, db_path: str
) -> None:
    """List the claims runs left alone on purpose, for clerks to look at."""
    with open_store(db_path, create=False) as store:
        skips = skips_of(store.conn, cause=cause, claim_id=claim_id)
    rows = [
        {
            "as_of": skip.as_of.isoformat(),
            "run": skip.run_id,
            "claim": skip.claim_id,
            "customer": skip.customer_id,
            "cause": skip.cause,
            "reference": skip.reference,
            "detail": skip.detail,
        }
        for skip in skips
    ]
    if form == "json":
        click.echo(json.dumps(rows, indent=2))
    elif form == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(
            out,
            fieldnames=[
                "as_of", "run", "claim", "customer", "cause", "reference", "detail"
            ],
            lineterminator="\n",
        )  # fmt: skip
        writer.writeheader()
        writer.writerows(rows)
        click.echo(out.getvalue(), nl=False)
    else:
        for row in rows:
            click.echo(
                f"{row['as_of']}  {row['claim']} (customer {row['customer']})  "
                f"{row['cause']}: {row['detail']}"
            )
        if not rows:
            click.echo("no skipped claims")


@click.command("credit")
@click.option("--customer", "customer_id", required=True, help="Whose credit it is.")
@click.option("--amount", required=True, type=AMOUNT, help="The amount, e.g. 150.00.")
@click.option(
    "--currency", default="EUR", show_default=True, type=CURRENCY, help="Its currency."
)
@click.option("--on", "on", type=DATE, required=True, help="The day it was received.")
@click.option(
    "--kind",
    type=click.Choice(CREDIT_KINDS),
    default="unapplied_payment",
    show_default=True,
    help="An unmatched payment or a credit note.",
)
@click.option("--reference", help="The bank or credit note reference.")
@click.option("--id", "credit_id", help="Its id (default: CR-<customer>-<n>).")
@click.option("--by", "by", help="Who records it (default: your user name).")
@db_option
def credit_command(
    customer_id: str,
    amount: Decimal,
    currency: str,
    on: dt.date,
    kind: str,
    reference: str | None,
    credit_id: str | None,
    by: str | None,
    db_path: str,
) -> None:
    """Record a customer credit; a run then does not remind claims it covers."""
    check_places(amount, currency)
    money = Money(amount, currency)
    with open_store(db_path, create=False) as store:
        count = store.conn.execute(
            "SELECT count(*) FROM credits WHERE customer_id = ?", (customer_id,)
        ).fetchone()[0]
        ident = credit_id or f"CR-{customer_id}-{count + 1}"
        credit = Credit(ident, customer_id, money, on, kind, reference)
        try:
            with store.transaction() as conn:
                add_credits(conn, [credit], by or acting_user())
        except CreditError as error:
            raise click.ClickException(str(error)) from None
    if quiet():
        return
    click.echo(
        f"credit {ident} of customer {customer_id}: "
        f"{format_amount(amount, currency)} "
        f"({kind.replace('_', ' ')}) received {on}"
    )


def register(cli: click.Group) -> None:
    """Attach these commands to the main group."""
    for command in (
        hold_command,
        release_command,
        holds_command,
        skipped_command,
        credit_command,
    ):
        cli.add_command(command)
