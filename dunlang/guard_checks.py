"""Meaning checks on conditions: exclusions, group rules, `when` and `on` rules.

A condition names only known values, writes amounts in the policy currency,
and compares values only with values of the same kind, in a way that kind can
be compared.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from decimal import Decimal

from .check_base import CheckerBase
from .conditions import (
    BUILT_IN_ATTRIBUTES,
    SUBJECTS,
    attribute_kind,
    attributes,
    literals,
    walk,
)
from .errors import suggest
from .model import (
    Attribute,
    Compare,
    Expr,
    InList,
    Literal,
    Money,
    Operand,
    Span,
    Truthy,
    ValueKind,
)

# Which literals a value of each kind can be compared with.
_ACCEPTS: dict[ValueKind, frozenset[ValueKind]] = {
    ValueKind.MONEY: frozenset({ValueKind.MONEY}),
    ValueKind.DAYS: frozenset({ValueKind.DAYS, ValueKind.NUMBER}),
    ValueKind.NUMBER: frozenset({ValueKind.NUMBER}),
    ValueKind.PERCENT: frozenset({ValueKind.PERCENT}),
    ValueKind.TEXT: frozenset({ValueKind.TEXT}),
    ValueKind.DATE: frozenset({ValueKind.DATE}),
    ValueKind.FLAG: frozenset({ValueKind.FLAG}),
}

# How a value of each kind is compared, and how it is written, for hints.
_EXAMPLE = {
    ValueKind.DAYS: "> 30",
    ValueKind.NUMBER: "> 0",
    ValueKind.PERCENT: "> 10 %",
    ValueKind.TEXT: '= "key"',
    ValueKind.DATE: "< 2026-12-31",
}
_SAMPLE = {
    ValueKind.DAYS: "write a number of days, like 30 or 30 days",
    ValueKind.NUMBER: "write a plain number, like 3",
    ValueKind.PERCENT: "write a percentage, like 10 %",
    ValueKind.DATE: "write a date as year-month-day, like 2026-12-31",
    ValueKind.FLAG: "write true or false",
}

_ORDERING = frozenset({"<", "<=", ">", ">="})
_UNORDERED = frozenset({ValueKind.TEXT, ValueKind.FLAG})


def _name_span(attribute: Attribute) -> Span:
    """The span of the part before the dot: `custmer` in `custmer.kind`."""
    span = attribute.span
    return Span(span.line, span.column, span.line, span.column + len(attribute.subject))


class GuardChecks(CheckerBase):
    """The checks on every condition of a policy."""

    def _guards(self) -> Iterator[Expr]:
        for exclusion in self.policy.exclusions:
            yield exclusion.guard
        for rule in self.policy.groups:
            if rule.guard is not None:
                yield rule.guard
        for transition in self._transitions():
            if transition.guard is not None:
                yield transition.guard
        for dunning in self.policy.dunnings.values():
            yield from (r.guard for r in dunning.events if r.guard is not None)

    def _check_guard(self, expr: Expr) -> None:
        for attribute in attributes(expr):
            if attribute.subject not in SUBJECTS:
                self.report(
                    "E203",
                    f"unknown name `{attribute.subject}`",
                    _name_span(attribute),
                    suggest(attribute.subject, SUBJECTS, "names before the dot"),
                )
                continue
            if (attribute.subject, attribute.name) in BUILT_IN_ATTRIBUTES:
                continue
            known = [n for s, n in BUILT_IN_ATTRIBUTES if s == attribute.subject]
            close = difflib.get_close_matches(attribute.name, known, n=1, cutoff=0.8)
            if close:
                self.report(
                    "W305",
                    f"`{attribute}` is not a built-in value; it is read from a "
                    "column of the imported data",
                    attribute.span,
                    f"did you mean `{attribute.subject}.{close[0]}`? If the data "
                    "has such a column, rename it to silence this warning",
                )

        for literal in literals(expr):
            if isinstance(literal.value, Money):
                self._check_currency(literal.value, literal.span, "the amount")

        for node in walk(expr):
            if isinstance(node, Compare):
                self._check_compare(node)
            elif isinstance(node, InList):
                for option in node.options:
                    self._check_types(node.item, option, option.span)
            elif isinstance(node, Truthy):
                kind = attribute_kind(node.attribute)
                if kind not in (ValueKind.ANY, ValueKind.FLAG):
                    example = _EXAMPLE.get(kind, f"> 0 {self.currency or 'EUR'}")
                    self.report(
                        "E213",
                        f"`{node.attribute}` is {kind.value}, not true or false",
                        node.attribute.span,
                        f"compare it, like `{node.attribute} {example}`",
                    )

    def _check_compare(self, node: Compare) -> None:
        left, right = node.left, node.right
        if isinstance(left, Literal) and isinstance(right, Attribute):
            left, right = right, left
        if not self._check_types(left, right, node.span):
            return
        if node.operator in _ORDERING:
            kinds = (attribute_kind(left), attribute_kind(right))
            kind = next((k for k in kinds if k in _UNORDERED), None)
            if kind is not None:
                self.report(
                    "E213",
                    f"{kind.value} cannot be compared with `{node.operator}`",
                    node.span,
                    f"compare {kind.value} with `=`, `!=` or `in [...]`",
                )

    def _check_types(self, left: Operand, right: Operand, span: Span) -> bool:
        """Report values of different kinds; True when the kinds fit."""
        kinds = attribute_kind(left), attribute_kind(right)
        if ValueKind.ANY in kinds:
            return True
        if isinstance(right, Literal):
            if kinds[1] in _ACCEPTS[kinds[0]]:
                return True
            what = f"`{left}`" if isinstance(left, Attribute) else "this value"
            self.report(
                "E213",
                f"{what} is {kinds[0].value}, not {kinds[1].value}",
                right.span,
                self._type_hint(kinds[0], right),
            )
            return False
        if kinds[0] is kinds[1] or set(kinds) == {ValueKind.DAYS, ValueKind.NUMBER}:
            return True
        self.report(
            "E213",
            f"`{left}` is {kinds[0].value} and `{right}` is {kinds[1].value}",
            span,
            "only values of the same kind can be compared",
        )
        return False

    def _type_hint(self, kind: ValueKind, literal: Literal) -> str:
        """What to write instead, in the words of the value that was expected."""
        value = literal.value
        number = value if isinstance(value, Decimal) else None
        if kind is ValueKind.MONEY:
            amount = Decimal(100) if number is None else number
            return (
                f"write an amount with its currency, like {amount} "
                f"{self.currency or 'EUR'}"
            )
        if kind is ValueKind.TEXT:
            text = "key" if number is None else number
            return f'write the text in quotes, like "{text}"'
        return _SAMPLE[kind]
