"""`dunning check`: report every problem in policy files before they are used."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

import dunlang
from dunlang import CheckResult, PolicyError, Severity

log = logging.getLogger(__name__)


def _check_file(path: Path) -> CheckResult:
    """Every diagnostic of one file; an unreadable file is a diagnostic too."""
    name = str(path)
    try:
        source = dunlang.read_source(path)
    except PolicyError as error:
        return CheckResult(name, "", None, error.diagnostics)

    return dunlang.check_text(source, name)


def _count(number: int, word: str) -> str:
    return f"{number} {word}" if number == 1 else f"{number} {word}s"


def _summary(result: CheckResult) -> str:
    """`path: ok` or `path: 2 errors, 1 warning`."""
    errors, warnings = len(result.errors), len(result.warnings)
    if not errors and not warnings:
        return f"{result.path}: ok"
    parts = []
    if errors:
        parts.append(_count(errors, "error"))
    if warnings:
        parts.append(_count(warnings, "warning"))
    return f"{result.path}: {', '.join(parts)}"


def _failed(result: CheckResult, strict: bool) -> bool:
    """Errors fail a file; under --strict warnings fail it too."""
    return any(d.severity is Severity.ERROR or strict for d in result.diagnostics)


@click.command("check")
@click.argument(
    "files",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option(
    "--strict", is_flag=True, help="Fail on warnings too, not only on errors."
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Readable text, or a JSON list of all diagnostics.",
)
@click.pass_context
def check(
    context: click.Context, files: tuple[Path, ...], strict: bool, output_format: str
) -> None:
    """Check policy FILES and report every error and warning in them.

    Exits with 0 when every file is clean, 1 when any file has an error (or,
    with --strict, a warning).
    """
    results = []
    for path in files:
        log.info("checking %s", path)
        results.append(_check_file(path))

    if output_format == "json":
        found = [d.as_dict() for r in results for d in r.diagnostics]
        click.echo(json.dumps(found, indent=2, ensure_ascii=False))
    else:
        for result in results:
            for diagnostic in result.diagnostics:
                click.echo(dunlang.render(diagnostic, result.source))
                click.echo()
            click.echo(_summary(result))

    if any(_failed(result, strict) for result in results):
        context.exit(1)


def register(cli: click.Group) -> None:
    """Attach these commands to the main group."""
    cli.add_command(check)
