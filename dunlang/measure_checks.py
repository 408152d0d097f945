"""Meaning checks on measures.

Each kind of measure is built in or comes from an installed plug-in; fees,
costs and interest stay within sensible bounds and are written in the policy
currency; every measure is used, and every measure a rule names is defined.
"""

from __future__ import annotations

import difflib
from decimal import Decimal

from .check_base import CURRENCY_PATTERN, NUMBER_PATTERN, CheckerBase, suggest_or
from .model import EventRule, Measure, MeasureKind, Money, Span, Transition

BUILT_IN_KINDS = tuple(
    kind.value for kind in MeasureKind if kind is not MeasureKind.PLUGIN
)
"""The kinds of measure the language knows without any plug-in."""

# How close a word must be to a built-in kind to be taken for a misspelling of
# it: `leter` and `emial` are, `sms` and `teams` are not.
_KIND_CUTOFF = 0.75


def _percent(value: Decimal) -> str:
    return f"{value.normalize():f} %"


class MeasureChecks(CheckerBase):
    """The checks on the measures of a policy and on the names rules use."""

    def _check_measures(self) -> None:
        used = {name for t in self._transitions() for name in t.measures}
        for dunning in self.policy.dunnings.values():
            used.update(name for rule in dunning.events for name in rule.measures)
        # A misspelled name in a `do` list already gets an error that suggests
        # the measure it was meant to be; that measure is not "never used".
        defined = list(self.policy.measures)
        for name in list(used - set(defined)):
            used.update(difflib.get_close_matches(name, defined, n=1, cutoff=0.6))

        for measure in self.policy.measures.values():
            self._check_measure_kind(measure)
            self._check_measure_values(measure)
            if measure.name not in used:
                self.report(
                    "W301",
                    f"measure `{measure.name}` is never used",
                    measure.name_span,
                    "name it after `do` in a transition or an `on` rule, or remove it",
                )

    def _check_measure_kind(self, measure: Measure) -> None:
        """A kind that is not built in must come from an installed plug-in; a
        word close to a built-in kind is taken for a misspelling of it."""
        kind = measure.plugin
        if measure.kind is not MeasureKind.PLUGIN or kind is None:
            return
        if kind in self.plugins:
            return
        span = self._locate(
            measure.span, r"=\s*([A-Za-z_][A-Za-z0-9_]*)", measure.name_span
        )
        installed = ", ".join(sorted(self.plugins)) or "none"
        close = difflib.get_close_matches(
            kind.lower(), BUILT_IN_KINDS, n=1, cutoff=_KIND_CUTOFF
        )
        if close:
            self.report(
                "E203",
                f"unknown kind of measure `{kind}`",
                span,
                f"did you mean `{close[0]}`? No installed plug-in provides `{kind}` "
                f"(installed plug-ins: {installed})",
            )
            return
        self.report(
            "W307",
            f"no installed plug-in provides the measure kind `{kind}`",
            span,
            f"installed plug-ins: {installed}; install the plug-in for `{kind}` "
            "on every machine that runs this policy, or use a built-in kind: "
            f"{', '.join(BUILT_IN_KINDS)}",
        )

    def _check_measure_values(self, measure: Measure) -> None:
        name = measure.name

        def at(word: str, value: str) -> Span:
            return self._locate(
                measure.span, rf"\b{word}\s+({NUMBER_PATTERN}\s*{value})", measure.span
            )

        # What each amount is called, and the word written before it.
        amounts: list[tuple[str, Money | None, str]] = []
        if measure.fee is not None:
            fee = measure.fee
            amounts += [
                ("fee", fee.fixed, "fee"),
                ("fee minimum", fee.minimum, "min"),
                ("fee maximum", fee.maximum, "max"),
            ]
            if fee.percent is not None and fee.percent > 100:
                self.report(
                    "E214",
                    f"the fee of measure `{name}` is {_percent(fee.percent)} "
                    "of the open amount",
                    at("fee", "%"),
                    "a fee can be at most 100 % of the open amount",
                )
            low, high = fee.minimum, fee.maximum
            if (
                low is not None
                and high is not None
                and low.currency == high.currency
                and low.amount > high.amount
            ):
                first, last = at("min", CURRENCY_PATTERN), at("max", CURRENCY_PATTERN)
                self.report(
                    "E214",
                    f"the fee of measure `{name}` has a minimum of {low}, "
                    f"more than its maximum of {high}",
                    Span(first.line, first.column, last.end_line, last.end_column)
                    if first.line == last.line
                    else measure.span,
                    "swap the two amounts, or raise the maximum",
                )
        if measure.cost is not None:
            cost = measure.cost
            amounts.append(("cost", cost.fixed, "cost"))
            share = cost.percent_of_collected
            if share is not None and share > 100:
                self.report(
                    "E214",
                    f"the cost of measure `{name}` is {_percent(share)} of "
                    "what is collected",
                    at("cost", "%"),
                    "a cost can be at most 100 % of what is collected",
                )
        interest = measure.interest
        if interest is not None and interest.rate is not None and interest.rate > 100:
            self.report(
                "E214",
                f"measure `{name}` charges interest of "
                f"{_percent(interest.rate)} per year",
                at("interest", "%"),
                "an interest rate can be at most 100 % per year",
            )

        for what, money, word in amounts:
            if money is not None:
                self._check_currency(
                    money, at(word, CURRENCY_PATTERN), f"the {what} of measure `{name}`"
                )

    def _check_measure_names(self) -> None:
        rules: list[Transition | EventRule] = list(self._transitions())
        for dunning in self.policy.dunnings.values():
            rules.extend(dunning.events)
        for rule in rules:
            for name, span in zip(rule.measures, rule.measure_spans, strict=False):
                if name not in self.policy.measures:
                    self.report(
                        "E203",
                        f"unknown measure `{name}`",
                        span,
                        suggest_or(
                            name,
                            self.policy.measures,
                            "measures",
                            f'define it first, like `measure {name} = letter "{name}"`',
                        ),
                    )
