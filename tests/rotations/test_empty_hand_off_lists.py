"""Empty Daily/Weekly/MonthlySettings lists (Terraform sends the unused ones as ``[]``) count
as not given; when no list holds a hand-off the refusal still names the empty list, as it
did before empty lists were set aside ("exactly one must be specified" would say the
opposite of what was sent)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from incident_contacts.api.dispatch import Dispatcher
from tests.protocol.helpers import call, dispatcher_for, new_runtime, ok

COUNTS = {"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1}
NINE = {"HourOfDay": 9, "MinuteOfHour": 0}


@pytest.fixture(scope="module")
def dispatcher() -> Iterator[Dispatcher]:
    runtime = new_runtime()
    yield dispatcher_for(runtime)
    runtime.close()


def _refusal(dispatcher: Dispatcher, operation: str, body: dict[str, Any]) -> str:
    """``<field name>: <message>`` of a ValidationException's one field."""
    response = call(dispatcher, operation, orjson.dumps(body))
    assert response.status == 400, response.body
    answer = orjson.loads(response.body)
    assert answer["__type"] == "ValidationException", answer
    (field,) = answer["Fields"]
    return f"{field['Name']}: {field['Message']}"


@pytest.mark.parametrize(("recurrence", "named"), [
    ({"DailySettings": []}, "Recurrence.DailySettings"),
    ({"WeeklySettings": []}, "Recurrence.WeeklySettings"),
    ({"DailySettings": [], "WeeklySettings": [], "MonthlySettings": []},
     "Recurrence.DailySettings"),
    ({"WeeklySettings": [], "MonthlySettings": []}, "Recurrence.WeeklySettings"),
])
def test_no_list_with_a_hand_off_names_the_empty_list(dispatcher, recurrence, named):
    preview = {"Members": ["akua"], "TimeZoneId": "UTC", "StartTime": 1_900_000_000,
               "EndTime": 1_900_086_400, "Recurrence": {**COUNTS, **recurrence}}
    member = ok(dispatcher, "CreateContact", {"Alias": "m-" + "-".join(sorted(recurrence)).lower(),
                                              "Type": "PERSONAL", "Plan": {"Stages": []}})
    create = {"Name": "r", "ContactIds": [member["ContactArn"]], "TimeZoneId": "UTC",
              "Recurrence": {**COUNTS, **recurrence}}
    for operation, body in (("ListPreviewRotationShifts", preview), ("CreateRotation", create)):
        said = _refusal(dispatcher, operation, body)
        assert said == f"{named}: Member must contain at least one hand-off time.", said


def test_two_lists_with_hand_offs_are_still_refused_beside_an_empty_one(dispatcher):
    said = _refusal(dispatcher, "ListPreviewRotationShifts", {
        "Members": ["akua"], "TimeZoneId": "UTC", "StartTime": 1_900_000_000,
        "EndTime": 1_900_086_400,
        "Recurrence": {**COUNTS, "DailySettings": [NINE], "MonthlySettings": [],
                       "WeeklySettings": [{"DayOfWeek": "MON", "HandOffTime": NINE}]}})
    assert said == ("Recurrence: Exactly one of DailySettings, WeeklySettings or "
                    "MonthlySettings must be specified."), said
