"""On-call shifts: a pure function of a rotation's members, recurrence, zone, start and overrides.

This is the shift-generation algorithm of spec §6.4, which is entirely our inference (AWS
publishes none). Times are epoch seconds. Hand-off placement (periods, multiplier, month ends,
DST) is described in :mod:`incident_contacts.oncall.handoffs` and
:mod:`incident_contacts.oncall.zones`; the rest is stated on :func:`shifts`.

The cost of a call depends on the window, not on how long ago the rotation started.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any, Literal

from incident_contacts.errors import ValidationException
from incident_contacts.oncall.handoffs import Schedule
from incident_contacts.oncall.settings import Recurrence
from incident_contacts.oncall.zones import validate_time_zone

ShiftType = Literal["REGULAR", "OVERRIDDEN"]

MIN_INSTANT = datetime(1900, 1, 1, tzinfo=UTC).timestamp()
MAX_INSTANT = datetime(9000, 1, 1, tzinfo=UTC).timestamp()
"""Shifts exist between these instants only; windows are clipped to them."""


@dataclass(frozen=True)
class Override:
    """A rotation override: ``contact_ids`` are on call in [start, end) instead."""

    start: float
    end: float
    contact_ids: tuple[str, ...]


@dataclass(frozen=True)
class Shift:
    """One stretch of time with the same people on call, as the model's ``RotationShift``."""

    start: float
    end: float
    contact_ids: tuple[str, ...]
    type: ShiftType = "REGULAR"
    overridden_contact_ids: tuple[str, ...] | None = None

    def to_wire(self) -> dict[str, Any]:
        """The ``RotationShift`` dict; ShiftDetails only on an overridden shift."""
        wire: dict[str, Any] = {
            "ContactIds": list(self.contact_ids),
            "StartTime": self.start,
            "EndTime": self.end,
            "Type": self.type,
        }
        if self.overridden_contact_ids is not None:
            wire["ShiftDetails"] = {"OverriddenContactIds": list(self.overridden_contact_ids)}
        return wire


def shifts(
    members: Sequence[str],
    recurrence: Recurrence,
    time_zone: str,
    rotation_start: float,
    window_start: float,
    window_end: float,
    overrides: Sequence[Override] = (),
) -> list[Shift]:
    """The shifts that meet [window_start, window_end), in chronological order.

    * The first shift starts at ``rotation_start`` and ends at the first hand-off after it;
      each later shift runs from one hand-off to the next. Nothing is on call before the start.
    * Shift *i* (counted from 0 at the rotation start) is staffed by ``NumberOfOnCalls``
      consecutive members from index ``(i * NumberOfOnCalls) mod len(members)``, wrapping; when
      NumberOfOnCalls exceeds the member count, each member is on call once.
    * With ShiftCoverages a shift is cut to the covered time: one shift per maximal covered
      stretch of it (windows that touch at midnight join); uncovered time has no shift, but
      its hand-offs still move the rotation on (coverage never changes who is next).
    * An override applies to covered time only: the part of a shift it overlaps becomes an
      ``OVERRIDDEN`` shift with the override's contacts, ``overridden_contact_ids`` holding
      the regular ones; the rest stays ``REGULAR``. Where overrides overlap, the one later in
      ``overrides`` wins (pass them in creation order). An override that does not end after it
      starts is ignored.
    * Shifts keep their true start and end, as the AWS console shows whole shifts: the first
      may start before ``window_start`` and the last end after ``window_end``. Only shifts
      meeting the window are returned; an empty window gives none (refusing EndTime <=
      StartTime is the caller's job).

    Raises ValidationException for an unsupported zone (field ``TimeZoneId``) or a rotation
    start before 1900 or after 9000. ``members`` must not be empty.
    """
    schedule = _schedule(members, recurrence, time_zone, rotation_start)
    low, high = max(window_start, rotation_start), min(window_end, MAX_INSTANT)
    if low >= high:
        return []
    regular = _clip(_regular(schedule, low, high), schedule.covered_runs(low, high), low, high)
    active = [override for override in overrides if override.start < override.end]
    result: list[Shift] = []
    for start, end, index in regular:
        for shift in _apply(start, end, _staff(members, recurrence, index), active):
            if shift.start < high and shift.end > low:
                result.append(shift)
    return result


def on_call_at(
    members: Sequence[str],
    recurrence: Recurrence,
    time_zone: str,
    rotation_start: float,
    instant: float,
    overrides: Sequence[Override] = (),
) -> tuple[str, ...]:
    """Who is on call at ``instant``: the contacts of the shift :func:`shifts` puts there.

    Nobody (an empty tuple) before the rotation start or outside ShiftCoverages; otherwise the
    last override covering the instant, or the regular members.
    """
    schedule = _schedule(members, recurrence, time_zone, rotation_start)
    if not rotation_start <= instant < MAX_INSTANT or not schedule.covered(instant):
        return ()
    for override in reversed(overrides):
        if override.start <= instant < override.end:
            return override.contact_ids
    return _staff(members, recurrence, schedule.index_at(instant))


def override_span(
    recurrence: Recurrence,
    time_zone: str,
    rotation_start: float,
    window_start: float,
    window_end: float,
) -> tuple[float, float] | None:
    """A stretch holding every uncut shift that meets [window_start, window_end), or None
    when no shift can meet it.

    :func:`shifts` cuts a shift wherever an override overlapping it begins or ends, even
    outside the window, so a caller that loads overrides from storage must pass every one
    that overlaps this stretch (and may pass more) to get the same shifts for any window.
    """
    schedule = _schedule(("",), recurrence, time_zone, rotation_start)
    low, high = max(window_start, rotation_start), min(window_end, MAX_INSTANT)
    if low >= high:
        return None
    before = schedule.last_hand_off(low)
    start = rotation_start if before is None else max(before, rotation_start)
    return start, next(schedule.hand_offs_after(high))


def _schedule(
    members: Sequence[str], recurrence: Recurrence, time_zone: str, rotation_start: float
) -> Schedule:
    if not members:
        raise ValueError("a rotation needs at least one member")
    tz = validate_time_zone(time_zone, "TimeZoneId")
    if not MIN_INSTANT <= rotation_start < MAX_INSTANT:
        raise ValidationException.other("The rotation start must be between 1900 and 9000.")
    return Schedule(recurrence, tz, rotation_start)


def _staff(members: Sequence[str], recurrence: Recurrence, index: int) -> tuple[str, ...]:
    count = len(members)
    first = index * recurrence.number_of_on_calls % count
    return tuple(
        members[(first + k) % count] for k in range(min(recurrence.number_of_on_calls, count))
    )


def _regular(schedule: Schedule, low: float, high: float) -> Iterator[tuple[float, float, int]]:
    """(start, end, shift index) of the uncut shifts meeting [low, high), low >= start."""
    index = schedule.index_at(low)
    start = schedule.rotation_start if index == 0 else schedule.last_hand_off(low)
    assert start is not None  # index > 0 means a hand-off in (rotation start, low]
    for at in schedule.hand_offs_after(low):
        if at > start:  # hand-offs on the same instant leave no empty shift
            yield start, at, index
        index += 1
        start = at
        if start >= high:
            return


def _clip(
    regular: Iterator[tuple[float, float, int]],
    runs: list[tuple[float, float]],
    low: float,
    high: float,
) -> Iterator[tuple[float, float, int]]:
    """Each shift cut to the covered runs (both sorted), keeping pieces that meet the window."""
    first = 0
    for start, end, index in regular:
        while first < len(runs) and runs[first][1] <= start:
            first += 1
        for number in range(first, len(runs)):
            run_start, run_end = runs[number]
            if run_start >= end:
                break
            piece = max(start, run_start), min(end, run_end)
            if piece[0] < piece[1] and piece[0] < high and piece[1] > low:
                yield piece[0], piece[1], index


def _apply(
    start: float, end: float, contacts: tuple[str, ...], overrides: Sequence[Override]
) -> list[Shift]:
    """A regular stretch split by the overrides that overlap it (the last listed wins)."""
    overlapping = [o for o in overrides if o.start < end and o.end > start]
    if not overlapping:
        return [Shift(start, end, contacts)]
    cuts = {start, end}
    cuts.update(o.start for o in overlapping if o.start > start)
    cuts.update(o.end for o in overlapping if o.end < end)
    parts: list[tuple[float, float, int]] = []  # owner -1: regular
    for begin, finish in pairwise(sorted(cuts)):
        owner = -1
        for number, override in enumerate(overlapping):
            if override.start <= begin and override.end >= finish:
                owner = number
        if parts and parts[-1][2] == owner:
            parts[-1] = (parts[-1][0], finish, owner)
        else:
            parts.append((begin, finish, owner))
    return [
        Shift(begin, finish, contacts)
        if owner < 0
        else Shift(begin, finish, overlapping[owner].contact_ids, "OVERRIDDEN", contacts)
        for begin, finish, owner in parts
    ]


__all__ = [
    "MAX_INSTANT",
    "MIN_INSTANT",
    "Override",
    "Recurrence",
    "Shift",
    "ShiftType",
    "on_call_at",
    "override_span",
    "shifts",
    "validate_time_zone",
]
