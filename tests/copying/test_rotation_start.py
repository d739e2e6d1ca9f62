"""``incident-contacts copy`` of rotations created without ``StartTime``, which AWS (and this
server) answers without one: the copy is created without one, matched on a re-run, and a
start the target has where the source has none is reported and left (no request can take a
start away)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from incident_contacts.copying import copy_contacts
from tests.copying.test_copying import DAILY, pages

START = datetime(2030, 1, 7, 9, tzinfo=UTC)


def person(c: Any, alias: str = "akua") -> str:
    return str(c.create_contact(Alias=alias, Type="PERSONAL", Plan={"Stages": []})["ContactArn"])


def rotation(c: Any, members: list[str], **extra: Any) -> str:
    return str(c.create_rotation(Name="desk", ContactIds=members, TimeZoneId="UTC",
                                 Recurrence=DAILY, **extra)["RotationArn"])


def the_rotation(c: Any) -> dict[str, Any]:
    (found,) = pages(c, "list_rotations", "Rotations")
    return dict(c.get_rotation(RotationId=found["RotationArn"]))


def outcome(report: Any) -> tuple[str, list[str]]:
    (line,) = [(o.status, o.differs) for o in report.outcomes if o.kind == "rotation"]
    return line


def test_a_rotation_without_a_start_is_copied_without_one(server, accounts):
    source, target, _, _ = accounts
    rotation(source, [person(source)])
    assert "StartTime" not in the_rotation(source)
    report = copy_contacts(source, target)
    assert report.ok, [o.line() for o in report.outcomes]
    assert outcome(report) == ("created", [])
    copied = the_rotation(target)
    assert "StartTime" not in copied
    assert (copied["TimeZoneId"], copied["Recurrence"]) == ("UTC", DAILY)
    for update in (False, True):
        again = copy_contacts(source, target, update=update)
        assert again.ok and outcome(again) == ("matched", [])
    assert "StartTime" not in the_rotation(target)


def test_a_start_only_the_target_has_is_reported_and_left(server, accounts):
    source, target, _, _ = accounts
    rotation(source, [person(source)])
    rotation(target, [person(target)], StartTime=START)
    for update in (False, True):
        report = copy_contacts(source, target, update=update)
        assert report.ok, [o.line() for o in report.outcomes]
        assert outcome(report) == ("matched", ["StartTime"])
        assert the_rotation(target)["StartTime"] == START
    # With other differences too, the update sets those and still sends no start.
    target.update_rotation(RotationId=the_rotation(target)["RotationArn"], Recurrence=DAILY,
                           TimeZoneId="Europe/Berlin")
    report = copy_contacts(source, target, update=True)
    assert outcome(report) == ("updated", ["StartTime", "TimeZoneId"])
    copied = the_rotation(target)
    assert (copied["StartTime"], copied["TimeZoneId"]) == (START, "UTC")


def test_a_start_the_source_has_is_set_on_a_target_without_one(server, accounts):
    source, target, _, _ = accounts
    rotation(source, [person(source)], StartTime=START)
    rotation(target, [person(target)])
    assert outcome(copy_contacts(source, target)) == ("matched", ["StartTime"])
    assert "StartTime" not in the_rotation(target)
    assert outcome(copy_contacts(source, target, update=True)) == ("updated", ["StartTime"])
    assert the_rotation(target)["StartTime"] == START
    assert outcome(copy_contacts(source, target, update=True)) == ("matched", [])
