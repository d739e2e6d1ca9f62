"""Property tests: the fast shift computation against the naive day-by-day reference."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incident_contacts.oncall.recurrence import (
    Override,
    Recurrence,
    Shift,
    on_call_at,
    override_span,
    shifts,
    validate_time_zone,
)
from incident_contacts.oncall.settings import DAYS_OF_WEEK
from incident_contacts.oncall.zones import wall_instant

from .reference import Reference, intersect, local, measure, minutes_on, union

ZONES = ["UTC", "America/Los_Angeles", "Europe/Berlin", "Australia/Lord_Howe"]
DAY = 86400.0
EARLIEST = datetime(2020, 1, 1, tzinfo=UTC).timestamp()
LATEST = datetime(2027, 1, 1, tzinfo=UTC).timestamp()

# Round minutes make coinciding hand-offs likely; hand-offs near a DST change are drawn below.
minutes = st.one_of(st.sampled_from([0, 15, 30, 45]), st.integers(0, 59))
seconds = st.one_of(st.just(0), st.integers(0, 3599))


def hand_off_times(near: datetime | None) -> st.SearchStrategy[dict[str, int]]:
    hours = st.integers(0, 23)
    if near is not None:  # the wall hour just before a DST change, and the two after it
        hours = st.one_of(st.sampled_from([(near.hour + k) % 24 for k in range(3)]), hours)
    return st.fixed_dictionaries({"HourOfDay": hours, "MinuteOfHour": minutes})


@st.composite
def coverage_windows(draw: st.DrawFn) -> dict[str, Any]:
    start = draw(st.integers(0, 23 * 60 + 45))
    end = draw(st.integers(start + 1, 24 * 60))
    window: dict[str, Any] = {}
    if start or draw(st.booleans()):
        window["Start"] = {"HourOfDay": start // 60, "MinuteOfHour": start % 60}
    if end < 24 * 60:
        window["End"] = {"HourOfDay": end // 60, "MinuteOfHour": end % 60}
    elif draw(st.booleans()):
        window["End"] = {"HourOfDay": 0, "MinuteOfHour": 0}
    return window


@st.composite
def recurrences(draw: st.DrawFn, near: datetime | None = None) -> dict[str, Any]:
    """RecurrenceSettings; with ``near``, hand-offs tend to fall on that local day and hour."""
    kind = draw(st.sampled_from(["DailySettings", "WeeklySettings", "MonthlySettings"]))
    weekdays, month_days = st.sampled_from(DAYS_OF_WEEK), st.integers(1, 31)
    if near is not None:
        weekdays = st.one_of(st.just(DAYS_OF_WEEK[near.weekday()]), weekdays)
        month_days = st.one_of(st.just(near.day), month_days)
    entry: st.SearchStrategy[dict[str, Any]]
    if kind == "DailySettings":
        entry = hand_off_times(near)
    elif kind == "WeeklySettings":
        entry = st.fixed_dictionaries({"DayOfWeek": weekdays, "HandOffTime": hand_off_times(near)})
    else:
        entry = st.fixed_dictionaries({
            "DayOfMonth": st.one_of(st.integers(28, 31), month_days),
            "HandOffTime": hand_off_times(near),
        })
    multipliers = st.integers(1, 5)
    wire: dict[str, Any] = {
        "NumberOfOnCalls": draw(st.integers(1, 3)),
        "RecurrenceMultiplier": draw(st.one_of(st.just(1), multipliers) if near else multipliers),
        kind: draw(st.lists(entry, min_size=1, max_size=3)),
    }
    if draw(st.booleans()):
        wire["ShiftCoverages"] = draw(st.dictionaries(
            st.sampled_from(DAYS_OF_WEEK),
            st.lists(coverage_windows(), min_size=1, max_size=2),
            min_size=1,
        ))
    return wire


@dataclass
class Case:
    members: tuple[str, ...]
    recurrence: Recurrence
    zone: str
    start: float
    low: float
    high: float
    overrides: tuple[Override, ...]

    def reference(self) -> Reference:
        return Reference(self.members, self.recurrence, validate_time_zone(self.zone, "tz"),
                         self.start, self.high, self.overrides)

    def compute(self, low: float, high: float) -> list[Shift]:
        return shifts(self.members, self.recurrence, self.zone, self.start, low, high,
                      self.overrides)


def _transitions(zone: str) -> list[float]:
    """Instants (to the hour) when the zone's UTC offset changes, 2020-2026."""
    tz = validate_time_zone(zone, "tz")
    found: list[float] = []
    instant = EARLIEST
    before = local(instant, tz).utcoffset()
    while instant < LATEST:
        instant += 3600
        offset = local(instant, tz).utcoffset()
        if offset != before:
            found.append(instant)
            before = offset
    return found


TRANSITIONS = {zone: _transitions(zone) for zone in ZONES}


@st.composite
def cases(draw: st.DrawFn, with_overrides: bool = True) -> Case:
    members = tuple(f"m{k}" for k in range(draw(st.integers(1, 6))))
    zone = draw(st.sampled_from(ZONES))
    near: datetime | None = None
    if len(TRANSITIONS[zone]) > 0 and draw(st.booleans()):  # a window around a DST change
        change = draw(st.sampled_from(TRANSITIONS[zone]))
        near = local(change - 1, validate_time_zone(zone, "tz"))
        low = change - draw(st.integers(0, 48)) * 3600
    else:
        low = float(draw(st.integers(int(EARLIEST), int(LATEST))))
    low -= draw(seconds)
    start = low - draw(st.integers(-20, 400)) * 86400 - draw(seconds)
    high = low + draw(st.one_of(st.integers(0, 72), st.integers(0, 60 * 24))) * 3600
    high += draw(seconds) + 1
    overrides: list[Override] = []
    if with_overrides:
        for _ in range(draw(st.integers(0, 3))):
            o_start = draw(st.integers(int(low) - 86400 * 3, int(high)))
            o_end = o_start + draw(st.integers(-3600, 10 * 86400))
            chosen = draw(st.lists(st.sampled_from(["x", "y", *members]), max_size=3))
            overrides.append(Override(float(o_start), float(o_end), tuple(chosen)))
    return Case(members, Recurrence.from_wire(draw(recurrences(near))), zone, start, low, high,
                tuple(overrides))


def sample_instants(case: Case, result: list[Shift], count: int = 60) -> list[float]:
    span = case.high - case.low
    points = {case.low + span * k / count for k in range(count)}
    for shift in result:
        points.update({shift.start, shift.start - 1, shift.end - 1, shift.end})
    for override in case.overrides:
        points.update({override.start, override.start - 1, override.end, override.end - 1})
    return sorted(p for p in points if case.low <= p < case.high)


def containing(result: list[Shift], instant: float) -> list[Shift]:
    return [shift for shift in result if shift.start <= instant < shift.end]


SETTINGS = settings(max_examples=120, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(cases())
def test_shifts_agree_with_the_reference_at_every_sampled_instant(case: Case) -> None:
    result = case.compute(case.low, case.high)
    ref = case.reference()
    low = max(case.low, case.start)
    for before, after in pairwise(result):
        assert before.start < before.end <= after.start
    for shift in result:
        assert shift.start < case.high and shift.end > low
        assert shift.start >= case.start
    for instant in sample_instants(case, result):
        found = containing(result, instant)
        on_call = on_call_at(case.members, case.recurrence, case.zone, case.start, instant,
                             case.overrides)
        if not ref.covered(instant):
            assert found == [] and on_call == ()
            continue
        assert len(found) == 1
        contacts, kind, overridden = ref.expected(instant)
        assert (found[0].contact_ids, found[0].type, found[0].overridden_contact_ids) == (
            contacts, kind, overridden)
        assert on_call == contacts


@SETTINGS
@given(cases())
def test_shifts_cover_exactly_the_covered_time_and_overrides_exactly_their_part(
    case: Case,
) -> None:
    result = case.compute(case.low, case.high)
    ref = case.reference()
    window = [(case.low, case.high)]
    covered = ref.covered_intervals(case.low, case.high)
    clipped = intersect([(s.start, s.end) for s in result], window)
    assert measure(clipped) == measure(covered)
    assert measure(intersect(clipped, covered)) == measure(covered)
    overridden = intersect([(s.start, s.end) for s in result if s.type == "OVERRIDDEN"], window)
    overrides = union([(o.start, o.end) for o in case.overrides])
    assert measure(overridden) == measure(intersect(overrides, covered))


@settings(SETTINGS, max_examples=400)
@given(cases(with_overrides=False))
def test_uncut_shifts_run_between_hand_offs_in_member_order(case: Case) -> None:
    case = Case(case.members, Recurrence(case.recurrence.number_of_on_calls,
                                         case.recurrence.multiplier, case.recurrence.period,
                                         case.recurrence.hand_offs),
                case.zone, case.start, case.low, case.high, ())
    result = case.compute(case.low, case.high)
    ref = case.reference()
    bounds = ref.boundaries()
    expected = [(a, b) for a, b in pairwise(bounds)
                if a < case.high and b > max(case.low, case.start)]
    assert [(s.start, s.end) for s in result] == expected
    for shift in result:
        assert shift.contact_ids == ref.regular(shift.start)
    tz = validate_time_zone(case.zone, "tz")
    anchor = local(case.start, tz).date()
    for shift in result:
        if shift.start != case.start:
            assert _is_scheduled(case.recurrence, anchor, shift.start, tz)


def _is_scheduled(recurrence: Recurrence, anchor: date, instant: float, tz: ZoneInfo) -> bool:
    """The hand-off has a requested local day and time, or is the end of the DST gap it fell in."""
    when = local(instant, tz)
    wanted = minutes_on(recurrence, anchor, when.date())
    if when.hour * 60 + when.minute in wanted and when.second == 0:
        return True
    in_gap = local(instant - 1, tz).utcoffset() != when.utcoffset()
    return in_gap and any(wall_instant(when.date(), m, tz) == instant for m in wanted)


@SETTINGS
@given(cases(), st.floats(0.01, 0.99))
def test_a_split_window_gives_the_same_shifts(case: Case, split: float) -> None:
    middle = float(int(case.low + (case.high - case.low) * split))
    whole = case.compute(case.low, case.high)
    parts = case.compute(case.low, middle) + case.compute(middle, case.high)
    joined: list[Shift] = []
    for shift in parts:
        if not joined or joined[-1] != shift:
            joined.append(shift)
    assert joined == whole


@SETTINGS
@given(cases())
def test_overrides_outside_the_override_span_change_nothing(case: Case) -> None:
    whole = case.compute(case.low, case.high)
    span = override_span(case.recurrence, case.zone, case.start, case.low, case.high)
    if span is None:
        assert whole == []
        return
    for shift in whole:
        assert span[0] <= shift.start and shift.end <= span[1]
    near = [o for o in case.overrides if o.start < span[1] and o.end > span[0]]
    assert shifts(case.members, case.recurrence, case.zone, case.start, case.low, case.high,
                  near) == whole
