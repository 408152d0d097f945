"""Import customers, claims, payments and events from CSV or JSON into the store.

An import is all or nothing: every row of the file is checked first (values,
references, changes to rows a run has already applied) and only a file without
a single bad row is written, in one transaction. Rows are matched by id, so
importing the same file twice changes nothing; a changed value is updated and
recorded in `audit_changes`.

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
    FIELDS,
    HAS_ATTRIBUTES,
    KINDS,
    PLAIN_AMOUNT,
    PLAIN_POSITIVE_AMOUNT,
    RESERVED,
    SINGULAR,
    AmountParser,
    BadValue,
    DateParser,
    Field,
    FieldType,
    ImportFailed,
    Mapping,
    Problem,
    Row,
    Source,
    Table,
    attribute_key,
    check_path,
    did_you_mean,
    fail,
    file_format,
    gc_paused,
    native_table,
    one_of,
    parse_currency,
    quote,
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


@frozen
class _Step:
    """How one field of a row is filled: from a column, or a constant (index -1).
    `column` names the source column in messages."""

    field: Field
    column: str
    index: int
    value: str | None = None
    translate: dict[str, str] | None = None
    parse: Callable[[str], str] | None = None
    fast: Callable[[list[str]], list[object]] = lambda raw: list(raw)


@frozen
class _Extra:
    """An extra column kept as an attribute."""

    column: str
    key: str
    index: int
    translate: dict[str, str] | None
    parse: Callable[[str], str] | None


Values = tuple[str | None, ...]
Attributes = dict[str, str | None]
_Record = tuple[int, int | None, Values, Attributes | None]  # line, item, ...


@define
class _Checked:
    """The rows of one kind that passed the checks of a single row, by id;
    `seen` also holds the ids of bad rows, so they cause no second problem."""

    kind: str
    file: str
    fields: tuple[str, ...]
    columns: tuple[str, ...]
    records: dict[str, _Record] = field(factory=dict)
    seen: set[str] = field(factory=set)
    repeated: int = 0

    def problem(self, identity: str, name: str, value: object, message: str) -> Problem:
        """A problem in the row of an id, at the column that feeds a field."""
        line, item, _, _ = self.records[identity]
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

            steps, extras = _plan(sources[read_as], table, prepared.warnings)
            source = sources[read_as]
            checked = _check_rows(source, kind, steps, extras, prepared.problems)
        prepared.checked.append(checked)
        log.debug("checked %s as %s: %s ids", path, kind, len(checked.records))
    return prepared


def _plan(
    source: Source, table: Table, warnings: list[Problem]
) -> tuple[list[_Step], list[_Extra]]:
    """Match the fields and attributes of a table to the columns of a header."""
    kind, header, file = table.kind, source.header, source.file
    index = {name: number for number, name in enumerate(header)}
    dates = DateParser(table.date_format)
    amounts = AmountParser(table.decimal_separator, table.thousands_separator)
    problems: list[Problem] = []

    if table.native:
        columns = {f.name: f.name for f in FIELDS[kind] if f.name in index}
        problems += _missing_columns(file, kind, header)
    else:
        columns = dict(table.columns)
        for name, column in columns.items():
            if column not in index:
                message = f"column {quote(column)} is not in the header of {file}"
                message += did_you_mean(column, header)
                key = f"[{kind}] columns.{name}"
                problems.append(Problem(table.source or file, message, key=key))

    steps: list[_Step] = []
    for spec in FIELDS[kind]:
        parse = _parser(spec, dates, amounts, kind)
        if columns.get(spec.name) in index:
            column = columns[spec.name]
            translate = table.values.get(spec.name)
            fast = _fast_path(spec, parse, amounts)
            steps.append(
                _Step(spec, column, index[column], None, translate, parse, fast)
            )
        elif spec.name in table.constants:
            steps.append(_constant(spec, table, parse, problems))

    extras = _extras(source, table, set(columns.values()), dates, problems, warnings)
    if problems:
        raise ImportFailed(problems)
    return steps, extras


def _missing_columns(file: str, kind: str, header: Sequence[str]) -> list[Problem]:
    """The required columns a native file lacks."""
    problems = []
    hint = "; a mapping file can name another column (see docs/import.md)"
    marks = [mark for mark in ";\t|" if len(header) == 1 and mark in header[0]]
    if marks:
        mark = json.dumps(marks[0])
        message = f"the header is a single column, {quote(header[0])}; if {mark} "
        message += f"separates the columns, say so with `delimiter = {mark}` in "
        return [Problem(file, message + "a mapping file", row=1)]
    for spec in FIELDS[kind]:
        if spec.required and spec.name not in header:
            message = f"the header has no column `{spec.name}`, which every "
            message += f"{SINGULAR[kind]} needs{did_you_mean(spec.name, header)}{hint}"
            problems.append(Problem(file, message, row=1))
    if kind == "events" and "claim_id" not in header and "customer_id" not in header:
        message = "the header has neither `claim_id` nor `customer_id`; every event "
        problems.append(Problem(file, message + "needs one of them", row=1))
    return problems


def _constant(
    spec: Field,
    table: Table,
    parse: Callable[[str], str] | None,
    problems: list[Problem],
) -> _Step:
    """A field with one value for every row, checked once."""
    text = table.constants[spec.name].strip()
    value: str | None = text or spec.default
    if text and parse is not None:
        try:
            value = parse(text)
        except BadValue as error:
            key = f"[{table.kind}] constants.{spec.name}"
            problems.append(Problem(table.source or "", str(error), key=key))
    return _Step(spec, spec.name, -1, value=value)


def _extras(
    source: Source,
    table: Table,
    used: set[str],
    dates: DateParser,
    problems: list[Problem],
    warnings: list[Problem],
) -> list[_Extra]:
    """The extra columns kept as attributes, with their attribute names."""
    kind, file, header = table.kind, source.file, source.header
    singular, native = SINGULAR[kind], [f.name for f in FIELDS[kind]]
    required = {f.name for f in FIELDS[kind] if f.required} - set(header)
    wanted = [name for name in header if name not in used]
    if table.attributes is not None:
        wanted = [name for name in table.attributes if name in header]
    for name in {*(table.attributes or ()), *table.date_attributes} - set(header):
        message = f"column {quote(name)} is not in the header of {file}"
        message += did_you_mean(name, header)
        problems.append(
            Problem(table.source or file, message, key=f"[{kind}] attributes")
        )
    for name in table.values.keys() - set(native) - set(wanted):
        message = f"column {quote(name)} is not an attribute column of {file}"
        problems.append(Problem(table.source or file, message, key=f"[{kind}] values"))

    if kind not in HAS_ATTRIBUTES:
        for name in wanted if table.native else ():
            message = f"is not a {singular} field, and {kind} keep no attributes"
            message += did_you_mean(name, native)
            problems.append(Problem(file, message, row=1, column=name))
        return []

    extras: list[_Extra] = []
    owner: dict[str, str] = {}
    for name in wanted:
        key = attribute_key(name)
        if not key:
            message = "cannot be an attribute: its name has no letters or digits"
        elif key in required and table.native:
            continue  # the missing column is reported, with this one as the hint
        elif key in RESERVED[kind]:
            message = f"would become the attribute `{key}`, a name a {singular} "
            message += "already has; map it to a field or leave it out of `attributes`"
        elif key in owner:
            message = f"and column `{owner[key]}` would both become the attribute "
            message += f"`{key}`; rename one of them"
        else:
            owner[key] = name
            parse = dates if name in table.date_attributes else None
            translate = table.values.get(name)
            extras.append(_Extra(name, key, header.index(name), translate, parse))
            hint = did_you_mean(name, [n for n in native if n not in header])
            if table.native and hint:
                message = f"is kept as the attribute `{key}`{hint}"
                warnings.append(Problem(file, message, row=1, column=name))
            continue
        problems.append(Problem(file, message, row=1, column=name))
    return extras


def _parser(
    spec: Field, dates: DateParser, amounts: AmountParser, kind: str
) -> Callable[[str], str] | None:
    """The function that checks and normalises the text of one field."""
    if spec.type is FieldType.DATE:
        return dates
    if spec.type is FieldType.CURRENCY:
        return _Memo(parse_currency)
    if spec.type is FieldType.CHOICE:
        return _choice(spec)
    if spec.type is FieldType.AMOUNT:
        return _amount(spec, amounts, kind)
    return None


class _Memo:
    """A parser that remembers the values it accepted."""

    def __init__(self, parse: Callable[[str], str]) -> None:
        self.parse = parse
        self.seen: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        value = self.seen[text] = self.parse(text)
        return value


def _choice(spec: Field) -> Callable[[str], str]:
    """A parser for a field with a fixed set of values."""
    choices = frozenset(spec.choices)
    expected = f"is not {spec.what} (expected {one_of(spec.choices)})"

    def parse(text: str) -> str:
        if text not in choices:
            raise BadValue(f"{quote(text)} {expected}{did_you_mean(text, choices)}")
        return text

    return parse


def _amount(spec: Field, amounts: AmountParser, kind: str) -> Callable[[str], str]:
    """A parser for an amount that must be positive, or at least not negative."""
    positive = (
        f"is not more than zero; the amount of a {SINGULAR[kind]} must be positive"
    )
    if kind == "claims":
        positive += " (a credit note is a payment of kind `credit_note`)"

    def parse(text: str) -> str:
        value = amounts(text)
        if spec.positive and Decimal(value) <= 0:
            raise BadValue(f"{quote(text)} {positive}")
        if Decimal(value) < 0:
            raise BadValue(
                f"{quote(text)} is below zero; {spec.what} cannot be negative"
            )
        return value

    return parse


_SLOW = object()
"""Marks a value the fast path could not settle: the full parser decides."""
_NO_ATTRIBUTES: Attributes = {}  # shared by the rows of a file without extras


def _fast_path(
    spec: Field, parse: Callable[[str], str] | None, amounts: AmountParser
) -> Callable[[list[str]], list[object]]:
    """A check of a whole column that settles the common values at once (known
    dates and currencies, plain amounts) and leaves the rest to `parse`."""
    empty: object = _SLOW if spec.required else spec.default
    if spec.type is FieldType.TEXT or parse is None:
        return lambda raw: [v or empty for v in raw]
    if spec.type is FieldType.CHOICE:
        choices = frozenset(spec.choices)
        return lambda raw: [
            v if v in choices else empty if not v else _SLOW for v in raw
        ]
    if spec.type is FieldType.AMOUNT:
        plain = PLAIN_POSITIVE_AMOUNT if spec.positive else PLAIN_AMOUNT
        if not amounts.plain:
            return lambda raw: [_SLOW if v else empty for v in raw]
        return lambda raw: [v if plain(v) else empty if not v else _SLOW for v in raw]
    seen = parse.seen  # type: ignore[attr-defined]
    return lambda raw: [seen.get(v, _SLOW) if v else empty for v in raw]


def _check_rows(
    source: Source,
    kind: str,
    steps: list[_Step],
    extras: list[_Extra],
    problems: list[Problem],
) -> _Checked:
    """Check each row on its own and against earlier rows with the same id.

    Works a column at a time: a million rows take seconds, not minutes.
    """
    file, singular, rows = source.file, SINGULAR[kind], source.rows
    names = tuple(step.field.name for step in steps)
    checked = _Checked(kind, file, names, tuple(step.column for step in steps))
    lines, items = [row[0] for row in rows], [row[1] for row in rows]
    flagged: set[int] = set()

    def bad(at: int, column: str, value: str, message: str) -> None:
        flagged.add(at)
        problems.append(
            Problem(file, message, lines[at], column, value, None, items[at])
        )

    columns: list[list[object]] = []
    for step in steps:
        if step.index < 0:
            columns.append([step.value] * len(rows))
            continue
        raw = _column(rows, step.index, step.translate)
        seen = getattr(step.parse, "seen", None)  # dates and currencies remember
        if seen is not None and step.parse is not None:
            for text in set(raw) - seen.keys() - {""}:
                with suppress(BadValue):
                    step.parse(text)
        values = step.fast(raw)

        slow = (
            [at for at, v in enumerate(values) if v is _SLOW] if _SLOW in values else []
        )
        outcome: dict[str, str | BadValue] = {}
        for text in {raw[at] for at in slow} - {""}:
            try:
                outcome[text] = step.parse(text)  # type: ignore[misc]
            except BadValue as error:
                outcome[text] = error
        for at in slow:
            result = outcome.get(raw[at])
            values[at] = result if isinstance(result, str) else None
            if result is None:
                needs = f"is empty, but every {singular} needs {step.field.what}"
                bad(at, step.column, "", needs)
            elif not isinstance(result, str):
                bad(at, step.column, raw[at], str(result))
        columns.append(values)

    attributes: list[Attributes | None] = [None] * len(rows)
    if kind in HAS_ATTRIBUTES:
        attributes = [_NO_ATTRIBUTES] * len(rows)
    if extras:
        kept = []
        for extra in extras:
            raw = _column(rows, extra.index, extra.translate)
            for at, text in enumerate(raw) if extra.parse else ():
                try:
                    raw[at] = extra.parse(text) if text else text  # type: ignore[misc]
                except BadValue as error:
                    bad(at, extra.column, text, str(error))
            kept.append([text or None for text in raw])
        keys = [extra.key for extra in extras]
        attributes = [
            dict(zip(keys, values, strict=True)) for values in zip(*kept, strict=True)
        ]

    records: list[Values] = list(zip(*columns, strict=True))  # type: ignore[arg-type]
    named = dict(zip(names, columns, strict=True))
    for at, name, message in _row_problems(kind, named):
        if at not in flagged:
            bad(at, checked.columns[names.index(name)], str(named[name][at]), message)

    ids = columns[0]
    checked.seen = {identity for identity in ids if identity}  # type: ignore[misc]
    if not flagged and len(checked.seen) == len(rows):
        rows_of = zip(lines, items, records, attributes, strict=True)
        checked.records = dict(zip(ids, rows_of, strict=True))  # type: ignore[arg-type]
        return checked

    for at, record in enumerate(records):
        identity = record[0]
        first = checked.records.get(identity or "")
        if at in flagged or identity is None:
            continue
        if first is None:
            checked.records[identity] = (lines[at], items[at], record, attributes[at])
        elif first[2] == record and first[3] == attributes[at]:
            checked.repeated += 1
        else:
            where = f"row {first[0]}" if first[1] is None else f"item {first[1]}"
            difference = _first_difference(
                checked.columns, first, record, attributes[at]
            )
            message = f"{quote(identity)} appears again with other values (first on "
            message += f"{where}{difference}); an id may appear only once, or again "
            bad(at, steps[0].column, identity, message + "with the same values")
    return checked


def _column(rows: list[Row], index: int, translate: dict[str, str] | None) -> list[str]:
    """The stripped text of one column, translated by the mapping's `values`."""
    raw = [row[2][index].strip() for row in rows]
    if translate is not None:
        raw = [translate.get(text, text).strip() for text in raw]
    return raw


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


def _first_difference(
    columns: tuple[str, ...],
    first: _Record,
    record: Values,
    attributes: Attributes | None,
) -> str:
    """`, where `amount` is `10.00`, here `12.00``: the first value that differs."""
    pairs = list(zip(columns, first[2], record, strict=True))
    pairs += [
        (f"attribute {k}", (first[3] or {}).get(k), v)
        for k, v in (attributes or {}).items()
    ]
    for column, old, new in pairs:
        if old != new:
            return f", where `{column}` is {quote(old or '')}, here {quote(new or '')}"
    return ""


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
                problems.sort(
                    key=lambda p: (p.row is not None, p.row or 0, p.item or 0)
                )
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
    existing = _fetch(conn, kind, (*fields[1:], *kept), checked.records)
    _check_references(conn, checked, batch, problems)

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
    new_currency: dict[str, int] = {}
    for identity, (line, _, record, attributes) in checked.records.items():
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
            row += (_open_amount(checked, identity, stored, changes, problems),)
            if any(name == "currency" for name, _, _ in changes):
                new_currency[identity] = line
        elif stored.get("applied_run") is not None:
            run, singular = stored["applied_run"], SINGULAR[kind]
            for name, before, after in changes:
                message = (
                    f"{quote(after or '')} would change {singular} {quote(identity)} "
                )
                message += f"(now {quote(_text(before) or '')}), which run {run} has "
                message += f"already applied; record a correction as a new {singular}"
                problems.append(checked.problem(identity, name, after or "", message))
        write.updates.append((*row, identity))
        source = f"{file}:{line}"
        write.audits += [
            (kind, identity, n, _text(b), a, source) for n, b, a in changes
        ]

    _refuse_new_currency(conn, checked, new_currency, problems)
    return write


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
    identity: str,
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
        message = f"{quote(str(after))} is less than the {old - left} already paid on "
        message += f"claim {quote(identity)}; record a credit note instead"
        problems.append(checked.problem(identity, "amount", str(after), message))
    changes.append(("open_amount", open_amount, str(moved)))
    return str(moved)


def _refuse_new_currency(
    conn: sqlite3.Connection,
    checked: _Checked,
    lines: dict[str, int],
    problems: list[Problem],
) -> None:
    """A claim with payments keeps its currency: its payments are in it."""
    if not lines:
        return
    select = "SELECT DISTINCT claim_id FROM payments "
    select += "WHERE claim_id IN (SELECT value FROM json_each(?))"
    paid = conn.execute(select, (json.dumps(list(lines)),)).fetchall()
    at = checked.fields.index("currency")
    for identity in sorted((row[0] for row in paid), key=lines.__getitem__):
        currency = checked.records[identity][2][at] or ""
        message = f"{quote(currency)} would change the currency of claim "
        message += f"{quote(identity)}, which already has payments; import it as a "
        problems.append(
            checked.problem(identity, "currency", currency, message + "new claim")
        )


def _check_references(
    conn: sqlite3.Connection, checked: _Checked, batch: _Batch, problems: list[Problem]
) -> None:
    """Every claim has a known customer, every payment and event a known claim
    (in the store, or imported with it); a payment is in its claim's currency,
    an event of a claim and a customer names the claim's customer."""
    kind, fields, records = checked.kind, checked.fields, checked.records
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

    for identity, (_, _, record, _) in records.items():
        customer = record[customer_at] if customer_at is not None else None
        claim = record[claim_at] if claim_at is not None else None
        if customer in missing:
            message = (
                f"{quote(str(customer))} is not a known customer: it is neither in "
            )
            message += "the database nor among the customers of this import"
            problems.append(checked.problem(identity, "customer_id", customer, message))
        if not claim:
            continue
        if claim not in claims:
            message = f"{quote(claim)} is not a known claim: it is neither in the "
            message += "database nor among the claims of this import"
            problems.append(checked.problem(identity, "claim_id", claim, message))
            continue
        currency, owner = claims[claim]
        mine = record[fields.index("currency")] if kind == "payments" else None
        if mine and currency and mine != currency:
            message = f"{quote(mine)} is not the currency of claim {quote(claim)} "
            message += f"({currency}); a payment must be in it"
            problems.append(checked.problem(identity, "currency", mine, message))
        if kind == "events" and customer and owner and customer != owner:
            message = f"{quote(customer)} is not the customer of claim {quote(claim)} "
            problems.append(
                checked.problem(
                    identity, "customer_id", customer, message + f"({owner})"
                )
            )


def _referred(records: dict[str, _Record], at: int) -> set[str]:
    """The ids a column refers to."""
    return {str(r[2][at]) for r in records.values() if r[2][at] is not None}


def _claim_facts(
    conn: sqlite3.Connection, batch: _Batch, wanted: set[str]
) -> dict[str, tuple[object, object]]:
    """The currency and customer of the claims with these ids, from the claims
    of the same import or from the store; (None, None) for a bad claim row."""
    facts: dict[str, tuple[object, object]] = {}
    for earlier in batch.claims:
        currency_at = earlier.fields.index("currency")
        owner_at = earlier.fields.index("customer_id")
        for claim in wanted & earlier.seen:
            values = earlier.records[claim][2] if claim in earlier.records else None
            facts[claim] = (
                (values[currency_at], values[owner_at]) if values else (None, None)
            )
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
