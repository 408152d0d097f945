"""Meaning checks on an assembled policy model.

The transform has already put every statement in its place; this module asks
whether the result makes sense as a dunning policy: are all names known, can
every claim move on, can every rule ever fire, do values of one kind meet values
of the same kind. Every problem found is reported, never only the first.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import logging
import os
import re
import zoneinfo
from collections.abc import Iterable, Iterator
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property, lru_cache

import babel.numbers
import holidays

from .conditions import (
    BUILT_IN_ATTRIBUTES,
    SUBJECTS,
    attribute_kind,
    attributes,
    due_before,
    literals,
    overlap,
    timer_text,
    walk,
)
from .errors import Diagnostic, suggest
from .model import (
    BACK,
    PAID,
    Attribute,
    Compare,
    Dunning,
    Event,
    EventRule,
    Expr,
    GroupRule,
    InList,
    Literal,
    Measure,
    MeasureKind,
    Money,
    Operand,
    Policy,
    Span,
    StateKind,
    Timer,
    TimerBasis,
    Transition,
    Truthy,
    ValueKind,
)

log = logging.getLogger(__name__)

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

# Pieces of policy text, to find a value inside a statement.
_NUMBER = r"\d+(?:\.\d+)?"
_CODE = r"[A-Z]{3}\b"
_QUOTED = re.compile(r'"[^"\n]*"')

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
_EVENTS = tuple(event.value for event in Event)
_UNORDERED = frozenset({ValueKind.TEXT, ValueKind.FLAG})

LARGEST_AMOUNT = Decimal(10) ** 15
"""The largest amount a policy may write, the same limit as on import."""

MAX_TIMER_DAYS = 36500
"""The longest timer a policy may set: a hundred years of days."""

PLUGIN_GROUP = "dunning.measures"
"""The entry point group in which plug-ins offer further kinds of measure."""

BUILT_IN_KINDS = tuple(
    kind.value for kind in MeasureKind if kind is not MeasureKind.PLUGIN
)
"""The kinds of measure the language knows without any plug-in."""

# How close a word must be to a built-in kind to be taken for a misspelling of
# it: `leter` and `emial` are, `sms` and `teams` are not.
_KIND_CUTOFF = 0.75


def check_policy(
    policy: Policy, plugins: Iterable[str] | None = None
) -> list[Diagnostic]:
    """Every meaning error and warning found in `policy`, in file order.

    `plugins` names the plug-in measure kinds to accept; by default those of
    the installed plug-ins (`installed_measure_plugins`).
    """
    known = installed_measure_plugins() if plugins is None else frozenset(plugins)
    checker = _Checker(policy, known)
    checker.run()
    return sorted(checker.found, key=lambda d: (d.span.line, d.span.column, d.code))


@lru_cache(maxsize=1)
def installed_measure_plugins() -> frozenset[str]:
    """The measure kinds installed plug-ins provide: the names of the entry points
    in the group `dunning.measures`. The plug-ins themselves are not loaded."""
    names = frozenset(
        entry.name for entry in importlib.metadata.entry_points(group=PLUGIN_GROUP)
    )
    log.debug("measure kinds of installed plug-ins: %s", sorted(names))
    return names


# ---- helpers ----------------------------------------------------------------


def _hint(name: str, known: Iterable[str], what: str, empty: str) -> str:
    """`errors.suggest`, with a plain sentence for when nothing is known yet."""
    known = set(known)
    return suggest(name, known, what) if known else empty


def _closest(name: str, known: Iterable[str]) -> str:
    """`did you mean X? ` for a list too long to print, or nothing.

    Among equally close names the one sharing the longest beginning wins, so
    `EUX` suggests `EUR` rather than `XEU`.
    """

    def score(candidate: str) -> tuple[float, int]:
        ratio = difflib.SequenceMatcher(None, name, candidate).ratio()
        prefix = len(os.path.commonprefix([name, candidate]))
        return ratio, prefix

    scored = [(score(candidate), candidate) for candidate in known]
    best = max(scored, default=None)
    if best is None or best[0][0] < 0.6:
        return ""
    return f"did you mean `{best[1]}`? "


def _name_span(attribute: Attribute) -> Span:
    """The span of the part before the dot: `custmer` in `custmer.kind`."""
    span = attribute.span
    return Span(span.line, span.column, span.line, span.column + len(attribute.subject))


def _percent(value: Decimal) -> str:
    return f"{value.normalize():f} %"


def _decimals(places: int) -> str:
    """`2 decimal places`, `no decimal places`, for hints about a currency."""
    if places == 0:
        return "no decimal places"
    return f"{places} decimal place" + ("" if places == 1 else "s")


@lru_cache(maxsize=1)
def _currencies() -> frozenset[str]:
    return frozenset(babel.numbers.list_currencies())


@lru_cache(maxsize=1)
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _is_time_zone(name: str) -> bool:
    """Whether the time zone database knows `name`; the list of names can be
    empty where the database is only reachable by loading a zone."""
    if name == "UTC" or name in _time_zones():
        return True
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


@lru_cache(maxsize=1)
def _calendars() -> dict[str, list[str]]:
    return holidays.list_supported_countries(include_aliases=False)


# ---- the checker ------------------------------------------------------------


class _Checker:
    """Walks one policy and collects diagnostics; each `_check_*` is one concern."""

    def __init__(self, policy: Policy, plugins: frozenset[str]) -> None:
        self.policy = policy
        self.plugins = plugins
        self.found: list[Diagnostic] = []
        self._seen: set[tuple[str, Span, str]] = set()
        currency = policy.header.currency
        self.currency = currency if currency in _currencies() else None

    @cached_property
    def _lines(self) -> list[str]:
        """The lines of the policy text, split once for all `_locate` calls."""
        return self.policy.source.splitlines()

    def report(self, code: str, message: str, span: Span, hint: str | None) -> None:
        """Add a diagnostic once; a series used by several blocks is checked once
        per block but its problems are reported once."""
        key = (code, span, message)
        if key in self._seen:
            return
        self._seen.add(key)
        log.debug("%s at %s: %s", code, span, message)
        self.found.append(Diagnostic(code, message, span, hint, self.policy.path))

    def run(self) -> None:
        """Run every check over the whole policy."""
        self._check_header()

        self._check_rounding()

        self._check_small_balance()

        self._check_groups()

        self._check_measures()

        self._check_measure_names()

        for expr in self._guards():
            self._check_guard(expr)

        for dunning in self.policy.dunnings.values():
            self._check_block(dunning)

    # ---- header, groups, measures -----------------------------------------

    def _check_header(self) -> None:
        header = self.policy.header
        if self.currency is None:
            self.report(
                "E215",
                f"`{header.currency}` is not a currency code",
                header.currency_span,
                f"{_closest(header.currency, _currencies())}write a three-letter "
                "currency code like EUR, USD or CHF",
            )

        zone = header.timezone
        if not _is_time_zone(zone):
            self.report(
                "E215",
                f"`{zone}` is not a time zone",
                header.timezone_span,
                f"{_closest(zone, _time_zones())}write a zone name like "
                '"Europe/Berlin", "America/New_York" or "UTC"',
            )

        calendar = header.calendar
        if calendar is None:
            return
        span = header.calendar_span
        regions = _calendars().get(calendar.country)
        if regions is None:
            self.report(
                "E215",
                f"`{calendar.country}` is not a country with a holiday calendar",
                Span(span.line, span.column, span.line, span.column + 2),
                f"{_closest(calendar.country, _calendars())}write a two-letter "
                "country code like DE, optionally with a region like DE-NI",
            )
        elif calendar.region is not None and calendar.region not in regions:
            self.report(
                "E215",
                f"`{calendar.region}` is not a region of {calendar.country}",
                Span(span.line, span.column + 3, span.line, span.end_column),
                _hint(
                    calendar.region,
                    [r for r in regions if r.isupper()],
                    f"regions of {calendar.country}",
                    f"{calendar.country} has no regions; write just "
                    f"`calendar {calendar.country}`",
                ),
            )

    def _check_rounding(self) -> None:
        header = self.policy.header
        step = header.rounding
        if step is None:
            return
        written = f"`rounding {step}`"
        if step <= 0:
            self.report(
                "E218",
                f"{written} rounds to nothing",
                header.rounding_span,
                "amounts charged are rounded to a multiple of this step; give "
                "one above 0, like 0.05 for cash in CHF",
            )
            return
        if self.currency is None:
            return  # the currency itself is already reported (E215)
        places = babel.numbers.get_currency_precision(self.currency)
        unit = Decimal(1).scaleb(-places)
        if step % unit != 0:
            examples = " or ".join(f"{unit * n:f}" for n in (5, 10))
            self.report(
                "E218",
                f"{written} is not a whole multiple of {unit:f}, the smallest "
                f"unit of {self.currency}",
                header.rounding_span,
                f"amounts in {self.currency} are counted in steps of {unit:f}; "
                f"give a multiple of it, like {examples}",
            )

    def _check_small_balance(self) -> None:
        rule = self.policy.small_balance
        if rule is None:
            return
        span = self._locate(rule.span, rf"\bbelow\s+({_NUMBER}\s*{_CODE})", rule.span)
        self._check_currency(rule.limit, span, "the small balance limit")
        if rule.limit.amount <= 0:
            self.report(
                "E214",
                f"`small balance below {rule.limit}` takes no claim",
                span,
                "no claim has less than nothing open; give a limit above 0, "
                f"like 5 {self.currency or rule.limit.currency}",
            )

    def _check_groups(self) -> None:
        groups = self.policy.groups
        first: dict[str, GroupRule] = {}
        fallback = None
        for rule in groups:
            if rule.name in first:
                self.report(
                    "E202",
                    f"group `{rule.name}` is defined twice",
                    rule.name_span,
                    f"the first rule for `{rule.name}` is on line "
                    f"{first[rule.name].name_span.line}; join the conditions with `or` "
                    "in one rule",
                )
            else:
                first[rule.name] = rule
            if fallback is not None:
                self.report(
                    "W304",
                    f"group rule `{rule.name}` comes after the fallback group "
                    "and is never used",
                    rule.name_span,
                    f"customers are matched from the top and `{fallback.name}` on "
                    f"line {fallback.name_span.line} takes everyone left; move this "
                    "rule above it",
                )
            elif rule.guard is None:
                fallback = rule

        if fallback is None:
            span = groups[-1].span if groups else self.policy.header.span
            self.report(
                "E204",
                "no group takes the customers that no rule matches",
                span,
                "add a last group rule like `group standard otherwise`, so that "
                "every customer has a dunning group",
            )

        for name, rule in first.items():
            after_fallback = fallback is not None and fallback.span < rule.span
            if name not in self.policy.dunnings and not after_fallback:
                self.report(
                    "E205",
                    f"group `{name}` has no dunning block",
                    rule.name_span,
                    f"add a block starting with `dunning {name}` that says how the "
                    "claims of this group are dunned",
                )
        for dunning in self.policy.dunnings.values():
            if dunning.group not in first:
                self.report(
                    "E203",
                    f"unknown dunning group `{dunning.group}`",
                    dunning.name_span,
                    _hint(
                        dunning.group,
                        first,
                        "dunning groups",
                        f"declare it first, like `group {dunning.group} otherwise`",
                    ),
                )

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
                measure.span, rf"\b{word}\s+({_NUMBER}\s*{value})", measure.span
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
                first, last = at("min", _CODE), at("max", _CODE)
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
                    money, at(word, _CODE), f"the {what} of measure `{name}`"
                )

    def _locate(self, within: Span, pattern: str, fallback: Span) -> Span:
        """The span of the first group of `pattern` in the lines of `within`.

        The model keeps no place for the parts of a measure or for `back`; the
        policy text has it. Quoted texts are blanked first so that a template
        named "fee 5 USD" is not taken for a fee.
        """
        lines = self._lines
        for line in range(within.line, min(within.end_line, len(lines)) + 1):
            text = _QUOTED.sub(lambda m: " " * len(m.group()), lines[line - 1])
            match = re.search(pattern, text)
            if match:
                start, end = match.span(1)
                return Span(line, start + 1, line, end + 1)
        return fallback

    def _check_currency(self, money: Money, span: Span, what: str) -> None:
        if money.currency not in _currencies():
            self.report(
                "E215",
                f"`{money.currency}` is not a currency code",
                span,
                f"{_closest(money.currency, _currencies())}write a three-letter "
                "currency code like EUR, USD or CHF",
            )
        elif self.currency is not None and money.currency != self.currency:
            header = self.policy.header
            where = (
                f"on line {header.currency_span.line}"
                if header.currency_span != header.span
                else "by default"
            )
            self.report(
                "E212",
                f"{what} is in {money.currency}, but the policy currency is "
                f"{self.currency}",
                span,
                f"the policy works in {self.currency} ({where}); write "
                f"{money.amount} {self.currency}, or change the policy currency",
            )
        else:
            self._check_amount(money, span, what)

    def _check_amount(self, money: Money, span: Span, what: str) -> None:
        """An amount the engine can book: at most LARGEST_AMOUNT, and no finer
        than the smallest unit of its currency (0.01 EUR, 1 JPY)."""
        amount, currency = money.amount, money.currency
        if amount > LARGEST_AMOUNT:
            self.report(
                "E214",
                f"{what} is {amount:f} {currency}, more than the largest amount "
                "the engine books",
                span,
                f"an amount may be at most {LARGEST_AMOUNT:f} (10^15), as on "
                "import; write a smaller amount",
            )
            return
        places = babel.numbers.get_currency_precision(currency)
        exponent = amount.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > places:
            unit = Decimal(1).scaleb(-places)
            self.report(
                "E214",
                f"{what} is {amount:f} {currency}, finer than {unit:f}, the "
                f"smallest unit of {currency}",
                span,
                f"amounts in {currency} have {_decimals(places)}; write it like "
                f"{max(amount.quantize(unit, rounding=ROUND_HALF_UP), unit):f} "
                f"{currency}",
            )

    # ---- guards -------------------------------------------------------------

    def _transitions(self) -> Iterator[Transition]:
        for series in self.policy.series.values():
            yield from series.transitions
        for dunning in self.policy.dunnings.values():
            yield from dunning.transitions

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

    # ---- dunning blocks -------------------------------------------------------

    def _check_block(self, dunning: Dunning) -> None:
        log.debug("checking dunning block %s", dunning.group)
        self._check_uses(dunning)

        unknown = self._check_events(dunning)

        reached = self._reachable(dunning)
        self._check_states(dunning, reached, unknown)

        # `Dunning.transitions_from` for every state, in one pass.
        leaving: dict[str, list[Transition]] = {}
        for transition in dunning.transitions:
            leaving.setdefault(transition.source, []).append(transition)
        for state in dunning.states:
            self._check_order(tuple(leaving.get(state, ())))

        self._check_chains(dunning)

    def _check_uses(self, dunning: Dunning) -> None:
        seen: set[str] = set()
        for name, span in zip(dunning.uses, dunning.use_spans, strict=False):
            if name in seen and name in self.policy.series:
                self.report(
                    "E202",
                    f"series `{name}` is used twice",
                    span,
                    "use each series once per dunning block",
                )
            seen.add(name)

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
                        _hint(
                            name,
                            self.policy.measures,
                            "measures",
                            f'define it first, like `measure {name} = letter "{name}"`',
                        ),
                    )

    def _check_events(self, dunning: Dunning) -> set[str]:
        """Event names, `from` states and `back`; returns the unknown states."""
        states = dunning.states
        known = {dunning.initial, PAID}
        known.update(s for s, kind in states.items() if kind is not StateKind.NORMAL)
        for transition in dunning.transitions:
            known.update((transition.source, transition.target))
        known.update(r.target for r in dunning.events if r.target != BACK)
        holds = sorted(s for s, kind in states.items() if kind is StateKind.HOLD)
        hold_list = ", ".join(holds) or "none yet"
        events = _EVENTS
        unknown: set[str] = set()

        for rule in dunning.events:
            if rule.event not in events:
                self.report(
                    "E207",
                    f"unknown event `{rule.event}`",
                    rule.event_span,
                    suggest(rule.event, events, "events"),
                )
            for source, span in zip(rule.sources, rule.source_spans, strict=False):
                if source not in known:
                    unknown.add(source)
                    self.report(
                        "E203",
                        f"unknown state `{source}`",
                        span,
                        suggest(source, known, "states"),
                    )
                elif states.get(source) is StateKind.TERMINAL:
                    self._terminal(source, span)
                elif rule.target == BACK and states.get(source) is not StateKind.HOLD:
                    self.report(
                        "E216",
                        f"`back` returns from a hold state, but `{source}` is not one",
                        span,
                        f"name only hold states after `from` (hold states: "
                        f"{hold_list}), or name the state to go to instead of `back`",
                    )
            if rule.target == BACK and not rule.sources:
                example = f"`from {holds[0]}`" if holds else "`from on_hold`"
                self.report(
                    "E216",
                    "`back` needs `from` naming the hold states it returns from",
                    self._locate(rule.span, r"->\s*(back)\b", rule.span),
                    f"without `from` the rule applies in every state; name the hold "
                    f"states, like {example} (hold states: {hold_list})",
                )

        for transition in dunning.transitions:
            if transition.target == BACK:
                self.report(
                    "E216",
                    "`back` can only be the target of an `on` rule",
                    transition.target_span,
                    "a timed transition names the state it goes to",
                )
        return unknown

    def _terminal(self, state: str, span: Span) -> None:
        self.report(
            "E209",
            f"`{state}` is a terminal state; no rule can leave it",
            span,
            f"a claim in `{state}` stays there; remove this rule, or take `{state}` "
            "off the `terminal` line"
            if state != PAID
            else "a paid claim stays paid; remove this rule",
        )

    def _reachable(self, dunning: Dunning) -> set[str]:
        """States a claim can get to from the initial state."""
        leads_to: dict[str, list[str]] = {}
        for transition in dunning.transitions:
            leads_to.setdefault(transition.source, []).append(transition.target)
        # An `on` rule without `from` leaves every state but a terminal one.
        from_anywhere: list[str] = []
        for rule in dunning.events:
            if rule.target == BACK:
                continue
            if not rule.sources:
                from_anywhere.append(rule.target)
            for source in rule.sources:
                leads_to.setdefault(source, []).append(rule.target)

        states = dunning.states
        reached = {dunning.initial}
        todo = [dunning.initial]
        while todo:
            state = todo.pop()
            if states.get(state) is StateKind.TERMINAL:
                continue
            for target in (*leads_to.get(state, ()), *from_anywhere):
                if target not in reached:
                    reached.add(target)
                    todo.append(target)
        return reached

    def _check_states(
        self, dunning: Dunning, reached: set[str], unknown: set[str]
    ) -> None:
        group = dunning.group
        targets = {t.target for t in dunning.transitions}
        targets.update(r.target for r in dunning.events)
        leaves_anywhere = any(not r.sources for r in dunning.events)

        for transition in dunning.transitions:
            if dunning.states.get(transition.source) is StateKind.TERMINAL:
                self._terminal(transition.source, transition.source_span)

        for state, kind in dunning.states.items():
            if state == PAID or state in unknown:
                continue
            span = dunning.state_spans.get(state, dunning.name_span)
            if state not in reached:
                hint = (
                    f"no transition or `on` rule leads to `{state}`; add one, or "
                    "remove the state"
                    if state not in targets
                    else f"only states that are never reached lead to `{state}`"
                )
                self.report(
                    "W302",
                    f"state `{state}` can never be reached (dunning group `{group}`)",
                    span,
                    hint,
                )
                continue
            if kind is StateKind.TERMINAL or leaves_anywhere:
                continue
            if any(t.source == state for t in dunning.transitions):
                continue
            if any(state in r.sources for r in dunning.events):
                continue
            self.report(
                "E208",
                f"a claim in `{state}` can never leave it (dunning group `{group}`)",
                span,
                f"add a transition from `{state}` or an `on` rule that leaves it, or "
                f"declare it with `terminal {state}`",
            )

    def _check_order(self, transitions: tuple[Transition, ...]) -> None:
        """Transitions of one state are tried in written order: find the ones
        that can never fire and the ones whose conditions overlap."""
        for j, later in enumerate(transitions):
            if later.timer is not None and later.timer.days > MAX_TIMER_DAYS:
                self.report(
                    "E214",
                    f"`after {later.timer.days} days` is more than a hundred years",
                    later.timer.span,
                    f"give a number of days up to {MAX_TIMER_DAYS}",
                )
            if (
                later.timer is not None
                and later.timer.business_days
                and self.policy.header.calendar is None
            ):
                self.report(
                    "W306",
                    "business days are counted without public holidays: the policy "
                    "has no `calendar`",
                    later.timer.span,
                    "add a `calendar` line below the `policy` line, for example "
                    "`calendar DE-NW`; without one only Saturdays and Sundays are "
                    "skipped",
                )
            loop = self._restarting_loop(transitions, j)
            if loop is not None:
                self.report(
                    "E217",
                    f"`{later.rule}` can never fire",
                    later.timer.span if later.timer is not None else later.target_span,
                    f"`{loop.rule}` on line {loop.span.line} comes first, has no "
                    "condition and returns to the same state, so it fires again "
                    "before this transition gets its turn; put it after this one, "
                    "give it a `when` condition, or make it wait longer",
                )
                continue
            killer = self._dead(transitions, j)
            if killer is not None:
                self.report(
                    "E217",
                    f"`{later.rule}` can never fire",
                    later.timer.span if later.timer is not None else later.target_span,
                    f"`{killer.rule}` on line {killer.span.line} has no condition and "
                    f"is always due first ({timer_text(killer.timer)}); give it a "
                    "`when` condition, or remove this transition",
                )
                continue
            if later.guard is None:
                continue
            for earlier in transitions[:j]:
                if earlier.guard is None or earlier is later:
                    continue
                name = overlap(earlier.guard, later.guard)
                if name is not None:
                    self.report(
                        "E210",
                        f"`{later.rule}` can apply to the same claims as "
                        f"`{earlier.rule}` on line {earlier.span.line}",
                        later.guard.span,
                        f"both conditions on `{name}` can hold at once, and then the "
                        "transition written first wins; make the conditions exclude "
                        "each other, or leave the last one without `when`",
                    )
                    break

    @staticmethod
    def _restarting_loop(
        transitions: tuple[Transition, ...], index: int
    ) -> Transition | None:
        """An earlier unconditional transition back to the same state that fires
        again before this one can ever be due."""
        target = transitions[index]
        for other in transitions[:index]:
            timer = other.timer
            if (
                other.guard is not None
                or other.source != other.target
                or timer is None
                or timer.basis is not TimerBasis.IN_STATE
            ):
                continue
            later = target.timer
            if timer.days <= 1 or (
                later is not None
                and later.basis is TimerBasis.IN_STATE
                and later.business_days == timer.business_days
                and later.days >= timer.days
            ):
                return other
        return None

    @staticmethod
    def _dead(transitions: tuple[Transition, ...], index: int) -> Transition | None:
        """The unconditional transition that always fires before this one."""
        target = transitions[index]
        for i, other in enumerate(transitions):
            if i == index or other.guard is not None or other is target:
                continue
            if due_before(other.timer, target.timer, strictly=i > index):
                return other
        return None

    def _check_chains(self, dunning: Dunning) -> None:
        """Along a -> b -> c, days overdue must grow from step to step."""
        for step in dunning.transitions:
            timer = step.timer
            if timer is None or timer.basis is not TimerBasis.OVERDUE:
                continue
            worst: tuple[Transition, Timer] | None = None
            for before in dunning.transitions:
                earlier = before.timer
                if (
                    before.target != step.source
                    or before.source == before.target
                    or earlier is None
                    or earlier.basis is not TimerBasis.OVERDUE
                    or earlier.business_days != timer.business_days
                    or earlier.end_of_month != timer.end_of_month
                    or earlier.days < timer.days
                ):
                    continue
                if worst is None or earlier.days > worst[1].days:
                    worst = (before, earlier)
            if worst is None:
                continue
            before, earlier = worst
            if earlier.days > timer.days:
                code, when = "E211", "before"
                then = "is already due on arrival"
            else:
                code, when = "W303", "on the same day as"
                then = "follows on the next run"
            self.report(
                code,
                f"`{step.rule}` falls due {when} the step into `{step.source}` "
                f"on line {before.span.line}",
                timer.span,
                f"a claim reaches `{step.source}` {timer_text(earlier)}, so this "
                f"step {then}; make it later than {earlier.days} days overdue, or "
                "count the days `in state`",
            )


__all__ = [
    "BUILT_IN_KINDS",
    "MAX_TIMER_DAYS",
    "PLUGIN_GROUP",
    "check_policy",
    "installed_measure_plugins",
]
