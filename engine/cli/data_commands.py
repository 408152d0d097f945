"""Subcommands that bring data in: `dunning import`."""

from __future__ import annotations

import click

from ..importer import ImportFailed, ImportResult, Problem, apply_import, check_file
from ..mapping import FORMATS, KINDS, SINGULAR, load_mapping
from .options import db_option, open_store, quiet

SHOWN_PROBLEMS = 50
"""How many problems an import lists before it only counts the rest."""


def register(cli: click.Group) -> None:
    """Attach these commands to the main group."""
    cli.add_command(import_command)


@click.command("import")
@click.argument("kind", type=click.Choice([*KINDS, "all"]))
@click.argument("file", type=click.Path(exists=True, dir_okay=True))
@click.option(
    "--mapping",
    "mapping_name",
    metavar="MAPPING",
    help="A mapping file (.toml), or the name of a bundled one such as "
    "ibm-late-payment-histories. Without it the columns carry the native names.",
)
@click.option(
    "--format",
    "form",
    type=click.Choice(FORMATS),
    help="Read the file as this format instead of guessing from its extension.",
)
@db_option
def import_command(
    kind: str, file: str, mapping_name: str | None, form: str | None, db_path: str
) -> None:
    """Import customers, claims, payments or events from FILE (CSV or JSON).

    Either every row is imported or, when any row has a problem, none is: the
    problems are listed and the database stays as it was. Rows are matched by
    id, so importing a file again changes only what changed (and audits it).
    KIND `all` imports every kind the mapping describes, in one go.
    """
    try:
        mapping = load_mapping(mapping_name) if mapping_name else None
        if kind == "all" and mapping is None:
            raise click.UsageError("`all` needs a --mapping that describes the kinds")
        kinds = list(mapping.tables) if kind == "all" and mapping else [kind]
        prepared = check_file(file, kinds, mapping, form)
        for warning in prepared.warnings:
            click.echo(f"warning: {warning}", err=True)

        with open_store(db_path) as store:
            results = apply_import(store, prepared)
    except ImportFailed as failure:
        _report(file, failure.problems)
        raise SystemExit(1) from None

    if quiet():
        return
    for result in results:
        click.echo(_summary(result))


def _summary(result: ImportResult) -> str:
    """`claims.csv: 2466 claims imported (2466 new, 0 changed, 0 unchanged)`."""
    noun = result.kind if result.total != 1 else SINGULAR[result.kind]
    counts = f"{result.new} new, {result.changed} changed, {result.unchanged} unchanged"
    if result.repeated:
        rows = "row" if result.repeated == 1 else "rows"
        counts += f"; {result.repeated} repeated {rows} counted once"
    return f"{result.file}: {result.total} {noun} imported ({counts})"


def _report(file: str, problems: tuple[Problem, ...]) -> None:
    """List the problems on stderr, at most SHOWN_PROBLEMS of them."""
    for problem in problems[:SHOWN_PROBLEMS]:
        click.echo(str(problem), err=True)
    rest = len(problems) - SHOWN_PROBLEMS
    if rest > 0:
        click.echo(f"... and {rest} more problem{'s' * (rest != 1)}", err=True)
    count = f"{len(problems)} problem{'s' * (len(problems) != 1)}"
    click.echo(f"{file}: nothing imported ({count})", err=True)
