"""Import customers, claims, payments and events from CSV or JSON into the store.

An import is all or nothing: every row of the file is checked first (values,
references, changes to rows a run has already applied) and only a file without
a single bad row is written, in one transaction. Every problem of every row is
reported; a check that needs several values runs when each of them is right.
Rows are matched by id, so importing the same file twice changes nothing; a
changed value is updated and recorded in `audit_changes`.

`check_file` reads and checks a file without a database; `apply_import` writes
what it found; `import_file` does both. Problems come back as `ImportFailed`
carrying `Problem` records; this module never prints.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from decimal import Decimal

from attrs import define, field, frozen

from .mapping import (
    HAS_ATTRIBUTES,
    KINDS,
    SINGULAR,
    BadValue,
    ImportFailed,
    Mapping,
    Problem,
    fail,
    gc_paused,
    native_table,
    quote,
    too_precise,
)
from .measures import round_money
from .reading import (
    SLOW,
    Extra,
    Source,
    Step,
    check_path,
    column_text,
    file_format,
    plan_columns,
    precision_problems,
    read_source,
)
from .store import Store

__all__ = [
    "ImportFailed",
    "ImportResult",
    "Prepared",
    "Problem",
    "apply_import",
    "check_file",
    "import_file",
]

log = logging.getLogger(__name__)

ACTOR = "import"
_CHUNK = 50_000  # ids per lookup query, passed as one JSON array


@frozen
class ImportResult:
    """What an import of one kind of data did, counted by distinct id;
    `repeated` counts rows that repeated an earlier row of the file exactly."""

    kind: str
    file: str
    new: int
    changed: int
    unchanged: int
    repeated: int = 0

    @property
    def total(self) -> int:
        """Distinct rows imported: new, changed and unchanged together."""
        return self.new + self.changed + self.unchanged


# ---- checking rows ----------------------------------------------------------

Values = tuple[str | None, ...]
Attributes = dict[str, str | None]
_Record = tuple[int, int | None, Values, Attributes | None]  # line, item, ...
_Flawed = tuple[_Record, frozenset[str]]  # a row with a problem, its wrong fields
_NO_ATTRIBUTES: Attributes = {}  # shared by the rows of a file without extras


@define
class _Checked:
    """The rows of one kind, checked one by one and against each other.

    `records` holds the rows without a problem by id (the first of rows that
    repeat); `flawed` the rows with a problem, with the fields whose own value
    is wrong, kept so that their other values are checked against the store
    too; `seen` holds every id of the file, so a bad row causes no second
    problem in a later kind that refers to it.
    """

    kind: str
    file: str
    fields: tuple[str, ...]
    columns: tuple[str, ...]
    records: dict[str, _Record] = field(factory=dict)
    flawed: list[_Flawed] = field(factory=list)
    seen: set[str] = field(factory=set)
    repeated: int = 0

    def problem(
        self, record: _Record, name: str, value: object, message: str
    ) -> Problem:
        """A problem in a row, at the column that feeds a field."""
        line, item, _, _ = record
        column = self.columns[self.fields.index(name)]
        return Problem(self.file, message, line, column, str(value), None, item)


@define
class Prepared:
    """A file read and checked row by row, ready to compare with the store;
    `warnings` do not stop the import."""

    file: str
    checked: list[_Checked]
    problems: list[Problem]
    warnings: list[Problem]


def check_file(
    path: str,
    kinds: Sequence[str],
    mapping: Mapping | None = None,
    form: str | None = None,
) -> Prepared:
    """Read a file and check every row for the given kinds, without a database.

    Raises ImportFailed for a file that cannot be read at all (missing, empty,
    wrong encoding, no column for a required field); problems of single rows
    are collected in the result, so that `apply_import` reports them together
    with those only the store can reveal.
    """
    check_path(path)
    if mapping is None:
        tables = {kind: native_table(kind) for kind in kinds}
    elif missing := [kind for kind in kinds if kind not in mapping.tables]:
        described = ", ".join(mapping.tables)
        raise fail(mapping.source, f"has no [{missing[0]}] table, only {described}")
    else:
        tables = {kind: mapping.tables[kind] for kind in kinds}

    sources: dict[tuple[str, str, str], Source] = {}
    prepared = Prepared(path, [], [], [])
    for kind in (kind for kind in KINDS if kind in tables):
        table = tables[kind]
        chosen = file_format(path, form, table)
        read_as = (chosen, table.encoding, table.delimiter)
        with gc_paused():
            if read_as not in sources:
                sources[read_as] = read_source(path, table, chosen)
                prepared.problems.extend(sources[read_as].problems)
            source = sources[read_as]

            try:
                steps, extras = plan_columns(source, table, prepared.warnings)
            except ImportFailed as failure:
                found = in_file_order(prepared.problems)
                raise ImportFailed([*failure.problems, *found]) from None
            checked = _check_rows(source, kind, steps, extras, prepared.problems)
        prepared.checked.append(checked)
        log.debug("checked %s as %s: %s ids", path, kind, len(checked.records))
    return prepared


def in_file_order(problems: Iterable[Problem]) -> list[Problem]:
    """Problems of the whole file first, then by row and item; the problems of
    one row keep the order they were found in (column by column)."""
    return sorted(problems, key=lambda p: (p.row is not None, p.row or 0, p.item or 0))


def _check_rows(
    source: Source,
    kind: str,
    steps: list[Step],
    extras: list[Extra],
    problems: list[Problem],
) -> _Checked:
    """Check each row on its own and against earlier rows with the same id.

    Every value is checked, whatever else is wrong with its row; a check of
    several values (a due date against the issue date, an amount against the
    currency, an id repeated with other values) leaves out the values found
    wrong. Works a column at a time: a million rows take seconds, not minutes.
    """
    file, singular, rows = source.file, SINGULAR[kind], source.rows
    names = tuple(step.field.name for step in steps)
    checked = _Checked(kind, file, names, tuple(step.column for step in steps))
    lines, items = [row[0] for row in rows], [row[1] for row in rows]
    flagged: set[int] = set()
    wrong: dict[int, set[str]] = {}  # by row: the fields whose own value is wrong
    found: list[Problem] = []

    def bad(at: int, column: str, value: str, message: str, name: str = "") -> None:
        flagged.add(at)
        if name:
            wrong.setdefault(at, set()).add(name)
        found.append(Problem(file, message, lines[at], column, value, None, items[at]))

    columns: list[list[object]] = []
    for step in steps:
        if step.index < 0:
            columns.append([step.value] * len(rows))
            continue
        raw = column_text(rows, step.index, step.translate)
        seen = getattr(step.parse, "seen", None)  # dates and currencies remember
        if seen is not None and step.parse is not None:
            for text in set(raw) - seen.keys() - {""}:
                with suppress(BadValue):
                    step.parse(text)
        values = step.fast(raw)

        slow = (
            [at for at, v in enumerate(values) if v is SLOW] if SLOW in values else []
        )
        outcome: dict[str, str | BadValue] = {}
        for text in {raw[at] for at in slow} - {""}:
            try:
                outcome[text] = step.parse(text)  # type: ignore[misc]
            except BadValue as error:
                outcome[text] = error
        name = step.field.name
        for at in slow:
            result = outcome.get(raw[at])
            values[at] = result if isinstance(result, str) else None
            if result is None:
                needs = f"is empty, but every {singular} needs {step.field.what}"
                bad(at, step.column, "", needs, name)
            elif not isinstance(result, str):
                bad(at, step.column, raw[at], str(result), name)
        columns.append(values)

    attributes: list[Attributes | None] = [None] * len(rows)
    if kind in HAS_ATTRIBUTES:
        attributes = [_NO_ATTRIBUTES] * len(rows)
    if extras:
        kept = []
        for extra in extras:
            raw = column_text(rows, extra.index, extra.translate)
            name = f"attributes.{extra.key}"
            for at, text in enumerate(raw) if extra.parse else ():
                try:
                    raw[at] = extra.parse(text) if text else text  # type: ignore[misc]
                except BadValue as error:
                    bad(at, extra.column, text, str(error), name)
            kept.append([text or None for text in raw])
        keys = [extra.key for extra in extras]
        attributes = [
            dict(zip(keys, values, strict=True)) for values in zip(*kept, strict=True)
        ]

    records: list[Values] = list(zip(*columns, strict=True))  # type: ignore[arg-type]
    named = dict(zip(names, columns, strict=True))
    for at, name, message in precision_problems(kind, named):
        value = str(named[name][at])
        bad(at, checked.columns[names.index(name)], value, message, name)
    for at, name, message in _row_problems(kind, named):
        if name in wrong.get(at, ()):
            continue  # its own value is wrong: said once is enough
        if name not in named:  # a field the file has no column for
            bad(at, name, "", message)
            continue
        bad(at, checked.columns[names.index(name)], str(named[name][at]), message)

    ids = columns[0]
    checked.seen = {identity for identity in ids if identity}  # type: ignore[misc]
    if not flagged and len(checked.seen) == len(rows):
        rows_of = zip(lines, items, records, attributes, strict=True)
        checked.records = dict(zip(ids, rows_of, strict=True))  # type: ignore[arg-type]
        return checked

    first_of: dict[str, int] = {}
    for at, own in enumerate(records):
        identity = own[0]
        record: _Record = (lines[at], items[at], own, attributes[at])
        first = at if identity is None else first_of.setdefault(identity, at)
        if first != at:
            earlier = (lines[first], items[first], records[first], attributes[first])
            skip = wrong.get(first, set()) | wrong.get(at, set())
            difference = _first_difference(checked, earlier, record, skip)
            if difference is None:
                checked.repeated += 1
                continue
            where = f"row {earlier[0]}" if earlier[1] is None else f"item {earlier[1]}"
            message = f"{quote(str(identity))} appears again with other values (first "
            message += f"on {where}{difference}); an id may appear only once, or again "
            bad(at, steps[0].column, str(identity), message + "with the same values")
        if at in flagged:
            checked.flawed.append((record, frozenset(wrong.get(at, ()))))
        else:
            checked.records[str(identity)] = record

    # The problems of a row read from left to right, as the row does.
    place = {name: number for number, name in enumerate(source.header)}
    found.sort(key=lambda p: (p.row or 0, p.item or 0, place.get(p.column or "", -1)))
    problems += found
    return checked


def _row_problems(
    kind: str, named: dict[str, list[object]]
) -> Iterable[tuple[int, str, str]]:
    """What is wrong with rows whose values are each right: (row, field, message)."""
    count = len(next(iter(named.values())))
    nothing = [None] * count

    if kind == "claims":
        issued, due = named["issue_date"], named["due_date"]
        pairs = zip(issued, due, strict=True)
        for at in [at for at, (i, d) in enumerate(pairs) if i and d and d < i]:  # type: ignore[operator]
            message = f"{quote(str(due[at]))} is before the issue date {issued[at]}; "
            yield (
                at,
                "due_date",
                message + "a claim cannot fall due before it is issued",
            )

    if kind == "events":
        claims = named.get("claim_id", nothing)
        owners = zip(claims, named.get("customer_id", nothing), strict=True)
        name = "claim_id" if "claim_id" in named else "customer_id"
        for at in [at for at, pair in enumerate(owners) if not any(pair)]:
            message = "is empty, and so is the customer; every event needs a claim or "
            yield at, name, message + "a customer"
        happened, until = named["happened_on"], named.get("until", nothing)
        pairs = zip(happened, until, strict=True)
        for at in [at for at, (h, u) in enumerate(pairs) if h and u and u < h]:  # type: ignore[operator]
            message = f"{quote(str(until[at]))} is before the day of the event "
            yield (
                at,
                "until",
                message + f"{happened[at]}; an event cannot end before it happens",
            )
        yield from _promise_problems(named, until, nothing)
        for at, event in enumerate(named.get("kind", nothing)):
            other_way = _OTHER_WAY.get(str(event))
            if other_way:
                yield (
                    at,
                    "kind",
                    f"{quote(str(event))} is not imported as an "
                    + (f"event: {other_way}"),
                )


_PAYMENTS_FILE = "import it with the payments (`dunning import payments FILE`)"
_ENGINE_ADDS = "the engine adds it itself"
_OTHER_WAY = {
    "payment": f"a payment must reduce what is open; {_PAYMENTS_FILE}",
    "partial_payment": f"a payment must reduce what is open; {_PAYMENTS_FILE}",
    "credit_note": f"a credit note must reduce what is open; {_PAYMENTS_FILE} "
    "with kind credit_note",
    "promise_kept": f"{_ENGINE_ADDS} when the payments reach the promised amount",
    "promise_broken": f"{_ENGINE_ADDS} on the first run after the promise ends",
    "instalment_missed": f"{_ENGINE_ADDS} for a payment plan (`dunning plan`)",
    "agency_returned": f"{_ENGINE_ADDS} when an agency report is imported "
    "(`dunning agency import`)",
}
"""Event kinds that an events file may not carry, and the way they come."""


def _promise_problems(
    named: dict[str, list[object]],
    until: Sequence[object],
    nothing: Sequence[object],
) -> Iterable[tuple[int, str, str]]:
    """A promise to pay needs the day it runs until and a positive amount: a
    promise without them could never be judged kept or broken."""
    kinds, amounts = named.get("kind", nothing), named.get("amount", nothing)
    for at in [at for at, kind in enumerate(kinds) if kind == "promise_given"]:
        needs = (
            ("until", until[at], "the day the customer promised to pay by"),
            ("amount", amounts[at], "the amount the customer promised to pay"),
        )
        for name, value, what in needs:
            if name not in named:
                message = f"the file has no `{name}` column, but a promise_given "
                yield at, name, message + f"event needs {what}"
            elif value is None or value == "":
                yield at, name, f"is empty, but a promise_given event needs {what}"
            elif name == "amount" and Decimal(str(value)) <= 0:
                message = f"{quote(str(value))} is not more than zero; the amount "
                yield at, name, message + "of a promise must be positive"


def _first_difference(
    checked: _Checked, first: _Record, record: _Record, skip: set[str]
) -> str | None:
    """`, where `amount` is `10.00`, here `12.00``: the first value that differs
    between two rows, leaving out the fields in `skip`; None if none differs."""
    pairs = list(zip(checked.fields, checked.columns, first[2], record[2], strict=True))
    pairs += [
        (f"attributes.{k}", f"attribute {k}", (first[3] or {}).get(k), v)
        for k, v in (record[3] or {}).items()
    ]
    for name, column, old, new in pairs:
        if old != new and name not in skip:
            return f", where `{column}` is {quote(old or '')}, here {quote(new or '')}"
    return None


# ---- comparing with the store and writing -----------------------------------


@define
class _Batch:
    """The kinds checked earlier in the same import: a claim may refer to a
    customer of the same file, a payment to a claim of the same file."""

    customers: list[_Checked] = field(factory=list)
    claims: list[_Checked] = field(factory=list)


_Audit = tuple[str, str, str, str | None, str | None, str]  # table, id, field, ...
_Change = tuple[str, object, str | None]  # field, old value, new value
_CACHE_KIB = 256 * 1024  # SQLite page cache while importing: halves the write time


@define
class _Writes:
    """What an import of one kind will write once every kind has passed."""

    checked: _Checked
    inserts: list[tuple[object, ...]] = field(factory=list)
    updates: list[tuple[object, ...]] = field(factory=list)
    audits: list[_Audit] = field(factory=list)
    unchanged: int = 0


def apply_import(
    store: Store,
    prepared: Prepared,
    *,
    clock: Callable[[], dt.datetime] | None = None,
) -> list[ImportResult]:
    """Compare checked rows with the store and write them, in one transaction.

    Raises ImportFailed, having written nothing, when any row has a problem:
    one found by `check_file`, or one only the store reveals (unknown customers
    and claims, changes to rows a run has already applied).
    """
    problems = list(prepared.problems)
    results = []
    conn = store.conn
    cache = conn.execute("PRAGMA cache_size").fetchone()[0]
    conn.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")

    try:
        with gc_paused(), store.transaction():
            batch = _Batch()
            writes = [_compare(conn, one, batch, problems) for one in prepared.checked]
            if problems:
                problems = in_file_order(problems)
                log.info(
                    "import of %s refused: %s problems", prepared.file, len(problems)
                )
                raise ImportFailed(problems)

            now = (clock() if clock else dt.datetime.now(dt.UTC)).isoformat(
                timespec="seconds"
            )
            for write in writes:
                _write(conn, write, now)
                checked = write.checked
                counts = (len(write.inserts), len(write.updates), write.unchanged)
                result = ImportResult(
                    checked.kind, checked.file, *counts, checked.repeated
                )
                results.append(result)
                done = "imported %s as %s: %s new, %s changed, %s unchanged"
                log.info(done, checked.file, checked.kind, *counts)
    finally:
        conn.execute(f"PRAGMA cache_size = {cache}")
    return results


def import_file(
    store: Store,
    kind: str,
    path: str,
    *,
    mapping: Mapping | None = None,
    form: str | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> ImportResult:
    """Import one kind of data from a file; see `check_file` and `apply_import`."""
    return apply_import(store, check_file(path, [kind], mapping, form), clock=clock)[0]


def _fetch(
    conn: sqlite3.Connection, table: str, columns: Sequence[str], ids: Iterable[str]
) -> dict[str, tuple[object, ...]]:
    """The rows of a table with these ids, looked up many at a time."""
    wanted = list(ids)
    if not wanted or not conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone():
        return {}

    select = f"SELECT id, {', '.join(columns) or 'id'} FROM {table} "
    select += "WHERE id IN (SELECT value FROM json_each(?))"
    found: dict[str, tuple[object, ...]] = {}
    for start in range(0, len(wanted), _CHUNK):
        for row in conn.execute(select, (json.dumps(wanted[start : start + _CHUNK]),)):
            found[row[0]] = row[1:]
    return found


def _compare(
    conn: sqlite3.Connection, checked: _Checked, batch: _Batch, problems: list[Problem]
) -> _Writes:
    """Sort the rows into new, changed and unchanged, and find the problems only
    the store can reveal."""
    kind, fields, file = checked.kind, checked.fields, checked.file
    write = _Writes(checked)
    kept = {"customers": ("attributes",), "claims": ("attributes", "open_amount")}.get(
        kind, ("applied_run",)
    )
    flawed = [(record, bad) for record, bad in checked.flawed if record[2][0]]
    wanted = [*checked.records, *(str(record[2][0]) for record, _ in flawed)]
    existing = _fetch(conn, kind, (*fields[1:], *kept), wanted)
    _check_references(conn, checked, batch, problems)
    if kind == "payments":
        _check_credit_notes(conn, checked, batch, problems)

    fresh = [r for key, r in checked.records.items() if key not in existing]
    amount_at = fields.index("amount") if kind == "claims" else 0
    if kind == "claims":
        write.inserts = [(*r, _json(a), r[amount_at], 1) for _, _, r, a in fresh]
    elif kind in HAS_ATTRIBUTES:
        write.inserts = [(*r, _json(a)) for _, _, r, a in fresh]
    else:
        write.inserts = [r for _, _, r, _ in fresh]

    amounts = {
        at for at, name in enumerate(fields) if name in ("amount", "credit_limit")
    }
    width = len(fields) - 1
    new_currency: list[tuple[_Record, str]] = []
    for identity, found in checked.records.items():
        line, _, record, attributes = found
        old = existing.get(identity) if existing else None
        if old is None:
            continue
        if not attributes and record[1:] == old[:width]:
            write.unchanged += 1
            continue

        stored = dict(zip(kept, old[width:], strict=True))
        row: tuple[object, ...] = record[1:]
        changes = _differences(fields, record, old, amounts)
        if attributes is not None:
            merged = json.loads(str(stored["attributes"] or "{}"))
            for key, value in attributes.items():
                if merged.get(key) != value:
                    changes.append((f"attributes.{key}", merged.get(key), value))
                    merged[key] = value
            row += (_json(merged),)
        if not changes:
            write.unchanged += 1
            continue

        if kind == "claims":
            row += (_open_amount(checked, found, stored, changes, problems),)
        _refuse_changes(checked, found, stored, changes, new_currency, problems)
        write.updates.append((*row, identity))
        source = f"{file}:{line}"
        write.audits += [
            (kind, identity, n, _text(b), a, source) for n, b, a in changes
        ]

    # A row with a problem of its own is not written, but the changes its right
    # values would make are checked all the same.
    for found, bad in flawed:
        old = existing.get(str(found[2][0])) if existing else None
        if old is None:
            continue
        stored = dict(zip(kept, old[width:], strict=True))
        changes = _differences(fields, found[2], old, amounts)
        changes = [change for change in changes if change[0] not in bad]
        if kind == "claims":
            _open_amount(checked, found, stored, changes, problems)
        _refuse_changes(checked, found, stored, changes, new_currency, problems)

    _refuse_new_currency(conn, checked, new_currency, problems)
    if kind == "claims":
        _check_credited(conn, checked, problems)
    return write


def _check_credited(
    conn: sqlite3.Connection, checked: _Checked, problems: list[Problem]
) -> None:
    """A claim's amount is at least what its credit notes take off, applied by
    a run or not: a credit note takes off at most what was invoiced."""
    amount_at = checked.fields.index("amount")
    credited: dict[str, Decimal] = {}
    for claim, amount in conn.execute(
        "SELECT claim_id, amount FROM payments WHERE kind = 'credit_note' "
        "AND claim_id IN (SELECT value FROM json_each(?))",
        (json.dumps(sorted(checked.records)),),
    ):
        credited[claim] = credited.get(claim, Decimal(0)) + Decimal(amount)
    column = checked.columns[amount_at]
    flagged = {(p.row, p.column) for p in problems}
    for claim, total in sorted(credited.items()):
        found = checked.records[claim]
        text = str(found[2][amount_at])
        if (found[0], column) in flagged:
            continue  # already below what was paid or credited
        if Decimal(text) < total:
            message = f"{quote(text)} is less than the {total} credited on claim "
            message += f"{quote(claim)}; a credit note takes off at most what was "
            message += "invoiced"
            problems.append(checked.problem(found, "amount", text, message))


def _refuse_changes(
    checked: _Checked,
    found: _Record,
    stored: dict[str, object],
    changes: list[_Change],
    new_currency: list[tuple[_Record, str]],
    problems: list[Problem],
) -> None:
    """Refuse any change to a payment or event a run has applied; note a claim
    whose currency or customer changes (refused once it is being dunned)."""
    kind, identity = checked.kind, str(found[2][0])
    if kind == "claims":
        new_currency += [
            (found, name) for name, _, _ in changes if name in _FIXED_CLAIM_FIELDS
        ]
        return
    if stored.get("applied_run") is None:
        return

    run, singular = stored["applied_run"], SINGULAR[kind]
    for name, before, after in changes:
        message = f"{quote(after or '')} would change {singular} {quote(identity)} "
        message += f"(now {quote(_text(before) or '')}), which run {run} has "
        message += f"already applied; record a correction as a new {singular}"
        problems.append(checked.problem(found, name, after or "", message))


def _json(attributes: Attributes | None) -> str:
    return json.dumps(attributes, ensure_ascii=False) if attributes else "{}"


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _differences(
    fields: tuple[str, ...], record: Values, old: tuple[object, ...], amounts: set[int]
) -> list[_Change]:
    """The fields whose value differs from the stored one; amounts compare by
    value, so `60.5` and `60.50` are the same amount."""
    changes = []
    for at in range(1, len(fields)):
        new, before = record[at], old[at - 1]
        if new == before or (not new and not before):
            continue
        if at in amounts and new and before and Decimal(new) == Decimal(str(before)):
            continue
        changes.append((fields[at], before, new))
    return changes


def _open_amount(
    checked: _Checked,
    found: _Record,
    stored: dict[str, object],
    changes: list[_Change],
    problems: list[Problem],
) -> object:
    """The open amount after a change of the claim amount: it moves by the same
    difference, since the payments already applied stay applied."""
    open_amount = stored["open_amount"]
    amount = [change for change in changes if change[0] == "amount"]
    if not amount:
        return open_amount

    _, before, after = amount[0]
    old, left = Decimal(str(before)), Decimal(str(open_amount))
    moved = left + Decimal(str(after)) - old
    if moved < 0:
        message = f"{quote(str(after))} is less than the {old - left} already paid "
        message += f"or credited on claim {quote(str(found[2][0]))}; record a credit "
        message += "note instead"
        problems.append(checked.problem(found, "amount", str(after), message))
    changes.append(("open_amount", open_amount, str(moved)))
    return str(moved)


_FIXED_CLAIM_FIELDS = {"currency": "currency", "customer_id": "customer"}
"""Fields of a claim that stay as they are once the claim is being dunned."""


def _refuse_new_currency(
    conn: sqlite3.Connection,
    checked: _Checked,
    claims: list[tuple[_Record, str]],
    problems: list[Problem],
) -> None:
    """A claim keeps its currency and its customer once the engine has taken it
    on (it has a state) or it has payments or charges: they are in its currency
    and booked to its customer."""
    if not claims:
        return
    wanted = json.dumps(sorted({str(found[2][0]) for found, _ in claims}))
    inside = "IN (SELECT value FROM json_each(?))"
    why: dict[str, str] = {}
    queries = (
        (
            "payments booked",
            f"SELECT DISTINCT claim_id FROM payments WHERE claim_id {inside}",
        ),
        (
            "charges booked",
            f"SELECT DISTINCT claim_id FROM charges WHERE claim_id {inside}",
        ),
        ("", f"SELECT id FROM claims WHERE state IS NOT NULL AND id {inside}"),
    )
    for reason, select in queries:
        for (identity,) in conn.execute(select, (wanted,)):
            why.setdefault(identity, reason)
    stored = {
        row[0]: row[1:]
        for row in conn.execute(
            f"SELECT id, currency, customer_id FROM claims WHERE id {inside}",
            (wanted,),
        )
    }

    ordered = sorted(claims, key=lambda item: (item[0][0], item[0][1] or 0))
    for found, name in ordered:
        identity = str(found[2][0])
        if identity not in why:
            continue
        value = str(found[2][checked.fields.index(name)] or "")
        currency, customer = stored[identity]
        booked = f" with {why[identity]}" if why[identity] else ""
        message = f"claim {quote(identity)} is being dunned in {currency} for "
        message += f"customer {quote(customer)}{booked}; "
        if name == "currency":
            message += "a claim's currency cannot change — credit it and issue a "
            message += "new one"
        else:
            message += "a claim cannot move to another customer — credit it and "
            message += "issue a new one to the right customer"
        problems.append(checked.problem(found, name, value, message))


def _check_references(
    conn: sqlite3.Connection, checked: _Checked, batch: _Batch, problems: list[Problem]
) -> None:
    """Every claim has a known customer, every payment and event a known claim
    (in the store, or imported with it); a payment is in its claim's currency,
    an event of a claim and a customer names the claim's customer, and its
    amount fits the claim's currency. Rows with a problem of their own are
    checked too, by the values they have right."""
    kind, fields = checked.kind, checked.fields
    records = [*checked.records.values(), *(found for found, _ in checked.flawed)]
    amount_at = (
        fields.index("amount") if kind == "events" and "amount" in fields else None
    )
    customer_at = fields.index("customer_id") if "customer_id" in fields else None
    claim_at = fields.index("claim_id") if "claim_id" in fields else None
    missing: set[str] = set()
    if customer_at is not None:
        known: set[str] = set().union(*(earlier.seen for earlier in batch.customers))
        wanted = _referred(records, customer_at) - known
        missing = wanted - _fetch(conn, "customers", (), wanted).keys()
    claims = {}
    if claim_at is not None:
        claims = _claim_facts(conn, batch, _referred(records, claim_at))

    if kind == "customers":
        batch.customers.append(checked)
    if kind == "claims":
        batch.claims.append(checked)
    if not missing and claim_at is None:
        return

    for found in records:
        record = found[2]
        customer = record[customer_at] if customer_at is not None else None
        claim = record[claim_at] if claim_at is not None else None
        if customer in missing:
            message = (
                f"{quote(str(customer))} is not a known customer: it is neither in "
            )
            message += "the database nor among the customers of this import"
            problems.append(checked.problem(found, "customer_id", customer, message))
        if not claim:
            continue
        if claim not in claims:
            message = f"{quote(claim)} is not a known claim: it is neither in the "
            message += "database nor among the claims of this import"
            problems.append(checked.problem(found, "claim_id", claim, message))
            continue
        currency, owner = claims[claim]
        mine = record[fields.index("currency")] if kind == "payments" else None
        if mine and currency and mine != currency:
            message = f"{quote(mine)} is not the currency of claim {quote(claim)} "
            message += f"({currency}); a payment must be in it"
            problems.append(checked.problem(found, "currency", mine, message))
        if kind == "events" and customer and owner and customer != owner:
            message = f"{quote(customer)} is not the customer of claim {quote(claim)} "
            message += f"({owner})"
            problems.append(checked.problem(found, "customer_id", customer, message))
        amount = record[amount_at] if amount_at is not None else None
        fits = too_precise(amount, str(currency)) if amount and currency else None
        if amount and fits:
            problems.append(checked.problem(found, "amount", amount, fits))
        kind_at = fields.index("kind") if kind == "events" else None
        if amount and kind_at is not None and record[kind_at] == "promise_given":
            given = record[fields.index("happened_on")]
            owed = _still_owed(conn, str(claim), str(given)) if given else None
            if owed is not None and Decimal(str(amount)) > owed:
                message = f"{quote(str(amount))} is more than claim {quote(claim)} "
                message += f"still owes ({owed} {currency}) on {given}, the day of "
                message += "the promise; a promise can be at most the open amount"
                problems.append(checked.problem(found, "amount", amount, message))


def _check_credit_notes(
    conn: sqlite3.Connection, checked: _Checked, batch: _Batch, problems: list[Problem]
) -> None:
    """A credit note takes off at most what its claim's amount leaves after the
    credit notes before it, stored or earlier in the file: it reduces what was
    invoiced, never charges. A row of a file without a `kind` column keeps the
    kind it is stored with (a new one is a payment)."""
    fields = checked.fields
    at = {name: fields.index(name) for name in ("id", "claim_id", "amount")}
    mine = set(checked.records)
    stored_kinds = _fetch(conn, "payments", ("kind",), mine)

    def kind_of(found: _Record) -> object:
        if "kind" in fields:
            return found[2][fields.index("kind")]
        return stored_kinds.get(str(found[2][at["id"]]), ("payment",))[0]

    notes = sorted(
        (
            found
            for found in checked.records.values()
            if kind_of(found) == "credit_note"
        ),
        key=lambda found: (found[0], found[1] or 0),
    )
    if not notes:
        return
    claims = {str(found[2][at["claim_id"]]) for found in notes}
    invoiced = _claim_amounts(conn, batch, claims)
    credited: dict[str, Decimal] = {}
    for claim, identity, amount in conn.execute(
        "SELECT claim_id, id, amount FROM payments WHERE kind = 'credit_note' "
        "AND claim_id IN (SELECT value FROM json_each(?))",
        (json.dumps(sorted(claims)),),
    ):
        if identity not in mine:  # a row of this file stands for its stored one
            credited[claim] = credited.get(claim, Decimal(0)) + Decimal(amount)
    for found in notes:
        claim, text = str(found[2][at["claim_id"]]), str(found[2][at["amount"]])
        amount, total = Decimal(text), invoiced.get(claim)
        if total is None:
            continue  # an unknown claim is a problem of its own
        before = credited.get(claim, Decimal(0))
        if amount > total - before:
            message = f"{quote(text)} is more than claim {quote(claim)} can still "
            message += f"be credited ({total - before}: its amount {total}"
            message += f" less {before} credited before)" if before else ")"
            message += "; a credit note takes off at most what was invoiced"
            problems.append(checked.problem(found, "amount", text, message))
        credited[claim] = before + amount


def _claim_amounts(
    conn: sqlite3.Connection, batch: _Batch, wanted: set[str]
) -> dict[str, Decimal]:
    """The amounts of the claims with these ids, from the claims of the same
    import or from the store; left out where a claim row has it wrong."""
    amounts: dict[str, Decimal] = {}
    for earlier in batch.claims:
        amount_at = earlier.fields.index("amount")
        for claim in wanted & earlier.records.keys():
            amounts[claim] = Decimal(str(earlier.records[claim][2][amount_at]))
    stored = _fetch(conn, "claims", ("amount",), wanted - amounts.keys())
    for claim, (amount,) in stored.items():
        amounts[claim] = Decimal(str(amount))
    return amounts


def _still_owed(conn: sqlite3.Connection, claim: str, day: str) -> Decimal | None:
    """What a stored claim still owes on `day`: its open amount less the
    payments recorded but not yet applied that are dated on or before that day
    (as `dunning promise` counts it); None for a claim not stored yet."""
    row = conn.execute(
        "SELECT open_amount, currency FROM claims WHERE id = ?", (claim,)
    ).fetchone()
    if row is None:
        return None
    owed = Decimal(str(row[0]))
    for (amount,) in conn.execute(
        "SELECT amount FROM payments WHERE claim_id = ? AND applied_run IS NULL "
        "AND paid_on <= ?",
        (claim, day),
    ):
        owed -= Decimal(amount)
    return round_money(max(owed, Decimal(0)), str(row[1]))


def _referred(records: list[_Record], at: int) -> set[str]:
    """The ids a column refers to."""
    return {str(r[2][at]) for r in records if r[2][at] is not None}


def _claim_facts(
    conn: sqlite3.Connection, batch: _Batch, wanted: set[str]
) -> dict[str, tuple[object, object]]:
    """The currency and customer of the claims with these ids, from the claims
    of the same import or from the store; None for a value a claim row has
    wrong."""
    facts: dict[str, tuple[object, object]] = {}
    for earlier in batch.claims:
        currency_at = earlier.fields.index("currency")
        owner_at = earlier.fields.index("customer_id")
        flawed = {
            str(found[2][0]): (found, bad)
            for found, bad in earlier.flawed
            if found[2][0]
        }
        for claim in wanted & earlier.seen:
            if claim in earlier.records:
                values = earlier.records[claim][2]
                facts[claim] = (values[currency_at], values[owner_at])
            elif claim in flawed:  # a claim row with a problem: its right values
                found, bad = flawed[claim]
                given = None if "currency" in bad else found[2][currency_at]
                facts[claim] = (given, found[2][owner_at])
            else:
                facts[claim] = (None, None)
    columns = ("currency", "customer_id")
    for claim, (currency, owner) in _fetch(
        conn, "claims", columns, wanted - facts.keys()
    ).items():
        facts[claim] = (currency, owner)
    return facts


def _write(conn: sqlite3.Connection, write: _Writes, recorded_at: str) -> None:
    """Insert the new rows, update the changed ones, audit every changed field and
    mark the claims the daily run must look at again."""
    kind = write.checked.kind
    columns = list(write.checked.fields)
    if kind in HAS_ATTRIBUTES:
        columns.append("attributes")
    if kind == "claims":
        columns += ["open_amount", "changed"]

    if write.inserts:
        marks = ", ".join("?" * len(columns))
        insert = f"INSERT INTO {kind} ({', '.join(columns)}) VALUES ({marks})"
        conn.executemany(insert, write.inserts)

    if write.updates:
        assigned = [f"{name} = ?" for name in columns[1:] if name != "changed"]
        assigned += ["changed = 1"] if kind == "claims" else []
        update = f"UPDATE {kind} SET {', '.join(assigned)} WHERE id = ?"
        conn.executemany(update, write.updates)
        audit = "INSERT INTO audit_changes (recorded_at, actor, table_name, row_id, "
        audit += "field, old_value, new_value, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        conn.executemany(audit, ((recorded_at, ACTOR, *row) for row in write.audits))

    if kind == "customers" and write.updates:
        # A changed customer may now fall into another dunning group.
        mark = "UPDATE claims SET changed = 1 WHERE customer_id = ? AND changed = 0"
        conn.executemany(mark, ((row[-1],) for row in write.updates))
