"""A rotation created without ``StartTime`` (GetRotation leaves it out, as AWS does): its page
says it started when it was created, and its settings form shows the start empty and, saved
unchanged, sends none."""

from __future__ import annotations

import re

from tests.console.test_console import START, api
from tests.console.test_editing import flash
from tests.console.test_rotations_tags_policies import (
    fields_of,
    got,
    people,
    send,
    shift_rows,
)

DAILY = {"DailySettings": [{"HourOfDay": 9, "MinuteOfHour": 0}],
         "NumberOfOnCalls": 1, "RecurrenceMultiplier": 1}


def startless_rotation(app, members: list[str]) -> str:
    # The console's clock stands at START (Fri 2027-01-15 08:00 UTC): the rotation starts then.
    return api(app, "CreateRotation", Name="primary", ContactIds=members, TimeZoneId="UTC",
               Recurrence=DAILY)["RotationArn"]


def start_input(page: str) -> str:
    (field,) = re.findall(r'<input type="datetime-local" name="start"[^>]*>',
                          page[page.index('action="/console/act/update-rotation"'):])
    return field


def test_the_page_of_a_rotation_without_a_start_says_it_started_when_created(app, client):
    ama, kwame = people(app, "ama", "kwame")
    arn = startless_rotation(app, [ama, kwame])
    assert "StartTime" not in api(app, "GetRotation", RotationId=arn)
    page = got(client, "/console/rotation", arn)
    assert "<dt>Started</dt><dd>when it was created</dd>" in page
    assert "<dt>Starts</dt>" not in page
    # Who is on call now, and the shifts from now, counted from the creation time.
    assert "<dt>On call now</dt><dd>ama</dd>" in page
    assert "From Fri 2027-01-15 08:00 UTC until Fri 2027-01-29 08:00 UTC" in page
    rows = shift_rows(page)
    assert rows[:2] == [
        ["ama", "Fri 2027-01-15 08:00 UTC", "Fri 2027-01-15 09:00 UTC", "REGULAR"],
        ["kwame", "Fri 2027-01-15 09:00 UTC", "Sat 2027-01-16 09:00 UTC", "REGULAR"]]


def test_the_form_of_a_rotation_without_a_start_leaves_it_empty_and_sends_none(app, client):
    ama, kwame = people(app, "ama", "kwame")
    arn = startless_rotation(app, [ama, kwame])
    before = api(app, "GetRotation", RotationId=arn)
    page = got(client, "/console/rotation", arn)
    fields = fields_of(page, "update-rotation")
    assert (fields["start"], fields["start-shown"], fields["zone"]) == ("", "", "UTC")
    # A browser sends the form with the start left empty: the field is not required.
    assert " required" not in start_input(page)
    assert "left empty: when it was created" in page

    same = send(client, page, "update-rotation")
    assert flash(same.text) == "done: The rotation is saved."
    assert api(app, "GetRotation", RotationId=arn) == before

    # Other settings change; the start is still none (no StartTime was sent).
    changed = send(client, same.text, "update-rotation", members="kwame\r\nama",
                   zone="Europe/Berlin")
    assert flash(changed.text) == "done: The rotation is saved."
    after = api(app, "GetRotation", RotationId=arn)
    assert "StartTime" not in after
    assert (after["ContactIds"], after["TimeZoneId"]) == ([kwame, ama], "Europe/Berlin")
    assert fields_of(changed.text, "update-rotation")["start"] == ""

    # A preview of the form counts the shifts from now.
    preview = client.post("/console/preview/update-rotation",
                          data=fields_of(changed.text, "update-rotation"))
    assert preview.status_code == 200
    assert shift_rows(preview.text)[0][:2] == ["kwame", "Fri 2027-01-15 09:00 CET"]

    # A start filled in is sent, read in the rotation's zone, and shown from then on.
    moved = send(client, changed.text, "update-rotation", start="2027-01-16T10:00")
    assert flash(moved.text) == "done: The rotation is saved."
    assert api(app, "GetRotation", RotationId=arn)["StartTime"] == START + 86400 + 3600
    assert "<dt>Starts</dt><dd>Sat 2027-01-16 10:00 CET</dd>" in moved.text
    assert fields_of(moved.text, "update-rotation")["start"] == "2027-01-16T10:00"
    assert " required" in start_input(moved.text)
    # Once given, a start cannot be left empty: the form says so and nothing changes.
    emptied = send(client, moved.text, "update-rotation", start="")
    assert flash(emptied.text).startswith("error: The start is a date and a time")
    assert api(app, "GetRotation", RotationId=arn)["StartTime"] == START + 86400 + 3600


def test_a_new_rotation_still_needs_its_start(app, client):
    people(app, "ama")
    listing = client.get("/console/rotations").text
    form = {**fields_of(listing, "create-rotation"), "name": "primary", "members": "ama",
            "start": ""}
    answer = client.post("/console/act/create-rotation", data=form)
    assert flash(answer.text).startswith("error: The start is a date and a time")
    assert api(app, "ListRotations")["Rotations"] == []
