"""A rotation's ``RecurrenceSettings``, parsed and checked once.

The botocore model checks types, ranges and enums before this runs; :meth:`Recurrence.from_wire`
adds the rules the model cannot express (spec §6.4, CloudFormation ``oneOf``; the rest are our
decisions, stated on the method).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from incident_contacts.errors import ValidationException
from incident_contacts.oncall.zones import MINUTES_PER_DAY

Period = Literal["DAILY", "WEEKLY", "MONTHLY"]
DAYS_OF_WEEK = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_SETTINGS: tuple[tuple[str, Period], ...] = (
    ("DailySettings", "DAILY"),
    ("WeeklySettings", "WEEKLY"),
    ("MonthlySettings", "MONTHLY"),
)

Window = tuple[int, int]
"""A covered stretch of one local day: (start, end) in minutes from midnight, end up to 1440."""


@dataclass(frozen=True)
class Recurrence:
    """When a rotation hands off, how many are on call, and which hours it covers.

    ``hand_offs`` are ``(day, minute of day)`` pairs, sorted and without duplicates, where
    ``day`` is 0 for a daily rotation, 0 (MON) to 6 (SUN) for a weekly one and the day of the
    month (1-31) for a monthly one. ``coverage`` holds, for MON..SUN, the covered windows of
    that local day (merged, sorted); ``None`` means every instant is covered.
    """

    number_of_on_calls: int
    multiplier: int
    period: Period
    hand_offs: tuple[tuple[int, int], ...]
    coverage: tuple[tuple[Window, ...], ...] | None = None

    @classmethod
    def from_wire(cls, data: Mapping[str, Any], prefix: str = "Recurrence") -> Recurrence:
        """Parse a model-valid ``RecurrenceSettings`` dict; field paths start at ``prefix``.

        Raises ValidationException when:

        * not exactly one of DailySettings, WeeklySettings and MonthlySettings is given, or the
          one given is empty (CloudFormation ``oneOf``; AWS's wording is unknown);
        * a coverage window does not start before it ends.

        Decisions: repeated hand-off entries count once. In ShiftCoverages an absent ``Start``
        is 00:00, an absent ``End`` or an ``End`` of 00:00 is midnight at the end of the day
        (so ``{}`` or 00:00-00:00 covers the whole day), overlapping windows of a day are
        joined, a day that is missing or has an empty list is not covered, and an empty map
        (or seven whole days) means full coverage, as if ShiftCoverages were absent. A
        non-empty map that covers no time at all (only empty lists) is a ValidationException.
        """
        given = [(name, period) for name, period in _SETTINGS if data.get(name) is not None]
        if len(given) != 1:
            raise ValidationException.field(
                prefix,
                "Exactly one of DailySettings, WeeklySettings or MonthlySettings must be "
                "specified.",
            )
        name, period = given[0]
        entries: Sequence[Any] = data[name]
        if not entries:
            raise ValidationException.field(
                f"{prefix}.{name}", "Member must contain at least one hand-off time."
            )
        hand_offs: set[tuple[int, int]] = set()
        for index, entry in enumerate(entries):
            item = f"{prefix}.{name}[{index}]"
            if period == "DAILY":
                hand_offs.add((0, _minutes(entry, item)))
            elif period == "WEEKLY":
                day = _day_of_week(entry.get("DayOfWeek"), f"{item}.DayOfWeek")
                hand_offs.add((day, _minutes(entry.get("HandOffTime"), f"{item}.HandOffTime")))
            else:
                day = _int(entry.get("DayOfMonth"), f"{item}.DayOfMonth", 1, 31)
                hand_offs.add((day, _minutes(entry.get("HandOffTime"), f"{item}.HandOffTime")))
        return cls(
            number_of_on_calls=_int(data.get("NumberOfOnCalls"), f"{prefix}.NumberOfOnCalls", 1),
            multiplier=_int(
                data.get("RecurrenceMultiplier"), f"{prefix}.RecurrenceMultiplier", 1, 100
            ),
            period=period,
            hand_offs=tuple(sorted(hand_offs)),
            coverage=_coverage(data.get("ShiftCoverages"), f"{prefix}.ShiftCoverages"),
        )


def _int(value: Any, path: str, low: int, high: int | None = None) -> int:
    # Repeats the model's range checks so that data which skipped them (stored or built in
    # code) fails with a field path rather than an arithmetic error later.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationException.field(path, f"Value at '{path}' must be an integer.")
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValidationException.field(
            path, f"Value '{value}' at '{path}' failed to satisfy constraint: must be {bounds}."
        )
    return value


def _minutes(hand_off: Any, path: str) -> int:
    if not isinstance(hand_off, Mapping):
        raise ValidationException.field(path, f"Value at '{path}' must be a HandOffTime.")
    hour = _int(hand_off.get("HourOfDay"), f"{path}.HourOfDay", 0, 23)
    return hour * 60 + _int(hand_off.get("MinuteOfHour"), f"{path}.MinuteOfHour", 0, 59)


def _day_of_week(value: Any, path: str) -> int:
    if value not in DAYS_OF_WEEK:
        raise ValidationException.field(
            path,
            f"Value '{value}' at '{path}' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(DAYS_OF_WEEK)}]",
        )
    return DAYS_OF_WEEK.index(value)


def _coverage(data: Any, path: str) -> tuple[tuple[Window, ...], ...] | None:
    if not data:
        return None
    days: list[list[Window]] = [[] for _ in DAYS_OF_WEEK]
    for key, windows in data.items():
        day = _day_of_week(key, f"{path}.key")
        for index, window in enumerate(windows or ()):
            item = f"{path}.{key}[{index}]"
            start = end = 0
            if window.get("Start") is not None:
                start = _minutes(window["Start"], f"{item}.Start")
            if window.get("End") is not None:
                end = _minutes(window["End"], f"{item}.End")
            end = end or MINUTES_PER_DAY
            if start >= end:
                raise ValidationException.field(
                    item,
                    "The coverage Start must be before its End (an End of 00:00 means "
                    "midnight at the end of the day).",
                )
            days[day].append((start, end))
    merged = tuple(_merge(windows) for windows in days)
    if all(day == ((0, MINUTES_PER_DAY),) for day in merged):
        return None
    if not any(merged):
        # A rotation that is never on call has no shifts to list however far one looks.
        raise ValidationException.field(path, "ShiftCoverages must cover some time of the week.")
    return merged


def _merge(windows: list[Window]) -> tuple[Window, ...]:
    out: list[Window] = []
    for start, end in sorted(windows):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return tuple(out)


__all__ = ["DAYS_OF_WEEK", "Period", "Recurrence", "Window"]
