"""Guard evaluation: policy expressions compiled once into plain Python closures.

No `eval` or `exec`: each expression node becomes a small function. Every
attribute a guard reads is written into `seen`, so the audit trail can say
which values a decision was based on.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from dunlang.conditions import attributes
from dunlang.model import (
    And,
    Compare,
    Expr,
    InList,
    Literal,
    Money,
    Not,
    Operand,
    Or,
    Truthy,
    ValueKind,
)

Facts = Mapping[str, Mapping[str, Any]]
"""Values by subject and name: facts["claim"]["open_amount"]."""

Seen = dict[str, Any]
Guard = Callable[[Facts, Seen], bool]

_ORDER = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_TRUE_WORDS = {"true", "yes", "y", "1", "ja", "x"}
_MISSING = object()


def always(facts: Facts, seen: Seen) -> bool:
    """The guard of a transition that has none."""
    return True


def compile_guard(expr: Expr | None) -> Guard:
    """A function that evaluates `expr` for given facts, noting what it read."""
    if expr is None:
        return always
    return _compile(expr)


def _compile(expr: Expr) -> Guard:
    if isinstance(expr, And):
        parts = [_compile(e) for e in expr.operands]
        return lambda facts, seen: all(p(facts, seen) for p in parts)
    if isinstance(expr, Or):
        parts = [_compile(e) for e in expr.operands]
        return lambda facts, seen: any(p(facts, seen) for p in parts)
    if isinstance(expr, Not):
        inner = _compile(expr.operand)
        return lambda facts, seen: not inner(facts, seen)
    if isinstance(expr, Truthy):
        read = _reader(expr.attribute)
        return lambda facts, seen: _truthy(read(facts, seen))
    if isinstance(expr, InList):
        return _compile_in(expr)
    return _compile_compare(expr)


def _reader(operand: Operand) -> Callable[[Facts, Seen], Any]:
    if isinstance(operand, Literal):
        value = operand.value
        return lambda facts, seen: value
    subject, name, key = operand.subject, operand.name, str(operand)

    def read(facts: Facts, seen: Seen) -> Any:
        value = facts[subject].get(name, _MISSING)
        if value is _MISSING:
            value = None
        seen[key] = value
        return value

    return read


def _compile_compare(expr: Compare) -> Guard:
    left, right = _reader(expr.left), _reader(expr.right)
    op = expr.operator

    def compare(facts: Facts, seen: Seen) -> bool:
        a, b = _align(left(facts, seen), right(facts, seen))
        if op in _ORDER and isinstance(a, str) and isinstance(b, str):
            # Two extra data columns: ordered as numbers, or as dates, when
            # both are written as such; two texts have no order.
            a, b = _ordered(a, b)
        if a is None or b is None:
            # A missing or incomparable value equals nothing.
            return op == "!="
        if op == "=":
            return bool(a == b)
        if op == "!=":
            return bool(a != b)
        try:
            return bool(_ORDER[op](a, b))
        except TypeError:
            return False

    return compare


def _compile_in(expr: InList) -> Guard:
    item = _reader(expr.item)
    options = [o.value for o in expr.options]
    negated = expr.negated

    def member(facts: Facts, seen: Seen) -> bool:
        value = item(facts, seen)
        found = False
        for option in options:
            a, b = _align(value, option)
            if a is not None and a == b:
                found = True
                break
        return not found if negated else found

    return member


def _align(a: Any, b: Any) -> tuple[Any, Any]:
    """Bring two values to comparable plain values, or (None, None) if they are not.

    Money compares by amount only within one currency. Values from extra data
    columns arrive as text and are read as numbers, amounts, dates or flags
    when the other side asks for that.
    """
    if a is None or b is None:
        return None, None
    if isinstance(a, Money) or isinstance(b, Money):
        a, b = _as_money(a, b), _as_money(b, a)
        if a is None or b is None or a.currency != b.currency:
            return None, None
        return a.amount, b.amount
    if isinstance(a, bool) or isinstance(b, bool):
        return _truthy(a), _truthy(b)
    if isinstance(a, dt.date) or isinstance(b, dt.date):
        return _as_date(a), _as_date(b)
    if isinstance(a, (int, Decimal)) or isinstance(b, (int, Decimal)):
        return _as_number(a), _as_number(b)
    return str(a), str(b)


def _ordered(a: str, b: str) -> tuple[Any, Any]:
    """Two texts as numbers, else as dates; (None, None) when neither fits."""
    numbers = _as_number(a), _as_number(b)
    if None not in numbers:
        return numbers
    dates = _as_date(a), _as_date(b)
    if None not in dates:
        return dates
    return None, None


def _as_money(value: Any, other: Any) -> Money | None:
    if isinstance(value, Money):
        return value
    number = _as_number(value)
    if number is None or not isinstance(other, Money):
        return None
    return Money(number, other.currency)


# What a value of an extra data column must look like to count as a number or
# a date: written as the policy language writes them, digits 0-9 only. `NaN`,
# `1e3`, `1_000`, `٣` or `20250101` are none of these.
_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?", re.ASCII)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def _as_number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, float):  # from a JSON number: as it is written
        return Decimal(repr(value)) if math.isfinite(value) else None
    text = str(value).strip()
    if not _NUMBER.fullmatch(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits numbers only
        return None


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    if not _DATE.fullmatch(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, (int, Decimal)):
        return value != 0
    return str(value).strip().lower() in _TRUE_WORDS


def attributes_read(expr: Expr | None) -> set[tuple[str, str]]:
    """Every (subject, name) an expression reads."""
    if expr is None:
        return set()
    return {(a.subject, a.name) for a in attributes(expr)}


def describe_value(value: Any) -> str:
    """A value as the audit trail and `why` print it."""
    if value is None:
        return "empty"
    if isinstance(value, Money):
        return f"{value.amount} {value.currency}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


__all__ = [
    "Facts",
    "Guard",
    "Seen",
    "ValueKind",
    "always",
    "attributes_read",
    "compile_guard",
    "describe_value",
]
