"""Reference implementations for the scale benchmark, written for it alone.

`bench/scale-policy.dun` is mirrored here by hand, as tables, and the code
below makes its decisions without the engine:

- `write_history` writes what daily runs up to a date would have left in a
  database (states, next checks, audit rows, outbox items, runs), so that the
  benchmark starts from a database in daily use instead of having the engine
  allocate a million claims and catch them up day by day first;
- `raw_run` is the least a daily run can do: it reads every open claim, looks
  its state up in a dict and writes the moves with executemany in one
  transaction;
- `naive_run` is the obvious way to use `transitions`: every claim is its own
  model with its own machine, whose conditions are evaluated claim by claim.

Nothing in the product imports this module, and it imports nothing of the
product: it reads and writes the database with the standard `sqlite3` module.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache, cached_property, partial
from pathlib import Path

from transitions import Machine

POLICY_PATH = Path(__file__).resolve().parent / "scale-policy.dun"
PAID = "paid"
CURRENCY = "EUR"

Move = tuple[str, str, str | None, str]
"""(claim, group, from state, to state): one decision of a run."""

Charge = tuple[str, str, int | None]
"""(claim, measure, fee in cents): one outbox item of a run."""

Step = tuple[str | None, str, str, str, int | None, str, str, tuple[str, ...]]
"""(from, to, trigger, rule, policy line, reason, values read, measures)."""

Payment = tuple[str, int, str, str]
"""(payment, amount in cents, paid on, kind)."""


# ---- the policy, by hand -----------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One timed transition of the policy, with the one kind of guard it uses."""

    group: str
    source: str
    target: str
    days: int
    overdue: bool  # counts days overdue; otherwise days in state
    minimum: int | None  # guard `claim.open_amount >= minimum`, in cents
    measures: tuple[str, ...]

    @cached_property
    def text(self) -> str:
        """The rule as the policy file writes it."""
        basis = "overdue" if self.overdue else "in state"
        guard = ""
        if self.minimum is not None:
            guard = f" when claim.open_amount >= {self.minimum // 100} {CURRENCY}"
        return (
            f"{self.source} -> {self.target} after {self.days} days {basis}{guard}"
            f" do {', '.join(self.measures)}"
        )


@dataclass(frozen=True)
class MeasureSpec:
    """One measure of the catalogue, as far as an outbox item needs it."""

    kind: str
    template: str | None = None
    queue: str | None = None
    agency: str | None = None
    text: str | None = None
    cost: str | None = None
    fixed_fee: int | None = None  # cents
    percent_fee: tuple[int, int, int] | None = None  # per mille, minimum, maximum

    def fee(self, open_cents: int) -> int | None:
        """The fee charged on a claim with this much open, in cents."""
        if self.fixed_fee is not None:
            return self.fixed_fee
        if self.percent_fee is None:
            return None
        per_mille, minimum, maximum = self.percent_fee
        # The bounds are whole cents, so bounding before or after rounding
        # (half up) gives the same fee.
        fee = (open_cents * per_mille + 500) // 1000
        return min(max(fee, minimum), maximum)


GROUP_RULES = {
    "key_accounts": 'group key_accounts when customer.segment = "key"',
    "standard": "group standard     otherwise",
}
INITIAL = {"key_accounts": "current", "standard": "current"}
STATES = {
    "key_accounts": ("current", "called", "reminded", "final_notice", PAID),
    "standard": (
        "current",
        "reminded",
        "second_notice",
        "final_notice",
        "agency",
        "decision",
        PAID,
    ),
}
RULES = (
    Rule("key_accounts", "current", "called", 5, True, None, ("account_call",)),
    Rule("key_accounts", "called", "reminded", 7, False, None, ("reminder_letter",)),
    Rule(
        "key_accounts", "reminded", "final_notice", 14, False, None, ("final_letter",)
    ),
    Rule("standard", "current", "reminded", 7, True, None, ("reminder_letter",)),
    Rule("standard", "reminded", "second_notice", 14, False, None, ("second_letter",)),
    Rule(
        "standard", "second_notice", "final_notice", 14, False, None, ("final_letter",)
    ),
    Rule("standard", "final_notice", "agency", 14, False, 25_000, ("handover",)),
    Rule("standard", "final_notice", "decision", 14, False, None, ("decide",)),
)
MEASURES = {
    "account_call": MeasureSpec("phone", queue="key-accounts", cost="4.50"),
    "reminder_letter": MeasureSpec("letter", template="reminder", cost="0.80"),
    "second_letter": MeasureSpec(
        "letter", template="second-notice", cost="0.80", fixed_fee=500
    ),
    "final_letter": MeasureSpec(
        "letter", template="final-notice", cost="0.80", percent_fee=(25, 500, 4000)
    ),
    "handover": MeasureSpec("agency", agency="collection-partner"),
    "decide": MeasureSpec(
        "task", text="Court dunning procedure or write-off?", queue="receivables"
    ),
}


def _dispatch() -> dict[tuple[str, str], tuple[Rule, ...]]:
    table: dict[tuple[str, str], tuple[Rule, ...]] = {}
    for rule in RULES:
        key = (rule.group, rule.source)
        table[key] = (*table.get(key, ()), rule)
    return table


DISPATCH = _dispatch()
"""The timed transitions leaving each state of each group, in written order."""


@dataclass(frozen=True)
class PolicyFile:
    """What audit rows quote from the policy file: its path, digest and lines."""

    path: str
    digest: str
    lines: dict[str, int]  # rule text -> line number

    @classmethod
    def read(cls, path: Path = POLICY_PATH) -> PolicyFile:
        """Find every mirrored rule in the file; refuse a file they do not match."""
        source = path.read_text(encoding="utf-8")
        found = {
            line.split("#")[0].strip(): number
            for number, line in enumerate(source.splitlines(), 1)
        }
        wanted = [rule.text for rule in RULES] + list(GROUP_RULES.values())
        missing = [text for text in wanted if text not in found]
        if missing:
            raise ValueError(f"{path} no longer has the rule `{missing[0]}`")
        digest = hashlib.sha256(source.encode("utf-8")).hexdigest()
        return cls(str(path), digest, {text: found[text] for text in wanted})


@cache
def allocate(segment: str | None, named: str | None) -> tuple[str, str, str, str]:
    """The group of a new claim, the rule that chose it, why, and what it read."""
    if named in GROUP_RULES:
        why = f"the customer data names group `{named}`"
        return named, "customer.dunning_group", why, ""
    note = ""
    if named:
        note = (
            f"the customer data names group `{named}`, "
            "which this policy does not have; "
        )
    group = "key_accounts" if segment == "key" else "standard"
    read = f', "customer.segment": "{segment}"' if group == "key_accounts" else ""
    return group, GROUP_RULES[group], f"{note}first matching rule", read


# ---- amounts, days and the rows of a run -------------------------------------


def cents(text: str) -> int:
    """An amount written with a dot, such as 1234.5 or -0.30, in cents."""
    negative = text.startswith("-")
    whole, _, fraction = text.lstrip("-").partition(".")
    value = int(whole or "0") * 100 + int((fraction + "00")[:2])
    return -value if negative else value


def money(amount: int) -> str:
    """Cents written as the store keeps amounts: 1234.50."""
    sign = "-" if amount < 0 else ""
    return f"{sign}{abs(amount) // 100}.{abs(amount) % 100:02d}"


def _ordinal(text: str) -> int:
    return dt.date.fromisoformat(text).toordinal()


class _Days(dict[int, str]):
    """ISO text of day ordinals, each worked out once."""

    def __missing__(self, day: int) -> str:
        text = self[day] = dt.date.fromordinal(day).isoformat()
        return text


DAYS = _Days()


TRANSITION_INSERT = (
    "INSERT INTO transitions (id, run_id, as_of, claim_id, customer_id, group_name, "
    "from_state, to_state, trigger, rule, policy_path, policy_line, policy_digest, "
    "reason, seen, measures, actor) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
MEASURE_INSERT = (
    "INSERT INTO measures (run_id, transition_id, as_of, claim_id, customer_id, "
    "measure, kind, template, queue, agency, text, open_amount, currency, fee, cost, "
    "status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')"
)


@cache
def _json_names(names: tuple[str, ...]) -> str:
    return "[" + ", ".join(f'"{name}"' for name in names) + "]"


@dataclass
class Rows:
    """Audit rows and outbox items of a run, ready for executemany."""

    policy: PolicyFile
    next_id: int
    transitions: list[tuple[object, ...]] = field(default_factory=list)
    measures: list[tuple[object, ...]] = field(default_factory=list)

    def add(
        self,
        run_id: int | None,
        as_of: str,
        claim: tuple[str, str, str, int, int],
        step: Step,
    ) -> None:
        """One step of a claim given as (id, customer, group, open, days overdue)."""
        claim_id, customer_id, group, open_cents, overdue = claim
        source, target, trigger, rule, line, reason, read, measures = step
        open_text = money(open_cents)
        seen = (
            f'{{"days_overdue": "{overdue}", '
            f'"open_amount": "{open_text} {CURRENCY}"{read}}}'
        )
        ident = self.next_id
        self.next_id += 1
        policy = self.policy
        self.transitions.append(
            (
                *(ident, run_id, as_of, claim_id, customer_id, group, source),
                *(target, trigger, rule, policy.path, line, policy.digest, reason),
                *(seen, _json_names(measures), "run"),
            )
        )
        for name in measures:
            spec = MEASURES[name]
            fee = spec.fee(open_cents)
            self.measures.append(
                (
                    *(run_id, ident, as_of, claim_id, customer_id, name, spec.kind),
                    *(spec.template, spec.queue, spec.agency, spec.text, open_text),
                    *(CURRENCY, None if fee is None else money(fee), spec.cost),
                )
            )

    def write(self, conn: sqlite3.Connection) -> float:
        """Insert the rows with executemany and forget them; the seconds the
        audit rows took."""
        began = time.perf_counter()
        conn.executemany(TRANSITION_INSERT, self.transitions)
        seconds = time.perf_counter() - began
        conn.executemany(MEASURE_INSERT, self.measures)
        self.transitions.clear()
        self.measures.clear()
        return seconds


def timer_step(
    rule: Rule,
    state: str,
    day: int,
    since: int,
    due: int,
    open_cents: int,
    lines: dict[str, int],
) -> Step:
    """A timed step on `day` of a claim in `state` since `since`, due on `due`."""
    fell_due = (due if rule.overdue else since) + rule.days
    if rule.overdue:
        detail = f"due {DAYS[due]}, {day - due} days overdue"
    else:
        detail = f"in state since {DAYS[since]}, {day - since} days"
    basis = "overdue" if rule.overdue else "in state"
    reason = f"after {rule.days} days {basis}: fell due on {DAYS[fell_due]} ({detail})"
    read = ""
    if rule.minimum is not None:
        read = f', "claim.open_amount": "{money(open_cents)} {CURRENCY}"'
    line = lines[rule.text]
    return (state, rule.target, "timer", rule.text, line, reason, read, rule.measures)


def _connect(path: str | Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def _next_id(conn: sqlite3.Connection) -> int:
    last = conn.execute("SELECT coalesce(max(id), 0) FROM transitions").fetchone()
    return int(last[0]) + 1


def _start_run(
    conn: sqlite3.Connection, policy: PolicyFile, day: str, name: str
) -> int:
    cursor = conn.execute(
        "INSERT INTO runs (as_of, started_at, finished_at, status, policy_path, "
        "policy_name, policy_digest) VALUES (?, ?, ?, 'done', ?, ?, ?)",
        (day, f"{day}T02:00:00+00:00", f"{day}T02:10:00+00:00")
        + (policy.path, name, policy.digest),
    )
    return int(cursor.lastrowid or 0)


# ---- the history before the measured day -------------------------------------


@dataclass
class History:
    """What `write_history` wrote, and what the run of the next day must do."""

    transitions: int = 0
    next_day: set[Move] = field(default_factory=set)


def schedule(
    group: str, issue: int, due: int, open_cents: int, last: int
) -> list[tuple[int, Rule]]:
    """The timed steps of a claim looked at every day from its issue date on,
    up to the day `last` (days as ordinals)."""
    state, since, steps = INITIAL[group], issue, []
    while rules := DISPATCH.get((group, state)):
        # No timed step on the day a claim entered a state, unless that is the
        # day it was allocated.
        earliest = since if state == INITIAL[group] else since + 1
        best: tuple[int, Rule] | None = None
        for rule in rules:
            if rule.minimum is not None and open_cents < rule.minimum:
                continue
            fires = max((due if rule.overdue else since) + rule.days, earliest)
            if best is None or fires < best[0]:
                best = (fires, rule)
        if best is None or best[0] > last:
            break
        steps.append(best)
        state, since = best[1].target, best[0]
    return steps


def next_check(group: str, state: str, since: int, due: int, until: int) -> int | None:
    """The day a claim is looked at again after daily runs up to `until`."""
    rules = DISPATCH.get((group, state))
    if not rules:
        return None
    timers = min((due if rule.overdue else since) + rule.days for rule in rules)
    # A timer that ran out while its guard failed is tried again every day.
    return until + 1 if timers <= until else max(timers, since + 1)


def write_history(
    path: str | Path, until: dt.date, policy_name: str, batch: int = 200_000
) -> History:
    """Write what daily runs from the first issue date to `until` would have left.

    Every claim issued by then was allocated on its issue date and took each
    timed step on the day it fell due. The moves the run of the day after
    `until` must make are returned, to be compared with what the engine does.
    No payment is applied: the benchmark imports only those of later days.
    """
    conn = _connect(path)
    # Written once and thrown away if the benchmark stops: a rollback journal
    # writes each new page once, where the store's write-ahead log would write
    # it twice.
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("PRAGMA synchronous = OFF")
    policy = PolicyFile.read()
    days = DAYS
    last, tomorrow = until.toordinal(), until.toordinal() + 1
    history = History()
    customers = {
        ident: (segment, named or None)
        for ident, segment, named in conn.execute(
            "SELECT id, segment, dunning_group FROM customers"
        )
    }
    claims = conn.execute(
        "SELECT id, customer_id, amount, issue_date, due_date FROM claims "
        "WHERE issue_date <= ? ORDER BY id",
        (days[tomorrow],),
    ).fetchall()

    conn.execute("BEGIN")
    # Indexes are built faster at the end than kept up row by row; they come
    # back exactly as the store defined them.
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
        "AND tbl_name IN ('transitions', 'measures') AND sql IS NOT NULL"
    ).fetchall()
    for name, _ in indexes:
        conn.execute(f"DROP INDEX {name}")
    first = min((_ordinal(claim[3]) for claim in claims), default=tomorrow)
    run_ids = {
        day: _start_run(conn, policy, days[day], policy_name)
        for day in range(first, last + 1)
    }

    rows = Rows(policy, _next_id(conn))
    updates: list[tuple[object, ...]] = []
    for claim_id, customer_id, amount, issued, due_text in claims:
        issue, due = _ordinal(issued), _ordinal(due_text)
        group, rule, reason, read = allocate(*customers[customer_id])
        state = INITIAL[group]
        if issue == tomorrow:
            history.next_day.add((claim_id, group, None, state))
            continue

        open_cents = cents(amount)
        why = f"allocated to group `{group}`: {reason}"
        allocation = (None, state, "allocation", rule, policy.lines.get(rule), why)
        facts = (claim_id, customer_id, group, open_cents, issue - due)
        rows.add(run_ids[issue], issued, facts, (*allocation, read, ()))
        since = issue
        for day, step in schedule(group, issue, due, open_cents, tomorrow):
            if day == tomorrow:
                history.next_day.add((claim_id, group, state, step.target))
                break
            facts = (claim_id, customer_id, group, open_cents, day - due)
            moved = timer_step(step, state, day, since, due, open_cents, policy.lines)
            rows.add(run_ids[day], days[day], facts, moved)
            state, since = step.target, day
        check = next_check(group, state, since, due, last)
        updates.append(
            (group, state, days[since], days[check] if check else None, claim_id)
        )
        if len(rows.transitions) >= batch:
            history.transitions += len(rows.transitions)
            rows.write(conn)

    history.transitions += len(rows.transitions)
    rows.write(conn)
    conn.executemany(
        "UPDATE claims SET group_name = ?, state = ?, state_since = ?, "
        "next_check = ?, changed = 0 WHERE id = ?",
        updates,
    )
    for _, sql in indexes:
        conn.execute(sql)
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    return history


# ---- what both references do per claim --------------------------------------


@dataclass
class _Claim:
    """One claim while a reference decides about it."""

    ident: str
    customer: str
    group: str
    state: str
    since: str
    due: str
    open_cents: int
    allocated: bool = False
    settled_on: str | None = None
    steps: list[Step] = field(default_factory=list)


def _pending_payments(conn: sqlite3.Connection, today: str) -> dict[str, list[Payment]]:
    payments: dict[str, list[Payment]] = {}
    for claim_id, ident, amount, paid_on, kind in conn.execute(
        "SELECT claim_id, id, amount, paid_on, kind FROM payments "
        "WHERE applied_run IS NULL AND paid_on <= ? ORDER BY paid_on, id",
        (today,),
    ):
        payments.setdefault(claim_id, []).append((ident, cents(amount), paid_on, kind))
    return payments


def _customers(
    conn: sqlite3.Connection, ids: set[str]
) -> dict[str, tuple[str | None, str | None]]:
    marks = ", ".join("?" for _ in ids)
    return {
        row[0]: (row[1], row[2] or None)
        for row in conn.execute(
            f"SELECT id, segment, dunning_group FROM customers WHERE id IN ({marks})",
            tuple(ids),
        )
    }


def _allocate(
    claim: _Claim, customer: tuple[str | None, str | None], lines: dict[str, int]
) -> None:
    group, rule, reason, read = allocate(*customer)
    claim.group, claim.state, claim.allocated = group, INITIAL[group], True
    why = f"allocated to group `{group}`: {reason}"
    claim.steps.append(
        (None, claim.state, "allocation", rule, lines.get(rule), why, read, ())
    )


def _settlement(claim: _Claim, source: str, payment: Payment) -> Step:
    ident, amount, _, kind = payment
    label = f"{kind.replace('_', ' ')} {ident} of {money(amount)} {CURRENCY}"
    left = f"{money(claim.open_cents)} {CURRENCY}"
    reason = f"{label} left {left} open: the claim is settled"
    rule = "full payment settles the claim"
    return (source, PAID, "settlement", rule, None, reason, "", ())


def _may_step(claim: _Claim, paid: list[Payment] | None, today: str) -> bool:
    # A claim that entered its state today waits for the next run, unless it
    # was allocated just now in the run's pass for timers.
    return claim.since < today or (claim.allocated and not paid)


def _claim_row(claim: _Claim, today: int) -> tuple[str, str, str, int, int]:
    return (
        claim.ident,
        claim.customer,
        claim.group,
        claim.open_cents,
        today - _ordinal(claim.due),
    )


# ---- the raw loop ------------------------------------------------------------


@dataclass
class RawResult:
    """What the raw loop decided and how long its parts took."""

    open_claims: int = 0
    moves: set[Move] = field(default_factory=set)
    charges: set[Charge] = field(default_factory=set)
    audit_rows: int = 0
    seconds: float = 0.0
    scan_seconds: float = 0.0
    write_seconds: float = 0.0
    insert_seconds: float = 0.0


def raw_run(path: str | Path, day: dt.date) -> RawResult:
    """Decide and write one day for every open claim, the least a run can do."""
    result = RawResult()
    began = time.perf_counter()
    conn = _connect(path)
    policy = PolicyFile.read()
    today, ordinal = day.isoformat(), day.toordinal()

    # For each rule, the last due date (or entry date) from which it fires today:
    # a string comparison per claim instead of date arithmetic.
    dispatch = {
        key: tuple(
            (rule, (day - dt.timedelta(days=rule.days)).isoformat()) for rule in rules
        )
        for key, rules in DISPATCH.items()
    }
    payments = _pending_payments(conn, today)
    decided: list[_Claim] = []
    new: list[_Claim] = []
    for ident, customer, group, state, since, issued, due, open_amount in conn.execute(
        "SELECT id, customer_id, group_name, state, state_since, issue_date, "
        "due_date, open_amount FROM claims "
        "WHERE settled_on IS NULL AND issue_date <= ?",
        (today,),
    ):
        result.open_claims += 1
        paid = payments.get(ident)
        if state is None:
            new.append(_Claim(ident, customer, "", "", issued, due, cents(open_amount)))
            continue
        if paid is None:
            rules = dispatch.get((group, state))
            if rules is None or since >= today:
                continue
            for rule, latest in rules:
                if (due if rule.overdue else since) <= latest and (
                    rule.minimum is None or cents(open_amount) >= rule.minimum
                ):
                    break
            else:
                continue
        claim = _Claim(ident, customer, group, state, since, due, cents(open_amount))
        _raw_advance(claim, paid, dispatch, today, policy.lines)
        decided.append(claim)

    if new:
        found = _customers(conn, {claim.customer for claim in new})
        for claim in new:
            _allocate(claim, found[claim.customer], policy.lines)
            _raw_advance(
                claim, payments.get(claim.ident), dispatch, today, policy.lines
            )
            decided.append(claim)
    result.scan_seconds = time.perf_counter() - began

    written = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    run_id = _start_run(conn, policy, today, "raw loop")
    rows = Rows(policy, _next_id(conn))
    updates: list[tuple[object, ...]] = []
    applied: list[tuple[int, str]] = []
    for claim in decided:
        facts = _claim_row(claim, ordinal)
        for step in claim.steps:
            rows.add(run_id, today, facts, step)
            result.moves.add((claim.ident, claim.group, step[0], step[1]))
            result.charges.update(
                (claim.ident, name, MEASURES[name].fee(claim.open_cents))
                for name in step[7]
            )
        updates.append(
            (claim.group, claim.state, claim.since, money(claim.open_cents))
            + (claim.settled_on, claim.ident)
        )
        applied.extend((run_id, item[0]) for item in payments.get(claim.ident, ()))
    result.audit_rows = len(rows.transitions)
    result.insert_seconds = rows.write(conn)
    conn.executemany(
        "UPDATE claims SET group_name = ?, state = ?, state_since = ?, "
        "open_amount = ?, settled_on = ?, changed = 0 WHERE id = ?",
        updates,
    )
    conn.executemany("UPDATE payments SET applied_run = ? WHERE id = ?", applied)
    conn.execute("COMMIT")
    conn.close()

    ended = time.perf_counter()
    result.write_seconds = ended - written
    result.seconds = ended - began
    return result


def _raw_advance(
    claim: _Claim,
    paid: list[Payment] | None,
    dispatch: dict[tuple[str, str], tuple[tuple[Rule, str], ...]],
    today: str,
    lines: dict[str, int],
) -> None:
    for payment in paid or ():
        claim.open_cents -= payment[1]
        if claim.open_cents <= 0 and claim.settled_on is None:
            claim.settled_on = payment[2]
        if claim.open_cents <= 0 and claim.state != PAID:
            claim.steps.append(_settlement(claim, claim.state, payment))
            claim.state, claim.since = PAID, payment[2]

    rules = dispatch.get((claim.group, claim.state))
    if rules is None or not _may_step(claim, paid, today):
        return
    for rule, latest in rules:
        if (claim.due if rule.overdue else claim.since) > latest:
            continue
        if rule.minimum is not None and claim.open_cents < rule.minimum:
            continue
        day = _ordinal(today)
        since, due = _ordinal(claim.since), _ordinal(claim.due)
        step = timer_step(rule, claim.state, day, since, due, claim.open_cents, lines)
        claim.steps.append(step)
        claim.state, claim.since = rule.target, today
        return


# ---- the naive engine --------------------------------------------------------


TRIGGERS = {
    group: [
        (f"step_{index}", rule)
        for index, rule in enumerate(rule for rule in RULES if rule.group == group)
    ]
    for group in GROUP_RULES
}
"""Each group's timed transitions as triggers of its machine, in written order."""


class NaiveClaim:
    """A claim as the model of a machine of its own."""

    state: str  # kept by the machine
    trigger: Callable[..., bool]  # added by the machine

    def __init__(self, claim: _Claim, day: dt.date, lines: dict[str, int]) -> None:
        self.claim = claim
        self.day = day
        self.lines = lines

    def timer_ran_out(self, rule: Rule) -> bool:
        """The condition of a timed transition: its timer ran out, its guard holds."""
        claim = self.claim
        start = claim.due if rule.overdue else claim.since
        fell_due = dt.date.fromisoformat(start) + dt.timedelta(days=rule.days)
        if fell_due > self.day:
            return False
        return rule.minimum is None or claim.open_cents >= rule.minimum

    def stepped(self, rule: Rule) -> None:
        """Note the timed step the machine has just made."""
        claim, day = self.claim, self.day.toordinal()
        since, due = _ordinal(claim.since), _ordinal(claim.due)
        step = timer_step(
            rule, rule.source, day, since, due, claim.open_cents, self.lines
        )
        claim.steps.append(step)
        claim.since = self.day.isoformat()

    def settled(self, source: str, payment: Payment) -> None:
        """Note the settlement the machine has just made."""
        self.claim.steps.append(_settlement(self.claim, source, payment))
        self.claim.since = payment[2]


def machine_for(model: NaiveClaim, group: str, state: str) -> Machine:
    """A machine of the group's states and transitions, for one claim alone."""
    specs: list[dict[str, object]] = []
    for trigger, rule in TRIGGERS[group]:
        specs.append(
            {
                "trigger": trigger,
                "source": rule.source,
                "dest": rule.target,
                "conditions": [partial(model.timer_ran_out, rule)],
                "after": [partial(model.stepped, rule)],
            }
        )
    for source in STATES[group]:
        if source != PAID:
            settled = partial(model.settled, source)
            specs.append(
                {
                    "trigger": "settle",
                    "source": source,
                    "dest": PAID,
                    "after": [settled],
                }
            )
    return Machine(
        model=model,
        states=list(STATES[group]),
        transitions=specs,
        initial=state,
        auto_transitions=False,
    )


@dataclass
class NaiveResult:
    """What the naive engine decided for its share of the claims."""

    claims: set[str] = field(default_factory=set)
    moves: set[Move] = field(default_factory=set)
    seconds: float = 0.0


def naive_run(path: str | Path, day: dt.date, every: int) -> NaiveResult:
    """Decide one day for every `every`-th open claim, each with its own machine.

    The moves are written row by row in one transaction that is rolled back at
    the end, so that the database stays as it was.
    """
    result = NaiveResult()
    began = time.perf_counter()
    conn = _connect(path)
    policy = PolicyFile.read()
    today, ordinal = day.isoformat(), day.toordinal()
    payments = _pending_payments(conn, today)
    claims = list(_naive_claims(conn, today, every))
    customers = _customers(
        conn, {claim.customer for claim in claims if not claim.state}
    )

    conn.execute("BEGIN IMMEDIATE")
    run_id = _start_run(conn, policy, today, "naive engine")
    rows = Rows(policy, _next_id(conn))
    for claim in claims:
        result.claims.add(claim.ident)
        paid = payments.get(claim.ident)
        if not claim.state:
            _allocate(claim, customers[claim.customer], policy.lines)
        model = NaiveClaim(claim, day, policy.lines)
        machine_for(model, claim.group, claim.state)

        for payment in paid or ():
            claim.open_cents -= payment[1]
            if claim.open_cents <= 0 and model.state != PAID:
                model.trigger("settle", payment)
        if (claim.group, model.state) in DISPATCH and _may_step(claim, paid, today):
            for trigger, rule in TRIGGERS[claim.group]:
                if rule.source == model.state and model.trigger(trigger):
                    break

        for step in claim.steps:
            rows.add(run_id, today, _claim_row(claim, ordinal), step)
            result.moves.add((claim.ident, claim.group, step[0], step[1]))
        for row in rows.transitions:
            conn.execute(TRANSITION_INSERT, row)
        for row in rows.measures:
            conn.execute(MEASURE_INSERT, row)
        rows.transitions.clear()
        rows.measures.clear()
        if claim.steps:
            conn.execute(
                "UPDATE claims SET group_name = ?, state = ?, state_since = ? "
                "WHERE id = ?",
                (claim.group, model.state, claim.since, claim.ident),
            )
    conn.execute("ROLLBACK")
    conn.close()
    result.seconds = time.perf_counter() - began
    return result


def _naive_claims(conn: sqlite3.Connection, today: str, every: int) -> Iterator[_Claim]:
    for ident, customer, group, state, since, issued, due, open_amount in conn.execute(
        "SELECT id, customer_id, group_name, state, state_since, issue_date, "
        "due_date, open_amount FROM claims "
        "WHERE settled_on IS NULL AND issue_date <= ? AND rowid % ? = 0",
        (today, every),
    ):
        since = since or issued
        yield _Claim(
            ident, customer, group or "", state or "", since, due, cents(open_amount)
        )
