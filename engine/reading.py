"""How a data file is read: its format and encoding, its rows, and the plan that
says which column feeds which field and how the text of each value is checked.

`read_source` turns a CSV, JSON or JSON lines file into rows of text;
`plan_columns` matches the fields of a mapping table (or the native names) to
the columns of those rows. Checking the rows is the importer's work.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import NoReturn

from attrs import frozen

from .mapping import (
    EXTENSIONS,
    FIELDS,
    HAS_ATTRIBUTES,
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
    Problem,
    Table,
    attribute_key,
    currency_places,
    did_you_mean,
    fail,
    one_of,
    parse_currency,
    quote,
    too_precise,
)

__all__ = [
    "SLOW",
    "Extra",
    "Row",
    "Source",
    "Step",
    "check_path",
    "column_text",
    "file_format",
    "plan_columns",
    "precision_problems",
    "read_source",
]

log = logging.getLogger(__name__)

Row = tuple[int, int | None, list[str]]
"""A row as read: its line, its item number in a JSON list, its values."""

EMPTY = {
    "csv": "is empty (expected a header line with the column names, then one line "
    "per row)",
    "json": "is empty (expected a list of objects, [{...}, {...}])",
    "jsonl": "is empty (expected one object {...} per line)",
}
NOT_AN_OBJECT = 'is not an object with named fields (expected {"column": value, ...})'


# ---- reading files ----------------------------------------------------------


@frozen
class Source:
    """A data file read into memory: its header and rows, not yet checked;
    `problems` are the rows that could not be read (wrong number of values, or
    a JSON item that is no object)."""

    file: str
    format: str
    header: tuple[str, ...]
    rows: list[Row]
    problems: list[Problem]


def file_format(path: str, given: str | None, table: Table) -> str:
    """The format to read a file in: `--format`, the mapping, or the extension."""
    if given or table.format:
        return given or table.format or ""
    suffix = Path(path).suffix.lower()
    if suffix not in EXTENSIONS:
        shown = quote(suffix) if suffix else "no extension"
        message = f"cannot tell the format from the name ({shown}); use --format "
        raise fail(path, message + "csv, json or jsonl")
    return EXTENSIONS[suffix]


def check_path(path: str) -> None:
    """Refuse a path that is not a file, before anything else is said about it."""
    if Path(path).is_dir():
        raise fail(path, "is a folder, not a data file")
    if not Path(path).exists():
        raise fail(path, "no such file")


def read_source(path: str, table: Table, form: str) -> Source:
    """Read a whole file as text in the table's encoding and split it into rows."""
    text = _read_text(path, table.encoding)
    if not text.strip():
        raise fail(path, EMPTY[form])

    if form == "csv":
        delimiter = table.delimiter
        if delimiter == "," and Path(path).suffix.lower() == ".tsv":
            delimiter = "\t"  # tab-separated values, as the extension says
        source = _read_csv(path, text, delimiter)
    else:
        source = _read_json(path, text, lines=form == "jsonl")

    if not source.rows and not source.problems:
        raise fail(path, "has a header but no rows (nothing to import)")
    log.debug("read %s: %s rows, header %s", path, len(source.rows), source.header)
    return source


def _read_text(path: str, encoding: str) -> str:
    """The file's text; clear problems for a missing, binary or mis-encoded file."""
    check_path(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise fail(path, "no such file") from None
    except OSError as error:
        raise fail(path, f"cannot be read ({error.strerror})") from None

    binary = "is a binary file, not text (it contains NUL bytes)"
    utf8 = codecs.lookup(encoding).name == "utf-8"
    try:
        text = data.decode("utf-8-sig" if utf8 else encoding)
    except UnicodeDecodeError as error:
        if b"\x00" in data[:8192]:
            raise fail(path, binary) from None
        line = data.count(b"\n", 0, error.start) + 1
        byte = data[error.start : error.start + 1].hex().upper()
        message = f"is not {encoding} text (byte 0x{byte}); save it as UTF-8, or "
        message += 'name its encoding in a mapping file (like `encoding = "cp1252"`)'
        raise fail(path, message, row=line) from None
    if "\x00" in text:
        raise fail(path, binary)
    return text


def _read_csv(path: str, text: str, delimiter: str) -> Source:
    """Rows of a CSV text with the line each starts on (the header is line 1).

    Read strictly: a double quote never closed, or text after a closing
    quote, is an error naming the row, not a value that takes in the lines
    after it."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        records = list(reader)
    except csv.Error:
        _refuse_csv(path, text, delimiter)

    if reader.line_num == len(records):  # one line each: no line breaks in values
        numbered = [(number, values) for number, values in enumerate(records, 1)]
    else:
        numbered, line = [], 0
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        for values in reader:
            numbered.append((line + 1, values))
            line = reader.line_num
    # Blank lines, and lines of nothing but blanks, are no rows.
    numbered = [(n, v) for n, v in numbered if any(value.strip() for value in v)]

    header_line, header = numbered[0][0], [name.strip() for name in numbered[0][1]]
    body = numbered[1:]
    # Spreadsheets export trailing columns without a name and without values
    # (`id,name,,`): those are dropped, not taken for unnamed columns.
    width = len(header)
    while (
        width > 1
        and not header[width - 1]
        and all(
            len(values) < width or not values[width - 1].strip() for _, values in body
        )
    ):
        width -= 1
    if width < len(header):
        # Rows as long as the header lose the empty columns; others keep
        # their length, and a row of another length is reported below.
        named = len(header)
        header = header[:width]
        body = [(n, v[:width] if len(v) == named else v) for n, v in body]
    _check_header(path, header, header_line)
    rows: list[Row] = [(line, None, values) for line, values in body]
    problems = []
    if any(len(row[2]) != width for row in rows):
        for line, _, values in rows:
            if len(values) != width:
                count = f"has {len(values)} values, but the header has {width} columns"
                problems.append(Problem(path, count, row=line))
        rows = [row for row in rows if len(row[2]) == width]
    return Source(path, "csv", tuple(header), rows, problems)


def _refuse_csv(path: str, text: str, delimiter: str) -> NoReturn:
    """Read the text again to find the row whose quote broke it, and say so."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    start = 1
    try:
        for _ in reader:
            start = reader.line_num + 1
    except csv.Error as error:
        said = str(error)
        runs_on = reader.line_num > start
        if "unexpected end of data" in said or "field larger than" in said:
            message = (
                "a double quote opened in this row is never closed, so the rest "
                "of the file would be read as one value; close it, or double a "
                'quote that belongs to the value ("")'
            )
        elif "expected after" in said and runs_on:
            message = (
                "a double quote opened in this row is closed only on line "
                f"{reader.line_num}, where text follows it; close it in this row, "
                'or double a quote that belongs to the value ("")'
            )
        elif "expected after" in said:
            message = (
                "a closing double quote is followed by more text; a quote that "
                'belongs to a value is written twice (""), and nothing but the '
                "delimiter or the line end may follow a closing quote"
            )
        else:
            message = f"cannot be read as CSV ({error})"
        raise fail(path, message, row=start) from None
    raise fail(path, "cannot be read as CSV", row=start)  # read once, failed once


def _check_header(path: str, header: Sequence[str], line: int) -> None:
    """Refuse a header with unnamed or repeated columns."""
    problems = []
    first: dict[str, int] = {}
    for number, name in enumerate(header, start=1):
        if not name:
            message = f"column {number} of the header has no name"
            problems.append(Problem(path, message, row=line))
        elif name in first:
            where = f"(columns {first[name]} and {number})"
            message = f"column {quote(name)} appears twice in the header {where}"
            problems.append(Problem(path, message, row=line))
        else:
            first[name] = number
    if problems:
        raise ImportFailed(problems)


def _read_json(path: str, text: str, *, lines: bool) -> Source:
    """Rows of a JSON list of objects, or of JSON lines (one object per line)."""
    decoder = json.JSONDecoder(parse_float=str, parse_int=str)
    objects: list[tuple[int, int | None, object]] = []
    number = 0
    try:
        if lines:
            for number, content in enumerate(text.splitlines(), start=1):
                if content.strip():
                    objects.append((number, None, decoder.decode(content)))
        else:
            objects = _json_list(path, text, decoder)
    except json.JSONDecodeError as error:
        where = number if lines else error.lineno
        message = f"is not valid JSON at column {error.colno} ({error.msg})"
        raise fail(path, message, row=where) from None
    if not objects:
        raise fail(path, "holds no records (the list is empty, so nothing to import)")

    problems: list[Problem] = []
    names: dict[str, None] = {}
    for line, item, value in objects:
        if isinstance(value, dict):
            names.update(dict.fromkeys(value))
        else:
            # A JSON list names its items; in JSON lines the line says it all.
            message = NOT_AN_OBJECT if item is None else f"item {item} {NOT_AN_OBJECT}"
            problems.append(Problem(path, message, row=line))
    if len(problems) == len(objects):
        raise ImportFailed(problems)  # no object at all: nothing to name columns by
    header = tuple(names)
    _check_header(path, header, 1)

    rows: list[Row] = []
    nested = "a list or an object is not a value (expected text, a number or a flag)"
    for line, item, value in objects:
        if not isinstance(value, dict):
            continue
        cells = [value.get(name) for name in header]
        deep = [
            n for n, c in zip(header, cells, strict=True) if isinstance(c, dict | list)
        ]
        if deep:
            problems.append(Problem(path, nested, row=line, item=item, column=deep[0]))
        else:
            rows.append((line, item, [_json_text(cell) for cell in cells]))
    return Source(path, "jsonl" if lines else "json", header, rows, problems)


def _json_list(
    path: str, text: str, decoder: json.JSONDecoder
) -> list[tuple[int, int | None, object]]:
    """The items of a JSON list with the line each starts on."""
    position = _skip_space(text, 0)
    if text[position] != "[":
        message = "is not a JSON list (expected [{...}, {...}]; for one object per "
        raise fail(path, message + "line use the extension .jsonl or --format jsonl)")

    items: list[tuple[int, int | None, object]] = []
    line, counted = 1, 0
    position = _skip_space(text, position + 1)
    while text[position : position + 1] != "]":
        line += text.count("\n", counted, position)
        counted = position
        value, position = decoder.raw_decode(text, position)
        items.append((line, len(items) + 1, value))
        position = _skip_space(text, position)
        if text[position : position + 1] == ",":
            position = _skip_space(text, position + 1)
        elif text[position : position + 1] != "]":
            raise json.JSONDecodeError("expected `,` or `]`", text, position)
    return items


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _json_text(value: object) -> str:
    """A JSON scalar as the text a CSV cell would hold."""
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    return str(value)


# ---- which column feeds which field -----------------------------------------


@frozen
class Step:
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
class Extra:
    """An extra column kept as an attribute."""

    column: str
    key: str
    index: int
    translate: dict[str, str] | None
    parse: Callable[[str], str] | None


def plan_columns(
    source: Source, table: Table, warnings: list[Problem]
) -> tuple[list[Step], list[Extra]]:
    """Match the fields and attributes of a table to the columns of a header;
    ImportFailed lists every field or attribute that has no column."""
    kind, header, file = table.kind, source.header, source.file
    index = {name: number for number, name in enumerate(header)}
    dates = DateParser(table.date_format)
    amounts = AmountParser(table.decimal_separator, table.thousands_separator)
    problems: list[Problem] = []

    if table.native:
        columns = {f.name: f.name for f in FIELDS[kind] if f.name in index}
        problems += _missing_columns(source, kind)
    else:
        columns = dict(table.columns)
        for name, column in columns.items():
            if column not in index:
                message = _absent(column, source) + did_you_mean(column, header)
                key = f"[{kind}] columns.{name}"
                problems.append(Problem(table.source or file, message, key=key))

    steps: list[Step] = []
    for spec in FIELDS[kind]:
        parse = _parser(spec, dates, amounts, kind)
        if columns.get(spec.name) in index:
            column = columns[spec.name]
            translate = table.values.get(spec.name)
            fast = _fast_path(spec, parse, amounts)
            steps.append(
                Step(spec, column, index[column], None, translate, parse, fast)
            )
        elif spec.name in table.constants:
            steps.append(_constant(spec, table, parse, problems))

    extras = _extras(source, table, set(columns.values()), dates, problems, warnings)
    if problems:
        raise ImportFailed(problems)
    return steps, extras


def _absent(column: str, source: Source) -> str:
    """That a column named in a mapping is not in the file."""
    if source.format == "csv":
        return f"column {quote(column)} is not in the header of {source.file}"
    return f"no record of {source.file} has the field {quote(column)}"


def _missing_columns(source: Source, kind: str) -> list[Problem]:
    """The required columns a native file lacks."""
    file, header = source.file, source.header
    problems = []
    if source.format != "csv":
        hint = "; a mapping file can name another field (see docs/import.md)"
        for spec in FIELDS[kind]:
            if spec.required and spec.name not in header:
                message = f"no record has the field `{spec.name}`, which every "
                message += f"{SINGULAR[kind]} needs{did_you_mean(spec.name, header)}"
                problems.append(Problem(file, message + hint))
        if kind == "events" and not {"claim_id", "customer_id"} & set(header):
            message = "no record has the field `claim_id` or `customer_id`; every "
            problems.append(Problem(file, message + "event needs one of them"))
        return problems

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
) -> Step:
    """A field with one value for every row, checked once."""
    text = table.constants[spec.name].strip()
    value: str | None = text or spec.default
    if text and parse is not None:
        try:
            value = parse(text)
        except BadValue as error:
            key = f"[{table.kind}] constants.{spec.name}"
            problems.append(Problem(table.source or "", str(error), key=key))
    return Step(spec, spec.name, -1, value=value)


def _extras(
    source: Source,
    table: Table,
    used: set[str],
    dates: DateParser,
    problems: list[Problem],
    warnings: list[Problem],
) -> list[Extra]:
    """The extra columns kept as attributes, with their attribute names."""
    kind, file, header = table.kind, source.file, source.header
    singular, native = SINGULAR[kind], [f.name for f in FIELDS[kind]]
    required = {f.name for f in FIELDS[kind] if f.required} - set(header)
    wanted = [name for name in header if name not in used]
    if table.attributes is not None:
        wanted = [name for name in table.attributes if name in header]
    for name in {*(table.attributes or ()), *table.date_attributes} - set(header):
        message = _absent(name, source) + did_you_mean(name, header)
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

    extras: list[Extra] = []
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
            extras.append(Extra(name, key, header.index(name), translate, parse))
            hint = did_you_mean(name, [n for n in native if n not in header])
            if table.native and hint:
                message = f"is kept as the attribute `{key}`{hint}"
                warnings.append(Problem(file, message, row=1, column=name))
            continue
        problems.append(Problem(file, message, row=1, column=name))
    return extras


# ---- how each value is checked ----------------------------------------------


def column_text(
    rows: list[Row], index: int, translate: dict[str, str] | None
) -> list[str]:
    """The stripped text of one column, translated by the mapping's `values`."""
    raw = [row[2][index].strip() for row in rows]
    if translate is not None:
        raw = [translate.get(text, text).strip() for text in raw]
    return raw


def precision_problems(
    kind: str, named: dict[str, list[object]]
) -> Iterator[tuple[int, str, str]]:
    """Amounts with more decimal places than their currency allows: (row, field,
    message). A credit limit without a currency, and an event's amount (checked
    against its claim's currency), are left out here."""
    name = "credit_limit" if kind == "customers" else "amount"
    if kind == "events" or name not in named or "currency" not in named:
        return

    places: dict[object, int] = {}
    for at, (amount, currency) in enumerate(
        zip(named[name], named["currency"], strict=True)
    ):
        if not amount or not currency:
            continue
        text = str(amount)
        dot = text.find(".")
        if dot < 0:
            continue
        allowed = places.get(currency)
        if allowed is None:
            allowed = places[currency] = currency_places(str(currency))
        if len(text) - dot - 1 > allowed and (
            message := too_precise(text, str(currency))
        ):
            yield at, name, message


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


SLOW = object()
"""Marks a value the fast path could not settle: the full parser decides."""


def _fast_path(
    spec: Field, parse: Callable[[str], str] | None, amounts: AmountParser
) -> Callable[[list[str]], list[object]]:
    """A check of a whole column that settles the common values at once (known
    dates and currencies, plain amounts) and leaves the rest to `parse`."""
    empty: object = SLOW if spec.required else spec.default
    if spec.type is FieldType.TEXT or parse is None:
        return lambda raw: [v or empty for v in raw]
    if spec.type is FieldType.CHOICE:
        choices = frozenset(spec.choices)
        return lambda raw: [
            v if v in choices else empty if not v else SLOW for v in raw
        ]
    if spec.type is FieldType.AMOUNT:
        plain = PLAIN_POSITIVE_AMOUNT if spec.positive else PLAIN_AMOUNT
        if not amounts.plain:
            return lambda raw: [SLOW if v else empty for v in raw]
        return lambda raw: [v if plain(v) else empty if not v else SLOW for v in raw]
    seen = parse.seen  # type: ignore[attr-defined]
    return lambda raw: [seen.get(v, SLOW) if v else empty for v in raw]
