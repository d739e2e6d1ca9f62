"""Where a rotation's hand-offs fall, found arithmetically (spec §6.4 steps 1-3, our decisions).

Hand-offs are calendar events in the rotation's zone, grouped in *periods* (days, weeks from
Monday, or months) counted from the period holding the rotation start's local date, which is
period 0. Only every ``RecurrenceMultiplier``-th period has hand-offs: periods 0, m, 2m, ...;
in those, every listed hand-off happens. So a daily rotation with multiplier 3 hands off at each
listed time on the start date and every third day after; a weekly one on the listed weekdays of
the start's week and every third week after; a monthly one on the listed days of the start's
month and every third month after. With one listed hand-off, a shift lasts exactly
``RecurrenceMultiplier`` days, weeks or months (a "day" across a DST change is 23 or 25 hours).

Monthly days 29-31 fall on the month's last day when the month is shorter (the 31st is 28 or
29 February, 30 April, ...). Every scheduled hand-off advances the rotation, even when two land
on the same instant (31st and 30th at the same time in February, or two times in one DST gap);
the empty shift between them is never emitted.

Counting hand-offs up to an instant costs the same however long ago the rotation started: whole
periods are counted by division and only the few hand-offs near the instant are converted.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from incident_contacts.oncall.settings import Recurrence, Window
from incident_contacts.oncall.zones import DAY, local_date, wall_instant

Event = tuple[int, int]
"""A hand-off inside a period: (days from the period's first day, minute of day)."""

# A run of covered time is shorter than 8 days unless the week is fully covered (then coverage
# is None); the margin also absorbs a weekly break swallowed by a DST gap.
_COVERAGE_MARGIN = timedelta(days=16)


class _Periods(Protocol):
    def locate(self, day: date) -> tuple[int, int]:
        """(period index, days from the period's first day) of a local date."""

    def first_day(self, period: int) -> date: ...

    def events(self, period: int) -> tuple[Event, ...]:
        """The period's hand-offs in wall-clock order; always the same number of them."""


class _Days:
    def __init__(self, anchor: date, recurrence: Recurrence) -> None:
        self._anchor = anchor
        self._events = tuple((0, minute) for _, minute in recurrence.hand_offs)

    def locate(self, day: date) -> tuple[int, int]:
        return (day - self._anchor).days, 0

    def first_day(self, period: int) -> date:
        return self._anchor + timedelta(days=period)

    def events(self, period: int) -> tuple[Event, ...]:
        return self._events


class _Weeks:
    def __init__(self, anchor: date, recurrence: Recurrence) -> None:
        self._monday = anchor - timedelta(days=anchor.weekday())
        self._events = recurrence.hand_offs

    def locate(self, day: date) -> tuple[int, int]:
        week, weekday = divmod((day - self._monday).days, 7)
        return week, weekday

    def first_day(self, period: int) -> date:
        return self._monday + timedelta(weeks=period)

    def events(self, period: int) -> tuple[Event, ...]:
        return self._events


class _Months:
    def __init__(self, anchor: date, recurrence: Recurrence) -> None:
        self._month = anchor.year * 12 + anchor.month - 1
        self._hand_offs = recurrence.hand_offs

    def locate(self, day: date) -> tuple[int, int]:
        return day.year * 12 + day.month - 1 - self._month, day.day - 1

    def first_day(self, period: int) -> date:
        year, month = divmod(self._month + period, 12)
        return date(year, month + 1, 1)

    def events(self, period: int) -> tuple[Event, ...]:
        first = self.first_day(period)
        last = calendar.monthrange(first.year, first.month)[1]
        return tuple(sorted((min(day, last) - 1, minute) for day, minute in self._hand_offs))


_PERIODS: dict[str, Callable[[date, Recurrence], _Periods]] = {
    "DAILY": _Days, "WEEKLY": _Weeks,
    "MONTHLY": _Months,
}


class Schedule:
    """The hand-off instants and covered time of one rotation."""

    def __init__(self, recurrence: Recurrence, tz: ZoneInfo, rotation_start: float) -> None:
        self.recurrence = recurrence
        self.tz = tz
        self.rotation_start = rotation_start
        self._m = recurrence.multiplier
        self._per_period = len(recurrence.hand_offs)
        self._periods: _Periods = _PERIODS[recurrence.period](
            local_date(rotation_start, tz), recurrence
        )
        self._before_start = self._count_upto(rotation_start)

    # -- shift indices -------------------------------------------------------------------

    def index_at(self, instant: float) -> int:
        """The index of the shift in effect at ``instant`` (>= rotation start): the number of
        hand-offs in (rotation start, instant]. A hand-off exactly at the rotation start does
        not count: the first shift runs from the start to the first hand-off after it."""
        return self._count_upto(instant) - self._before_start

    def last_hand_off(self, instant: float) -> float | None:
        """The latest hand-off at or before ``instant``, if any (it may precede the start)."""
        day: date | None = self._prev_date(local_date(instant, self.tz) + DAY)
        while day is not None:
            for minute in reversed(self._minutes_on(day)):
                at = wall_instant(day, minute, self.tz)
                if at <= instant:
                    return at
            day = self._prev_date(day - DAY)
        return None

    def hand_offs_after(self, instant: float) -> Iterator[float]:
        """Hand-off instants after ``instant``, in order, one per scheduled hand-off."""
        day = self._next_date(local_date(instant, self.tz) - DAY)
        while True:
            for minute in self._minutes_on(day):
                at = wall_instant(day, minute, self.tz)
                if at > instant:
                    yield at
            day = self._next_date(day + DAY)

    def _count_upto(self, instant: float) -> int:
        # Hand-offs on dates before the local date's eve are all earlier; those on later dates
        # are all later. Between, wall time and instants can disagree (a repeated hour), so
        # convert and compare.
        day = local_date(instant, self.tz) - DAY
        count = self._count_before(day)
        for offset in range(3):
            current = day + timedelta(days=offset)
            for minute in self._minutes_on(current):
                if wall_instant(current, minute, self.tz) > instant:
                    return count
                count += 1
        return count

    # -- calendar arithmetic on local dates ----------------------------------------------

    def _active(self, period: int) -> bool:
        return period >= 0 and period % self._m == 0

    def _count_before(self, day: date) -> int:
        """Scheduled hand-offs on dates from period 0 up to, not including, ``day``."""
        period, offset = self._periods.locate(day)
        if period < 0:
            return 0
        count = -(-period // self._m) * self._per_period
        if self._active(period):
            count += sum(1 for at, _ in self._periods.events(period) if at < offset)
        return count

    def _minutes_on(self, day: date) -> list[int]:
        period, offset = self._periods.locate(day)
        if not self._active(period):
            return []
        return [minute for at, minute in self._periods.events(period) if at == offset]

    def _next_date(self, day: date) -> date:
        """The first date on or after ``day`` with a hand-off."""
        period, offset = self._periods.locate(day)
        if period < 0:
            period, offset = 0, 0
        if self._active(period):
            for at, _ in self._periods.events(period):
                if at >= offset:
                    return self._periods.first_day(period) + timedelta(days=at)
        period = (period // self._m + 1) * self._m
        first = self._periods.events(period)[0][0]
        return self._periods.first_day(period) + timedelta(days=first)

    def _prev_date(self, day: date) -> date | None:
        """The last date on or before ``day`` with a hand-off, or None before period 0."""
        period, offset = self._periods.locate(day)
        if period < 0:
            return None
        if self._active(period):
            for at, _ in reversed(self._periods.events(period)):
                if at <= offset:
                    return self._periods.first_day(period) + timedelta(days=at)
            period -= self._m
        else:
            period = period // self._m * self._m
        if period < 0:
            return None
        last = self._periods.events(period)[-1][0]
        return self._periods.first_day(period) + timedelta(days=last)

    # -- coverage ------------------------------------------------------------------------

    def covered(self, instant: float) -> bool:
        """Whether ShiftCoverages cover ``instant`` (always, without ShiftCoverages)."""
        if self.recurrence.coverage is None:
            return True
        today = local_date(instant, self.tz)
        for day in (today - DAY, today, today + DAY):
            for start, end in self._windows(day):
                if start <= instant < end:
                    return True
        return False

    def covered_runs(self, low: float, high: float) -> list[tuple[float, float]]:
        """The maximal covered stretches meeting [low, high), with their full extent.

        Windows that touch (one ends at midnight, the next day's starts there) form one run.
        """
        if self.recurrence.coverage is None:
            return [(-math.inf, math.inf)]
        runs: list[tuple[float, float]] = []
        day = local_date(low, self.tz) - _COVERAGE_MARGIN
        last = local_date(high, self.tz) + _COVERAGE_MARGIN
        while day <= last:
            for start, end in self._windows(day):
                if runs and start <= runs[-1][1]:
                    runs[-1] = (runs[-1][0], max(runs[-1][1], end))
                else:
                    runs.append((start, end))
            day += DAY
        return [(start, end) for start, end in runs if end > low and start < high]

    def _windows(self, day: date) -> Iterator[tuple[float, float]]:
        coverage = self.recurrence.coverage
        assert coverage is not None
        windows: tuple[Window, ...] = coverage[day.weekday()]
        for start, end in windows:
            begin, finish = wall_instant(day, start, self.tz), wall_instant(day, end, self.tz)
            if begin < finish:  # a window wholly inside a DST gap covers nothing
                yield begin, finish


__all__ = ["Schedule"]
