"""Subcommands that run a policy and look back: run, history, why."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from pathlib import Path

import click

from dunlang import Policy

from ..explain import UnknownClaim, explain, history, render_explanation, render_history
from ..runner import RunError, Runner, RunResult
from ..store import Store, is_damage
from .options import (
    DATE,
    base_rates_option,
    db_option,
    load_base_rates_or_exit,
    load_or_exit,
    open_store,
    policy_option,
    quiet,
)

log = logging.getLogger(__name__)

FUTURE_DAYS = 7
MAX_PROBLEMS = 20


def _count(number: int, word: str) -> str:
    return f"{number} {word}" + ("" if number == 1 else "s")


def _summary(result: RunResult, policy: Policy) -> str:
    header = policy.header
    what = (
        f"{_count(result.claims_evaluated, 'claim')} looked at, "
        f"{_count(result.transitions, 'transition')}, "
        f"{_count(result.measures, 'measure')}"
    )
    if result.dry_run:
        return (
            f'dry run for {result.as_of} (policy "{header.name}" version '
            f"{header.version}): {what}; nothing was written"
        )
    return (
        f'run {result.run_id} for {result.as_of} (policy "{header.name}" version '
        f"{header.version}): {what}"
    )


@click.command("run")
@policy_option()
@click.option(
    "--as-of",
    "as_of",
    required=True,
    type=DATE,
    help="The day the run stands on (YYYY-MM-DD).",
)
@click.option("--dry-run", is_flag=True, help="Show what would happen; write nothing.")
@click.option(
    "--replay",
    is_flag=True,
    help="Allow an as-of date before the last run, on purpose.",
)
@base_rates_option
@db_option
def run_command(
    policy_path: str,
    as_of: dt.date,
    dry_run: bool,
    replay: bool,
    base_rates_path: str | None,
    db_path: str,
) -> None:
    """Run a policy over every open claim for one as-of date."""
    latest = dt.date.today() + dt.timedelta(days=FUTURE_DAYS)
    if as_of > latest:
        raise click.BadParameter(
            f"{as_of} is more than {FUTURE_DAYS} days after today; a run stands on "
            "today or an earlier day, and a run cannot be taken back "
            "(to see what later days would bring, simulate)",
            param_hint="'--as-of'",
        )
    policy = load_or_exit(policy_path)
    base_rates = load_base_rates_or_exit(base_rates_path)
    store = open_store(db_path, create=False)
    try:
        result = Runner(store, policy, base_rates=base_rates).run(
            as_of, dry_run=dry_run, replay=replay, collect=dry_run
        )
    except RunError as error:
        raise click.ClickException(str(error)) from None
    except sqlite3.DatabaseError as error:
        if isinstance(error, sqlite3.OperationalError) or is_damage(error):
            raise  # busy, read-only or damaged: the main command explains it
        log.debug("run for %s stopped", as_of, exc_info=True)
        raise _stopped(as_of, error) from None
    except Exception as error:
        # What the run committed before the error stays; a run for the same
        # date picks up where this one stopped.
        log.debug("run for %s stopped", as_of, exc_info=True)
        raise _stopped(as_of, error) from None
    finally:
        store.close()

    silent = quiet()
    if result.nothing_to_do:
        if not silent:
            click.echo(
                f"{as_of}: already run and nothing has changed since; nothing to do"
            )
        return
    for step in [] if silent else result.steps:
        measures = f"  do {', '.join(step.measures)}" if step.measures else ""
        click.echo(
            f"{step.claim_id}: {step.from_state or '(new)'} -> {step.to_state}"
            f"{measures}  ({step.reason})"
        )
    # Claims the run left as they were are trouble: shown under -q too.
    for problem in result.problems[:MAX_PROBLEMS]:
        click.echo(f"warning: {problem}", err=True)
    if len(result.problems) > MAX_PROBLEMS:
        more = len(result.problems) - MAX_PROBLEMS
        click.echo(f"warning: ... and {more} more claims left as they were", err=True)
    if not silent:
        click.echo(_summary(result, policy))


def _policy_of_last_run(
    store: Store, policy_path: str | None
) -> tuple[Policy, dt.date]:
    last = store.conn.execute(
        "SELECT policy_path, as_of FROM runs WHERE status = 'done' "
        "ORDER BY as_of DESC, id DESC LIMIT 1"
    ).fetchone()
    path = policy_path or (last[0] if last else None)
    if path is None:
        raise click.UsageError("no run yet: name the policy with --policy")
    if policy_path is None and not Path(path).is_file():
        raise click.ClickException(
            f"the policy of the last run ({path}) cannot be read any more; "
            "name the policy with --policy"
        )
    next_day = (
        dt.date.fromisoformat(last[1]) + dt.timedelta(days=1)
        if last
        else dt.date.today()
    )
    return load_or_exit(path), next_day


@click.command("history")
@click.argument("claim_id")
@policy_option(
    required=False, help="The policy file (default: the one of the last run)."
)
@db_option
def history_command(claim_id: str, policy_path: str | None, db_path: str) -> None:
    """Print a claim's timeline: every move with its reason, measures, payments."""
    store = open_store(db_path, create=False)
    try:
        policy, _ = _policy_of_last_run(store, policy_path)
        claim, entries = history(Runner(store, policy), claim_id)
    except UnknownClaim:
        raise click.ClickException(f"no claim `{claim_id}` in {db_path}") from None
    finally:
        store.close()
    click.echo(render_history(claim, entries))


@click.command("why")
@click.argument("claim_id")
@policy_option(
    required=False, help="The policy file (default: the one of the last run)."
)
@click.option(
    "--as-of",
    "as_of",
    type=DATE,
    help="The day to explain for (default: the day after the last run).",
)
@base_rates_option
@db_option
def why_command(
    claim_id: str,
    policy_path: str | None,
    as_of: dt.date | None,
    base_rates_path: str | None,
    db_path: str,
) -> None:
    """Explain where a claim stands, why, and what happens next and when."""
    base_rates = load_base_rates_or_exit(base_rates_path)
    store = open_store(db_path, create=False)
    try:
        policy, next_day = _policy_of_last_run(store, policy_path)
        day = as_of if as_of else next_day
        runner = Runner(store, policy, base_rates=base_rates)
        explanation = explain(runner, claim_id, day)
    except UnknownClaim:
        raise click.ClickException(f"no claim `{claim_id}` in {db_path}") from None
    finally:
        store.close()
    click.echo(render_explanation(explanation))


def register(cli: click.Group) -> None:
    """Attach these commands to the main group."""
    cli.add_command(run_command)
    cli.add_command(history_command)
    cli.add_command(why_command)


def _stopped(as_of: dt.date, error: Exception) -> click.ClickException:
    """A run that stopped on an error nobody foresaw: what stays, what to do."""
    return click.ClickException(
        f"the run for {as_of} stopped on an unexpected error "
        f"({type(error).__name__}: {error}); what it finished is kept and "
        "no later date can run until it is complete. Fix the cause (the "
        f"policy or the data), then run `dunning run --as-of {as_of}` again: "
        "it resumes where it stopped (-vv shows the details)"
    )
