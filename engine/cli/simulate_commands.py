"""Subcommands: simulate a policy over a period of historical data, and report
what the runs on a database did in a period."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from dunlang import Policy

from ..importer import apply_import, check_file
from ..mapping import ImportFailed, load_mapping
from ..reports import Report, build_report, render_text
from ..runner import RunError
from ..simulate import run_days, simulate
from ..store import Store
from .options import (
    DATE,
    base_rates_option,
    db_option,
    load_base_rates_or_exit,
    load_or_exit,
    open_store,
    policy_option,
)

NATIVE_FILES = ("customers", "claims", "payments", "events")
F = TypeVar("F", bound=Callable[..., Any])


def _load_data(store_path: str, data: str, mapping_name: str | None) -> list[str]:
    """Import the data into the simulation database; lines saying what landed."""
    store = open_store(store_path)
    said: list[str] = []
    try:
        if Path(data).is_dir():
            if mapping_name:
                raise click.UsageError(
                    "--mapping goes with a single --data file, "
                    "not a folder of native files"
                )
            found = [
                kind for kind in NATIVE_FILES if (Path(data) / f"{kind}.csv").exists()
            ]
            if "claims" not in found:
                raise click.UsageError(
                    f"{data} has no claims.csv; a data folder holds customers.csv, "
                    "claims.csv and optionally payments.csv and events.csv"
                )
            for kind in found:
                prepared = check_file(str(Path(data) / f"{kind}.csv"), [kind])
                for result in apply_import(store, prepared):
                    said.append(f"{result.file}: {result.total} {result.kind}")
        else:
            if not mapping_name:
                raise click.UsageError(
                    "a single --data file needs --mapping saying how to read it "
                    "(for example --mapping ibm-late-payment-histories)"
                )
            mapping = load_mapping(mapping_name)
            kinds = [kind for kind in NATIVE_FILES if kind in mapping.tables]
            for result in apply_import(store, check_file(data, kinds, mapping)):
                said.append(f"{result.file}: {result.total} {result.kind}")
    except ImportFailed as error:
        raise click.ClickException(f"the data was not imported:\n{error}") from None
    finally:
        store.close()
    return said


def _csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=["group", "metric", "currency", "value"], lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows(report.as_rows())
    return out.getvalue()


def _json(report: Report) -> str:
    document = {
        "policy": report.policy,
        "from": report.start.isoformat(),
        "to": report.end.isoformat(),
        "days": report.days,
        "figures": report.as_rows(),
    }
    return json.dumps(document, indent=2)


def _period(function: F) -> F:
    """`--from` and `--to`: the first and last day of the period reported."""
    function = click.option(
        "--to", "end", required=True, type=DATE, help="Last day (YYYY-MM-DD)."
    )(function)
    return click.option(
        "--from", "start", required=True, type=DATE, help="First day (YYYY-MM-DD)."
    )(function)


def _format(function: F) -> F:
    """`--format`: how the summary is printed."""
    return click.option(
        "--format",
        "form",
        type=click.Choice(["text", "json", "csv"]),
        default="text",
        show_default=True,
        help="How to print the summary.",
    )(function)


@click.command("simulate")
@policy_option()
@click.option(
    "--data",
    required=True,
    type=click.Path(exists=True),
    help="A folder of native CSV files, or one file read with --mapping.",
)
@click.option(
    "--mapping",
    "mapping_name",
    help="Mapping file or bundled mapping name for a single --data file.",
)
@_period
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False),
    help="Keep the simulation in this database (default: a temporary one).",
)
@_format
@base_rates_option
@click.option("--quiet", is_flag=True, help="No progress bar.")
def simulate_command(
    policy_path: str,
    data: str,
    mapping_name: str | None,
    start: dt.date,
    end: dt.date,
    db_path: str | None,
    form: str,
    base_rates_path: str | None,
    quiet: bool,
) -> None:
    """Replay a period day by day and report what the policy would have done."""
    if end < start:
        raise click.BadParameter(f"{end} is before --from {start}", param_hint="'--to'")
    policy = load_or_exit(policy_path)
    base_rates = load_base_rates_or_exit(base_rates_path)
    with tempfile.TemporaryDirectory(prefix="dunning-") as folder:
        path = db_path or str(Path(folder) / "simulation.db")
        said = _load_data(path, data, mapping_name)
        if form == "text" and not quiet:
            for line in said:
                click.echo(f"imported {line}", err=True)

        store = open_store(path)
        days = len(run_days(start, end, policy))
        progress = Progress(
            TextColumn("simulating {task.fields[day]}"),
            BarColumn(),
            MofNCompleteColumn(),
            # The bar goes to the terminal's error stream, so the summary on
            # standard output stays clean for pipes and files.
            console=Console(stderr=True),
            disable=quiet or not sys.stderr.isatty(),
            transient=True,
        )
        try:
            with progress:
                task = progress.add_task("days", total=days, day="")

                def advance(day: dt.date) -> None:
                    progress.update(task, advance=1, day=day.isoformat())

                report = simulate(
                    store, policy, start, end, on_day=advance, base_rates=base_rates
                )
        except RunError as error:
            raise click.ClickException(str(error)) from None
        finally:
            store.close()

    _print(report, form)


def _print(report: Report, form: str) -> None:
    if form == "json":
        click.echo(_json(report))
    elif form == "csv":
        click.echo(_csv(report), nl=False)
    else:
        click.echo(render_text(report))


@click.command("report")
@policy_option(help="The policy the runs used: its measures' costs and groups.")
@_period
@_format
@base_rates_option
@db_option
def report_command(
    policy_path: str,
    start: dt.date,
    end: dt.date,
    form: str,
    base_rates_path: str | None,
    db_path: str,
) -> None:
    """Report what the runs on the database did in a period, as simulate does."""
    if end < start:
        raise click.BadParameter(f"{end} is before --from {start}", param_hint="'--to'")
    policy = load_or_exit(policy_path)
    base_rates = load_base_rates_or_exit(base_rates_path)
    store = open_store(db_path, create=False)
    try:
        for warning in _report_warnings(store, policy, start, end):
            click.echo(f"warning: {warning}", err=True)
        report = build_report(store, policy, start, end, base_rates=base_rates)
    finally:
        store.close()
    _print(report, form)


def _report_warnings(
    store: Store, policy: Policy, start: dt.date, end: dt.date
) -> list[str]:
    """Stop a report that would show the claims as they are now for an earlier
    day, or as an interrupted run left them; warnings for a period no run
    covered, runs of another policy or version, and payments no run applied."""
    conn = store.conn
    stopped = conn.execute(
        "SELECT id, as_of FROM runs WHERE status = 'running' ORDER BY id LIMIT 1"
    ).fetchone()
    if stopped is not None:
        raise click.ClickException(
            f"run {stopped[0]} for {stopped[1]} was interrupted and left claims "
            f"half-way; complete it (dunning run --as-of {stopped[1]}) before a "
            "report"
        )
    last = conn.execute("SELECT max(as_of) FROM runs WHERE status = 'done'").fetchone()
    if last[0] is None:
        raise click.ClickException(
            f"{store.path}: no run yet, so there is nothing to report; "
            "`dunning simulate` shows what a policy would do"
        )
    if end.isoformat() < last[0]:
        raise click.ClickException(
            f"the database holds each claim as its last run ({last[0]}) left it, "
            f"not as it stood on {end}; a report ends on {last[0]} or later (for "
            "an earlier period, `dunning simulate` replays it)"
        )
    warnings = []
    used = {
        (str(name), str(version))
        for name, version in conn.execute(
            "SELECT DISTINCT policy_name, policy_version FROM runs "
            "WHERE status = 'done' AND as_of BETWEEN ? AND ?",
            (start.isoformat(), end.isoformat()),
        )
    }
    given = (policy.header.name, policy.header.version)
    named = ", ".join(f'"{name}" version {version}' for name, version in sorted(used))
    if not used:
        warnings.append(
            f"no run from {start} to {end}: the claims stand as the run of "
            f"{last[0]} left them, and nothing happened in the period"
        )
    elif given not in used:
        warnings.append(
            f"the runs from {start} to {end} used {named}, not the policy given; "
            "its groups and the cost of its measures may differ"
        )
    elif len(used) > 1:
        warnings.append(
            f"the runs from {start} to {end} used {named}; the cost of measures "
            f"is worked out with version {given[1]}"
        )
    # Payments of claims in another currency are never applied: the report
    # leaves those claims out, and says so.
    waiting = dict(
        conn.execute(
            "SELECT p.kind, count(*) FROM payments p "
            "JOIN claims c ON c.id = p.claim_id WHERE p.applied_run IS NULL "
            "AND p.paid_on <= ? AND c.currency = ? GROUP BY p.kind",
            (end.isoformat(), policy.header.currency),
        ).fetchall()
    )
    if waiting:
        things = " and ".join(
            f"{count} {noun}{'' if count == 1 else 's'}"
            for kind, noun in (("payment", "payment"), ("credit_note", "credit note"))
            if (count := waiting.get(kind, 0))
        )
        verb = "waits" if sum(waiting.values()) == 1 else "wait"
        warnings.append(
            f"{things} dated up to {end} {verb} for the next run; the figures "
            "leave them out, as the claims' open amounts do"
        )
    return warnings


def register(cli: click.Group) -> None:
    """Attach these commands to the main group."""
    cli.add_command(simulate_command)
    cli.add_command(report_command)
