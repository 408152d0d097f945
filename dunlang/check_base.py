"""What every meaning check shares: the policy checked and the problems found.

`CheckerBase` reports each problem once, finds where a value stands in the
policy text, and checks amounts and currencies, which the header, the measures
and the conditions of a policy all write. The checks of each part of a policy
build on it (`header_checks`, `measure_checks`, `guard_checks`,
`block_checks`); `checks` puts them together.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Iterable, Iterator
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property, lru_cache

import babel.numbers

from .errors import Diagnostic, suggest
from .model import Money, Policy, Span, Transition

log = logging.getLogger(__name__)

# Pieces of policy text, to find a value inside a statement.
NUMBER_PATTERN = r"[0-9]+(?:\.[0-9]+)?"
"""A number as a policy writes it: `30`, `2.50`."""
CURRENCY_PATTERN = r"[A-Z]{3}\b"
"""A currency code as a policy writes it: `EUR`."""
_QUOTED = re.compile(r'"[^"\n]*"')

LARGEST_AMOUNT = Decimal(10) ** 15
"""The largest amount a policy may write, the same limit as on import."""


# ---- helpers ----------------------------------------------------------------


def suggest_or(name: str, known: Iterable[str], what: str, empty: str) -> str:
    """`errors.suggest`, with a plain sentence for when nothing is known yet."""
    known = set(known)
    return suggest(name, known, what) if known else empty


def did_you_mean(name: str, known: Iterable[str]) -> str:
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


def _decimals(places: int) -> str:
    """`2 decimal places`, `no decimal places`, for hints about a currency."""
    if places == 0:
        return "no decimal places"
    return f"{places} decimal place" + ("" if places == 1 else "s")


@lru_cache(maxsize=1)
def known_currencies() -> frozenset[str]:
    """The three-letter codes of the currencies a policy may be written in."""
    return frozenset(babel.numbers.list_currencies())


# ---- the checker ------------------------------------------------------------


class CheckerBase:
    """The policy being checked, the problems found so far, and the checks
    that every part of a policy shares."""

    def __init__(self, policy: Policy, plugins: frozenset[str]) -> None:
        self.policy = policy
        self.plugins = plugins
        self.found: list[Diagnostic] = []
        self._seen: set[tuple[str, Span, str]] = set()
        currency = policy.header.currency
        self.currency = currency if currency in known_currencies() else None

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
        if money.currency not in known_currencies():
            self.report(
                "E215",
                f"`{money.currency}` is not a currency code",
                span,
                f"{did_you_mean(money.currency, known_currencies())}"
                "write a three-letter currency code like EUR, USD or CHF",
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

    def _transitions(self) -> Iterator[Transition]:
        for series in self.policy.series.values():
            yield from series.transitions
        for dunning in self.policy.dunnings.values():
            yield from dunning.transitions
