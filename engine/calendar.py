"""Business calendars: which days are working days in the policy's region.

Public holidays come from the `holidays` package; without a calendar in the
policy, every Monday to Friday is a business day.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as dt
from functools import lru_cache

import holidays

from dunlang.model import Calendar, Timer, TimerBasis

ONE_DAY = dt.timedelta(days=1)


class BusinessCalendar:
    """Working days of one country and region."""

    def __init__(self, spec: Calendar | None) -> None:
        self.spec = spec
        if spec is None:
            self._holidays: holidays.HolidayBase | None = None
            self._weekend: frozenset[int] = frozenset({5, 6})
        else:
            self._holidays = holidays.country_holidays(spec.country, subdiv=spec.region)
            self._weekend = frozenset(getattr(self._holidays, "weekend", {5, 6}))

    def is_business_day(self, day: dt.date) -> bool:
        """True on a working day: not a weekend day, not a public holiday."""
        if day.weekday() in self._weekend:
            return False
        return self._holidays is None or day not in self._holidays

    def holiday_name(self, day: dt.date) -> str | None:
        """The name of the public holiday on `day`, if it is one."""
        return None if self._holidays is None else self._holidays.get(day)

    def add_business_days(self, start: dt.date, days: int) -> dt.date:
        """The day `days` working days after `start` (start itself not counted)."""
        day = start
        remaining = days
        while remaining > 0:
            day += ONE_DAY
            if self.is_business_day(day):
                remaining -= 1
        return day

    def next_business_day(self, day: dt.date) -> dt.date:
        """`day` itself if it is a working day, else the next one."""
        while not self.is_business_day(day):
            day += ONE_DAY
        return day


@lru_cache(maxsize=32)
def calendar_for(spec: Calendar | None) -> BusinessCalendar:
    """One shared calendar per country and region."""
    return BusinessCalendar(spec)


def end_of_month(day: dt.date) -> dt.date:
    """The last day of the month that `day` falls in."""
    return day.replace(day=_calendar.monthrange(day.year, day.month)[1])


def due_date_of(
    timer: Timer, due_date: dt.date, state_since: dt.date, calendar: BusinessCalendar
) -> dt.date:
    """The first day on which a timer holds for a claim."""
    base = due_date if timer.basis is TimerBasis.OVERDUE else state_since
    try:
        if timer.business_days:
            day = calendar.add_business_days(base, timer.days)
        else:
            day = base + dt.timedelta(days=timer.days)
        return end_of_month(day) if timer.end_of_month else day
    except OverflowError:
        # A timer that falls beyond the last representable day never fires.
        return dt.date.max
