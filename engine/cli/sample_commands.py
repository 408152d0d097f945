"""Subcommands: sample-data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from engine.sample import DEFAULT_END, DEFAULT_START, SampleSettings, write_sample

from .options import DATE, WholeNumber


@click.command("sample-data")
@click.option(
    "--customers",
    type=WholeNumber(1),
    required=True,
    help="How many customers to make.",
)
@click.option(
    "--claims",
    type=WholeNumber(1),
    required=True,
    help="How many claims (invoices) to make.",
)
@click.option(
    "--seed",
    type=WholeNumber(0),
    default=0,
    show_default=True,
    help="The same seed gives the same files.",
)
@click.option(
    "--start",
    type=DATE,
    default=DEFAULT_START.isoformat(),
    show_default=True,
    help="First day claims are issued.",
)
@click.option(
    "--end",
    type=DATE,
    default=DEFAULT_END.isoformat(),
    show_default=True,
    help="Last day claims are issued; nothing later is written.",
)
@click.argument(
    "directory", metavar="DIR", type=click.Path(file_okay=False, path_type=Path)
)
def sample_data(
    customers: int,
    claims: int,
    seed: int,
    start: dt.date,
    end: dt.date,
    directory: Path,
) -> None:
    """Write realistic sample receivables to DIR as customers.csv, claims.csv,
    payments.csv and events.csv, ready to import."""
    if start > end:
        raise click.BadParameter(
            f"{start} is after --end {end}", param_hint="'--start'"
        )

    settings = SampleSettings(customers, claims, seed, start, end)
    try:
        summary = write_sample(directory, settings)
    except OSError as error:
        raise click.ClickException(
            f"cannot write the sample to {directory}: {error.strerror}"
        ) from None

    counts = ", ".join(f"{file.path.name} {_rows(file.rows)}" for file in summary.files)
    click.echo(f"Wrote {len(summary.files)} files to {directory}: {counts}.")


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


def register(cli: click.Group) -> None:
    """Attach these commands to the main group."""
    cli.add_command(sample_data)
