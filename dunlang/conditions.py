"""What the conditions of a transition say: its guard and its timer.

A guard is a tree of `and`, `or`, `not` over tests of `claim.NAME` and
`customer.NAME`; the checks ask which attributes and constants it uses and
whether it overlaps another guard of the same state. A timer says when a
transition falls due; the checks ask whether one is always due before another.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .model import (
    And,
    Attribute,
    Compare,
    Expr,
    InList,
    Literal,
    Money,
    Not,
    Operand,
    Or,
    Timer,
    TimerBasis,
    Truthy,
    ValueKind,
)

SUBJECTS = ("claim", "customer")
"""What a condition can read from: `claim.NAME` and `customer.NAME`."""

BUILT_IN_ATTRIBUTES: dict[tuple[str, str], ValueKind] = {
    ("claim", "amount"): ValueKind.MONEY,
    ("claim", "open_amount"): ValueKind.MONEY,
    ("claim", "overdue_amount"): ValueKind.MONEY,
    ("claim", "days_overdue"): ValueKind.DAYS,
    ("claim", "due_date"): ValueKind.DATE,
    ("claim", "issue_date"): ValueKind.DATE,
    ("claim", "kind"): ValueKind.TEXT,
    ("claim", "currency"): ValueKind.TEXT,
    ("claim", "id"): ValueKind.TEXT,
    ("customer", "credit_limit"): ValueKind.MONEY,
    ("customer", "total_open_amount"): ValueKind.MONEY,
    ("customer", "days_since_oldest_unpaid"): ValueKind.DAYS,
    ("customer", "open_claims"): ValueKind.NUMBER,
    ("customer", "overdue_claims"): ValueKind.NUMBER,
    ("customer", "kind"): ValueKind.TEXT,
    ("customer", "segment"): ValueKind.TEXT,
    ("customer", "country"): ValueKind.TEXT,
    ("customer", "language"): ValueKind.TEXT,
    ("customer", "id"): ValueKind.TEXT,
    ("customer", "name"): ValueKind.TEXT,
}
"""Attributes the engine fills itself; any other name is an extra data column."""


def attribute_kind(operand: Operand) -> ValueKind:
    """What a literal or a built-in attribute holds; extra data columns and
    unknown names hold anything."""
    if isinstance(operand, Literal):
        return operand.kind
    return BUILT_IN_ATTRIBUTES.get((operand.subject, operand.name), ValueKind.ANY)


# ---- walking ----------------------------------------------------------------


def walk(expr: Expr) -> Iterator[Expr]:
    """Every condition inside `expr`, itself included; no recursion, so deeply
    nested guards cannot exhaust the stack."""
    stack: list[Expr] = [expr]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, Not):
            stack.append(node.operand)
        elif isinstance(node, (And, Or)):
            stack.extend(reversed(node.operands))


def literals(expr: Expr) -> Iterator[Literal]:
    """Every constant in `expr`, list options included."""
    for node in walk(expr):
        if isinstance(node, Compare):
            yield from (o for o in (node.left, node.right) if isinstance(o, Literal))
        elif isinstance(node, InList):
            if isinstance(node.item, Literal):
                yield node.item
            yield from node.options


def attributes(expr: Expr) -> Iterator[Attribute]:
    """Every value `expr` reads from the data."""
    for node in walk(expr):
        if isinstance(node, Compare):
            yield from (o for o in (node.left, node.right) if isinstance(o, Attribute))
        elif isinstance(node, InList) and isinstance(node.item, Attribute):
            yield node.item
        elif isinstance(node, Truthy):
            yield node.attribute


# Guards are compared for overlap only up to this many alternatives; beyond
# that a policy is too tangled to judge and the check stays silent.
_MAX_ALTERNATIVES = 64
_MAX_DEPTH = 100


# ---- overlap of guards ------------------------------------------------------

# An atom is one test of one attribute against constants, already negated if
# it stood under `not`: (attribute, operator, values). For `in` and `not in`
# the values are all options; otherwise exactly one.
_Value = tuple[str, Any]
_Atom = tuple[str, str, tuple[_Value, ...]]
_NEGATE = {
    "<": ">=",
    "<=": ">",
    ">": "<=",
    ">=": "<",
    "=": "!=",
    "!=": "=",
    "in": "not in",
    "not in": "in",
}
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "!=": "!="}


def _value(literal: Literal) -> _Value:
    """A literal as (domain, comparable value); days and numbers share a domain."""
    value = literal.value
    if isinstance(value, Money):
        return (f"money {value.currency}", value.amount)
    if literal.kind is ValueKind.DAYS:
        return (ValueKind.NUMBER.name, value)
    return (literal.kind.name, value)


def _atom(node: Expr, negated: bool) -> _Atom | None:
    """One test as an atom, or None for a test that is not attribute against
    constants (two attributes, two constants)."""
    atom: _Atom
    if isinstance(node, Compare):
        left, right, operator = node.left, node.right, node.operator
        if isinstance(left, Literal) and isinstance(right, Attribute):
            left, right, operator = right, left, _FLIP[operator]
        if not (isinstance(left, Attribute) and isinstance(right, Literal)):
            return None
        atom = (str(left), operator, (_value(right),))
    elif isinstance(node, InList) and isinstance(node.item, Attribute):
        operator = "not in" if node.negated else "in"
        atom = (str(node.item), operator, tuple(_value(o) for o in node.options))
    elif isinstance(node, Truthy):
        atom = (str(node.attribute), "=", ((ValueKind.FLAG.name, True),))
    else:
        return None
    return (atom[0], _NEGATE[atom[1]], atom[2]) if negated else atom


def _alternatives(
    expr: Expr,
    negated: bool = False,
    depth: int = 0,
) -> list[list[_Atom]] | None:
    """The guard as alternatives of all-must-hold atoms; None when too large.

    Tests that are not attribute-against-constant are left out: they might
    hold, so leaving them out never invents an overlap that cannot happen.
    """
    if depth > _MAX_DEPTH:
        return None
    if isinstance(expr, Not):
        return _alternatives(expr.operand, not negated, depth + 1)
    if isinstance(expr, (And, Or)):
        parts: list[list[list[_Atom]]] = []
        for operand in expr.operands:
            part = _alternatives(operand, negated, depth + 1)
            if part is None:
                return None
            parts.append(part)
        if isinstance(expr, Or) != negated:
            joined = [alternative for part in parts for alternative in part]
        else:
            joined = [[]]
            for part in parts:
                joined = [a + b for a in joined for b in part]
                if len(joined) > _MAX_ALTERNATIVES:
                    return None
        return joined if len(joined) <= _MAX_ALTERNATIVES else None
    atom = _atom(expr, negated)
    return [[atom]] if atom else [[]]


def _satisfiable(atoms: list[_Atom]) -> bool | None:
    """Whether one value can pass all these tests of one attribute; None when
    the tests mix kinds of value and cannot be judged."""
    domains = {value[0] for _, _, values in atoms for value in values}
    if len(domains) != 1:
        return None if domains else True
    domain = domains.pop()
    ordered = domain not in (ValueKind.TEXT.name, ValueKind.FLAG.name)

    candidates: set[Any] | None = {True, False} if domain == "FLAG" else None
    excluded: set[Any] = set()
    low: tuple[Any, bool] | None = None  # (bound, strict)
    high: tuple[Any, bool] | None = None
    for _, operator, values in atoms:
        plain = {v for _, v in values}
        if operator in ("=", "in"):
            candidates = plain if candidates is None else candidates & plain
        elif operator in ("!=", "not in"):
            excluded |= plain
        elif not ordered:
            return None
        elif operator in (">", ">="):
            low = _tighter(low, plain.pop(), operator == ">", above=True)
        else:
            high = _tighter(high, plain.pop(), operator == "<", above=False)

    def fits(value: Any) -> bool:
        if value in excluded:
            return False
        if low is not None and (value < low[0] or (value == low[0] and low[1])):
            return False
        return high is None or value < high[0] or (value == high[0] and not high[1])

    if candidates is not None:
        return any(fits(value) for value in candidates)
    if low is None or high is None:
        return True
    if low[0] == high[0]:
        return fits(low[0])
    return bool(low[0] < high[0])


def _tighter(
    bound: tuple[Any, bool] | None, value: Any, strict: bool, above: bool
) -> tuple[Any, bool]:
    """The narrower of a lower (`above`) or upper bound and a new one."""
    if bound is None:
        return (value, strict)
    if value == bound[0]:
        return (value, strict or bound[1])
    return (value, strict) if (value > bound[0]) == above else bound


def overlap(first: Expr, second: Expr) -> str | None:
    """The attribute both guards test when both can hold at once, else None."""
    left, right = _alternatives(first), _alternatives(second)
    if left is None or right is None:
        return None
    for a in left:
        for b in right:
            shared = {atom[0] for atom in a} & {atom[0] for atom in b}
            if not shared:
                continue
            verdicts = {
                name: _satisfiable([atom for atom in a + b if atom[0] == name])
                for name in {atom[0] for atom in a + b}
            }
            if any(v is False for v in verdicts.values()):
                continue
            proven = sorted(n for n in shared if verdicts[n])
            if proven:
                return proven[0]
    return None


# ---- timers -----------------------------------------------------------------


def _immediate(timer: Timer | None) -> bool:
    """Due as soon as the claim is in the state."""
    return timer is None or (
        timer.basis is TimerBasis.IN_STATE
        and timer.days == 0
        and not timer.end_of_month
    )


def due_before(first: Timer | None, second: Timer | None, strictly: bool) -> bool:
    """Whether `first` is always due no later (or, `strictly`, always earlier)
    than `second`, whenever the claim entered the state.

    A days-overdue timer may already be due on entry; a business day count is
    never shorter than the same count of calendar days; the end of the month
    only moves a date later.
    """
    if _immediate(first):
        if not strictly:
            return True
        return (
            second is not None
            and second.basis is TimerBasis.IN_STATE
            and not _immediate(second)
        )
    if first is None or second is None or _immediate(second):
        return False
    if first.business_days and not second.business_days:
        return False
    if first.end_of_month and (strictly or not second.end_of_month):
        return False
    if first.basis is TimerBasis.IN_STATE and second.basis is TimerBasis.OVERDUE:
        return False
    if strictly:
        return second.basis is TimerBasis.IN_STATE and first.days < second.days
    return first.days <= second.days


def timer_text(timer: Timer | None) -> str:
    """A timer as the policy would say it."""
    if timer is None:
        return "at once"
    unit = "day" if timer.days == 1 else "days"
    business = "business " if timer.business_days else ""
    month = " at end of month" if timer.end_of_month else ""
    return f"after {timer.days} {business}{unit} {timer.basis.value}{month}"


__all__ = [
    "BUILT_IN_ATTRIBUTES",
    "SUBJECTS",
    "attribute_kind",
    "attributes",
    "due_before",
    "literals",
    "overlap",
    "timer_text",
    "walk",
]
