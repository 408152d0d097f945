"""Meaning checks on the head of a policy and on its group rules.

The currency, time zone and holiday calendar must exist, rounding must fit the
currency, the small balance limit must take some claims, and every customer
must fall into a dunning group that has a dunning block.
"""

from __future__ import annotations

import zoneinfo
from decimal import Decimal
from functools import lru_cache

import babel.numbers
import holidays

from .check_base import (
    CURRENCY_PATTERN,
    NUMBER_PATTERN,
    CheckerBase,
    did_you_mean,
    known_currencies,
    suggest_or,
)
from .model import GroupRule, Span


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


class HeaderChecks(CheckerBase):
    """The checks on the header, rounding, small balance and group rules."""

    def _check_header(self) -> None:
        header = self.policy.header
        if self.currency is None:
            self.report(
                "E215",
                f"`{header.currency}` is not a currency code",
                header.currency_span,
                f"{did_you_mean(header.currency, known_currencies())}"
                "write a three-letter currency code like EUR, USD or CHF",
            )

        zone = header.timezone
        if not _is_time_zone(zone):
            self.report(
                "E215",
                f"`{zone}` is not a time zone",
                header.timezone_span,
                f"{did_you_mean(zone, _time_zones())}write a zone name like "
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
                f"{did_you_mean(calendar.country, _calendars())}write a two-letter "
                "country code like DE, optionally with a region like DE-NI",
            )
        elif calendar.region is not None and calendar.region not in regions:
            self.report(
                "E215",
                f"`{calendar.region}` is not a region of {calendar.country}",
                Span(span.line, span.column + 3, span.line, span.end_column),
                suggest_or(
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
        span = self._locate(
            rule.span, rf"\bbelow\s+({NUMBER_PATTERN}\s*{CURRENCY_PATTERN})", rule.span
        )
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
                    suggest_or(
                        dunning.group,
                        first,
                        "dunning groups",
                        f"declare it first, like `group {dunning.group} otherwise`",
                    ),
                )
