"""Subcommands for the work of collecting: calls, call-result, agency export/import."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import click

from ..agency import FORMATS, HandoverError, export_handover, import_agency_report
from ..calls import OUTCOMES, CallError, calls_on, record_call, render_calls
from ..importer import ImportFailed
from ..outbox import OutboxError
from .options import (
    AMOUNT,
    DATE,
    acting_user,
    base_rates_option,
    check_places,
    db_option,
    load_base_rates_or_exit,
    open_store,
    quiet,
)

SHOWN_PROBLEMS = 50
"""How many problems of a report are listed before the rest are only counted."""


def _plural(number: int, word: str) -> str:
    return f"{number} {word}" + ("" if number == 1 else "s")


@click.command("calls")
@click.option("--queue", help="Only the calls of this queue.")
@click.option(
    "--format",
    "form",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="How to write the list.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the list to this file instead of the screen.",
)
@click.option(
    "--on",
    "on",
    type=DATE,
    help="The day the days overdue, fees and interest are counted to (default: today).",
)
@base_rates_option
@db_option
def calls_command(
    queue: str | None,
    form: str,
    output: str | None,
    on: dt.date | None,
    base_rates_path: str | None,
    db_path: str,
) -> None:
    """List who to call, why and how much: pending and failed phone measures.

    Oldest first (most days overdue), then the largest open amount. Calls of
    claims on hold, and calls queued by a run after --on, are left off.
    """
    base_rates = load_base_rates_or_exit(base_rates_path)
    with open_store(db_path, create=False) as store:
        listed = calls_on(
            store.conn, on or dt.date.today(), queue=queue, base_rates=base_rates
        )
    if listed.interest_problem and not quiet():
        click.echo(f"warning: {listed.interest_problem}", err=True)
    items = listed.items
    text = render_calls(items, form)
    # CSV and JSON on the screen stay plain data: the notes go to stderr.
    aside = form != "table" and output is None
    if output is None:
        click.echo(text, nl=False)
        if not quiet():
            for group in listed.held_back:
                click.echo(group.describe().replace(" item", " call", 1), err=aside)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as error:
        raise click.ClickException(
            f"{output}: cannot write ({error.strerror})"
        ) from None
    if quiet():
        return
    click.echo(f"{_plural(len(items), 'call')} written to {output}")
    for group in listed.held_back:
        click.echo(group.describe().replace(" item", " call", 1))


@click.command("call-result")
@click.argument("claim_id", metavar="CLAIM")
@click.option(
    "--outcome",
    required=True,
    type=click.Choice(OUTCOMES),
    help="reached: done; no-answer: stays on the list; promise: done, and a "
    "promise to pay is recorded.",
)
@click.option("--until", type=DATE, help="A promise: the day it is to be paid by.")
@click.option(
    "--amount",
    type=AMOUNT,
    help="A promise: the amount promised (default: all open).",
)
@click.option("--note", help="What was said, for the audit trail.")
@click.option("--by", help="Who made the call (default: the login name).")
@click.option("--on", "on", type=DATE, help="The day of the call (default: today).")
@db_option
def call_result_command(
    claim_id: str,
    outcome: str,
    until: dt.date | None,
    amount: Decimal | None,
    note: str | None,
    by: str | None,
    on: dt.date | None,
    db_path: str,
) -> None:
    """Record the outcome of a call on CLAIM's open phone measure."""
    day = on or dt.date.today()
    with open_store(db_path, create=False) as store:
        if amount is not None:
            claim = store.conn.execute(
                "SELECT currency FROM claims WHERE id = ?", (claim_id,)
            ).fetchone()
            if claim is not None:
                check_places(amount, claim[0])
        try:
            result = record_call(
                store,
                claim_id,
                outcome,
                on=day,
                until=until,
                amount=amount,
                note=note,
                by=by or acting_user(),
            )
        except (CallError, OutboxError) as error:
            raise click.ClickException(str(error)) from None
    if quiet():
        return
    click.echo(
        f"claim {result.claim_id}: {result.outcome}; phone item {result.item_id} is "
        f"{result.status} after {_plural(result.attempts, 'attempt')}"
    )
    if result.event_id:
        click.echo(
            f"promise recorded as event {result.event_id} (until {until}); "
            "the next run applies it"
        )


@click.group("agency")
def agency_group() -> None:
    """Hand claims to collection agencies and import what they report."""


@agency_group.command("export")
@click.option("--agency", help="Only this agency (default: every agency).")
@click.option(
    "--out",
    "out_dir",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False),
    help="The folder the handover files are written to.",
)
@click.option(
    "--format",
    "form",
    type=click.Choice(FORMATS),
    default="csv",
    show_default=True,
    help="The handover file's format; both writes a CSV and a JSON file.",
)
@click.option(
    "--on",
    "on",
    type=DATE,
    help="The day of the handover; fees and interest are counted to it "
    "(default: today).",
)
@base_rates_option
@db_option
def export_command(
    agency: str | None,
    out_dir: str,
    form: str,
    on: dt.date | None,
    base_rates_path: str | None,
    db_path: str,
) -> None:
    """Write one file per agency of the pending agency measures, marked sent."""
    base_rates = load_base_rates_or_exit(base_rates_path)
    with open_store(db_path, create=False) as store:
        try:
            done = export_handover(
                store,
                on or dt.date.today(),
                agency=agency,
                out_dir=out_dir,
                form=form,
                base_rates=base_rates,
            )
        except (ImportFailed, HandoverError) as failure:
            raise click.ClickException(str(failure)) from None
        except OSError as error:
            raise click.ClickException(
                f"{out_dir}: cannot write the handover file ({error.strerror}); "
                "nothing was handed over"
            ) from None
    if quiet():
        return
    if not any(result.files for result in done):
        click.echo("nothing to hand over")
    for result in done:
        for group in result.held_back:
            click.echo(f"{result.agency}: {group.describe()}")
        for claim in result.skipped:
            click.echo(f"{result.agency}: claim {claim} closed without a handover")
        if result.files:
            click.echo(
                f"{result.agency}: {_plural(len(result.claims), 'claim')} handed over "
                f"in {', '.join(result.files)}"
            )


@agency_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--agency", required=True, help="The agency that sent the report.")
@db_option
def import_command(file: str, agency: str, db_path: str) -> None:
    """Import an agency's report: collections become payments, returns events."""
    with open_store(db_path, create=False) as store:
        try:
            result = import_agency_report(store, file, agency)
        except ImportFailed as failure:
            problems = failure.problems
            for problem in problems[:SHOWN_PROBLEMS]:
                click.echo(str(problem), err=True)
            if len(problems) > SHOWN_PROBLEMS:
                rest = len(problems) - SHOWN_PROBLEMS
                click.echo(f"... and {_plural(rest, 'more problem')}", err=True)
            count = _plural(len(problems), "problem")
            click.echo(f"{file}: nothing imported ({count})", err=True)
            raise SystemExit(1) from None
    if quiet():
        return
    click.echo(
        f"{file}: {_plural(result.payments, 'payment')} recorded, "
        f"{_plural(result.returned, 'claim')} returned, "
        f"{_plural(result.known, 'row')} already imported"
    )


def register(cli: click.Group) -> None:
    """Attach these commands to the main group."""
    cli.add_command(calls_command)
    cli.add_command(call_result_command)
    cli.add_command(agency_group)
