"""Business calendars: which days are working days in the policy's region.

Public holidays come from the `holidays` package; without a calendar in the
policy, every Monday to Friday is a business day.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as dt
from functools import lru_cache

import holidays
from attrs import frozen

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


@frozen
class Deadline:
    """The day a timer falls due and, if that is no business day, the day the
    deadline moves to (the next business day of the policy's calendar)."""

    nominal: dt.date
    day: dt.date

    @property
    def moved(self) -> bool:
        """True when the nominal day was a weekend day or a public holiday."""
        return self.day != self.nominal

    def describe(self) -> str:
        """`fell due on Sat 2026-03-07, moved to Mon 2026-03-09` or `fell due on
        2026-03-09`, for the reason of a move in the audit trail."""
        if not self.moved:
            return f"fell due on {self.day}"
        return (
            f"fell due on {_weekday(self.nominal)} {self.nominal}, moved to "
            f"{_weekday(self.day)} {self.day}"
        )


def _weekday(day: dt.date) -> str:
    return _calendar.day_abbr[day.weekday()]


def deadline_of(
    timer: Timer, due_date: dt.date, state_since: dt.date, calendar: BusinessCalendar
) -> Deadline:
    """When a timer holds for a claim: its nominal day, and that day rolled
    forward to the next business day (for calendar-day timers too)."""
    base = due_date if timer.basis is TimerBasis.OVERDUE else state_since
    return _deadline_from(timer, base, calendar)


@lru_cache(maxsize=4096)
def _deadline_from(timer: Timer, base: dt.date, calendar: BusinessCalendar) -> Deadline:
    """The deadline of a timer counted from `base`. Many claims share a due
    date, so a run asks the same question many times."""
    try:
        if timer.business_days:
            day = calendar.add_business_days(base, timer.days)
        else:
            day = base + dt.timedelta(days=timer.days)
        if timer.end_of_month:
            day = end_of_month(day)
        return Deadline(day, calendar.next_business_day(day))
    except OverflowError:
        # A timer that falls beyond the last representable day never fires.
        return Deadline(dt.date.max, dt.date.max)


def due_date_of(
    timer: Timer, due_date: dt.date, state_since: dt.date, calendar: BusinessCalendar
) -> dt.date:
    """The first day on which a timer holds for a claim: never a weekend day or
    a public holiday of the calendar."""
    return deadline_of(timer, due_date, state_since, calendar).day
