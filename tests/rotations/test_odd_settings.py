"""Property: no rotation settings the model allows get a server error, anywhere they go.

Recurrences of every kind with coverage, any zone tzdata knows (DST gaps at midnight, zones
that skipped a whole day), rotation starts and windows from before 1900 to past 9000, and
overrides anywhere, go through CreateRotation, CreateRotationOverride, ListRotationShifts
(paged), ListRotationOverrides, UpdateRotation and ListPreviewRotationShifts, and then an
engagement of a schedule holding the rotation through the engine. Every answer must be one
botocore reads, listed shifts must run in order without overlapping and meet the window, and
the engine must take its steps without one failing. In-process only (the pipeline is the same
on a server).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from importlib import resources
from itertools import pairwise
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incident_contacts.engine import runner
from incident_contacts.runtime import Runtime
from incident_contacts.service.engagements import list_events
from incident_contacts.store.schema.engagements import engine_timers
from tests.oncall.test_properties import recurrences
from tests.protocol.helpers import call, check_response, dispatcher_for, new_runtime, ok

ZONES = sorted(resources.files("tzdata").joinpath("zones").read_text().split())
TIMES = st.one_of(
    st.floats(-2.5e9, 2.6e11, allow_nan=False),
    st.sampled_from([-2208988800.0, 1711846800.0, 1325239200.0, 32503680000.0,
                     221845392000.0, 221845391999.999, 253402300799.0, 1e15]),
)
_aliases = itertools.count()

World = tuple[Runtime, Any, list[str]]


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    runtime = new_runtime()
    dispatcher = dispatcher_for(runtime)
    members = [ok(dispatcher, "CreateContact", {"Alias": f"m{k}", "Type": "PERSONAL",
                                                "Plan": {"Stages": []}})["ContactArn"]
               for k in range(3)]
    yield runtime, dispatcher, members
    runtime.close()


def _answer(dispatcher: Any, operation: str, body: dict[str, Any]) -> dict[str, Any] | None:
    """The decoded answer of a success, None for an error (which must be well formed)."""
    response = call(dispatcher, operation, orjson.dumps(body))
    check_response(operation, response)
    if response.status != 200:
        return None
    decoded: dict[str, Any] = orjson.loads(response.body)
    return decoded


def _check_shifts(shifts: list[dict[str, Any]], low: float, high: float) -> None:
    for before, after in pairwise(shifts):
        assert before["StartTime"] < before["EndTime"] <= after["StartTime"], shifts
    for shift in shifts:
        assert shift["StartTime"] < high and shift["EndTime"] > low, (shift, low, high)


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(recurrence=recurrences(), zone=st.sampled_from(ZONES), start=TIMES, low=TIMES,
       high=TIMES, page=st.integers(0, 4), count=st.integers(1, 3),
       spans=st.lists(st.tuples(TIMES, TIMES), max_size=2), new_zone=st.sampled_from(ZONES))
def test_rotation_settings_never_get_a_server_error(
    world: World, recurrence: dict[str, Any], zone: str, start: float, low: float, high: float,
    page: int, count: int, spans: list[tuple[float, float]], new_zone: str,
) -> None:
    runtime, dispatcher, members = world
    window = {"StartTime": low, "EndTime": high, "MaxResults": page}
    preview = _answer(dispatcher, "ListPreviewRotationShifts", {
        "Members": members[:count], "TimeZoneId": zone, "Recurrence": recurrence,
        "RotationStartTime": start, **window,
        "Overrides": [{"StartTime": a, "EndTime": b, "NewMembers": members[:1]}
                      for a, b in spans]})
    if preview is not None:
        _check_shifts(preview["RotationShifts"], max(low, start), high)
    created = _answer(dispatcher, "CreateRotation", {
        "Name": "odd", "ContactIds": members[:count], "TimeZoneId": zone,
        "Recurrence": recurrence, "StartTime": start})
    if created is None:
        return
    arn = created["RotationArn"]
    for a, b in spans:
        _answer(dispatcher, "CreateRotationOverride", {
            "RotationId": arn, "NewContactIds": members[-1:], "StartTime": a, "EndTime": b})
    listing = {"RotationId": arn, **window}
    shifts: list[dict[str, Any]] = []
    for _ in range(3):
        answer = _answer(dispatcher, "ListRotationShifts", listing)
        if answer is None:
            break
        shifts += answer["RotationShifts"]
        if "NextToken" not in answer:
            break
        listing["NextToken"] = answer["NextToken"]
    _check_shifts(shifts, max(low, start), high)
    _answer(dispatcher, "ListRotationOverrides", {"RotationId": arn, **window})
    _answer(dispatcher, "UpdateRotation", {"RotationId": arn, "Recurrence": recurrence,
                                           "StartTime": low, "TimeZoneId": new_zone})
    schedule = ok(dispatcher, "CreateContact", {
        "Alias": f"s{next(_aliases)}", "Type": "ONCALL_SCHEDULE",
        "Plan": {"RotationIds": [arn]}})["ContactArn"]
    engagement = ok(dispatcher, "StartEngagement", {
        "ContactId": schedule, "Sender": "fuzz", "Subject": "s", "Content": "c"})["EngagementArn"]
    runner.run_all_due(runtime)
    with runtime.store.transaction(write=False) as conn:
        # A step that raised is put off and tried again (its error kept), not dropped.
        failed = conn.execute(sa.select(engine_timers.c.key, engine_timers.c.last_error)
                              .where(engine_timers.c.attempts > 0)).all()
        events = list_events(conn, runtime, engagement) or []
    assert not failed, failed
    assert events and events[0]["Type"] in ("NOBODY_ON_CALL", "NO_STAGES"), events
    ok(dispatcher, "DeleteRotation", {"RotationId": arn})
