"""Managing contacts from the console: creating them, their channels and plans, engaging them
and deleting them, each through the API as the signed-in principal."""

from __future__ import annotations

import html
import re

from starlette.testclient import TestClient

from incident_contacts.console import forms
from tests.console.test_console import (
    READER_KEY,
    READER_SECRET,
    REGION,
    START,
    api,
    csrf,
    daily_rotation,
    messages,
    seed,
    sign_in,
    sigv4_app,
)


def post(client, action: str, page: str, **form):
    """A form of ``page`` sent as the browser sends it (with the page's token)."""
    return client.post(f"/console/act/{action}", data={"csrf": csrf(page), **form})


def contact_page(client, arn: str) -> str:
    answer = client.get("/console/contact", params={"arn": arn})
    assert answer.status_code == 200, answer.text
    return answer.text


def flash(page: str) -> str:
    match = re.search(r'<p class="flash (\w+)" role="status">([^<]*)</p>', page)
    assert match, page
    return f"{match.group(1)}: {html.unescape(match.group(2))}"


def test_a_person_is_created_given_channels_and_a_plan(app, client):
    listing = client.get("/console/contacts").text
    answer = post(client, "create-contact", listing, alias="ama", name="Ama Owusu",
                  type="PERSONAL", back="/console/contacts")
    assert flash(answer.text) == "done: The contact is created."
    (contact,) = api(app, "ListContacts")["Contacts"]
    assert contact["Alias"] == "ama" and contact["DisplayName"] == "Ama Owusu"
    assert str(answer.url).endswith("/console/contact?arn=" + contact["ContactArn"]
                                    .replace(":", "%3A").replace("/", "%2F"))
    arn = contact["ContactArn"]
    back = f"/console/contact?arn={arn}"

    # A channel that is sent a code at once, and one that waits.
    page = contact_page(client, arn)
    added = post(client, "add-channel", page, arn=arn, back=back, name="mail", type="EMAIL",
                 address="ama@example.com")
    assert flash(added.text) == "done: The channel is added, and an activation code is on " \
                                "its way."
    waiting = post(client, "add-channel", page, arn=arn, back=back, name="phone", type="SMS",
                   address="+15005550100", defer="yes")
    assert "Send it a code when you are ready" in flash(waiting.text)
    channels = {c["Name"]: c["ContactChannelArn"]
                for c in api(app, "ListContactChannels", ContactId=arn)["ContactChannels"]}
    assert [m["DeliveryAddress"] for m in messages(app, channels["mail"])] == \
        ["ama@example.com"]
    assert messages(app, channels["phone"]) == []

    # The plan editor offers both channels in a new stage; tick them, with a retry for one.
    page = contact_page(client, arn)
    assert 'name="stages" value="1"' in page
    offered = re.findall(r'name="(stage-0-target-\d+)" value="([^"]+)"', page)
    assert sorted(value for _, value in offered) == sorted(channels.values())
    fields = {name: value for name, value in offered}
    retry = next(name for name, value in offered if value == channels["phone"]) \
        .replace("target", "retry")
    saved = post(client, "update-plan", page, arn=arn, back=back, type="PERSONAL",
                 stages="1", **{"stage-0-minutes": "5", retry: "10"}, **fields)
    assert flash(saved.text) == "done: The plan is saved."
    (stage,) = api(app, "GetContact", ContactId=arn)["Plan"]["Stages"]
    assert stage["DurationInMinutes"] == 5
    targets = {t["ChannelTargetInfo"]["ContactChannelId"]: t["ChannelTargetInfo"]
               for t in stage["Targets"]}
    assert targets == {
        channels["mail"]: {"ContactChannelId": channels["mail"]},
        channels["phone"]: {"ContactChannelId": channels["phone"], "RetryIntervalInMinutes": 10},
    }

    # Shown again, the stage keeps its targets ticked, its minutes and its retry, and saving
    # the page as it is changes nothing.
    page = contact_page(client, arn)
    assert 'name="stages" value="2"' in page
    assert 'name="stage-0-minutes" size="3" inputmode="numeric" value="5"' in page
    ticked = dict(re.findall(r'name="(stage-\d+-target-\d+)" value="([^"]+)" checked', page))
    assert sorted(ticked.values()) == sorted(channels.values())
    kept = dict(re.findall(r'name="(stage-\d+-retry-\d+)" size="3" inputmode="numeric" '
                           r'value="(\d+)"', page))
    assert list(kept.values()) == ["10"]
    again = post(client, "update-plan", page, arn=arn, back=back, type="PERSONAL", stages="2",
                 **{"stage-0-minutes": "5", "stage-1-minutes": ""}, **ticked, **kept)
    assert flash(again.text) == "done: The plan is saved."
    assert api(app, "GetContact", ContactId=arn)["Plan"]["Stages"] == [stage]

    # A stage is removed with its box.
    removed = post(client, "update-plan", page, arn=arn, back=back, type="PERSONAL",
                   stages="2", **{"stage-0-minutes": "5", "stage-0-remove": "on"}, **ticked)
    assert flash(removed.text) == "done: The plan is saved."
    assert api(app, "GetContact", ContactId=arn)["Plan"] == {"Stages": []}


def test_mistakes_are_shown_and_change_nothing(app, client):
    contact, channel = seed(app)
    back = f"/console/contact?arn={contact}"
    listing = client.get("/console/contacts").text
    refused = post(client, "create-contact", listing, alias="Not An Alias!", type="PERSONAL",
                   back="/console/contacts")
    assert flash(refused.text).startswith("error: ValidationException: ")
    # The contacts page is shown again (not redirected to), with the alias as typed.
    assert "<h1>Contacts</h1>" in refused.text
    assert 'value="Not An Alias!"' in refused.text
    assert [c["Alias"] for c in api(app, "ListContacts")["Contacts"]] == ["ama"]

    page = contact_page(client, contact)
    plan = {"arn": contact, "back": back, "type": "PERSONAL", "stages": "1",
            "stage-0-target-0": channel}
    for minutes, said in (("soon", "error: Stage 1: the wait is a whole number of minutes."),
                          ("31", "error: ValidationException: ")):
        answer = post(client, "update-plan", page, **plan, **{"stage-0-minutes": minutes})
        assert flash(answer.text).startswith(said)
    answer = post(client, "update-plan", page, **{**plan, "stages": "5000"})
    assert flash(answer.text) == "error: A plan has at most 100 stages."
    # Digits other than ASCII ones ("²" is a digit to str.isdigit) are refused as such.
    for form in ({**plan, "stages": "\u00b2"}, {**plan, "stage-0-minutes": "\u00b2"},
                 {**plan, "stage-0-minutes": "\u0663"}):
        answer = post(client, "update-plan", page, **form)
        assert answer.status_code == 200 and flash(answer.text).startswith("error: "), form
    assert api(app, "GetContact", ContactId=contact)["Plan"] == {"Stages": []}

    # Deleting asks for the box to be ticked.
    for action, arn in (("delete-channel", channel), ("delete-contact", contact)):
        answer = post(client, action, page, arn=arn, back=back)
        assert flash(answer.text).startswith("error: Tick the box to confirm")
    assert api(app, "GetContactChannel", ContactChannelId=channel)["Name"] == "mail"

    # An action the console does not know, and a form from elsewhere.
    unknown = post(client, "drop-tables", page, arn=contact, back=back)
    assert unknown.status_code == 404
    forged = client.post("/console/act/delete-contact",
                         data={"arn": contact, "confirm": "yes", "csrf": "forged", "back": back})
    assert forged.status_code == 403
    assert api(app, "GetContact", ContactId=contact)["Alias"] == "ama"


def test_an_escalation_plan_and_an_on_call_schedule_are_built(app, client):
    first, _ = seed(app)
    second = api(app, "CreateContact", Alias="kwame", Type="PERSONAL",
                 Plan={"Stages": []})["ContactArn"]
    rotation = daily_rotation(app, [first, second])
    listing = client.get("/console/contacts").text
    assert f'value="{rotation}"' in listing
    created = post(client, "create-contact", listing, alias="primary-oncall",
                   type="ONCALL_SCHEDULE", back="/console/contacts", **{"rotation-0": rotation})
    assert flash(created.text) == "done: The contact is created."
    schedule = api(app, "GetContact", ContactId=first.replace("/ama", "/primary-oncall"))
    assert schedule["Plan"]["RotationIds"] == [rotation]

    created = post(client, "create-contact", listing, alias="sre", name="SRE escalation",
                   type="ESCALATION", back="/console/contacts")
    escalation = first.replace("/ama", "/sre")
    page = created.text
    # The editor offers the people and the schedule, never the plan itself.
    offered = dict((value, name) for name, value in
                   re.findall(r'name="(stage-0-target-\d+)" value="([^"]+)"', page))
    assert sorted(offered) == sorted([first, second, schedule["ContactArn"]])
    by_arn = {value: name for value, name in offered.items()}
    saved = post(client, "update-plan", page, arn=escalation, type="ESCALATION", stages="1",
                 back=f"/console/contact?arn={escalation}",
                 **{"stage-0-minutes": "10", by_arn[schedule["ContactArn"]]:
                    schedule["ContactArn"], by_arn[first]: first,
                    by_arn[first].replace("target", "essential"): "on"})
    assert flash(saved.text) == "done: The plan is saved."
    (stage,) = api(app, "GetContact", ContactId=escalation)["Plan"]["Stages"]
    assert stage["DurationInMinutes"] == 10
    assert {t["ContactTargetInfo"]["ContactId"]: t["ContactTargetInfo"]["IsEssential"]
            for t in stage["Targets"]} == {first: True, schedule["ContactArn"]: False}

    # The schedule's rotations are edited as boxes: none left is the API's to refuse or keep.
    page = contact_page(client, schedule["ContactArn"])
    assert re.search(rf'name="rotation-0" value="{re.escape(rotation)}" checked', page)


def test_a_contact_is_engaged_and_deleted(app, client):
    contact, channel = seed(app)
    page = contact_page(client, contact)
    started = post(client, "engage", page, arn=contact, back=f"/console/contact?arn={contact}",
                   sender="console", subject="Disk full", content="db-1 is at 99%")
    assert flash(started.text) == "done: The engagement has started."
    (engagement,) = api(app, "ListEngagements")["Engagements"]
    assert "/console/engagement?arn=" in str(started.url)
    assert "Disk full" in started.text
    assert api(app, "DescribeEngagement",
               EngagementId=engagement["EngagementArn"])["Sender"] == "console"

    renamed = post(client, "rename-contact", page, arn=contact, name="Ama O.",
                   back=f"/console/contact?arn={contact}")
    assert flash(renamed.text) == "done: The contact's name is changed."
    assert "<h1>Ama O.</h1>" in renamed.text

    gone = post(client, "delete-channel", page, arn=channel, confirm="yes",
                back=f"/console/contact?arn={contact}")
    assert flash(gone.text) == "done: The channel is deleted."
    assert api(app, "ListContactChannels", ContactId=contact)["ContactChannels"] == []
    deleted = post(client, "delete-contact", page, arn=contact, confirm="yes",
                   back=f"/console/contact?arn={contact}")
    assert flash(deleted.text) == "done: The contact is deleted."
    assert str(deleted.url).endswith("/console/contacts")
    assert api(app, "ListContacts")["Contacts"] == []


def test_a_principal_edits_only_what_its_policy_allows(tmp_path):
    app = sigv4_app(tmp_path)
    contact, _ = seed(app)
    with TestClient(app) as client:
        sign_in(client, key=READER_KEY, secret=READER_SECRET, region=REGION)
        page = contact_page(client, contact)
        for action, form in (("rename-contact", {"name": "Mallory"}),
                             ("add-channel", {"name": "x", "type": "EMAIL",
                                              "address": "mallory@example.com"}),
                             ("delete-contact", {"confirm": "yes"})):
            answer = post(client, action, page, arn=contact,
                          back=f"/console/contact?arn={contact}", **form)
            assert flash(answer.text).startswith("error: AccessDeniedException: "), action
    assert api(app, "GetContact", ContactId=contact)["DisplayName"] == "Ama Owusu"
    assert len(api(app, "ListContactChannels", ContactId=contact)["ContactChannels"]) == 1


def test_plan_rows_keep_targets_that_are_not_offered():
    """A stage naming a channel the editor cannot list (deleted, or past the list) still
    shows it ticked, so saving the form as it is keeps it."""
    known = "arn:aws:ssm-contacts:us-east-1:111122223333:contact-channel/ama/aaa"
    unknown = "arn:aws:ssm-contacts:us-east-1:111122223333:contact-channel/ama/zzz"
    contact = {"Plan": {"Stages": [{"DurationInMinutes": 3, "Targets": [
        {"ChannelTargetInfo": {"ContactChannelId": unknown, "RetryIntervalInMinutes": 2}}]}]}}
    first, blank = forms.plan_rows(contact, [(known, "mail (EMAIL)")])
    assert first.minutes == 3
    assert [(t.arn, t.label, t.ticked, t.retry) for t in first.targets] == [
        (unknown, "ama/zzz", True, 2), (known, "mail (EMAIL)", False, None)]
    assert blank.minutes is None and [t.ticked for t in blank.targets] == [False]
    form = {"stages": "2", "stage-0-minutes": "3", "stage-0-target-0": unknown,
            "stage-0-retry-0": "2", "stage-1-minutes": ""}
    assert forms.stages_of(form, "PERSONAL") == contact["Plan"]["Stages"]


def test_a_rotation_is_created_overridden_and_deleted(app, client):
    ama, _ = seed(app)
    kwame = api(app, "CreateContact", Alias="kwame", Type="PERSONAL",
                Plan={"Stages": []})["ContactArn"]
    listing = client.get("/console/rotations").text
    # START is 2027-01-15 08:00 UTC; the rotation starts that day at 09:00 in Berlin.
    created = post(client, "create-rotation", listing, name="primary", members="ama\nkwame\n",
                   zone="Europe/Berlin", start="2027-01-15T09:00", kind="weekly",
                   weekday="MON", time="09:30", every="1", **{"on-call": "1"},
                   back="/console/rotations")
    assert flash(created.text) == "done: The rotation is created."
    (listed,) = api(app, "ListRotations")["Rotations"]
    rotation = api(app, "GetRotation", RotationId=listed["RotationArn"])
    assert rotation["ContactIds"] == [ama, kwame]
    assert rotation["TimeZoneId"] == "Europe/Berlin"
    assert rotation["StartTime"] == START       # 09:00 in Berlin is 08:00 UTC
    assert rotation["Recurrence"] == {
        "WeeklySettings": [{"DayOfWeek": "MON",
                            "HandOffTime": {"HourOfDay": 9, "MinuteOfHour": 30}}],
        "NumberOfOnCalls": 1, "RecurrenceMultiplier": 1}
    arn = listed["RotationArn"]
    back = f"/console/rotation?arn={arn}"
    assert "<h1>primary</h1>" in created.text

    # An override read in the rotation's time zone, listed, then deleted.
    page = created.text
    overridden = post(client, "create-override", page, arn=arn, back=back, members="kwame",
                      zone="Europe/Berlin", start="2027-01-20T10:00", end="2027-01-20T18:00")
    assert flash(overridden.text) == "done: The override is created."
    (override,) = api(app, "ListRotationOverrides", RotationId=arn, StartTime=START,
                      EndTime=START + 30 * 86400)["RotationOverrides"]
    assert override["NewContactIds"] == [kwame]
    assert override["StartTime"] == START + 5 * 86400 + 3600
    assert override["EndTime"] - override["StartTime"] == 8 * 3600
    # Deleted with the fields of the page's own form, as a browser sends them.
    form = re.search(r'<form class="inline" method="post" action="/console/act/'
                     r'delete-override">(.*?)</form>', overridden.text, re.DOTALL)
    assert form, overridden.text
    fields = {name: html.unescape(value) for name, value in re.findall(
        r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.group(1))}
    assert fields["override"] == override["RotationOverrideId"]
    removed = client.post("/console/act/delete-override", data={**fields, "confirm": "yes"})
    assert flash(removed.text) == "done: The override is deleted."
    assert api(app, "ListRotationOverrides", RotationId=arn, StartTime=START,
               EndTime=START + 30 * 86400)["RotationOverrides"] == []

    # Forms the console cannot turn into a request, and the API's refusals, change nothing.
    for form, said in (
            ({"zone": "Mars/Olympus"}, "error: 'Mars/Olympus' is not a time zone"),
            ({"start": "next monday"}, "error: The start is a date and a time"),
            ({"time": "9"}, "error: The hand-off time is hours and minutes"),
            ({"every": "\u00b2"}, "error: How many days, weeks or months"),
            ({"kind": "weekly", "weekday": "FUNDAY"}, "error: Choose the day of the week"),
            ({"members": "nobody"}, "error: ResourceNotFoundException: "),
            ({"name": "bad/name"}, "error: ValidationException: ")):
        answer = post(client, "create-rotation", listing, back="/console/rotations", **{
            "name": "second", "members": "ama", "zone": "UTC", "start": "2027-01-15T09:00",
            "kind": "daily", "time": "09:00", **form})
        assert flash(answer.text).startswith(said), (form, flash(answer.text))
    assert len(api(app, "ListRotations")["Rotations"]) == 1

    unconfirmed = post(client, "delete-rotation", page, arn=arn, back=back)
    assert flash(unconfirmed.text).startswith("error: Tick the box")
    deleted = post(client, "delete-rotation", page, arn=arn, back=back, confirm="yes")
    assert flash(deleted.text) == "done: The rotation is deleted."
    assert api(app, "ListRotations")["Rotations"] == []
