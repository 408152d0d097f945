"""Meaning checks on an assembled policy model.

The transform has already put every statement in its place; this module asks
whether the result makes sense as a dunning policy: are all names known, can
every claim move on, can every rule ever fire, do values of one kind meet values
of the same kind. Every problem found is reported, never only the first.

The checks of each part of a policy live in a module of their own
(`header_checks`, `measure_checks`, `guard_checks`, `block_checks`, all built
on `check_base`); this module puts them together and runs them.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Iterable
from functools import lru_cache

from .block_checks import MAX_TIMER_DAYS, BlockChecks
from .errors import Diagnostic
from .guard_checks import GuardChecks
from .header_checks import HeaderChecks
from .measure_checks import BUILT_IN_KINDS, MeasureChecks
from .model import Policy

log = logging.getLogger(__name__)

PLUGIN_GROUP = "dunning.measures"
"""The entry point group in which plug-ins offer further kinds of measure."""


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


# ---- the checker ------------------------------------------------------------


class _Checker(HeaderChecks, MeasureChecks, GuardChecks, BlockChecks):
    """Walks one policy and collects diagnostics; each `_check_*` is one concern."""

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


__all__ = [
    "BUILT_IN_KINDS",
    "MAX_TIMER_DAYS",
    "PLUGIN_GROUP",
    "check_policy",
    "installed_measure_plugins",
]
