"""Who StartEngagement pages through an on-call schedule is who ListRotationShifts lists.

The engine asks for the one override deciding an instant (``overrides.override_at``) while a
listing lays out every override of its stretch; both must name the same people at every
instant, including instants on an override's or a shift's edge and under stacked overrides.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from incident_contacts.testing import mock_ssm_contacts

# Instants asked about: Berlin's spring gap and autumn fold, Lord Howe's half-hour fall back,
# Sao Paulo's historic midnight gap, and the end of a February.
INSTANTS = [datetime(*moment, tzinfo=UTC).timestamp() for moment in (
    (2026, 3, 29, 0, 30), (2026, 10, 25, 1, 15), (2026, 4, 4, 15, 15), (2018, 11, 4, 2, 59),
    (2026, 2, 28, 23, 0))]
MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
ZONES = ["UTC", "Europe/Berlin", "Australia/Lord_Howe", "America/Sao_Paulo"]
ALIASES = ["akuam", "alejr", "anasi"]

# Edges fall on the instant asked about, a minute either side, or on whole hours around it.
offsets = st.one_of(st.sampled_from([-MINUTE, 0.0, MINUTE]),
                    st.integers(-72, 72).map(lambda hours: hours * HOUR))


@st.composite
def rotations(draw: st.DrawFn) -> dict[str, Any]:
    hand_off = st.fixed_dictionaries({"HourOfDay": st.sampled_from([0, 1, 2, 3, 9, 23]),
                                      "MinuteOfHour": st.sampled_from([0, 30])})
    kind = draw(st.sampled_from(["DailySettings", "WeeklySettings"]))
    entry: st.SearchStrategy[Any] = hand_off if kind == "DailySettings" else \
        st.fixed_dictionaries({"DayOfWeek": st.sampled_from(["SUN", "MON", "SAT"]),
                               "HandOffTime": hand_off})
    recurrence: dict[str, Any] = {
        "NumberOfOnCalls": draw(st.integers(1, 2)),
        "RecurrenceMultiplier": draw(st.integers(1, 2)),
        kind: draw(st.lists(entry, min_size=1, max_size=2)),
    }
    if draw(st.booleans()):
        recurrence["ShiftCoverages"] = {day: [{"Start": {"HourOfDay": 0, "MinuteOfHour": 0},
                                               "End": {"HourOfDay": 2, "MinuteOfHour": 30}}]
                                        for day in ("SUN", "MON")}
    return {
        "Now": draw(st.sampled_from(INSTANTS)),
        "TimeZoneId": draw(st.sampled_from(ZONES)),
        "Recurrence": recurrence,
        "StartTime": -draw(st.integers(0, 40)) * DAY - draw(offsets.filter(lambda o: o >= 0)),
        "Members": draw(st.permutations(range(len(ALIASES)))),
        "Overrides": draw(st.lists(st.tuples(
            st.one_of(offsets, offsets.filter(lambda o: o <= 0)),
            st.one_of(offsets, offsets.filter(lambda o: o >= 0)),
            st.lists(st.integers(0, len(ALIASES) - 1), unique=True, max_size=2)), max_size=4)),
    }


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(rotations())
@example({  # stacked overrides covering the instant: the one created last decides
    "Now": INSTANTS[0], "TimeZoneId": "Europe/Berlin", "StartTime": -3 * DAY,
    "Recurrence": {"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
                   "DailySettings": [{"HourOfDay": 9, "MinuteOfHour": 0}]},
    "Members": [0, 1, 2],
    "Overrides": [(-HOUR, HOUR, [1]), (0.0, MINUTE, [2]), (-2 * HOUR, 2 * HOUR, [])]})
@example({
    "Now": INSTANTS[1], "TimeZoneId": "UTC", "StartTime": -DAY,
    "Recurrence": {"NumberOfOnCalls": 2, "RecurrenceMultiplier": 1,
                   "DailySettings": [{"HourOfDay": 1, "MinuteOfHour": 15}]},
    "Members": [2, 1, 0],
    "Overrides": [(-HOUR, 0.0, [0]), (-DAY, DAY, [1, 2]), (-MINUTE, MINUTE, [0])]})
def test_the_engine_pages_who_the_listing_shows_on_call(case: dict[str, Any]) -> None:
    now = case["Now"]
    with mock_ssm_contacts(start_time=now) as contacts:
        client = boto3.client("ssm-contacts", region_name="us-east-1")
        people = []
        for alias in ALIASES:
            arn = client.create_contact(Alias=alias, Type="PERSONAL",
                                        Plan={"Stages": []})["ContactArn"]
            channel = client.create_contact_channel(
                ContactId=arn, Name="sms", Type="SMS",
                DeliveryAddress={"SimpleAddress": "+15005550199"})["ContactChannelArn"]
            [message] = contacts.messages(ContactChannelArn=channel)
            client.activate_contact_channel(ContactChannelId=channel,
                                            ActivationCode=message["ActivationCode"])
            client.update_contact(ContactId=arn, Plan={"Stages": [{
                "DurationInMinutes": 5,
                "Targets": [{"ChannelTargetInfo": {"ContactChannelId": channel}}]}]})
            people.append(arn)
        rotation = client.create_rotation(
            Name="primary", ContactIds=[people[k] for k in case["Members"]],
            TimeZoneId=case["TimeZoneId"], Recurrence=case["Recurrence"],
            StartTime=now + case["StartTime"])["RotationArn"]
        for start, end, chosen in case["Overrides"]:
            if end > start:
                client.create_rotation_override(
                    RotationId=rotation, NewContactIds=[people[k] for k in chosen],
                    StartTime=now + start, EndTime=now + end)
        schedule = client.create_contact(Alias="oncall", Type="ONCALL_SCHEDULE",
                                          Plan={"RotationIds": [rotation]})["ContactArn"]

        listed = client.list_rotation_shifts(RotationId=rotation, StartTime=now,
                                             EndTime=now + 1)["RotationShifts"]
        on_call = [shift["ContactIds"] for shift in listed
                   if shift["StartTime"].timestamp() <= now < shift["EndTime"].timestamp()]
        assert len(on_call) <= 1
        engagement = client.start_engagement(ContactId=schedule, Sender="tester",
                                             Subject="Database down",
                                             Content="Primary is down")["EngagementArn"]
        pages = client.list_pages_by_engagement(EngagementId=engagement)["Pages"]
        assert sorted(p["ContactArn"] for p in pages) == sorted(on_call[0] if on_call else [])
