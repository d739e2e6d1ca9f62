"""A naive reference for the shift rules: walk every local day from the rotation's first period.

It shares only ``wall_instant`` (tested on its own in test_zones) with the code under test, and
spends time proportional to the rotation's age, which is fine for tests.
"""

from __future__ import annotations

import bisect
import calendar
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from incident_contacts.oncall.recurrence import Override, Recurrence
from incident_contacts.oncall.zones import wall_instant

DAY = timedelta(days=1)
Interval = tuple[float, float]


def local(instant: float, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(instant, tz)


def minutes_on(recurrence: Recurrence, anchor: date, day: date) -> list[int]:
    """Scheduled hand-off minutes on ``day``, counted from the start's local date ``anchor``."""
    m = recurrence.multiplier
    if recurrence.period == "DAILY":
        k = (day - anchor).days
        active = k >= 0 and k % m == 0
        wanted = [minute for _, minute in recurrence.hand_offs]
    elif recurrence.period == "WEEKLY":
        k = (day - (anchor - timedelta(days=anchor.weekday()))).days // 7
        active = k >= 0 and k % m == 0
        wanted = [minute for dow, minute in recurrence.hand_offs if dow == day.weekday()]
    else:
        k = (day.year - anchor.year) * 12 + day.month - anchor.month
        active = k >= 0 and k % m == 0
        last = calendar.monthrange(day.year, day.month)[1]
        wanted = [minute for dom, minute in recurrence.hand_offs if min(dom, last) == day.day]
    return sorted(wanted) if active else []


def hand_offs(recurrence: Recurrence, tz: ZoneInfo, start: float, until: float) -> list[float]:
    """Every scheduled hand-off instant from period 0 to past ``until`` (with repeats)."""
    anchor = local(start, tz).date()
    day = anchor - timedelta(days=anchor.weekday()) - timedelta(days=anchor.day)
    # far enough past ``until`` to hold the first hand-off after it
    end = local(until, tz).date() + (recurrence.multiplier * 31 + 2) * DAY
    out: list[float] = []
    while day <= end:
        out.extend(wall_instant(day, minute, tz) for minute in minutes_on(recurrence, anchor, day))
        day += DAY
    return out


class Reference:
    def __init__(
        self,
        members: Sequence[str],
        recurrence: Recurrence,
        tz: ZoneInfo,
        start: float,
        until: float,
        overrides: Sequence[Override] = (),
    ) -> None:
        self.members, self.recurrence, self.tz, self.start = members, recurrence, tz, start
        self.overrides = overrides
        self.events = hand_offs(recurrence, tz, start, until)
        self._before = bisect.bisect_right(self.events, start)

    def index(self, instant: float) -> int:
        return bisect.bisect_right(self.events, instant) - self._before

    def staff(self, index: int) -> tuple[str, ...]:
        count, n = len(self.members), self.recurrence.number_of_on_calls
        return tuple(self.members[(index * n + k) % count] for k in range(min(n, count)))

    def regular(self, instant: float) -> tuple[str, ...]:
        return self.staff(self.index(instant))

    def boundaries(self) -> list[float]:
        """Uncut shift boundaries: the start, then each distinct hand-off after it."""
        return [self.start, *sorted({e for e in self.events if e > self.start})]

    def covered(self, instant: float) -> bool:
        if instant < self.start:
            return False
        coverage = self.recurrence.coverage
        if coverage is None:
            return True
        today = local(instant, self.tz).date()
        for day in (today - DAY, today, today + DAY):
            for s, e in coverage[day.weekday()]:
                if wall_instant(day, s, self.tz) <= instant < wall_instant(day, e, self.tz):
                    return True
        return False

    def covered_intervals(self, low: float, high: float) -> list[Interval]:
        coverage = self.recurrence.coverage
        low = max(low, self.start)
        if coverage is None:
            return [(low, high)] if low < high else []
        out: list[Interval] = []
        day = local(low, self.tz).date() - DAY
        while day <= local(high, self.tz).date() + DAY:
            for s, e in coverage[day.weekday()]:
                out.append((wall_instant(day, s, self.tz), wall_instant(day, e, self.tz)))
            day += DAY
        return intersect(union(out), [(low, high)])

    def expected(self, instant: float) -> tuple[tuple[str, ...], str, tuple[str, ...] | None]:
        """(contacts, type, overridden contacts) at an instant the rotation covers."""
        for override in reversed(self.overrides):
            if override.start <= instant < override.end:
                return override.contact_ids, "OVERRIDDEN", self.regular(instant)
        return self.regular(instant), "REGULAR", None


def union(intervals: Sequence[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[0] < i[1]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    out = [(max(x[0], y[0]), min(x[1], y[1])) for x in a for y in b]
    return union([i for i in out if i[0] < i[1]])


def measure(intervals: Sequence[Interval]) -> float:
    return sum(end - start for start, end in union(intervals))
