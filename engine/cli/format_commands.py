"""Subcommands `fmt` (canonical layout of policy files) and `graph` (state diagrams)."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import click

from dunlang import PolicyError, check_text, read_source, render_all
from dunlang.errors import suggest
from dunlang.format import format_source
from dunlang.graph import to_dot, to_mermaid

log = logging.getLogger(__name__)

POLICY_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _write_atomically(path: Path, text: str) -> None:
    """Replace a file's text so that a crash leaves either the old or the new file.

    The new text goes to a temporary file in the same folder, which then takes
    the old file's place in one step; the file keeps its permissions.
    """
    mode = path.stat().st_mode & 0o7777
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@click.command("fmt")
@click.argument("files", nargs=-1, required=True, type=POLICY_FILE)
@click.option(
    "--check",
    is_flag=True,
    help="Change nothing; list the files that would change and exit 1 if any.",
)
@click.pass_context
def fmt_command(context: click.Context, files: tuple[Path, ...], check: bool) -> None:
    """Rewrite policy FILES in the canonical layout, keeping every comment.

    A file with syntax errors is left as it is and its errors are shown.
    """
    failed = False
    changed = False

    for path in files:
        try:
            source = read_source(path)
            formatted = format_source(source, str(path))
        except PolicyError as error:
            click.echo(str(error), err=True)
            failed = True
            continue

        if formatted == source:
            log.info("%s is already in the canonical layout", path)
            continue
        changed = True
        if check:
            click.echo(str(path))
        else:
            _write_atomically(path, formatted)
            click.echo(f"formatted {path}")

    if failed or (check and changed):
        context.exit(1)


@click.command("graph")
@click.argument("file", type=POLICY_FILE)
@click.option("--group", metavar="NAME", help="Draw only this dunning group.")
@click.option(
    "--format",
    "notation",
    type=click.Choice(["mermaid", "dot"]),
    default="mermaid",
    show_default=True,
    help="Mermaid for Markdown pages, dot for Graphviz.",
)
@click.pass_context
def graph_command(
    context: click.Context, file: Path, group: str | None, notation: str
) -> None:
    """Draw the states and transitions of the dunning groups in FILE.

    Without --group every group is drawn, one diagram after the other.
    """
    try:
        source = read_source(file)
    except PolicyError as error:
        click.echo(str(error), err=True)
        context.exit(1)

    result = check_text(source, str(file))
    if result.errors or result.policy is None:
        click.echo(render_all(result.diagnostics, source), err=True)
        context.exit(1)

    dunnings = result.policy.dunnings
    if group is not None and group not in dunnings:
        raise click.ClickException(
            f"unknown group `{group}`: {suggest(group, dunnings, 'groups')}"
        )
    chosen = [dunnings[group]] if group is not None else list(dunnings.values())

    draw = to_mermaid if notation == "mermaid" else to_dot
    click.echo("\n\n".join(draw(dunning) for dunning in chosen))


def register(cli: click.Group) -> None:
    """Attach `fmt` and `graph` to the main group."""
    cli.add_command(fmt_command)
    cli.add_command(graph_command)
