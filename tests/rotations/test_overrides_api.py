"""CreateRotationOverride, GetRotationOverride, DeleteRotationOverride, ListRotationOverrides."""

from __future__ import annotations

import re
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .helpers import error, people, rotation, shift_tuples, when

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


def test_override_lifecycle(backend: Any) -> None:
    client = backend.client()
    akua, mia, zed = people(client, "akua", "mia", "zed")
    arn = rotation(client, [akua, mia, zed], StartTime=when(2024, 1, 1))
    override_id = client.create_rotation_override(
        RotationId=arn, NewContactIds=[zed, mia], StartTime=when(2024, 1, 1, 3),
        EndTime=when(2024, 1, 1, 6))["RotationOverrideId"]
    assert re.fullmatch(UUID, override_id)
    got = client.get_rotation_override(RotationId=arn, RotationOverrideId=override_id)
    assert got["RotationOverrideId"] == override_id
    assert got["RotationArn"] == arn
    assert got["NewContactIds"] == [zed, mia]
    assert (got["StartTime"], got["EndTime"]) == (when(2024, 1, 1, 3), when(2024, 1, 1, 6))
    assert "CreateTime" in got
    # daily hand-off at 09:00: akua is on call from the start to 09:00
    shifts = client.list_rotation_shifts(RotationId=arn, StartTime=when(2024, 1, 1),
                                         EndTime=when(2024, 1, 1, 8))["RotationShifts"]
    assert shift_tuples(shifts) == [
        (when(2024, 1, 1).timestamp(), when(2024, 1, 1, 3).timestamp(), (akua,), "REGULAR", ()),
        (when(2024, 1, 1, 3).timestamp(), when(2024, 1, 1, 6).timestamp(), (zed, mia),
         "OVERRIDDEN", (akua,)),
        (when(2024, 1, 1, 6).timestamp(), when(2024, 1, 1, 9).timestamp(), (akua,), "REGULAR", ()),
    ]
    client.delete_rotation_override(RotationId=arn, RotationOverrideId=override_id)
    shifts = client.list_rotation_shifts(RotationId=arn, StartTime=when(2024, 1, 1),
                                         EndTime=when(2024, 1, 1, 8))["RotationShifts"]
    assert shift_tuples(shifts) == [
        (when(2024, 1, 1).timestamp(), when(2024, 1, 1, 9).timestamp(), (akua,), "REGULAR", ())]
    with pytest.raises(ClientError) as caught:
        client.get_rotation_override(RotationId=arn, RotationOverrideId=override_id)
    body = error(caught)
    assert body["Error"]["Code"] == "ResourceNotFoundException"
    assert (body["ResourceType"], body["ResourceId"]) == ("ROTATION_OVERRIDE", override_id)
    with pytest.raises(ClientError) as caught:
        client.delete_rotation_override(RotationId=arn, RotationOverrideId=override_id)
    assert error(caught)["ResourceType"] == "ROTATION_OVERRIDE"


def test_an_empty_override_leaves_nobody_on_call(backend: Any) -> None:
    client = backend.client()
    akua, mia = people(client, "akua", "mia")
    arn = rotation(client, [akua, mia], StartTime=when(2024, 1, 1))
    client.create_rotation_override(RotationId=arn, NewContactIds=[],
                                    StartTime=when(2024, 1, 1, 10), EndTime=when(2024, 1, 1, 11))
    shifts = client.list_rotation_shifts(RotationId=arn, StartTime=when(2024, 1, 1, 10),
                                         EndTime=when(2024, 1, 1, 11))["RotationShifts"]
    assert len(shifts) == 1
    assert shifts[0].get("ContactIds", []) == []
    assert shifts[0]["Type"] == "OVERRIDDEN"
    assert shifts[0]["ShiftDetails"]["OverriddenContactIds"] == [mia]


def test_override_rules(backend: Any) -> None:
    client = backend.client()
    akua, mia, outsider = people(client, "akua", "mia", "outsider")
    arn = rotation(client, [akua, mia])
    cases: list[tuple[dict[str, Any], str]] = [
        ({"NewContactIds": [outsider], "StartTime": when(2030, 1, 1),
          "EndTime": when(2030, 1, 2)}, "NewContactIds[0]"),
        ({"NewContactIds": [mia, mia], "StartTime": when(2030, 1, 1),
          "EndTime": when(2030, 1, 2)}, "NewContactIds[1]"),
        ({"NewContactIds": [mia], "StartTime": when(2030, 1, 2),
          "EndTime": when(2030, 1, 2)}, "EndTime"),
        ({"NewContactIds": [mia], "StartTime": when(2030, 1, 2),
          "EndTime": when(2030, 1, 1)}, "EndTime"),
    ]
    for params, field in cases:
        with pytest.raises(ClientError) as caught:
            client.create_rotation_override(RotationId=arn, **params)
        body = error(caught)
        assert body["Error"]["Code"] == "ValidationException"
        assert body["Fields"][0]["Name"] == field
    with pytest.raises(ClientError) as caught:
        client.get_rotation_override(RotationId=arn,
                                     RotationOverrideId="not-a-uuid-at-all-but-long-enough-xyz")
    assert error(caught)["Error"]["Code"] == "ValidationException"


def test_list_overrides_overlapping_a_window(backend: Any) -> None:
    client = backend.client()
    akua, mia = people(client, "akua", "mia")
    arn = rotation(client, [akua, mia])
    made = {}
    for day in (5, 1, 3, 7):
        made[day] = client.create_rotation_override(
            RotationId=arn, NewContactIds=[mia], StartTime=when(2030, 1, day),
            EndTime=when(2030, 1, day + 1))["RotationOverrideId"]

    def listed(low: Any, high: Any, **extra: Any) -> list[str]:
        result = client.list_rotation_overrides(RotationId=arn, StartTime=low, EndTime=high,
                                                **extra)
        return [o["RotationOverrideId"] for o in result["RotationOverrides"]]

    # by start time; [low, high) overlap: one ending at low or starting at high is out
    assert listed(when(2030, 1, 2), when(2030, 1, 7)) == [made[3], made[5]]
    assert listed(when(2029, 1, 1), when(2031, 1, 1)) == [made[1], made[3], made[5], made[7]]
    assert listed(when(2030, 1, 1, 12), when(2030, 1, 1, 13)) == [made[1]]
    pages = client.get_paginator("list_rotation_overrides").paginate(
        RotationId=arn, StartTime=when(2029, 1, 1), EndTime=when(2031, 1, 1),
        PaginationConfig={"PageSize": 3})
    assert [o["RotationOverrideId"] for p in pages for o in p["RotationOverrides"]] == [
        made[1], made[3], made[5], made[7]]
    one = client.list_rotation_overrides(RotationId=arn, StartTime=when(2029, 1, 1),
                                         EndTime=when(2031, 1, 1), MaxResults=1)
    item = one["RotationOverrides"][0]
    assert item["NewContactIds"] == [mia]
    assert (item["StartTime"], item["EndTime"]) == (when(2030, 1, 1), when(2030, 1, 2))
    assert "CreateTime" in item and "NextToken" in one
    with pytest.raises(ClientError) as caught:
        listed(when(2030, 1, 2), when(2030, 1, 2))
    assert error(caught)["Error"]["Code"] == "ValidationException"
    # A token pages on the window it came from.
    with pytest.raises(ClientError) as caught:
        listed(when(2029, 1, 1), when(2030, 6, 1), NextToken=one["NextToken"])
    assert error(caught)["Error"]["Code"] == "ValidationException"


def test_overrides_belong_to_their_rotation(backend: Any) -> None:
    client = backend.client()
    members = people(client, "akua")
    first = rotation(client, members, Name="first")
    second = rotation(client, members, Name="second")
    override_id = client.create_rotation_override(
        RotationId=first, NewContactIds=members, StartTime=when(2030, 1, 1),
        EndTime=when(2030, 1, 2))["RotationOverrideId"]
    with pytest.raises(ClientError) as caught:
        client.get_rotation_override(RotationId=second, RotationOverrideId=override_id)
    assert error(caught)["ResourceType"] == "ROTATION_OVERRIDE"
    assert client.list_rotation_overrides(RotationId=second, StartTime=when(2029, 1, 1),
                                          EndTime=when(2031, 1, 1))["RotationOverrides"] == []
