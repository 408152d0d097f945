"""What an import knows before it opens a data file: the native fields of
customers, claims, payments and events, how the text of a date, an amount or a
currency is checked, the problems an import reports, and the mapping files that
rename the columns of a file from another system.

A mapping file is TOML with one table per kind of data (`[customers]`,
`[claims]`, `[payments]`, `[events]`); keys at the top level are defaults for
every table. `docs/import.md` describes every key. Reading the data file itself
is `engine.reading`'s work.
"""

from __future__ import annotations

import codecs
import datetime as dt
import difflib
import enum
import functools
import gc
import importlib.resources
import logging
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from attrs import field, frozen
from babel.numbers import get_currency_precision, list_currencies

from dunlang.model import Event

__all__ = [
    "FIELDS",
    "FIRST_DATE",
    "KINDS",
    "LARGEST_AMOUNT",
    "LAST_DATE",
    "Field",
    "FieldType",
    "ImportFailed",
    "Mapping",
    "Problem",
    "Table",
    "attribute_key",
    "bundled_mappings",
    "currency_places",
    "known_currencies",
    "load_mapping",
    "native_table",
    "too_precise",
    "unknown_currency",
]

log = logging.getLogger(__name__)

KINDS = ("customers", "claims", "payments", "events")
"""The kinds of data, in the order they must be imported."""

SINGULAR = {
    "customers": "customer",
    "claims": "claim",
    "payments": "payment",
    "events": "event",
}
HAS_ATTRIBUTES = frozenset({"customers", "claims"})
"""Kinds whose table keeps extra columns in an `attributes` JSON object."""

FORMATS = ("csv", "json", "jsonl")
EXTENSIONS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".json": "json"}
EXTENSIONS |= {".jsonl": "jsonl", ".ndjson": "jsonl"}


class FieldType(enum.Enum):
    """What a field holds, which decides how its text is checked."""

    TEXT = "text"
    DATE = "date"
    AMOUNT = "amount"
    CURRENCY = "currency"
    CHOICE = "choice"


@frozen
class Field:
    """One native field of a kind of data; `what` names it in messages."""

    name: str
    type: FieldType
    what: str
    required: bool = False
    default: str | None = None
    choices: tuple[str, ...] = ()
    positive: bool = False


_T, _D, _A = FieldType.TEXT, FieldType.DATE, FieldType.AMOUNT
_C, _K = FieldType.CURRENCY, FieldType.CHOICE
_ID = Field("id", _T, "an id", required=True)

FIELDS: dict[str, tuple[Field, ...]] = {
    "customers": (
        _ID,
        Field("name", _T, "a name", default=""),
        Field("kind", _K, "a customer kind", default="business",
              choices=("business", "consumer")),
        Field("segment", _T, "a segment"),
        Field("country", _T, "a country"),
        Field("language", _T, "a language"),
        Field("email", _T, "an email address"),
        Field("address", _T, "an address"),
        Field("credit_limit", _A, "a credit limit"),
        Field("currency", _C, "a currency"),
        Field("dunning_group", _T, "a dunning group"),
    ),
    "claims": (
        _ID,
        Field("customer_id", _T, "a customer", required=True),
        Field("kind", _K, "a claim kind", default="invoice",
              choices=("invoice", "instalment")),
        Field("currency", _C, "a currency", required=True),
        Field("amount", _A, "an amount", required=True, positive=True),
        Field("issue_date", _D, "an issue date", required=True),
        Field("due_date", _D, "a due date", required=True),
    ),
    "payments": (
        _ID,
        Field("claim_id", _T, "a claim", required=True),
        Field("amount", _A, "an amount", required=True, positive=True),
        Field("currency", _C, "a currency", required=True),
        Field("paid_on", _D, "a payment date", required=True),
        Field("kind", _K, "a payment kind", default="payment",
              choices=("payment", "credit_note")),
    ),
    "events": (
        _ID,
        Field("claim_id", _T, "a claim"),
        Field("customer_id", _T, "a customer"),
        Field("kind", _K, "an event kind", required=True,
              choices=tuple(event.value for event in Event)),
        Field("happened_on", _D, "a date", required=True),
        Field("until", _D, "an end date"),
        Field("amount", _A, "an amount"),
        Field("reason", _T, "a reason"),
    ),
}  # fmt: skip

# Names an attribute may not take: the columns of its table, and the figures a
# run computes for a policy to read (they would hide the attribute).
RESERVED = {
    "customers": {f.name for f in FIELDS["customers"]}
    | {"attributes", "open_claims", "overdue_claims", "total_open_amount"}
    | {"days_since_oldest_unpaid"},
    "claims": {f.name for f in FIELDS["claims"]}
    | {"attributes", "open_amount", "group_name", "group", "state", "state_since"}
    | {"hold_return", "hold_return_since", "next_check", "settled_on", "changed"}
    | {"days_overdue"},
}


# ---- problems ---------------------------------------------------------------


@frozen
class Problem:
    """One thing wrong with an import: where it is and what was expected.

    `row` is the line number in the data file (the header is line 1); `item`
    counts the objects of a JSON list; `key` is a place in a mapping file.
    """

    file: str
    message: str
    row: int | None = None
    column: str | None = None
    value: str | None = None
    key: str | None = None
    item: int | None = None

    def __str__(self) -> str:
        parts = [self.file if self.row is None else f"{self.file}:{self.row}"]
        if self.key:
            parts.append(self.key)
        if self.item is not None:
            parts.append(f"item {self.item}")
        if self.column is not None:
            parts.append(f"column `{self.column}`")
        parts.append(self.message)
        return ": ".join(parts)


class ImportFailed(Exception):
    """Nothing was imported; carries every problem found, in file order."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems[:50]))


def fail(file: str, message: str, **where: Any) -> ImportFailed:
    """An ImportFailed with a single problem."""
    return ImportFailed([Problem(file, message, **where)])


class BadValue(ValueError):
    """A value that does not fit its field; the message says what was expected."""


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cycle collector while millions of rows are built: it would scan
    them again and again (ten times the work) and find no cycles among them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def quote(value: str) -> str:
    """A value as it appears in messages: in backticks, shortened, one line."""
    shown = value if len(value) <= 60 else value[:57] + "..."
    return "`" + shown.replace("\n", "\\n").replace("\r", "\\r") + "`"


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """`; did you mean `x`?` for the closest known word, or nothing."""
    by_lower: dict[str, str] = {}
    for name in known:
        by_lower.setdefault(name.lower(), name)
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return f"; did you mean `{by_lower[close[0]]}`?" if close else ""


def one_of(choices: Iterable[str]) -> str:
    """`a`, `b` or `c`: each choice in backticks."""
    names = [f"`{c}`" for c in choices]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def attribute_key(column: str) -> str:
    """The attribute name a policy uses for an extra column: a lower-case
    identifier, words joined by underscores (`PaperlessBill` -> `paperless_bill`).

    A name that would start with a digit gets a leading underscore; a name
    without letters or digits gives the empty string.
    """
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", column.strip())
    words = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", words)
    key = re.sub(r"[^0-9A-Za-z]+", "_", words).strip("_").lower()
    return "_" + key if key[:1].isdigit() else key


# ---- dates, amounts, currencies ---------------------------------------------

FIRST_DATE, LAST_DATE = dt.date(1900, 1, 1), dt.date(2199, 12, 31)
"""The dates an import accepts: a date far outside them is a typing mistake, and
the daily run could not count days from it."""
LARGEST_AMOUNT = Decimal(10) ** 15
"""The largest amount an import accepts."""

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_DIRECTIVES = {
    "%Y": ("YYYY", "2013"),
    "%y": ("YY", "13"),
    "%m": ("M", "1"),
    "%d": ("D", "31"),
    "%b": ("Mon", "Jan"),
    "%B": ("Month", "January"),
    "%%": ("%", "%"),
}


def describe_date_format(date_format: str | None) -> str:
    """The expected form of a date with an example: `M/D/YYYY like 1/31/2013`."""
    if date_format is None:
        return "YYYY-MM-DD like 2013-01-31"
    pattern = re.compile("|".join(re.escape(d) for d in _DIRECTIVES))
    shape = pattern.sub(lambda m: _DIRECTIVES[m.group()][0], date_format)
    example = pattern.sub(lambda m: _DIRECTIVES[m.group()][1], date_format)
    return f"{shape} like {example}"


def check_date_format(date_format: str) -> str | None:
    """Why a `date_format` cannot be used, or None when it can."""
    used = re.findall(r"%.", date_format)
    unknown = [d for d in used if d not in _DIRECTIVES]
    if unknown:
        allowed = one_of(_DIRECTIVES)
        return f"{quote(date_format)} uses {one_of(unknown)}; use only {allowed}"
    has = set(used)
    if not (has & {"%Y", "%y"} and has & {"%m", "%b", "%B"} and "%d" in has):
        return (
            f"{quote(date_format)} does not name a year, a month and a day "
            '(like "%m/%d/%Y" or "%d.%m.%Y")'
        )
    return None


class DateParser:
    """Turns date text in one format into ISO text; remembers what it has seen,
    as real files repeat the same few hundred dates many times."""

    def __init__(self, date_format: str | None) -> None:
        self.date_format = date_format
        self.expected = f"is not a date (expected {describe_date_format(date_format)})"
        self.outside = "is outside the dates an import accepts "
        self.outside += f"({FIRST_DATE.isoformat()} to {LAST_DATE.isoformat()})"
        self.seen: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        """The date as ISO text (`2013-01-31`), or BadValue."""
        known = self.seen.get(text)
        if known is not None:
            return known

        try:
            if self.date_format is None:
                if not _ISO_DATE.fullmatch(text):
                    raise ValueError(text)
                day = dt.date.fromisoformat(text)
            else:
                day = dt.datetime.strptime(text, self.date_format).date()
        except ValueError:
            raise BadValue(f"{quote(text)} {self.expected}") from None

        iso = day.isoformat()
        if not FIRST_DATE <= day <= LAST_DATE:
            shown = quote(text) if text == iso else f"{quote(text)} ({iso})"
            raise BadValue(f"{shown} {self.outside}")
        self.seen[text] = iso
        return iso


class AmountParser:
    """Turns amount text written with the file's separators into decimal text."""

    def __init__(self, decimal_separator: str = ".", thousands: str = "") -> None:
        point, group = re.escape(decimal_separator), re.escape(thousands)
        digits = rf"(?:\d{{1,3}}(?:{group}\d{{3}})+|\d+)" if thousands else r"\d+"
        # ASCII digits only: `\d` alone would take ٣ or １ for digits.
        self._pattern = re.compile(rf"[+-]?{digits}(?:{point}\d+)?", re.ASCII)
        self._point, self._thousands = decimal_separator, thousands
        self.plain = decimal_separator == "." and not thousands

        how = f"digits with {quote(decimal_separator)} as decimal separator"
        example = f"1234{decimal_separator}56"
        if thousands:
            how += f" and {quote(thousands)} between thousands"
            example = f"1{thousands}234{decimal_separator}56 or {example}"
        self.expected = f"is not an amount (expected {how}, like {example})"
        self.too_large = "is too large: an amount may be at most "
        self.too_large += f"{LARGEST_AMOUNT:f} (10^15)"

    def __call__(self, text: str) -> str:
        """The amount as decimal text with a dot (`1234.56`), or BadValue."""
        if not self._pattern.fullmatch(text):
            raise BadValue(f"{quote(text)} {self.expected}")
        digits = text.replace(self._thousands, "") if self._thousands else text
        value = Decimal(digits.replace(self._point, "."))
        if value > LARGEST_AMOUNT:
            raise BadValue(f"{quote(text)} {self.too_large}")
        return format(value, "f")


# Amounts already in their stored form (no sign, no leading zeros, a dot, at most
# 15 digits before it, so below LARGEST_AMOUNT), which need no further parsing:
# the fast path of an import of many rows.
PLAIN_AMOUNT = re.compile(r"(?:0|[1-9]\d{0,14})(?:\.\d+)?", re.ASCII).fullmatch
PLAIN_POSITIVE_AMOUNT = re.compile(
    r"[1-9]\d{0,14}(?:\.\d+)?|0\.\d*[1-9]\d*", re.ASCII
).fullmatch
_CURRENCY = re.compile(r"[A-Z]{3}")


@functools.cache
def currency_places(currency: str) -> int:
    """How many decimal places an amount in a currency may have (EUR 2, JPY 0)."""
    return int(get_currency_precision(currency))


def too_precise(amount: str, currency: str) -> str | None:
    """Why an amount (decimal text with a dot) is more precise than its currency
    allows, or None; trailing zeros do not count (`10.500` EUR is exact)."""
    places = currency_places(currency)
    dot = amount.find(".")
    if dot < 0 or len(amount.rstrip("0")) - dot - 1 <= places:
        return None
    return f"{quote(amount)} has more decimal places than {currency} allows ({places})"


@functools.cache
def known_currencies() -> frozenset[str]:
    """The currency codes babel knows (ISO 4217, with historic ones)."""
    return frozenset(list_currencies())


def unknown_currency(text: str) -> str | None:
    """Why `text` is not a currency code babel knows, with the closest known
    code when one is near (`EUX`: did you mean EUR?), or None when it is one."""
    if not _CURRENCY.fullmatch(text):
        return (
            f"{quote(text)} is not a currency (expected 3 upper-case letters like EUR)"
        )
    if text in known_currencies():
        return None

    def closeness(code: str) -> tuple[float, int]:
        ratio = difflib.SequenceMatcher(None, text, code).ratio()
        return ratio, len(os.path.commonprefix([text, code]))

    best = max(known_currencies(), key=closeness)
    guess = f"; did you mean {best}?" if closeness(best)[0] >= 0.6 else ""
    return f"{quote(text)} is not a known currency code{guess}"


def parse_currency(text: str) -> str:
    """A currency code babel knows, or BadValue."""
    problem = unknown_currency(text)
    if problem:
        raise BadValue(problem)
    return text


# ---- mapping files ----------------------------------------------------------

FORMAT_KEYS = (
    "date_format",
    "decimal_separator",
    "thousands_separator",
    "delimiter",
    "encoding",
    "format",
)
TABLE_KEYS: tuple[str, ...] = ("columns", "constants", "values", "attributes")
TABLE_KEYS += ("date_attributes", *FORMAT_KEYS)
THOUSANDS = ("", ",", ".", " ", "'", "\u00a0")
MAPPINGS_PACKAGE, MAPPINGS_FOLDER = "engine", "mappings"


@frozen
class Table:
    """How one kind of data is read from a file: which column feeds which field.

    `columns` maps a field to a source column; `constants` gives a field one
    value for every row; `values` translates the text of a column before it is
    checked; `attributes` picks the extra columns to keep (None: every column
    that feeds no field). `source` is the mapping file, None for native files.
    """

    kind: str
    source: str | None = None
    columns: dict[str, str] = field(factory=dict)
    constants: dict[str, str] = field(factory=dict)
    values: dict[str, dict[str, str]] = field(factory=dict)
    attributes: tuple[str, ...] | None = None
    date_attributes: tuple[str, ...] = ()
    date_format: str | None = None
    decimal_separator: str = "."
    thousands_separator: str = ""
    delimiter: str = ","
    encoding: str = "utf-8"
    format: str | None = None

    @property
    def native(self) -> bool:
        """True when the file uses the native column names (no mapping file)."""
        return self.source is None


@frozen
class Mapping:
    """A mapping file: one `Table` per kind of data it describes."""

    source: str
    tables: dict[str, Table]
    description: str = ""


def native_table(kind: str) -> Table:
    """How a file in the native format is read: columns named like the fields."""
    return Table(kind=kind)


def bundled_mappings() -> list[str]:
    """The names of the mapping files that ship with dunning."""
    folder = importlib.resources.files(MAPPINGS_PACKAGE) / MAPPINGS_FOLDER
    names = (entry.name for entry in folder.iterdir())
    return sorted(
        name.removesuffix(".toml") for name in names if name.endswith(".toml")
    )


def load_mapping(name: str) -> Mapping:
    """Read and check a mapping file, given by path or by the name of a bundled
    mapping (`ibm-late-payment-histories`); ImportFailed lists every problem."""
    path, stem, bundled = Path(name), name.removesuffix(".toml"), bundled_mappings()
    if path.is_file():
        source, raw = name, path.read_bytes()
    elif stem in bundled and not path.parent.name:
        source = f"{MAPPINGS_FOLDER}/{stem}.toml"
        folder = importlib.resources.files(MAPPINGS_PACKAGE) / MAPPINGS_FOLDER
        raw = (folder / f"{stem}.toml").read_bytes()
    elif path.is_dir():
        raise fail(name, "is a folder, not a mapping file")
    else:
        known = f" (bundled: {', '.join(bundled) or 'none'})"
        hint = did_you_mean(stem, bundled)
        message = "no such mapping file, and no bundled mapping of that name"
        raise fail(name, message + hint + known)

    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise fail(source, "is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise fail(source, f"is not valid TOML ({error})") from None
    return parse_mapping(document, source)


class _Collector:
    """Gathers the problems of one mapping file, each at a key."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def __call__(self, key: str, message: str) -> None:
        self.problems.append(Problem(self.source, message, key=key or None))


def parse_mapping(document: dict[str, Any], source: str) -> Mapping:
    """Check a mapping read from TOML and build it; ImportFailed lists every
    problem, each naming the mapping file and the key."""
    bad = _Collector(source)
    defaults: dict[str, Any] = {}
    description = ""
    for key, value in document.items():
        if key == "description":
            description = value if isinstance(value, str) else ""
            if not isinstance(value, str):
                bad(key, "must be text in quotes")
        elif key in FORMAT_KEYS:
            if _check_setting(key, value, key, bad):
                defaults[key] = value
        elif key not in KINDS:
            hint = did_you_mean(key, (*KINDS, *FORMAT_KEYS))
            bad(key, f"is neither a kind of data nor a setting{hint}")
    separators = {"decimal_separator", "thousands_separator"}
    tables_given = [document[kind] for kind in KINDS if kind in document]
    if any(isinstance(t, dict) and not separators & t.keys() for t in tables_given):
        _check_separators(defaults, {}, lambda key: key, bad)  # some table uses them

    tables: dict[str, Table] = {}
    for kind in KINDS:
        if kind in document and not isinstance(document[kind], dict):
            bad(kind, f"must be a table (`[{kind}]`)")
        elif kind in document:
            table = _parse_table(kind, document[kind], defaults, bad)
            if table is not None:
                tables[kind] = table

    if not document.keys() & set(KINDS) and not bad.problems:
        bad("", "describes no kind of data; add a table such as `[claims]`")
    if bad.problems:
        raise ImportFailed(bad.problems)
    return Mapping(source=source, tables=tables, description=description)


def _check_setting(key: str, value: Any, where: str, bad: _Collector) -> bool:
    """Check one of the settings that say how the file is written."""
    if not isinstance(value, str):
        bad(where, "must be text in quotes")
        return False
    reason = None
    if key == "date_format":
        reason = check_date_format(value)
    elif key == "decimal_separator" and value not in (".", ","):
        reason = f"{quote(value)} is not `.` or `,`"
    elif key == "thousands_separator" and value not in THOUSANDS:
        reason = f"{quote(value)} is not ``, `,`, `.`, ` ` or `'`"
    elif key == "delimiter" and len(value) != 1:
        reason = f'{quote(value)} is not a single character (like ",", ";" or "\\t")'
    elif key == "format" and value not in FORMATS:
        reason = f"{quote(value)} is not {one_of(FORMATS)}"
    elif key == "encoding":
        try:
            codecs.lookup(value)
        except LookupError:
            reason = f'{quote(value)} is not an encoding (like "utf-8" or "cp1252")'
    if reason:
        bad(where, reason)
    return reason is None


def _check_separators(
    local: dict[str, Any],
    outer: dict[str, Any],
    at: Callable[[str], str],
    bad: _Collector,
) -> None:
    """Refuse one character as both the decimal and the thousands separator, as
    `1,234` could then be read two ways. `local` holds the settings of a table
    (or of the top level), `outer` those it inherits; the problem is reported at
    a key of `local`, so a clash at the top level is reported once."""
    point, group = "decimal_separator", "thousands_separator"
    if point not in local and group not in local:
        return
    decimal = local.get(point, outer.get(point, "."))
    if decimal != local.get(group, outer.get(group, "")):
        return

    if group in local:
        key, other = group, f"`{point}`"
        if point in outer and point not in local:
            other += " at the top of the file"
        elif point not in local:
            other = f"decimal separator (the default of `{point}`)"
    else:
        key, other = point, f"`{group}` at the top of the file"
    message = f"{quote(decimal)} is also the {other}; one character cannot be both, "
    bad(at(key), message + f"as `1{decimal}234` could be read two ways")


def _parse_table(
    kind: str, raw: dict[str, Any], defaults: dict[str, Any], bad: _Collector
) -> Table | None:
    """Check one `[kind]` table of a mapping file."""
    before = len(bad.problems)
    fields = {f.name: f for f in FIELDS[kind]}
    settings = dict(defaults)
    singular = SINGULAR[kind]

    def at(key: str) -> str:
        return f"[{kind}] {key}"

    local: dict[str, Any] = {}
    for key, value in raw.items():
        if key in FORMAT_KEYS:
            if _check_setting(key, value, at(key), bad):
                local[key] = value
        elif key not in TABLE_KEYS:
            hint = did_you_mean(key, TABLE_KEYS)
            bad(at(key), f"is not a mapping key{hint} (keys: {', '.join(TABLE_KEYS)})")
    settings |= local
    _check_separators(local, defaults, at, bad)

    columns = _texts(raw.get("columns", {}), at("columns"), bad)
    constants = _texts(raw.get("constants", {}), at("constants"), bad)
    for group, names in (("columns", columns), ("constants", constants)):
        for name in names:
            if name not in fields:
                hint = did_you_mean(name, fields)
                known = f" ({singular} fields: {', '.join(fields)})"
                bad(at(f"{group}.{name}"), f"is not a {singular} field{hint}{known}")
    for name in columns.keys() & constants.keys():
        bad(at(f"constants.{name}"), "is also given in `columns`; keep one of them")

    given = {*columns, *constants}
    for group in ("columns", "constants"):
        if isinstance(raw.get(group), dict):
            given |= raw[group].keys()  # a field with a wrong value is not missing
    required = [spec.name for spec in FIELDS[kind] if spec.required]
    if "columns" not in raw:
        bad(at("columns"), f"is missing; name the column of {', '.join(required)}")
    for name in required if isinstance(raw.get("columns"), dict) else ():
        if name not in given:
            message = f"no source for the required field `{name}`; name its column "
            bad(at("columns"), message + "here or give it in `constants`")
    table_given = isinstance(raw.get("columns"), dict)
    if kind == "events" and table_given and not given & {"claim_id", "customer_id"}:
        bad(at("columns"), "an event needs the column of `claim_id` or `customer_id`")

    attributes = _names(raw.get("attributes"), at("attributes"), bad)
    dates = _names(raw.get("date_attributes"), at("date_attributes"), bad) or []
    if kind not in HAS_ATTRIBUTES and (attributes is not None or dates):
        bad(at("attributes"), f"{kind} keep no attributes; remove this key")
    for column in dates:
        if attributes is not None and column not in attributes:
            bad(at("date_attributes"), f"`{column}` is not listed in `attributes`")
    if dates and "date_format" not in settings:
        bad(at("date_attributes"), "needs a `date_format` to read the dates with")

    values = raw.get("values", {})
    if not isinstance(values, dict):
        bad(at("values"), 'must be a table, like `{ kind = { "Bill" = "invoice" } }`')
        values = {}
    values = {
        name: _texts(pairs, at(f"values.{name}"), bad) for name, pairs in values.items()
    }
    for name in values:
        if name in fields and name not in columns:
            bad(at(f"values.{name}"), f"`{name}` is not read from a column")

    if len(bad.problems) > before:
        return None
    return Table(
        kind=kind,
        source=bad.source,
        columns=columns,
        constants=constants,
        values=values,
        attributes=tuple(attributes) if attributes is not None else None,
        date_attributes=tuple(dates),
        **settings,
    )


def _texts(value: Any, where: str, bad: _Collector) -> dict[str, str]:
    """A TOML table of names to text."""
    if not isinstance(value, dict):
        bad(where, 'must be a table of names to text, like `{ id = "Number" }`')
        return {}
    for name, text in value.items():
        if not isinstance(text, str):
            bad(f"{where}.{name}", "must be text in quotes")
    return {name: text for name, text in value.items() if isinstance(text, str)}


def _names(value: Any, where: str, bad: _Collector) -> list[str] | None:
    """A TOML list of column names, or None when the key is absent."""
    if value is not None and (
        not isinstance(value, list) or not all(isinstance(v, str) for v in value)
    ):
        bad(where, 'must be a list of column names, like `["Disputed"]`')
        return None
    return value
