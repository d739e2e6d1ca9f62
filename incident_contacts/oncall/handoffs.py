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

import bisect
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
        self._by_length: dict[int, tuple[Event, ...]] = {}  # the same tuple for a length

    def locate(self, day: date) -> tuple[int, int]:
        return day.year * 12 + day.month - 1 - self._month, day.day - 1

    def first_day(self, period: int) -> date:
        year, month = divmod(self._month + period, 12)
        return date(year, month + 1, 1)

    def events(self, period: int) -> tuple[Event, ...]:
        first = self.first_day(period)
        last = calendar.monthrange(first.year, first.month)[1]
        events = self._by_length.get(last)
        if events is None:
            events = tuple(sorted((min(day, last) - 1, minute) for day, minute in self._hand_offs))
            self._by_length[last] = events
        return events


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
        # Per events tuple (by identity: a period kind returns the same tuple each time):
        # the sorted day offsets, and the minutes of each offset. Up to 44,640 hand-offs
        # (31 x 1,440) are indexed once rather than scanned on every date.
        self._instants: dict[tuple[date, int], float] = {}
        self._indexes: dict[int, tuple[tuple[Event, ...], list[int], dict[int, list[int]]]] = {}
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
            minutes = self._minutes_on(day)
            taken = self._upto(day, minutes, instant)
            if taken:
                return self._at(day, minutes[taken - 1])
            day = self._prev_date(day - DAY)
        return None

    def hand_offs_after(self, instant: float) -> Iterator[float]:
        """Hand-off instants after ``instant``, in order, one per scheduled hand-off."""
        # Hand-offs on dates after the local date's morrow are all later.
        morrow = local_date(instant, self.tz) + DAY
        day = self._next_date(morrow - 2 * DAY)
        while True:
            minutes = self._minutes_on(day)
            for minute in minutes[self._upto(day, minutes, instant) if day <= morrow else 0:]:
                yield self._at(day, minute)
            day = self._next_date(day + DAY)

    def _count_upto(self, instant: float) -> int:
        # Hand-offs on dates before the local date's eve are all earlier; those on later dates
        # are all later. Between, wall time and instants can disagree (a repeated hour), so
        # convert and compare.
        day = local_date(instant, self.tz) - DAY
        count = self._count_before(day)
        for offset in range(3):
            current = day + timedelta(days=offset)
            minutes = self._minutes_on(current)
            taken = self._upto(current, minutes, instant)
            count += taken
            if taken < len(minutes):
                return count
        return count

    def _upto(self, day: date, minutes: list[int], instant: float) -> int:
        """How many of a day's hand-off ``minutes`` (sorted) fall at or before ``instant``.
        Wall time to instant never decreases, so a bisection converts a handful of them,
        however many hand-offs the day has (up to 1,440)."""
        if not minutes or self._at(day, minutes[0]) > instant:
            return 0
        if self._at(day, minutes[-1]) <= instant:
            return len(minutes)
        return bisect.bisect_right(minutes, instant, key=lambda minute: self._at(day, minute))

    def _at(self, day: date, minute: int) -> float:
        """``wall_instant`` in the rotation's zone, remembered for this schedule's life (one
        computation): finding a shift converts the same few hand-offs several times."""
        key = (day, minute)
        at = self._instants.get(key)
        if at is None:
            at = self._instants[key] = wall_instant(day, minute, self.tz)
        return at

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
            count += bisect.bisect_left(self._index(period)[0], offset)
        return count

    def _minutes_on(self, day: date) -> list[int]:
        period, offset = self._periods.locate(day)
        if not self._active(period):
            return []
        return self._index(period)[1].get(offset, [])

    def _index(self, period: int) -> tuple[list[int], dict[int, list[int]]]:
        events = self._periods.events(period)
        kept = self._indexes.get(id(events))
        if kept is None:
            by_offset: dict[int, list[int]] = {}
            for at, minute in events:
                by_offset.setdefault(at, []).append(minute)
            kept = (events, [at for at, _ in events], by_offset)
            self._indexes[id(events)] = kept
        return kept[1], kept[2]

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

    def covered_runs(self, low: float, high: float) -> Iterator[tuple[float, float]]:
        """The maximal covered stretches meeting [low, high), with their full extent, in order.

        Windows that touch (one ends at midnight, the next day's starts there) form one run.
        Runs are made as they are asked for: the cost is that of the runs taken, plus the few
        days before ``low`` that the first run may reach back into, not that of the window.
        """
        if self.recurrence.coverage is None:
            yield -math.inf, math.inf
            return
        # Go back from low's eve while the run crossing a midnight reaches further back: a
        # run is shorter than 8 days (a fully covered week has no coverage), so the margin
        # only stops a walk that could not happen.
        day = local_date(low, self.tz) - DAY
        first_day = day - _COVERAGE_MARGIN
        while day > first_day:
            before, today = list(self._windows(day - DAY)), list(self._windows(day))
            if not (before and today and today[0][0] <= before[-1][1]):
                break
            day -= DAY
        last = local_date(high, self.tz) + _COVERAGE_MARGIN
        run: tuple[float, float] | None = None
        while day <= last:
            for start, end in self._windows(day):
                if run is not None and start <= run[1]:
                    run = (run[0], max(run[1], end))
                    continue
                if run is not None and run[1] > low:
                    yield run
                if start >= high:
                    return
                run = (start, end)
            day += DAY
        if run is not None and run[1] > low and run[0] < high:
            yield run

    def _windows(self, day: date) -> Iterator[tuple[float, float]]:
        coverage = self.recurrence.coverage
        assert coverage is not None
        windows: tuple[Window, ...] = coverage[day.weekday()]
        for start, end in windows:
            begin, finish = wall_instant(day, start, self.tz), wall_instant(day, end, self.tz)
            if begin < finish:  # a window wholly inside a DST gap covers nothing
                yield begin, finish


__all__ = ["Schedule"]
