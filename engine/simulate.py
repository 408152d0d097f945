"""Simulation: replay a period day by day and see what a policy would have done.

Claims appear on their issue date, payments and events on their recorded
dates (a run applies what is dated up to its as-of date), and the policy runs
on each business day of its calendar.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from dunlang.model import Policy

from .calendar import calendar_for
from .interest import BaseRateTable
from .reports import Report, build_report
from .runner import Runner
from .store import Store

log = logging.getLogger(__name__)

ONE_DAY = dt.timedelta(days=1)


def run_days(start: dt.date, end: dt.date, policy: Policy) -> list[dt.date]:
    """The business days of the policy's calendar from `start` to `end`."""
    calendar = calendar_for(policy.header.calendar)
    days, day = [], start
    while day <= end:
        if calendar.is_business_day(day):
            days.append(day)
        day += ONE_DAY
    return days


def simulate(
    store: Store,
    policy: Policy,
    start: dt.date,
    end: dt.date,
    *,
    on_day: Callable[[dt.date], None] | None = None,
    batch_size: int | None = None,
    base_rates: BaseRateTable | None = None,
) -> Report:
    """Run the policy on every business day of the period; the period's figures.

    `base_rates` is the base rate table for interest, as for a run (default:
    the bundled one).
    """
    if end < start:
        raise ValueError(f"the period ends ({end}) before it starts ({start})")
    runner = (
        Runner(store, policy, base_rates=base_rates)
        if batch_size is None
        else Runner(store, policy, batch_size=batch_size, base_rates=base_rates)
    )
    for day in run_days(start, end, policy):
        result = runner.run(day)
        log.debug("%s: %d transitions", day, result.transitions)
        if on_day is not None:
            on_day(day)
    return build_report(store, policy, start, end, base_rates)
