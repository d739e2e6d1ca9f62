"""On-call schedules and rotations referring to each other, and contacts that rotations use."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from .helpers import error, people, rotation


def schedule(client: Any, alias: str, rotation_ids: list[str]) -> str:
    arn: str = client.create_contact(Alias=alias, Type="ONCALL_SCHEDULE",
                                     Plan={"RotationIds": rotation_ids})["ContactArn"]
    return arn


def test_deleting_a_rotation_member_is_a_conflict(backend: Any) -> None:
    client = backend.client()
    akua, mia = people(client, "akua", "mia")
    first = rotation(client, [akua, mia], Name="first")
    second = rotation(client, [mia, akua], Name="second")
    rotation(client, [mia], Name="third")
    with pytest.raises(ClientError) as caught:
        client.delete_contact(ContactId=akua)
    body = error(caught)
    assert body["Error"]["Code"] == "ConflictException"
    assert body["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert (body["ResourceId"], body["ResourceType"]) == (akua, "CONTACT")
    assert body["DependentEntities"] == [
        {"RelationType": "ROTATION_MEMBER", "DependentResourceIds": [first, second]}]
    client.get_contact(ContactId=akua)  # still there
    client.delete_rotation(RotationId=first)
    client.update_rotation(RotationId=second, ContactIds=[mia],
                           Recurrence=client.get_rotation(RotationId=second)["Recurrence"])
    client.delete_contact(ContactId=akua)


def test_delete_rotation_takes_it_out_of_every_schedule(backend: Any) -> None:
    client = backend.client()
    members = people(client, "akua")
    first = rotation(client, members, Name="first")
    second = rotation(client, members, Name="second")
    both = schedule(client, "both", [first, second])
    only_first = schedule(client, "only-first", [first])
    only_second = schedule(client, "only-second", [second])
    client.delete_rotation(RotationId=first)
    assert client.get_contact(ContactId=both)["Plan"]["RotationIds"] == [second]
    assert client.get_contact(ContactId=only_first)["Plan"].get("RotationIds", []) == []
    assert client.get_contact(ContactId=only_second)["Plan"]["RotationIds"] == [second]


def test_schedule_rotations_are_checked(backend: Any) -> None:
    client = backend.client()
    members = people(client, "akua")
    nine = [rotation(client, members, Name=f"r{k}") for k in range(9)]
    with pytest.raises(ClientError) as caught:
        schedule(client, "too-many", nine)
    body = error(caught)
    assert body["Error"]["Code"] == "ValidationException"
    assert body["Fields"][0]["Name"] == "Plan.RotationIds"
    eight = schedule(client, "eight", nine[:8])
    assert client.get_contact(ContactId=eight)["Plan"]["RotationIds"] == nine[:8]

    ghost = nine[0][: -len("0e5b4e6c-3c1f-4c51-9a53-d0c3a1b2c3d4")] + \
        "0e5b4e6c-3c1f-4c51-9a53-d0c3a1b2c3d4"
    with pytest.raises(ClientError) as caught:
        schedule(client, "unknown", [nine[0], ghost])
    body = error(caught)
    assert body["Error"]["Code"] == "ValidationException"
    assert body["Fields"][0]["Name"] == "Plan.RotationIds[1]"
    with pytest.raises(ClientError) as caught:
        client.update_contact(ContactId=eight, Plan={"RotationIds": [ghost]})
    body = error(caught)
    assert body["Error"]["Code"] == "ResourceNotFoundException"
    assert (body["ResourceType"], body["ResourceId"]) == ("ROTATION", ghost)
    with pytest.raises(ClientError) as caught:
        client.update_contact(ContactId=eight, Plan={"RotationIds": nine})
    assert error(caught)["Error"]["Code"] == "ValidationException"
    client.update_contact(ContactId=eight, Plan={"RotationIds": [nine[8], nine[0]]})
    assert client.get_contact(ContactId=eight)["Plan"]["RotationIds"] == [nine[8], nine[0]]


def test_schedule_cannot_use_another_regions_rotation(backend: Any) -> None:
    client = backend.client()
    elsewhere = backend.client(region="eu-west-1")
    theirs = rotation(elsewhere, people(elsewhere, "akua"))
    with pytest.raises(ClientError) as caught:
        schedule(client, "sched", [theirs])
    assert error(caught)["Error"]["Code"] == "ValidationException"
