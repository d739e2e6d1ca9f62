"""On-call shifts: a pure function of a rotation's members, recurrence, zone, start and overrides.

This is the shift-generation algorithm of spec §6.4, which is entirely our inference (AWS
publishes none). Times are epoch seconds. Hand-off placement (periods, multiplier, month ends,
DST) is described in :mod:`incident_contacts.oncall.handoffs` and
:mod:`incident_contacts.oncall.zones`; the rest is stated on :func:`shifts`.

The cost of a call depends on the window, not on how long ago the rotation started.
"""

from __future__ import annotations

import bisect
import heapq
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
    overrides: Sequence[Override] | OverrideLayer = (),
    limit: int | None = None,
) -> list[Shift]:
    """The shifts that meet [window_start, window_end), in chronological order; with
    ``limit``, only the first ``limit`` of them.

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

    The cost is that of the shifts returned, not of the window: hand-offs in uncovered time
    are skipped by arithmetic (:meth:`Schedule.index_at`), and ``overrides`` are laid out
    once (:class:`OverrideLayer`; pass one to share it between calls) so that each shift
    finds the few that cut it by bisection.
    """
    schedule = _schedule(members, recurrence, time_zone, rotation_start)
    low, high = max(window_start, rotation_start), min(window_end, MAX_INSTANT)
    if low >= high or (limit is not None and limit < 1):
        return []
    layer = overrides if isinstance(overrides, OverrideLayer) else OverrideLayer(overrides)
    result: list[Shift] = []
    for start, end, index in _covered_regular(schedule, low, high):
        for shift in layer.apply(start, end, _staff(members, recurrence, index)):
            if shift.start < high and shift.end > low:
                result.append(shift)
                if limit is not None and len(result) >= limit:
                    return result
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


def _covered_regular(schedule: Schedule, low: float, high: float
                     ) -> Iterator[tuple[float, float, int]]:
    """Each uncut shift meeting [low, high) cut to the covered runs, one piece per run it
    meets (pieces that meet the window only), in order. Within each run only the shifts
    meeting it are visited, so uncovered time costs nothing however many hand-offs it has."""
    for run_start, run_end in schedule.covered_runs(low, high):
        first, last = max(low, run_start), min(high, run_end)
        if first >= last:
            continue
        for start, end, index in _regular(schedule, first, last):
            piece = max(start, run_start), min(end, run_end)
            if piece[0] < piece[1] and piece[0] < high and piece[1] > low:
                yield piece[0], piece[1], index


class OverrideLayer:
    """Overrides flattened once into disjoint stretches, each owned by the override that
    wins there (the last listed among those covering it); adjacent stretches of the same
    override are one. Overrides that do not end after they start are ignored.

    Laying out n overrides costs O(n log n); :meth:`apply` then costs O(log n) plus the
    stretches meeting the shift, instead of O(n) (or O(n^2) when many overlap it).
    """

    __slots__ = ("_ends", "_overrides", "_owners", "_starts")

    def __init__(self, overrides: Sequence[Override]) -> None:
        self._overrides = [o for o in overrides if o.start < o.end]
        points = sorted({o.start for o in self._overrides} | {o.end for o in self._overrides})
        by_start = sorted(range(len(self._overrides)), key=lambda n: self._overrides[n].start)
        starts: list[float] = []
        ends: list[float] = []
        owners: list[int] = []
        covering: list[int] = []  # a max-heap (negated numbers) of overrides begun
        following = 0
        for begin, finish in pairwise(points):
            while following < len(by_start) and \
                    self._overrides[by_start[following]].start <= begin:
                heapq.heappush(covering, -by_start[following])
                following += 1
            while covering and self._overrides[-covering[0]].end <= begin:
                heapq.heappop(covering)
            if not covering:
                continue
            owner = -covering[0]
            if owners and owners[-1] == owner and ends[-1] == begin:
                ends[-1] = finish
            else:
                starts.append(begin)
                ends.append(finish)
                owners.append(owner)
        self._starts, self._ends, self._owners = starts, ends, owners

    def apply(self, start: float, end: float, contacts: tuple[str, ...]) -> list[Shift]:
        """A regular stretch split by the overrides that overlap it."""
        number = bisect.bisect_right(self._ends, start)
        if number == len(self._starts) or self._starts[number] >= end:
            return [Shift(start, end, contacts)]
        result: list[Shift] = []
        at = start
        while number < len(self._starts) and self._starts[number] < end:
            begin, finish = max(start, self._starts[number]), min(end, self._ends[number])
            if at < begin:
                result.append(Shift(at, begin, contacts))
            override = self._overrides[self._owners[number]]
            result.append(Shift(begin, finish, override.contact_ids, "OVERRIDDEN", contacts))
            at = finish
            number += 1
        if at < end:
            result.append(Shift(at, end, contacts))
        return result


__all__ = [
    "MAX_INSTANT",
    "MIN_INSTANT",
    "Override",
    "OverrideLayer",
    "Recurrence",
    "Shift",
    "ShiftType",
    "on_call_at",
    "override_span",
    "shifts",
    "validate_time_zone",
]
