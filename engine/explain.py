"""A claim's history and the explanation of where it stands and what comes next.

Both read only the store (and, for what comes next, the policy); both return
records and plain text, and print nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from attrs import frozen

from dunlang.model import Money

from .audit import charges_of
from .calendar import due_date_of
from .charges import CANCELLED, ChargesError, charges_summary
from .guards import Seen, describe_value
from .holds import explain_treatment, timeline_of
from .interest import InterestError
from .measures import round_money
from .plans import describe_plan
from .promises import describe_promise
from .runner import Runner
from .writeoffs import recoveries, write_offs


class UnknownClaim(LookupError):
    """No claim with that id is in the store."""


@frozen
class TimelineEntry:
    """One dated line of a claim's history: a move, a measure, a payment, a change."""

    on: str
    kind: str
    text: str
    details: tuple[str, ...] = ()


@frozen
class NextStep:
    """A timed transition that can fire next, when, and whether its guard holds now."""

    rule: str
    line: int | None
    target: str
    on: dt.date | None
    guard_holds: bool
    seen: dict[str, str]
    measures: tuple[str, ...]


@frozen
class Explanation:
    """Where a claim stands, how it got there, and what will happen next."""

    claim_id: str
    customer_id: str
    group: str | None
    state: str | None
    since: str | None
    open_amount: str
    amount: str
    due_date: str
    last_move: TimelineEntry | None
    next_steps: tuple[NextStep, ...]
    events: tuple[str, ...]
    terminal: bool
    settled_on: str | None
    missing: str | None = None
    pending: tuple[str, ...] = ()
    agreements: tuple[str, ...] = ()
    agency: str | None = None
    treatment: tuple[str, ...] = ()
    """What keeps it out of dunning: a hold, an exclusion, a credit, a small balance."""
    charges: tuple[str, ...] = ()
    """What it still owes besides the principal: open fees, flat fee, interest."""
    written_off: str | None = None
    """How the claim was written off (or that the amount came back), in words."""
    still_written_off: str | None = None
    """The small balance written off when the claim was settled that way."""


def _claim(store_conn: Any, claim_id: str) -> dict[str, Any]:
    cursor = store_conn.execute("SELECT * FROM claims WHERE id = ?", (claim_id,))
    row = cursor.fetchone()
    if row is None:
        raise UnknownClaim(claim_id)
    return dict(zip([c[0] for c in cursor.description], row, strict=True))


def history(
    runner: Runner, claim_id: str
) -> tuple[dict[str, Any], list[TimelineEntry]]:
    """The claim and its timeline: moves with reasons, measures, payments, changes."""
    conn = runner.store.conn
    claim = _claim(conn, claim_id)
    entries: list[tuple[str, int, int, TimelineEntry]] = []

    measures: dict[int, list[str]] = {}
    for transition_id, name, kind, fee, status in conn.execute(
        "SELECT transition_id, measure, kind, fee, status FROM measures "
        "WHERE claim_id = ? ORDER BY id",
        (claim_id,),
    ):
        fee_text = f", fee {fee} {claim['currency']}" if fee else ""
        measures.setdefault(transition_id, []).append(
            f"measure {name} ({kind}{fee_text}): {status}"
        )

    for row in conn.execute(
        "SELECT id, run_id, as_of, from_state, to_state, trigger, rule, policy_path, "
        "policy_line, reason, seen FROM transitions WHERE claim_id = ? ORDER BY id",
        (claim_id,),
    ):
        (
            ident,
            run_id,
            as_of,
            source,
            target,
            trigger,
            rule,
            path,
            line,
            reason,
            seen,
        ) = row
        where = f" ({path}:{line})" if line else ""
        values = json.loads(seen)
        details = [f"rule: {rule}{where}", f"why: {reason}"]
        details.append(
            "saw: " + ", ".join(f"{k} = {v}" for k, v in sorted(values.items()))
        )
        details.extend(measures.get(ident, []))
        entries.append(
            (
                as_of,
                1,
                ident,
                TimelineEntry(
                    as_of,
                    trigger,
                    f"{source or '(new)'} -> {target}  [run {run_id}]",
                    tuple(details),
                ),
            )
        )

    # Payments applied after a write-off recover it first, and credit notes
    # cancel it first (engine/writeoffs.py).
    offs = write_offs(conn, claim_ids=[claim_id])
    left = {off.run_id: off.amount for off in offs}
    for ident, amount, currency, paid_on, kind, applied in conn.execute(
        "SELECT id, amount, currency, paid_on, kind, applied_run FROM payments "
        "WHERE claim_id = ? ORDER BY applied_run, paid_on, id",
        (claim_id,),
    ):
        state = f"applied in run {applied}" if applied else "not yet applied"
        for off in offs:
            if applied and applied > (off.run_id or 0) and left[off.run_id] > 0:
                back = min(Decimal(amount), left[off.run_id])
                left[off.run_id] -= back
                verb = "recovers" if kind == "payment" else "cancels"
                state += (
                    f"; {verb} {back} {currency} of the {off.amount} {currency} "
                    f"written off on {off.as_of}"
                )
        entries.append(
            (
                paid_on,
                0,
                0,
                TimelineEntry(
                    paid_on,
                    kind,
                    f"{kind.replace('_', ' ')} {ident}: {amount} {currency} ({state})",
                ),
            )
        )

    for ident, kind, happened_on, reason, applied in conn.execute(
        "SELECT id, kind, happened_on, reason, applied_run FROM events "
        "WHERE claim_id = ? ORDER BY happened_on, id",
        (claim_id,),
    ):
        state = f"applied in run {applied}" if applied else "not yet applied"
        note = f" - {reason}" if reason else ""
        entries.append(
            (
                happened_on,
                0,
                1,
                TimelineEntry(happened_on, "event", f"{kind} {ident}{note} ({state})"),
            )
        )

    for recorded_at, actor, field, old, new, source in conn.execute(
        "SELECT recorded_at, actor, field, old_value, new_value, source "
        "FROM audit_changes WHERE table_name = 'claims' AND row_id = ? ORDER BY id",
        (claim_id,),
    ):
        text = f"{field} changed from {_shown(old)} to {_shown(new)} by {actor}"
        text += f" ({source})" if source else ""
        on = _business_date(conn, claim_id, field, old, new)
        if on is None:
            # Only the clock time of the change is known, not a business date.
            on = recorded_at[:10]
            text += f"; recorded {on}"
        entries.append((on, 2, 0, TimelineEntry(on, "change", text)))

    entries.extend(_charge_entries(conn, claim_id))

    entries.extend(_handovers(conn, claim_id))
    # Holds set and released, and skipped looks (engine/holds.py).
    entries.extend(
        (on, 2, -2, TimelineEntry(on, kind, text))
        for on, kind, text in timeline_of(conn, claim_id)
    )

    entries.sort(key=lambda e: (e[0], e[1], e[2]))
    return claim, [entry for *_, entry in entries]


def _business_date(
    conn: Any, claim_id: str, field: str, old: str | None, new: str | None
) -> str | None:
    """The business date of a change to a claim, where one is recorded: the
    day of the handover that set the agency, or of its return that cleared it."""
    if field != "agency":
        return None
    if new:
        row = conn.execute(
            "SELECT handed_over_on FROM handovers WHERE claim_id = ? AND agency = ?",
            (claim_id, new),
        ).fetchone()
    else:
        row = conn.execute(
            "SELECT returned_on FROM handovers WHERE claim_id = ? AND agency = ?",
            (claim_id, old),
        ).fetchone()
    return str(row[0]) if row and row[0] else None


def _charge_entries(
    conn: Any, claim_id: str
) -> list[tuple[str, int, int, TimelineEntry]]:
    """The claim's fees, flat fee and interest: booked on the as-of day of the
    run that booked them; paid or cancelled on the day that settled them."""
    entries = []
    for charge in charges_of(conn, claim_id):
        what = charge.kind.replace("_", " ") + (
            f" {charge.measure}" if charge.measure else ""
        )
        basis, _, cancelled = charge.basis.partition(CANCELLED)
        booked = charge.as_of.isoformat()
        details = [f"basis: {basis}"]
        if charge.settled_on is None and charge.open_amount != charge.amount:
            details.append(f"partly paid: {charge.open_amount} still open")
        text = f"{what} of {charge.amount} booked  [run {charge.run_id}]"
        entry = TimelineEntry(booked, "charge", text, tuple(details))
        entries.append((booked, 1, 1_000_000 + charge.id, entry))
        if charge.settled_on is None:
            continue
        settled = charge.settled_on.isoformat()
        if cancelled:
            entry = TimelineEntry(
                settled, "charge", f"{what} of {charge.amount} cancelled: {cancelled}"
            )
        else:
            entry = TimelineEntry(settled, "charge", f"{what} of {charge.amount} paid")
        entries.append((settled, 0, 2, entry))
    return entries


def _open_charges(runner: Runner, claim: dict[str, Any], as_of: dt.date) -> list[str]:
    """What the claim owes besides its principal on `as_of`, as `why` says it."""
    conn = runner.store.conn
    currency = claim["currency"]
    parts: list[str] = []
    total = Decimal(0)
    booked_interest = False
    for charge in charges_of(conn, claim["id"]):
        if charge.as_of > as_of:
            continue
        booked_interest = booked_interest or charge.kind == "interest"
        if charge.settled_on is not None or charge.open_amount.amount <= 0:
            continue
        what = charge.kind.replace("_", " ") + (
            f" `{charge.measure}`" if charge.measure else ""
        )
        parts.append(f"{what} {charge.open_amount} (booked {charge.as_of})")
        total += charge.open_amount.amount

    lines = []
    if parts:
        owed = Money(round_money(total, currency), currency)
        lines.append(f"besides the principal it still owes {owed}: {', '.join(parts)}.")
    if claim.get("interest") and not booked_interest and not claim["settled_on"]:
        try:
            summary = charges_summary(
                conn,
                [claim["id"]],
                as_of,
                rounding=runner.policy.header.rounding,
                base_rates=runner.charges.base_rates,
            )[claim["id"]]
        except (ChargesError, InterestError) as error:
            lines.append(f"interest runs since {claim['interest_since']}; {error}.")
        else:
            lines.append(
                f"interest runs since {claim['interest_since']}: "
                f"{summary.interest} so far, booked once the principal is paid."
            )
    return lines


def _written_off(conn: Any, claim_id: str) -> tuple[str | None, str | None]:
    """How the claim was written off, in words, and what is still written off
    after the payments that recovered some of it (engine/writeoffs.py)."""
    found = write_offs(conn, claim_ids=[claim_id])
    if not found:
        return None, None
    last = found[-1]
    by_kind = recoveries(conn, last)
    paid = by_kind.get("payment", Decimal(0))
    credited = sum(by_kind.values(), Decimal(0)) - paid
    left = last.amount - paid - credited
    if left <= 0:
        # Paid or cancelled after all: the write-off is history.
        small = ", a small balance," if last.small_balance else ""
        ended = (
            "came back"
            if not credited
            else "was cancelled by credit notes"
            if not paid
            else "came back or was cancelled by credit notes"
        )
        return (
            f"; the {last.amount} {last.currency}{small} written off on "
            f"{last.as_of} {ended}",
            None,
        )
    written = f"{last.amount} {last.currency}"
    if last.small_balance:
        written += ", a small balance"
    parts = []
    if paid:
        parts.append(f"{paid} {last.currency} of it recovered since")
    if credited:
        parts.append(f"{credited} {last.currency} of it cancelled by credit notes")
    how = f" by writing off {written}" + "".join(f"; {part}" for part in parts)
    return how, f"{left} {last.currency}"


def _shown(value: str | None) -> str:
    """A stored value as the timeline shows it; an empty field says so."""
    return "(empty)" if value is None or value == "" else value


def _handovers(conn: Any, claim_id: str) -> list[tuple[str, int, int, TimelineEntry]]:
    """A claim's handovers to collection agencies, and their returns."""
    entries = []
    rows = conn.execute(
        "SELECT agency, handed_over_on, file, principal, fees, interest, currency, "
        "returned_on, outcome FROM handovers WHERE claim_id = ? ORDER BY id",
        (claim_id,),
    )
    for agency, on, file, principal, fees, interest, currency, back, outcome in rows:
        amounts = f"principal {principal}, fees {fees}, interest {interest} {currency}"
        where = (f"file: {file}",) if file else ()
        text = f"handed over to {agency}: {amounts}"
        entries.append((on, 2, -1, TimelineEntry(on, "handover", text, where)))
        if back:
            text = f"{agency} gave the claim back: {outcome}"
            entries.append((back, 0, 2, TimelineEntry(back, "handover", text)))
    return entries


def explain(runner: Runner, claim_id: str, as_of: dt.date) -> Explanation:
    """Why a claim is where it is, and what happens next and on which date."""
    conn = runner.store.conn
    claim = _claim(conn, claim_id)
    last = conn.execute(
        "SELECT as_of, from_state, to_state, trigger, rule, policy_path, policy_line, "
        "reason FROM transitions WHERE claim_id = ? ORDER BY id DESC LIMIT 1",
        (claim_id,),
    ).fetchone()
    last_move = None
    if last:
        on, source, target, trigger, rule, path, line, reason = last
        where = f" ({path}:{line})" if line else ""
        last_move = TimelineEntry(
            on,
            trigger,
            f"{source or '(new)'} -> {target}",
            (f"rule: {rule}{where}", f"why: {reason}"),
        )

    machine = runner.machines.get(claim["group_name"] or "")
    missing = None
    currency = runner.policy.header.currency
    if claim["currency"] != currency:
        missing = (
            f"the claim is in {claim['currency']} and the policy works in {currency}"
        )
    elif claim["group_name"] and machine is None:
        missing = f"group `{claim['group_name']}` is not in this policy"
    elif machine is not None and claim["state"] not in machine.kinds:
        missing = f"state `{claim['state']}` is not in group `{claim['group_name']}`"
        machine = None
    terminal = machine is not None and not machine.is_open(claim["state"] or "")
    pending = [
        f"{kind.replace('_', ' ')} {ident} of {amount} {currency} dated {day}"
        for ident, amount, currency, day, kind in conn.execute(
            "SELECT id, amount, currency, paid_on, kind FROM payments "
            "WHERE claim_id = ? AND applied_run IS NULL ORDER BY paid_on, id",
            (claim_id,),
        )
    ]
    next_steps: list[NextStep] = []
    events: list[str] = []
    if machine is not None and claim["state"] and not terminal:
        customer = runner.customer_facts(claim["customer_id"], as_of)
        work = runner.work_for(claim, customer, as_of)
        facts = work.facts
        since = work.state_since or facts["claim"]["issue_date"]
        last_run = claim["state_since"]
        for step in machine.timed.get(claim["state"], []):
            timer = step.rule.timer
            day = (
                due_date_of(timer, facts["claim"]["due_date"], since, runner.calendar)
                if timer
                else None
            )
            if day is not None and last_run and day <= dt.date.fromisoformat(last_run):
                day = dt.date.fromisoformat(last_run) + dt.timedelta(days=1)
            if day is not None:
                day = max(day, as_of)
            seen: Seen = {}
            holds = step.guard(facts, seen)
            next_steps.append(
                NextStep(
                    runner.policy.source_line(step.rule.span.line),
                    step.rule.span.line,
                    step.rule.target,
                    day,
                    holds,
                    {k: describe_value(v) for k, v in seen.items()},
                    step.rule.measures,
                )
            )
        for name, rules in machine.events.items():
            for event_step in rules:
                rule = event_step.rule
                if not rule.sources or claim["state"] in rule.sources:
                    events.append(
                        f"on {name}: {runner.policy.source_line(rule.span.line)}"
                    )
        events.append("on full payment: -> paid")

    written_off, still_written_off = _written_off(conn, claim_id)
    return Explanation(
        claim_id=claim_id,
        customer_id=claim["customer_id"],
        group=claim["group_name"],
        state=claim["state"],
        since=claim["state_since"],
        open_amount=f"{claim['open_amount']} {claim['currency']}",
        amount=f"{claim['amount']} {claim['currency']}",
        due_date=claim["due_date"],
        last_move=last_move,
        next_steps=tuple(next_steps),
        events=tuple(events),
        terminal=terminal,
        settled_on=claim["settled_on"],
        missing=missing,
        pending=tuple(pending),
        agreements=tuple(
            describe_promise(conn, claim) + describe_plan(conn, claim, as_of)
        ),
        agency=_with_agency(conn, claim_id),
        treatment=tuple(explain_treatment(runner, claim, as_of)),
        charges=tuple(_open_charges(runner, claim, as_of)),
        written_off=written_off,
        still_written_off=still_written_off,
    )


def _with_agency(conn: Any, claim_id: str) -> str | None:
    """`inkasso-partner since 2025-03-01` while a collection agency has the claim."""
    row = conn.execute(
        "SELECT h.agency, h.handed_over_on FROM claims c JOIN handovers h "
        "ON h.claim_id = c.id AND h.agency = c.agency WHERE c.id = ?",
        (claim_id,),
    ).fetchone()
    return f"{row[0]} since {row[1]}" if row else None


def render_history(claim: dict[str, Any], entries: list[TimelineEntry]) -> str:
    """The timeline as text, one block per entry."""
    lines = [
        f"claim {claim['id']} of customer {claim['customer_id']}: "
        f"{claim['amount']} {claim['currency']}, issued {claim['issue_date']}, "
        f"due {claim['due_date']}, open {claim['open_amount']} {claim['currency']}",
        f"group {claim['group_name'] or '-'}, "
        f"state {claim['state'] or '(not yet run)'}",
        "",
    ]
    for entry in entries:
        lines.append(f"{entry.on}  {entry.kind:<10}  {entry.text}")
        lines.extend(f"{'':24}{detail}" for detail in entry.details)
    if not entries:
        lines.append("no history yet: no run has looked at this claim")
    return "\n".join(lines)


def render_explanation(explanation: Explanation) -> str:
    """The explanation as sentences."""
    e = explanation
    if e.state is None and e.missing:
        return f"claim {e.claim_id} is not dunned: {e.missing}"
    if e.state is None:
        return (
            f"claim {e.claim_id} has not been looked at by a run yet; the next run "
            "allocates it to a dunning group"
        )
    lines = [
        f"claim {e.claim_id} (customer {e.customer_id}) is in state `{e.state}` of "
        f"group `{e.group}` since {e.since}.",
        f"open {e.open_amount} of {e.amount}, due {e.due_date}.",
    ]
    lines.extend(e.charges)
    if e.last_move:
        lines.append(f"it got there by the run of {e.last_move.on}: {e.last_move.text}")
        lines.extend(f"  {detail}" for detail in e.last_move.details)
    if e.agency:
        lines.append(f"with the collection agency {e.agency}.")
    for item in e.pending:
        lines.append(f"recorded, to be applied by the next run: {item}")
    lines.extend(f"{agreement}." for agreement in e.agreements)
    # Held, excluded, covered by a credit, small balance (engine/holds.py).
    lines.extend(e.treatment)
    if e.treatment and not e.missing and not e.terminal:
        return "\n".join(lines)
    if e.missing:
        lines.append(
            f"this policy cannot move it: {e.missing}; it stays where it is until "
            "a policy that has it runs again"
        )
        return "\n".join(lines)
    if e.terminal:
        settled = f" on {e.settled_on}" if e.settled_on else ""
        if e.written_off:
            settled += e.written_off
        settled = f" (settled{settled})" if settled else ""
        owes = any(line.startswith("besides the principal") for line in e.charges)
        if e.still_written_off and owes:
            outcome = (
                "no more steps or measures; a further payment recovers the "
                f"{e.still_written_off} still written off first, then pays the "
                "charges it still owes"
            )
        elif e.still_written_off:
            outcome = (
                "nothing more will happen; a payment would recover the "
                f"{e.still_written_off} written off"
            )
        elif owes:
            outcome = (
                "no more steps or measures; a further payment pays the charges it "
                "still owes"
            )
        elif not e.settled_on:
            outcome = (
                "no more steps or measures; a payment of what is open still settles it"
            )
        else:
            outcome = "nothing more will happen"
        lines.append(f"`{e.state}` is a final state{settled}: {outcome}.")
        return "\n".join(lines)
    if not e.next_steps:
        lines.append("no timed step leaves this state; only an event can move it.")
    for step in e.next_steps:
        when = f"on {step.on}" if step.on else "on the next run"
        measures = f", measures: {', '.join(step.measures)}" if step.measures else ""
        if step.seen:
            values = ", ".join(f"{k} = {v}" for k, v in sorted(step.seen.items()))
            condition = (
                "its condition holds now"
                if step.guard_holds
                else "its condition does not hold now"
            ) + f" ({values})"
        else:
            condition = "no condition"
        lines.append(
            f"next: `{step.rule}` (line {step.line}) -> `{step.target}` "
            f"{when}; {condition}{measures}."
        )
    for event in e.events:
        lines.append(f"would move it: {event}")
    return "\n".join(lines)
