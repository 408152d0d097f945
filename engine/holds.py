"""Holds and exclusions: claims a person or a policy rule keeps out of dunning.

A hold is set by a person on one claim or on all claims of a customer, with a
reason and, optionally, an end date. While it lasts the claim takes no timed
step (so no measure and no fee); payments and events still apply and still
move the claim, but the measures an event rule names are withheld, each time
with a row in `skips`. Setting and releasing a hold land in `audit_changes`;
the first time a run would have stepped a held claim it records one row in
`skips` and leaves the claim alone until the hold ends.

An exclusion is a policy rule (`exclude when ... because "..."`): a claim whose
data matches it takes no timed step; the first run that looks at it records a
skip with the reason and the values the rule read.

`Treatment` is what the daily run asks before a timed step: it also covers
customer credits and small balances (see `credits.py`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
from collections.abc import Iterable
from typing import Any

from attrs import frozen

from dunlang.model import Policy

from .calendar import BusinessCalendar, due_date_of
from .credits import covering_credit, customers_with_credit, small_balance
from .guards import Guard, Seen, attributes_read, compile_guard, describe_value
from .machines import GroupMachine
from .plans import waiting_note

log = logging.getLogger(__name__)

ONE_DAY = dt.timedelta(days=1)
EXPIRED = "expired"
"""Who released a hold whose end date has passed: the run itself."""

WITHHELD = "withheld"
"""How the detail of a skip for measures held back from an event rule begins."""

SKIP_CAUSES = (
    "hold",
    "dispute",
    "promise",
    "exclusion",
    "credit",
    "small_balance",
    "not_business_day",
)


class HoldError(ValueError):
    """A hold cannot be set or released: unknown claim, bad dates, no hold."""


@frozen
class Hold:
    """A hold on one claim or on every claim of one customer."""

    id: int
    claim_id: str | None
    customer_id: str | None
    reason: str
    set_by: str
    set_at: str
    starts: dt.date
    until: dt.date | None
    released_on: dt.date | None = None
    released_by: str | None = None
    release_note: str | None = None

    @property
    def target(self) -> str:
        """What is held, in words: `claim R-1` or `customer K1`."""
        if self.claim_id is not None:
            return f"claim {self.claim_id}"
        return f"customer {self.customer_id}"

    def holds_on(self, day: dt.date) -> bool:
        """True when the hold keeps its claims out of dunning on `day`."""
        return (
            self.starts <= day
            and (self.until is None or day <= self.until)
            and (self.released_on is None or day < self.released_on)
        )

    def ends(self) -> dt.date | None:
        """The first day it no longer holds; None while open-ended."""
        ends = [d for d in (self.released_on, _after(self.until)) if d is not None]
        return min(ends) if ends else None

    def describe(self) -> str:
        """The hold in one line, as skips and `why` quote it."""
        until = f"until {self.until}" if self.until else "until released"
        prefix = f"customer {self.customer_id} " if self.customer_id else ""
        return (
            f"{prefix}held by {self.set_by} since {self.starts}: {self.reason}, {until}"
        )


@frozen
class Skip:
    """A claim a run left alone on purpose, and why."""

    id: int
    run_id: int | None
    as_of: dt.date
    claim_id: str
    customer_id: str
    cause: str
    reference: str | None
    detail: str


@frozen
class Verdict:
    """What the run may do with a claim before its timed step."""

    timed_step: bool = True
    write_off: str | None = None
    """Set when the claim is to be settled as a small balance; the reason."""
    rule: str = ""


GO_ON = Verdict()
STOP = Verdict(timed_step=False)


# ---- setting and releasing ---------------------------------------------------


_COLUMNS = (
    "id, claim_id, customer_id, reason, set_by, set_at, starts, until, "
    "released_on, released_by, release_note"
)


def _after(day: dt.date | None) -> dt.date | None:
    return day + ONE_DAY if day is not None else None


def _date(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def _hold(row: tuple[Any, ...]) -> Hold:
    return Hold(
        id=row[0],
        claim_id=row[1],
        customer_id=row[2],
        reason=row[3],
        set_by=row[4],
        set_at=row[5],
        starts=dt.date.fromisoformat(row[6]),
        until=_date(row[7]),
        released_on=_date(row[8]),
        released_by=row[9],
        release_note=row[10],
    )


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _target(
    conn: sqlite3.Connection, claim_id: str | None, customer_id: str | None
) -> tuple[str, str]:
    """The column and id a hold is on, after checking the id is stored."""
    if (claim_id is None) == (customer_id is None):
        raise HoldError("name either a claim or a customer (--customer ID), not both")
    if claim_id is not None:
        if not conn.execute(
            "SELECT 1 FROM claims WHERE id = ?", (claim_id,)
        ).fetchone():
            raise HoldError(f"no claim `{claim_id}` in the database")
        return "claim_id", claim_id
    assert customer_id is not None
    found = conn.execute("SELECT 1 FROM customers WHERE id = ?", (customer_id,))
    if not found.fetchone():
        raise HoldError(f"no customer `{customer_id}` in the database")
    return "customer_id", customer_id


def _open_hold(conn: sqlite3.Connection, column: str, ident: str) -> Hold | None:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM holds WHERE {column} = ? AND kind = 'hold' "
        "AND released_on IS NULL ORDER BY id DESC LIMIT 1",
        (ident,),
    ).fetchone()
    return _hold(row) if row else None


def _audit(
    conn: sqlite3.Connection,
    actor: str,
    table: str,
    row_id: str,
    values: Iterable[tuple[str, str | None, str | None]],
    source: str,
) -> None:
    conn.executemany(
        "INSERT INTO audit_changes (recorded_at, actor, table_name, row_id, field, "
        "old_value, new_value, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (_now(), actor, table, row_id, name, old, new, source)
            for name, old, new in values
            if old is not None or new is not None
        ],
    )


def set_hold(
    conn: sqlite3.Connection,
    *,
    claim_id: str | None = None,
    customer_id: str | None = None,
    reason: str,
    by: str,
    starts: dt.date,
    until: dt.date | None = None,
) -> Hold:
    """Hold a claim, or every claim of a customer, from `starts` (to `until`).

    The caller runs this inside one transaction; the hold and its audit rows
    land together.
    """
    column, ident = _target(conn, claim_id, customer_id)
    if not reason.strip():
        raise HoldError("a hold needs a reason (--reason TEXT), for the audit trail")
    if not by.strip():
        raise HoldError("a hold needs the name of who sets it (--by NAME)")
    if until is not None and until < starts:
        raise HoldError(
            f"the hold would end on {until}, before it starts on {starts}; "
            "give an end date on or after the start"
        )
    existing = _open_hold(conn, column, ident)
    if existing is not None:
        raise HoldError(
            f"{existing.target} is already held (hold {existing.id}, "
            f"{existing.describe()}); release it first"
        )

    cursor = conn.execute(
        "INSERT INTO holds (claim_id, customer_id, kind, reason, set_by, set_at, "
        "starts, until) VALUES (?, ?, 'hold', ?, ?, ?, ?, ?)",
        (
            claim_id,
            customer_id,
            reason,
            by,
            _now(),
            starts.isoformat(),
            until.isoformat() if until else None,
        ),
    )
    hold_id = int(cursor.lastrowid or 0)
    _audit(
        conn,
        by,
        "holds",
        str(hold_id),
        [
            ("held", None, f"{column.removesuffix('_id')} {ident}"),
            ("reason", None, reason),
            ("starts", None, starts.isoformat()),
            ("until", None, until.isoformat() if until else None),
        ],
        "hold set",
    )
    log.info("hold %s set on %s %s by %s", hold_id, column, ident, by)
    return hold_by_id(conn, hold_id)


def hold_by_id(conn: sqlite3.Connection, hold_id: int) -> Hold:
    """One stored hold."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM holds WHERE id = ?", (hold_id,)
    ).fetchone()
    if row is None:
        raise HoldError(f"no hold {hold_id} in the database")
    return _hold(row)


def release_hold(
    conn: sqlite3.Connection,
    *,
    claim_id: str | None = None,
    customer_id: str | None = None,
    by: str,
    on: dt.date,
    note: str | None = None,
) -> Hold:
    """Release the open hold of a claim or customer from the day `on`.

    Days held do not count for timers that run from the day a claim entered its
    state: such claims have their `state_since` moved on by the days held.
    """
    column, ident = _target(conn, claim_id, customer_id)
    hold = _open_hold(conn, column, ident)
    if hold is None:
        what = f"{column.removesuffix('_id')} {ident}"
        raise HoldError(f"{what} has no hold to release")
    if on < hold.starts:
        raise HoldError(
            f"the release date {on} is before the hold starts ({hold.starts}); "
            "give a date on or after the start"
        )
    _release(conn, hold, on, by, note)
    return hold_by_id(conn, hold.id)


def _release(
    conn: sqlite3.Connection, hold: Hold, on: dt.date, by: str, note: str | None
) -> None:
    conn.execute(
        "UPDATE holds SET released_on = ?, released_by = ?, release_note = ? "
        "WHERE id = ?",
        (on.isoformat(), by, note, hold.id),
    )
    _audit(
        conn,
        by,
        "holds",
        str(hold.id),
        [("released_on", None, on.isoformat()), ("release_note", None, note)],
        "hold released",
    )
    _resume(conn, hold, on, by)
    log.info("hold %s on %s released on %s by %s", hold.id, hold.target, on, by)


def _resume(conn: sqlite3.Connection, hold: Hold, on: dt.date, by: str) -> None:
    """Move on the start of the current state by the days held, and have the
    next run look at the claims again."""
    column = "claim_id" if hold.claim_id is not None else "customer_id"
    ident = hold.claim_id if hold.claim_id is not None else hold.customer_id
    rows = conn.execute(
        "SELECT id, state_since, hold_return_since FROM claims "
        f"WHERE {'id' if column == 'claim_id' else 'customer_id'} = ? "
        "AND settled_on IS NULL",
        (ident,),
    ).fetchall()
    for claim_id, since_text, return_text in rows:
        since = _date(since_text)
        held = (on - max(hold.starts, since)).days if since else 0
        if since is None or held <= 0:
            conn.execute("UPDATE claims SET changed = 1 WHERE id = ?", (claim_id,))
            continue
        shift = dt.timedelta(days=held)
        moved = (since + shift).isoformat()
        back = _date(return_text)
        conn.execute(
            "UPDATE claims SET state_since = ?, hold_return_since = ?, changed = 1 "
            "WHERE id = ?",
            (moved, (back + shift).isoformat() if back else None, claim_id),
        )
        _audit(
            conn,
            by,
            "claims",
            claim_id,
            [("state_since", since_text, moved)],
            f"hold {hold.id} released: {held} days held do not count as days in state",
        )


def expire_holds(conn: sqlite3.Connection, as_of: dt.date) -> list[Hold]:
    """Release every hold whose end date has passed, from the day after it."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM holds WHERE kind = 'hold' AND released_on IS NULL "
        "AND until < ? ORDER BY id",
        (as_of.isoformat(),),
    ).fetchall()
    expired = [_hold(row) for row in rows]
    for hold in expired:
        assert hold.until is not None
        note = f"its end date {hold.until} has passed"
        _release(conn, hold, hold.until + ONE_DAY, EXPIRED, note)
    return expired


def holds_of(
    conn: sqlite3.Connection,
    *,
    claim_id: str | None = None,
    customer_id: str | None = None,
    open_only: bool = False,
) -> list[Hold]:
    """Holds, oldest first: of one claim (and its customer), of one customer,
    or all of them."""
    where = ["kind = 'hold'"]
    values: list[str] = []
    if claim_id is not None:
        owner = conn.execute(
            "SELECT customer_id FROM claims WHERE id = ?", (claim_id,)
        ).fetchone()
        if owner is None:
            raise HoldError(f"no claim `{claim_id}` in the database")
        where.append("(claim_id = ? OR customer_id = ?)")
        values += [claim_id, owner[0]]
    elif customer_id is not None:
        where.append(
            "(customer_id = ? OR claim_id IN "
            "(SELECT id FROM claims WHERE customer_id = ?))"
        )
        values += [customer_id, customer_id]
    if open_only:
        where.append("released_on IS NULL")
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM holds WHERE {' AND '.join(where)} ORDER BY id",
        values,
    )
    return [_hold(row) for row in rows]


def skips_of(
    conn: sqlite3.Connection, *, cause: str | None = None, claim_id: str | None = None
) -> list[Skip]:
    """Recorded skips, oldest first, optionally of one cause or one claim."""
    where, values = [], []
    if cause is not None:
        where.append("cause = ?")
        values.append(cause)
    if claim_id is not None:
        where.append("claim_id = ?")
        values.append(claim_id)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    rows = conn.execute(
        "SELECT id, run_id, as_of, claim_id, customer_id, cause, reference, detail "
        f"FROM skips{clause} ORDER BY id",
        values,
    )
    return [
        Skip(row[0], row[1], dt.date.fromisoformat(row[2]), *row[3:]) for row in rows
    ]


def active_hold(holds: Iterable[Hold], day: dt.date) -> Hold | None:
    """The hold that keeps a claim out of dunning on `day`: its own first."""
    current = [hold for hold in holds if hold.holds_on(day)]
    current.sort(key=lambda hold: (hold.claim_id is None, hold.id))
    return current[0] if current else None


def holds_in_force(
    conn: sqlite3.Connection, claim_ids: Iterable[str], day: dt.date
) -> dict[str, Hold]:
    """The hold that keeps each of these claims out of dunning on `day`, by claim.

    A claim's own hold comes before its customer's; claims held by nothing are
    left out. For commands that carry out the outbox (send, agency export, the
    call list), which must leave held claims alone.
    """
    wanted = sorted(set(claim_ids))
    if not wanted:
        return {}
    owners = dict(
        conn.execute(
            "SELECT id, customer_id FROM claims WHERE id IN "
            "(SELECT value FROM json_each(?))",
            (json.dumps(wanted),),
        ).fetchall()
    )
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM holds WHERE kind = 'hold' AND starts <= ? AND "
        "(claim_id IN (SELECT value FROM json_each(?)) "
        "OR customer_id IN (SELECT value FROM json_each(?)))",
        (day.isoformat(), json.dumps(wanted), json.dumps(sorted(set(owners.values())))),
    )
    by_claim: dict[str, list[Hold]] = {}
    by_customer: dict[str, list[Hold]] = {}
    for row in rows:
        hold = _hold(row)
        if hold.claim_id is not None:
            by_claim.setdefault(hold.claim_id, []).append(hold)
        elif hold.customer_id is not None:
            by_customer.setdefault(hold.customer_id, []).append(hold)

    found: dict[str, Hold] = {}
    for claim_id in wanted:
        customer = owners.get(claim_id, "")
        current = active_hold(
            by_claim.get(claim_id, []) + by_customer.get(customer, []), day
        )
        if current is not None:
            found[claim_id] = current
    return found


# ---- exclusions ----------------------------------------------------------------


def matching_exclusion(
    exclusions: Iterable[tuple[str, Guard]], facts: dict[str, dict[str, Any]]
) -> tuple[str, str] | None:
    """The reason of the first exclusion rule a claim matches, and what it read."""
    for reason, guard in exclusions:
        seen: Seen = {}
        if guard(facts, seen):
            values = ", ".join(
                f"{key} = {describe_value(value)}"
                for key, value in sorted(seen.items())
            )
            return reason, values
    return None


# ---- what the run asks --------------------------------------------------------


class Treatment:
    """Holds, exclusions, customer credits and small balances, as one run sees them.

    The run calls `start` once, `verdict` before a claim's timed step,
    `withholds` before a timed step with measures, `event_measures` before an
    event rule moves a claim, `next_check` when it stores the claim, and
    `write` at the end of each batch.
    """

    def __init__(
        self, policy: Policy, calendar: BusinessCalendar, conn: sqlite3.Connection
    ) -> None:
        self.policy = policy
        self.calendar = calendar
        self.conn = conn
        self.exclusions: list[tuple[str, Guard]] = [
            (exclusion.reason, compile_guard(exclusion.guard))
            for exclusion in policy.exclusions
        ]
        self.read = set().union(
            *(attributes_read(exclusion.guard) for exclusion in policy.exclusions)
        )
        # An exclusion that reads the passing of days can end by itself, so
        # its claims keep their timers' schedule instead of being parked.
        self.exclusions_age = bool(self.read & AGEING_ATTRIBUTES)
        self._holds: dict[str, list[Hold]] = {}
        self._with_credit: set[str] = set()
        self._parked: dict[str, dt.date | None | object] = {}
        self._not_before: dict[str, dt.date] = {}
        self._pending: list[tuple[Any, ...]] = []
        self._recorded: set[tuple[str, str, str | None]] = set()
        self._as_of: dt.date | None = None

    @property
    def reads_customer(self) -> bool:
        """True when an exclusion rule reads customer data."""
        return any(subject == "customer" for subject, _ in self.read)

    def start(self, as_of: dt.date) -> None:
        """At the start of a run: lift holds whose end has passed, then read the
        holds and credits this run needs."""
        expire_holds(self.conn, as_of)
        since = as_of - dt.timedelta(days=self.policy.resume_wait_days)
        self._holds = {}
        for row in self.conn.execute(
            f"SELECT {_COLUMNS} FROM holds WHERE kind = 'hold' AND starts <= ? "
            "AND (released_on IS NULL OR released_on > ?)",
            (as_of.isoformat(), since.isoformat()),
        ):
            hold = _hold(row)
            key = f"claim:{hold.claim_id}" if hold.claim_id else hold.customer_id
            self._holds.setdefault(key or "", []).append(hold)
        self._with_credit = customers_with_credit(self.conn)
        self._as_of = as_of
        self._parked.clear()
        self._not_before.clear()
        self._recorded.clear()

    def holds_for(self, claim_id: str, customer_id: str) -> list[Hold]:
        """The holds of this run that concern one claim."""
        return self._holds.get(f"claim:{claim_id}", []) + self._holds.get(
            customer_id, []
        )

    def verdict(
        self, work: Any, machine: GroupMachine, as_of: dt.date, fresh: bool
    ) -> Verdict:
        """May an open claim take its timed step now? `fresh`: allocated in
        this run (a claim that entered its state today otherwise waits)."""
        row = work.row
        claim_id, customer_id = row["id"], row["customer_id"]
        holds = self.holds_for(claim_id, customer_id) if self._holds else []

        hold = active_hold(holds, as_of) if holds else None
        if hold is not None:
            if self._timer_fell_due(work, machine, as_of, fresh):
                self._skip(work, as_of, "hold", str(hold.id), hold.describe())
                self._parked[claim_id] = hold.ends()
            return STOP

        if self.exclusions:
            found = matching_exclusion(self.exclusions, work.facts)
            if found is not None:
                reason, values = found
                detail = f"excluded: {reason}" + (f" ({values})" if values else "")
                self._skip(work, as_of, "exclusion", reason, detail)
                self._parked[claim_id] = ON_SCHEDULE if self.exclusions_age else None
                return STOP

        # Only a claim whose due date has passed is a small balance: typically
        # the rest after a partial payment, never an invoice not yet due.
        if self.policy.small_balance is not None and _overdue(work):
            found_small = small_balance(self.policy.small_balance, work.open_amount)
            if found_small is not None:
                rule, detail, write_off = found_small
                if write_off:
                    return Verdict(timed_step=False, write_off=detail, rule=rule)
                self._skip(work, as_of, "small_balance", None, detail)
                self._parked[claim_id] = None
                return STOP

        wait = self.policy.resume_wait_days
        if wait and holds:
            ends = [hold.ends() for hold in holds]
            resumes = max(
                (day for day in ends if day is not None and day <= as_of), default=None
            )
            if resumes is not None and as_of < resumes + dt.timedelta(days=wait):
                self._not_before[claim_id] = resumes + dt.timedelta(days=wait)
                return STOP
        return GO_ON

    def withholds(self, work: Any, measures: tuple[str, ...], as_of: dt.date) -> bool:
        """True when a customer credit covers the claim and the step would
        contact the customer: the step waits for a clerk."""
        customer_id = work.row["customer_id"]
        if customer_id not in self._with_credit:
            return False
        covered = covering_credit(
            self.conn, self.policy, customer_id, work.open_amount, measures
        )
        if covered is None:
            return False
        reference, detail = covered
        self._skip(work, as_of, "credit", reference, detail)
        return True

    def event_measures(
        self, work: Any, event: str, on: dt.date, measures: tuple[str, ...]
    ) -> tuple[tuple[str, ...], str]:
        """The measures an event rule may carry out in this run, and a note for
        the transition's reason when they are withheld.

        A claim on hold (its own or its customer's) on the day of the run still
        moves, since a dispute or a payment is a fact, but gets no letter,
        call or fee: the measures are withheld and a skip says which and why.
        They are not sent later; the skip is there for a clerk to decide.
        """
        if not measures or not self._holds or self._as_of is None:
            return measures, ""
        row = work.row
        hold = active_hold(self.holds_for(row["id"], row["customer_id"]), self._as_of)
        if hold is None:
            return measures, ""

        noun = "measure" if len(measures) == 1 else "measures"
        names = ", ".join(measures)
        detail = f"{WITHHELD} {noun} {names} of `{event}` on {on}: {hold.describe()}"
        self._pending.append(
            (
                self._as_of.isoformat(),
                row["id"],
                row["customer_id"],
                "hold",
                str(hold.id),
                detail,
            )
        )
        log.debug("claim %s: %s", row["id"], detail)
        return (), f"; {noun} {names} withheld: on hold {hold.id}"

    def next_check(self, claim_id: str, earliest: dt.date | None) -> dt.date | None:
        """The claim's next check, after holds, exclusions and waiting."""
        if claim_id in self._parked:
            parked = self._parked.pop(claim_id)
            if parked is ON_SCHEDULE:
                return earliest
            assert parked is None or isinstance(parked, dt.date)
            return parked
        not_before = self._not_before.pop(claim_id, None)
        if not_before is not None and earliest is not None:
            return max(earliest, not_before)
        return earliest

    def write(self, conn: sqlite3.Connection, run_id: int | None) -> None:
        """Store the skips decided in this batch, in the batch's transaction."""
        if self._pending:
            conn.executemany(
                "INSERT INTO skips (run_id, as_of, claim_id, customer_id, cause, "
                "reference, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(run_id, *row) for row in self._pending],
            )
            self._pending.clear()

    def _timer_fell_due(
        self, work: Any, machine: GroupMachine, as_of: dt.date, fresh: bool
    ) -> bool:
        """True when the run would have tried a timed step today."""
        if not (fresh or work.state_since is None or work.state_since < as_of):
            return False
        claim = work.facts["claim"]
        since = work.state_since or claim["issue_date"]
        for step in machine.timed.get(work.state or "", []):
            timer = step.rule.timer
            if timer is None:
                return True
            if due_date_of(timer, claim["due_date"], since, self.calendar) <= as_of:
                return True
        return False

    def _skip(
        self, work: Any, as_of: dt.date, cause: str, reference: str | None, detail: str
    ) -> None:
        """Record a skip once per claim, cause and reference."""
        claim_id = work.row["id"]
        key = (claim_id, cause, reference)
        if key in self._recorded:
            return
        self._recorded.add(key)
        # Measures withheld from event rules are recorded each time; they do
        # not stand for the one skip of a claim's timed steps.
        stored = self.conn.execute(
            "SELECT 1 FROM skips WHERE claim_id = ? AND cause = ? "
            "AND reference IS ? AND detail NOT LIKE ? LIMIT 1",
            (claim_id, cause, reference, f"{WITHHELD} %"),
        ).fetchone()
        if stored:
            return
        self._pending.append(
            (
                as_of.isoformat(),
                claim_id,
                work.row["customer_id"],
                cause,
                reference,
                detail,
            )
        )
        log.debug("claim %s skipped: %s", claim_id, detail)


AGEING_ATTRIBUTES = frozenset(
    {
        ("claim", "days_overdue"),
        ("claim", "overdue_amount"),
        ("customer", "days_since_oldest_unpaid"),
        ("customer", "overdue_claims"),
    }
)
"""Attributes whose value changes with the as-of date alone."""

ON_SCHEDULE = object()
"""Parked claims that keep the next check their timers give them."""


def _overdue(work: Any) -> bool:
    """True when the claim's due date (under a plan: the earliest unpaid
    instalment's) has passed."""
    return bool(work.facts["claim"]["days_overdue"] > 0)


# ---- explaining ----------------------------------------------------------------


def timeline_of(conn: sqlite3.Connection, claim_id: str) -> list[tuple[str, str, str]]:
    """Holds set and released, and skips, of one claim: (date, kind, text)."""
    entries: list[tuple[str, str, str]] = []
    for hold in holds_of(conn, claim_id=claim_id):
        entries.append(
            (hold.starts.isoformat(), "hold", f"hold {hold.id} set: {hold.describe()}")
        )
        if hold.released_on is not None:
            note = f": {hold.release_note}" if hold.release_note else ""
            text = f"hold {hold.id} released by {hold.released_by}{note}"
            entries.append((hold.released_on.isoformat(), "hold", text))
    for skip in skips_of(conn, claim_id=claim_id):
        run = f"  [run {skip.run_id}]" if skip.run_id else ""
        text = f"skipped ({skip.cause.replace('_', ' ')}): {skip.detail}{run}"
        entries.append((skip.as_of.isoformat(), "skip", text))
    return entries


def explain_treatment(runner: Any, claim: dict[str, Any], as_of: dt.date) -> list[str]:
    """Plain sentences on what keeps an open claim out of dunning on `as_of`:
    a hold, an exclusion rule, a customer credit, a small balance."""
    conn, policy = runner.store.conn, runner.policy
    if claim["settled_on"] or claim["state"] is None:
        return []
    holds = holds_of(conn, claim_id=claim["id"])
    hold = active_hold(holds, as_of)
    if hold is not None:
        until = f"until {hold.until}" if hold.until else "until someone releases it"
        wait = policy.resume_wait_days
        after = (
            f"after the hold it waits {wait} more days before its next timed step"
            if wait
            else "after the hold its timers continue; the days held do not count "
            "as days in a state"
        )
        return [
            f"on hold since {hold.starts}, set by {hold.set_by}: {hold.reason}; "
            f"{until} (hold {hold.id} on {hold.target}).",
            "while held it takes no timed step, measure or fee; payments and "
            "events still apply and move it, without the measures of their "
            f"rules; {after}.",
        ]

    wait = policy.resume_wait_days
    ends = [h.ends() for h in holds if h.ends() is not None]
    resumes = max(
        (day for day in ends if day is not None and day <= as_of), default=None
    )
    notes: list[str] = []
    if wait and resumes is not None and as_of < resumes + dt.timedelta(days=wait):
        notes.append(
            f"its hold ended on {resumes}; after a hold the policy waits {wait} "
            f"days, so no timed step before {resumes + dt.timedelta(days=wait)}."
        )

    work = runner.work_for(
        claim, runner.customer_facts(claim["customer_id"], as_of), as_of
    )
    for exclusion in policy.exclusions:
        found = matching_exclusion(
            [(exclusion.reason, compile_guard(exclusion.guard))], work.facts
        )
        if found is None:
            continue
        rule = policy.source_line(exclusion.span.line) if exclusion.span.line else ""
        where = f" (line {exclusion.span.line}: {rule})" if rule else ""
        values = f"; it read {found[1]}" if found[1] else ""
        notes.append(
            f"excluded from dunning by the policy{where}: {exclusion.reason}{values}."
        )
        notes.append("it takes no step and no measure, and stays in reports.")
        return notes

    if policy.small_balance is not None and _overdue(work):
        found_small = small_balance(policy.small_balance, work.open_amount)
        if found_small is not None:
            _, _, write_off = found_small
            limit = policy.small_balance.limit
            notes.append(
                f"small balance: the open {work.open_amount} is below the limit of "
                f"{limit}; "
                + (
                    "the next run writes it off."
                    if write_off
                    else "dunning has stopped; the claim stays open."
                )
            )
            return notes

    # Under a payment plan with nothing overdue (engine/plans.py).
    planned = waiting_note(conn, claim, as_of)
    if planned:
        return notes + planned

    measures = tuple(policy.measures)
    covered = covering_credit(
        conn, policy, claim["customer_id"], work.open_amount, measures
    )
    if covered is not None:
        notes.append(
            f"{covered[1]}; until then it gets no letter, e-mail, call or agency "
            f"(credits {covered[0]})."
        )
    return notes


__all__ = [
    "EXPIRED",
    "WITHHELD",
    "explain_treatment",
    "timeline_of",
    "SKIP_CAUSES",
    "Hold",
    "HoldError",
    "Skip",
    "Treatment",
    "Verdict",
    "active_hold",
    "expire_holds",
    "holds_in_force",
    "holds_of",
    "release_hold",
    "set_hold",
    "skips_of",
]
