"""Policy model pieces written back as policy text, the one way they are spelled.

The formatter, the state diagrams and any message that quotes a guard use these
functions, so a guard reads the same wherever it shows up.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

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

LiteralText = Callable[[Literal], str]
"""Spells one literal; the formatter passes one that keeps the user's digits."""


def number_to_text(number: Decimal | int) -> str:
    """A number in plain digits, never in exponent notation, trailing zeros kept."""
    if isinstance(number, int):
        return str(number)
    return format(number, "f")


def literal_to_text(literal: Literal) -> str:
    """A literal as policy text, worked out from its value alone."""
    value = literal.value

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Money):
        return f"{number_to_text(value.amount)} {value.currency}"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return f'"{value}"'

    if literal.kind is ValueKind.PERCENT:
        return f"{number_to_text(value)} %"
    if literal.kind is ValueKind.DAYS:
        unit = "day" if value == 1 else "days"
        return f"{number_to_text(value)} {unit}"
    return number_to_text(value)


def _operand_to_text(operand: Operand, literal_text: LiteralText) -> str:
    if isinstance(operand, Attribute):
        return str(operand)
    return literal_text(operand)


def _needs_parentheses(child: Expr, parent: Expr) -> bool:
    """Whether `child` must be bracketed to mean the same inside `parent`.

    `not` binds tighter than `and`, which binds tighter than `or`. A group of
    the same kind nested in another (`a and (b and c)`) keeps its brackets, so
    the text still reads back to the very same model.
    """
    if isinstance(parent, Not):
        return isinstance(child, And | Or)
    if isinstance(parent, And):
        return isinstance(child, And | Or)
    if isinstance(parent, Or):
        return isinstance(child, Or)
    return False


def expr_to_text(expr: Expr, literal_text: LiteralText = literal_to_text) -> str:
    """A guard as canonical policy text: single spaces, only the brackets it needs.

    `literal_text` spells the constants; the default works from the model's
    values, the formatter passes one that keeps numbers exactly as written.
    """

    def part(child: Expr, parent: Expr) -> str:
        text = expr_to_text(child, literal_text)
        return f"({text})" if _needs_parentheses(child, parent) else text

    if isinstance(expr, Compare):
        left = _operand_to_text(expr.left, literal_text)
        right = _operand_to_text(expr.right, literal_text)
        return f"{left} {expr.operator} {right}"
    if isinstance(expr, InList):
        item = _operand_to_text(expr.item, literal_text)
        options = ", ".join(literal_text(option) for option in expr.options)
        operator = "not in" if expr.negated else "in"
        return f"{item} {operator} [{options}]"
    if isinstance(expr, Truthy):
        return str(expr.attribute)
    if isinstance(expr, Not):
        return f"not {part(expr.operand, expr)}"
    if isinstance(expr, And):
        return " and ".join(part(operand, expr) for operand in expr.operands)
    if isinstance(expr, Or):
        return " or ".join(part(operand, expr) for operand in expr.operands)
    raise TypeError(f"not a guard expression: {expr!r}")


def timer_to_text(timer: Timer) -> str:
    """A timer as policy text: `after 14 business days in state at end of month`."""
    words = ["after", str(timer.days)]

    if timer.business_days:
        words.append("business")
    words.append("day" if timer.days == 1 else "days")
    words.append("overdue" if timer.basis is TimerBasis.OVERDUE else "in state")
    if timer.end_of_month:
        words.append("at end of month")

    return " ".join(words)


__all__ = [
    "LiteralText",
    "expr_to_text",
    "literal_to_text",
    "number_to_text",
    "timer_to_text",
]
