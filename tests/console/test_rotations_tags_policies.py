"""Changing a rotation from its page (UpdateRotation), its coming shifts and a form's preview
(ListRotationShifts, ListPreviewRotationShifts), tags on contacts and rotations, and a
contact's policy, each through the API as the signed-in principal.

Forms are sent as a browser sends them: every field of the page's form as the page fills it
(:func:`fields_of`), textareas with CR LF line ends, then what the test changes.
"""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser

import pytest
from starlette.testclient import TestClient

from incident_contacts.console import rotation_forms
from incident_contacts.service.context import Caller
from tests.console.test_console import (
    ACCOUNT,
    ADMIN_KEY,
    ADMIN_SECRET,
    OTHER,
    READER_KEY,
    READER_POLICY,
    READER_SECRET,
    REGION,
    START,
    api,
    make_app,
    seed,
    sign_in,
)
from tests.console.test_editing import flash

OPERATOR_KEY, OPERATOR_SECRET = "AKIACONSOLEOPERATOR1", "operator-secret-access-key"
DENIED = ["ssm-contacts:UpdateRotation", "ssm-contacts:TagResource",
          "ssm-contacts:UntagResource", "ssm-contacts:PutContactPolicy",
          "ssm-contacts:ListPreviewRotationShifts"]
OPERATOR_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "ssm-contacts:*", "Resource": "*"},
    {"Effect": "Deny", "Action": DENIED, "Resource": "*"}]}
WEEKLY = {"WeeklySettings": [{"DayOfWeek": "MON",
                              "HandOffTime": {"HourOfDay": 9, "MinuteOfHour": 30}}],
          "NumberOfOnCalls": 1, "RecurrenceMultiplier": 1}
SHARED = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Sid": "ShareWithOps", "Effect": "Allow", "Principal": {"AWS": OTHER},
    "Action": ["ssm-contacts:GetContact", "ssm-contacts:StartEngagement"],
    "Resource": f"arn:aws:ssm-contacts:*:{ACCOUNT}:contact/ama"}]}, indent=2) + "\n"


# -- forms as a browser sends them ---------------------------------------------------------------


class _Forms(HTMLParser):
    """Each form's action and the fields a browser would send for it: inputs (boxes only when
    ticked), each select's selected option (else its first), textareas (without the one
    newline after the start tag, which HTML drops)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[tuple[str, dict[str, str]]] = []
        self._fields: dict[str, str] | None = None
        self._textarea: str | None = None
        self._select: str | None = None
        self._options: list[tuple[bool, str | None]] = []   # (selected, value) of the select

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        given = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._fields = {}
            self.forms.append((given.get("action", ""), self._fields))
        elif self._fields is None:
            return
        elif tag == "input" and given.get("name"):
            if given.get("type") in ("checkbox", "radio") and "checked" not in given:
                return
            self._fields[given["name"]] = given.get("value", "")
        elif tag == "textarea":
            self._textarea = given["name"]
            self._fields[self._textarea] = ""
        elif tag == "select":
            self._select, self._options = given["name"], []
        elif tag == "option" and self._select:
            self._options.append(("selected" in given, given.get("value")))

    def handle_data(self, data: str) -> None:
        if self._fields is None:
            return
        if self._textarea is not None:
            self._fields[self._textarea] += data
        elif self._options and self._options[-1][1] is None:   # an option without a value
            self._options[-1] = (self._options[-1][0], data)

    def handle_endtag(self, tag: str) -> None:
        if self._fields is None:
            return
        if tag == "form":
            self._fields = None
        elif tag == "textarea" and self._textarea is not None:
            value = self._fields[self._textarea].removeprefix("\n")
            self._fields[self._textarea] = value.replace("\n", "\r\n")
            self._textarea = None
        elif tag == "select" and self._select is not None:
            chosen = [value for selected, value in self._options if selected]
            self._fields[self._select] = (chosen or [value for _, value in self._options])[0] \
                or ""
            self._select = None


def forms_of(page: str, action: str) -> list[dict[str, str]]:
    parser = _Forms()
    parser.feed(page.replace("\r\n", "\n").replace("\r", "\n"))   # as HTML reads its input
    found = [fields for path, fields in parser.forms if path == f"/console/act/{action}"]
    assert found, f"no {action} form in the page"
    return found


def fields_of(page: str, action: str) -> dict[str, str]:
    (fields,) = forms_of(page, action)
    return dict(fields)


def send(client: TestClient, page: str, action: str, **changes: str):
    """The page's one ``action`` form, with ``changes``, as a browser sends it."""
    return client.post(f"/console/act/{action}", data={**fields_of(page, action), **changes})


def text_lines(value: str) -> str:
    """A textarea's value as the test compares it (LF line ends)."""
    return value.replace("\r\n", "\n")


def got(client: TestClient, path: str, arn: str) -> str:
    answer = client.get(path, params={"arn": arn})
    assert answer.status_code == 200, answer.text
    return answer.text


# -- helpers ------------------------------------------------------------------------------------


def people(app, *aliases: str) -> list[str]:
    return [api(app, "CreateContact", Alias=alias, Type="PERSONAL",
                Plan={"Stages": []})["ContactArn"] for alias in aliases]


def weekly_rotation(app, members: list[str], **settings) -> str:
    return api(app, "CreateRotation", Name="primary", ContactIds=members,
               TimeZoneId="Europe/Berlin", StartTime=START,
               Recurrence=WEEKLY, **settings)["RotationArn"]


def operator_app(tmp_path):
    """``--auth sigv4`` with an admin, the reader of test_console, and an operator who may do
    anything but the operations in DENIED."""
    credentials = tmp_path / "credentials.toml"
    entries = [(ADMIN_KEY, ADMIN_SECRET, "admin", None),
               (READER_KEY, READER_SECRET, "reader", READER_POLICY),
               (OPERATOR_KEY, OPERATOR_SECRET, "operator", OPERATOR_POLICY)]
    credentials.write_text("\n".join(
        f'[[credentials]]\naccess_key_id = "{key}"\nsecret_access_key = "{secret}"\n'
        f'account_id = "{ACCOUNT}"\nuser = "{user}"\n'
        + (f"policy = '''{json.dumps(policy)}'''\n" if policy else "")
        for key, secret, user, policy in entries))
    credentials.chmod(0o600)
    return make_app(tmp_path, auth="sigv4", credentials_file=str(credentials))


# -- UpdateRotation -----------------------------------------------------------------------------


def test_a_rotation_is_changed_from_its_page(app, client):
    ama, kwame, efua = people(app, "ama", "kwame", "efua")
    arn = weekly_rotation(app, [ama, kwame])
    before = api(app, "GetRotation", RotationId=arn)
    page = got(client, "/console/rotation", arn)

    # The form shows the rotation as it is, in its time zone.
    fields = fields_of(page, "update-rotation")
    assert text_lines(fields["members"]) == "ama\nkwame"
    assert (fields["zone"], fields["start"], fields["kind"], fields["weekday"],
            fields["time"], fields["every"], fields["on-call"]) == (
        "Europe/Berlin", "2027-01-15T09:00", "weekly", "MON", "09:30", "1", "1")
    assert fields["more"] == fields["coverage"] == ""

    # Saved as it is, it changes nothing.
    same = send(client, page, "update-rotation")
    assert flash(same.text) == "done: The rotation is saved."
    assert api(app, "GetRotation", RotationId=arn) == before

    # New members in a new order, a daily hand-off, two on call, shifts of two days.
    changed = send(client, page, "update-rotation", members="kwame\r\nefua\r\nama\r\n",
                   kind="daily", time="08:00", every="2", **{"on-call": "2"})
    assert flash(changed.text) == "done: The rotation is saved."
    after = api(app, "GetRotation", RotationId=arn)
    assert after["ContactIds"] == [kwame, efua, ama]
    assert after["Recurrence"] == {"DailySettings": [{"HourOfDay": 8, "MinuteOfHour": 0}],
                                   "NumberOfOnCalls": 2, "RecurrenceMultiplier": 2}
    assert (after["StartTime"], after["TimeZoneId"], after["Name"]) == \
        (START, "Europe/Berlin", "primary")
    assert text_lines(fields_of(changed.text, "update-rotation")["members"]) == \
        "kwame\nefua\nama"

    # A new start is read in the rotation's zone; a new zone reads the start shown in it.
    moved = send(client, changed.text, "update-rotation", start="2027-01-16T10:00")
    assert flash(moved.text) == "done: The rotation is saved."
    assert api(app, "GetRotation", RotationId=arn)["StartTime"] == START + 86400 + 3600
    rezoned = send(client, moved.text, "update-rotation", zone="UTC")
    assert flash(rezoned.text) == "done: The rotation is saved."
    after = api(app, "GetRotation", RotationId=arn)
    assert (after["TimeZoneId"], after["StartTime"]) == ("UTC", START + 86400 + 7200)


def test_a_rotation_the_form_cannot_show_exactly_is_kept_when_saved_unchanged(app, client):
    """A start with seconds and a fraction, several hand-offs, hours of coverage: what the
    API made, saved from the console unchanged, stays as it was."""
    ama, kwame = people(app, "ama", "kwame")
    recurrence = {
        "WeeklySettings": [
            {"DayOfWeek": "MON", "HandOffTime": {"HourOfDay": 9, "MinuteOfHour": 0}},
            {"DayOfWeek": "THU", "HandOffTime": {"HourOfDay": 17, "MinuteOfHour": 30}}],
        "ShiftCoverages": {
            "MON": [{"Start": {"HourOfDay": 9, "MinuteOfHour": 0},
                     "End": {"HourOfDay": 17, "MinuteOfHour": 0}}],
            "THU": [{"Start": {"HourOfDay": 9, "MinuteOfHour": 0},
                     "End": {"HourOfDay": 12, "MinuteOfHour": 0}},
                    {"Start": {"HourOfDay": 13, "MinuteOfHour": 0},
                     "End": {"HourOfDay": 0, "MinuteOfHour": 0}}]},
        "NumberOfOnCalls": 1, "RecurrenceMultiplier": 3}
    arn = api(app, "CreateRotation", Name="business hours", ContactIds=[ama, kwame],
              TimeZoneId="America/New_York", StartTime=START + 30.25,
              Recurrence=recurrence)["RotationArn"]
    before = api(app, "GetRotation", RotationId=arn)
    page = got(client, "/console/rotation", arn)
    fields = fields_of(page, "update-rotation")
    assert fields["start"] == "2027-01-15T03:00:30"
    assert 'name="start" value="2027-01-15T03:00:30" step="1"' in page
    assert text_lines(fields["more"]) == "THU 17:30"
    assert text_lines(fields["coverage"]) == \
        "MON 09:00-17:00\nTHU 09:00-12:00\nTHU 13:00-24:00"
    saved = send(client, page, "update-rotation")
    assert flash(saved.text) == "done: The rotation is saved."
    assert api(app, "GetRotation", RotationId=arn) == before

    # The further hand-offs and the hours are edited as lines too.
    edited = send(client, page, "update-rotation", more="THU 17:30\r\nsat 08:00",
                  coverage="MON 08:00-18:00")
    assert flash(edited.text) == "done: The rotation is saved."
    after = api(app, "GetRotation", RotationId=arn)["Recurrence"]
    assert [s["DayOfWeek"] for s in after["WeeklySettings"]] == ["MON", "THU", "SAT"]
    assert after["ShiftCoverages"] == {"MON": [
        {"Start": {"HourOfDay": 8, "MinuteOfHour": 0},
         "End": {"HourOfDay": 18, "MinuteOfHour": 0}}]}


@pytest.mark.parametrize("recurrence", [
    {"DailySettings": [{"HourOfDay": 9, "MinuteOfHour": 0},
                       {"HourOfDay": 21, "MinuteOfHour": 15}],
     "NumberOfOnCalls": 2, "RecurrenceMultiplier": 1},
    {"MonthlySettings": [{"DayOfMonth": 31, "HandOffTime": {"HourOfDay": 0, "MinuteOfHour": 5}},
                         {"DayOfMonth": 15, "HandOffTime": {"HourOfDay": 12,
                                                            "MinuteOfHour": 0}}],
     "NumberOfOnCalls": 1, "RecurrenceMultiplier": 12},
    {**WEEKLY, "ShiftCoverages": {"SUN": [{"Start": {"HourOfDay": 0, "MinuteOfHour": 0},
                                           "End": {"HourOfDay": 23, "MinuteOfHour": 59}}]}},
])
def test_a_rotations_form_asks_for_the_recurrence_it_shows(recurrence):
    caller = Caller(ACCOUNT, REGION)
    shared = f"arn:aws:ssm-contacts:{REGION}:{OTHER}:contact/kofi"
    rotation = {"Name": "r", "TimeZoneId": "Asia/Kolkata", "StartTime": START,
                "ContactIds": [f"arn:aws:ssm-contacts:{REGION}:{ACCOUNT}:contact/ama", shared],
                "Recurrence": recurrence}
    fields = rotation_forms.rotation_fields(rotation, caller)
    assert fields["members"].splitlines() == ["ama", shared]
    asked = rotation_forms.settings_of(fields, caller)
    assert asked == {"ContactIds": rotation["ContactIds"], "TimeZoneId": "Asia/Kolkata",
                     "StartTime": START, "Recurrence": recurrence}


def test_a_rotation_form_with_mistakes_changes_nothing(app, client):
    ama, kwame = people(app, "ama", "kwame")
    arn = weekly_rotation(app, [ama, kwame])
    before = api(app, "GetRotation", RotationId=arn)
    page = got(client, "/console/rotation", arn)
    for change, said in (
            ({"zone": "Mars/Olympus"}, "error: 'Mars/Olympus' is not a time zone"),
            ({"start": "tomorrow"}, "error: The start is a date and a time"),
            ({"time": "half past nine"}, "error: The hand-off time is hours and minutes"),
            ({"every": "\u00b2"}, "error: How many days, weeks or months a shift lasts is a "
                                  "whole number."),
            ({"on-call": "\u0663"}, "error: The number of contacts on call is a whole number."),
            ({"weekday": "FUNDAY"}, "error: Choose the day of the week"),
            ({"more": "FUNDAY 09:00"}, "error: The further hand-off 'FUNDAY 09:00' is a day"),
            ({"kind": "daily", "more": "MON 09:00"}, "error: The further hand-off 'MON 09:00' "
                                                     "is a time, as 21:00."),
            ({"coverage": "MON 9 to 5"}, "error: The hours on call 'MON 9 to 5' are a day"),
            ({"members": "nobody"}, "error: ResourceNotFoundException: "),
            ({"members": ""}, "error: ValidationException: "),
            ({"time": "25:00"}, "error: ValidationException: "),
            ({"coverage": "MON 17:00-09:00"}, "error: ValidationException: "),
            ({"arn": arn.replace(ACCOUNT, OTHER)}, "error: AccessDeniedException: ")):
        answer = send(client, page, "update-rotation", **change)
        assert answer.status_code == 200, change
        assert flash(answer.text).startswith(said), (change, flash(answer.text))
    assert api(app, "GetRotation", RotationId=arn) == before


# -- shifts ------------------------------------------------------------------------------------


def shift_rows(page: str) -> list[list[str]]:
    table = re.search(r'<table class="shifts">(.*?)</table>', page, re.DOTALL)
    assert table, page
    rows = re.findall(r"<tr><td>(.*?)</tr>", table.group(1), re.DOTALL)
    return [[html.unescape(cell) for cell in re.split(r"</td>\s*<td>", row.removesuffix("</td>"))]
            for row in rows]


def test_the_coming_shifts_are_shown_in_the_rotations_time_zone(app, client):
    ama, kwame = people(app, "ama", "kwame")
    # START is Friday 2027-01-15 08:00 UTC, 09:00 in Berlin.
    arn = api(app, "CreateRotation", Name="daily", ContactIds=[ama, kwame],
              TimeZoneId="Europe/Berlin", StartTime=START,
              Recurrence={"DailySettings": [{"HourOfDay": 9, "MinuteOfHour": 0}],
                          "NumberOfOnCalls": 1, "RecurrenceMultiplier": 1})["RotationArn"]
    api(app, "CreateRotationOverride", RotationId=arn, NewContactIds=[kwame],
        StartTime=START + 3600, EndTime=START + 2 * 3600)
    page = got(client, "/console/rotation", arn)
    assert "From Fri 2027-01-15 09:00 CET until Fri 2027-01-29 09:00 CET; times in " \
           "Europe/Berlin." in page
    rows = shift_rows(page)
    assert rows[:3] == [
        ["ama", "Fri 2027-01-15 09:00 CET", "Fri 2027-01-15 10:00 CET", "REGULAR"],
        ["kwame", "Fri 2027-01-15 10:00 CET", "Fri 2027-01-15 11:00 CET",
         "OVERRIDDEN (instead of ama)"],
        ["ama", "Fri 2027-01-15 11:00 CET", "Sat 2027-01-16 09:00 CET", "REGULAR"]]
    assert len(rows) == 16 and rows[-1][2] == "Fri 2027-01-29 09:00 CET"
    overrides = page[page.index("<h2>Overrides</h2>"):]
    assert "<tr><td>kwame</td><td>Fri 2027-01-15 10:00 CET</td>\n" \
           "<td>Fri 2027-01-15 11:00 CET</td>" in overrides   # overrides in the zone too

    # A rotation that starts later shows its first fortnight.
    later = api(app, "CreateRotation", Name="later", ContactIds=[ama], TimeZoneId="UTC",
                StartTime=START + 60 * 86400,
                Recurrence={"DailySettings": [{"HourOfDay": 8, "MinuteOfHour": 0}],
                            "NumberOfOnCalls": 1, "RecurrenceMultiplier": 7})["RotationArn"]
    rows = shift_rows(got(client, "/console/rotation", later))
    assert [row[1] for row in rows] == ["Tue 2027-03-16 08:00 UTC", "Tue 2027-03-23 08:00 UTC"]


def test_a_rotation_form_is_previewed_before_it_is_saved(app, client):
    ama, kwame = people(app, "ama", "kwame")
    listing = client.get("/console/rotations").text
    form = {**fields_of(listing, "create-rotation"), "name": "primary",
            "members": "ama\r\nkwame", "zone": "Asia/Tokyo", "start": "2027-02-01T09:00"}
    preview = client.post("/console/preview/create-rotation", data=form)
    assert preview.status_code == 200
    assert "Nothing is saved yet." in preview.text
    rows = shift_rows(preview.text)
    assert rows[0] == ["ama", "Mon 2027-02-01 09:00 JST", "Tue 2027-02-02 09:00 JST",
                       "REGULAR"]
    assert [row[0] for row in rows[:3]] == ["ama", "kwame", "ama"] and len(rows) == 14
    assert api(app, "ListRotations")["Rotations"] == []
    assert '<a href="/console/rotations">Back without saving</a>' in preview.text
    marked = client.post("/console/preview/create-rotation", data={**form, "name": "<i>x</i>"})
    assert "<i>" not in marked.text and "&lt;i&gt;x&lt;/i&gt;" in marked.text
    # The form comes back as it was sent, to save as it is.
    again = fields_of(preview.text, "create-rotation")
    assert {name: text_lines(value) for name, value in again.items()} == \
        {name: text_lines(value) for name, value in form.items()}
    created = client.post("/console/act/create-rotation", data=again)
    assert flash(created.text) == "done: The rotation is created."
    (rotation,) = api(app, "ListRotations")["Rotations"]
    assert rotation["ContactIds"] == [ama, kwame] and rotation["TimeZoneId"] == "Asia/Tokyo"

    # A change previewed leaves the rotation as it is.
    arn = rotation["RotationArn"]
    before = api(app, "GetRotation", RotationId=arn)
    page = got(client, "/console/rotation", arn)
    changed = {**fields_of(page, "update-rotation"), "members": "kwame\r\nama"}
    preview = client.post("/console/preview/update-rotation", data=changed)
    assert [row[0] for row in shift_rows(preview.text)[:2]] == ["kwame", "ama"]
    assert "Changes to primary: a preview" in preview.text
    assert api(app, "GetRotation", RotationId=arn) == before
    saved = client.post("/console/act/update-rotation",
                        data=fields_of(preview.text, "update-rotation"))
    assert flash(saved.text) == "done: The rotation is saved."
    assert api(app, "GetRotation", RotationId=arn)["ContactIds"] == [kwame, ama]

    # Mistakes are shown on the preview, with the form; nothing is saved.
    for change, said in (({"zone": "Nowhere"}, "&#39;Nowhere&#39; is not a time zone"),
                         ({"members": ""}, "ValidationException: "),
                         ({"time": "24:30"}, "ValidationException: ")):
        answer = client.post("/console/preview/update-rotation", data={**changed, **change})
        assert answer.status_code == 200 and said in answer.text, change
        assert 'role="alert"' in answer.text
        assert fields_of(answer.text, "update-rotation")["zone"] == {**changed, **change}["zone"]
    assert api(app, "GetRotation", RotationId=arn)["ContactIds"] == [kwame, ama]
    forged = client.post("/console/preview/update-rotation", data={**changed, "csrf": "x"})
    assert forged.status_code == 403
    unknown = client.post("/console/preview/delete-rotation", data=changed)
    assert unknown.status_code == 404


# -- tags -------------------------------------------------------------------------------------


def tag_forms(page: str) -> dict[str, dict[str, str]]:
    """The Save form of each tag row, by key; the form for a new tag under ''."""
    return {form.get("key", ""): form for form in forms_of(page, "tag")}


@pytest.mark.parametrize("kind", ["contact", "rotation"])
def test_tags_are_added_changed_and_removed(app, client, kind):
    ama, kwame = people(app, "ama", "kwame")
    arn = ama if kind == "contact" else weekly_rotation(app, [ama, kwame])
    path = f"/console/{kind}"
    page = got(client, path, arn)
    assert "No tags." in page

    added = client.post("/console/act/tag", data={**tag_forms(page)[""], "key": "team",
                                                  "value": "sre"})
    assert flash(added.text) == "done: The tag is saved."
    added = client.post("/console/act/tag", data={**tag_forms(added.text)[""], "key": "tier",
                                                  "value": " gold"})
    assert api(app, "ListTagsForResource", ResourceARN=arn)["Tags"] == [
        {"Key": "team", "Value": "sre"}, {"Key": "tier", "Value": " gold"}]

    # Each row saves its value as shown: unchanged, nothing changes.
    rows = tag_forms(added.text)
    assert rows["team"]["value"] == "sre" and rows["tier"]["value"] == " gold"
    for key in ("team", "tier"):
        same = client.post("/console/act/tag", data=rows[key])
        assert flash(same.text) == "done: The tag is saved."
    assert api(app, "ListTagsForResource", ResourceARN=arn)["Tags"] == [
        {"Key": "team", "Value": "sre"}, {"Key": "tier", "Value": " gold"}]
    changed = client.post("/console/act/tag", data={**rows["team"], "value": "ops"})
    assert flash(changed.text) == "done: The tag is saved."

    # The API's refusals are shown, and change nothing.
    for key, value in (("bad key!", "x"), ("", "x"), ("owner", ""), ("owner", "<b>")):
        refused = client.post("/console/act/tag", data={**rows[""], "key": key, "value": value})
        assert flash(refused.text).startswith("error: ValidationException: "), (key, value)
    assert api(app, "ListTagsForResource", ResourceARN=arn)["Tags"] == [
        {"Key": "team", "Value": "ops"}, {"Key": "tier", "Value": " gold"}]

    (remove,) = [form for form in forms_of(changed.text, "untag") if form["key"] == "tier"]
    removed = client.post("/console/act/untag", data=remove)
    assert flash(removed.text) == "done: The tag is removed."
    assert api(app, "ListTagsForResource", ResourceARN=arn)["Tags"] == [
        {"Key": "team", "Value": "ops"}]
    assert ">tier<" not in removed.text


def test_a_resource_holds_at_most_fifty_tags(app, client):
    (ama,) = people(app, "ama")
    api(app, "TagResource", ResourceARN=ama,
        Tags=[{"Key": f"k{n}", "Value": "v"} for n in range(50)])
    page = got(client, "/console/contact", ama)
    refused = client.post("/console/act/tag", data={**tag_forms(page)[""], "key": "one-more",
                                                    "value": "v"})
    assert flash(refused.text).startswith("error: ServiceQuotaExceededException: ")
    assert len(api(app, "ListTagsForResource", ResourceARN=ama)["Tags"]) == 50


# -- contact policies --------------------------------------------------------------------------


def test_a_contact_policy_is_set_shown_and_kept(app, client):
    (ama,) = people(app, "ama")
    page = got(client, "/console/contact", ama)
    assert "No policy: the contact is not shared" in page
    assert fields_of(page, "put-policy")["policy"] == ""

    # Not JSON, or nothing: a form error. JSON the API refuses: its ValidationException.
    for policy, said in (('{"Version": "2012-10-17",', "error: The policy is not JSON: "),
                         ("  \r\n", "error: Write the policy, a JSON document."),
                         ("[" * 200_000, "error: The policy is not JSON: it is nested "),
                         ('{"Statement": []}', "error: ValidationException: "),
                         ('{"Statement": {"Effect": "Maybe"}}', "error: ValidationException: "),
                         ("[1, 2]", "error: ValidationException: ")):
        refused = send(client, page, "put-policy", policy=policy)
        assert flash(refused.text).startswith(said), (policy, flash(refused.text))
    assert "Policy" not in api(app, "GetContactPolicy", ContactArn=ama)

    saved = send(client, page, "put-policy", policy=SHARED.replace("\n", "\r\n"))
    assert flash(saved.text) == "done: The policy is saved."
    assert api(app, "GetContactPolicy", ContactArn=ama)["Policy"] == SHARED
    # Shown indented, and in the textarea exactly as stored: saved unchanged, unchanged.
    assert "&#34;Sid&#34;: &#34;ShareWithOps&#34;" in saved.text
    again = send(client, saved.text, "put-policy")
    assert flash(again.text) == "done: The policy is saved."
    assert api(app, "GetContactPolicy", ContactArn=ama)["Policy"] == SHARED

    # A policy written on one line, as the API took it, is kept byte for byte too; and its
    # text is escaped wherever it is shown.
    tricky = json.dumps({"Statement": [{
        "Sid": "</textarea><script>alert(1)</script>", "Effect": "Allow",
        "Principal": {"AWS": OTHER}, "Action": "ssm-contacts:GetContact", "Resource": ama}]})
    api(app, "PutContactPolicy", ContactArn=ama, Policy=tricky)
    page = got(client, "/console/contact", ama)
    assert "<script>" not in page and "&lt;/textarea&gt;&lt;script&gt;" in page
    kept = send(client, page, "put-policy")
    assert flash(kept.text) == "done: The policy is saved."
    assert api(app, "GetContactPolicy", ContactArn=ama)["Policy"] == tricky


def test_a_contact_policy_may_be_larger_than_other_forms(app, client):
    (ama,) = people(app, "ama")
    statements = [{"Sid": f"Share{n}", "Effect": "Allow", "Principal": {"AWS": OTHER},
                   "Action": "ssm-contacts:GetContact", "Resource": ama} for n in range(400)]
    policy = json.dumps({"Version": "2012-10-17", "Statement": statements})
    assert len(policy) > 64 * 1024
    page = got(client, "/console/contact", ama)
    saved = send(client, page, "put-policy", policy=policy)
    assert flash(saved.text) == "done: The policy is saved."
    assert api(app, "GetContactPolicy", ContactArn=ama)["Policy"] == policy
    # Other forms keep their limit.
    oversized = send(client, page, "rename-contact", name="x" * 64 * 1024)
    assert oversized.status_code == 403
    assert api(app, "GetContact", ContactId=ama).get("DisplayName") is None


# -- what a principal's policy denies ----------------------------------------------------------


def test_what_the_principals_policy_denies_is_shown_and_changes_nothing(tmp_path):
    app = operator_app(tmp_path)
    contact, _ = seed(app)
    kwame = api(app, "CreateContact", Alias="kwame", Type="PERSONAL",
                Plan={"Stages": []})["ContactArn"]
    rotation = weekly_rotation(app, [contact, kwame])
    api(app, "TagResource", ResourceARN=contact, Tags=[{"Key": "team", "Value": "sre"}])
    api(app, "PutContactPolicy", ContactArn=contact, Policy=SHARED)
    before = (api(app, "GetRotation", RotationId=rotation),
              api(app, "ListTagsForResource", ResourceARN=contact),
              api(app, "GetContactPolicy", ContactArn=contact))
    with TestClient(app) as client:
        sign_in(client, key=OPERATOR_KEY, secret=OPERATOR_SECRET, region=REGION)
        page = got(client, "/console/rotation", rotation)
        changed = send(client, page, "update-rotation", members="kwame", time="10:00")
        assert flash(changed.text).startswith("error: AccessDeniedException: ")
        preview = client.post("/console/preview/update-rotation",
                              data=fields_of(page, "update-rotation"))
        assert preview.status_code == 200 and "AccessDeniedException: " in preview.text
        page = got(client, "/console/contact", contact)
        rows = tag_forms(page)
        for action, form in (("tag", {**rows[""], "key": "owner", "value": "mallory"}),
                             ("tag", {**rows["team"], "value": "mallory"}),
                             ("untag", fields_of(page, "untag")),
                             ("put-policy", {**fields_of(page, "put-policy"),
                                             "policy": '{"Statement": {"Effect": "Allow", '
                                                       '"Principal": "*", "Action": "*", '
                                                       '"Resource": "*"}}'})):
            answer = client.post(f"/console/act/{action}", data=form)
            assert flash(answer.text).startswith("error: AccessDeniedException: "), action

        # A principal that may read the contact but not its tags or policy sees the page,
        # with the refusals where those would be, and no policy form.
        sign_in(client, key=READER_KEY, secret=READER_SECRET, region=REGION)
        page = got(client, "/console/contact", contact)
        assert page.count("AccessDeniedException") >= 3   # channels, tags, policy
        assert "/console/act/put-policy" not in page and "ShareWithOps" not in page
    assert (api(app, "GetRotation", RotationId=rotation),
            api(app, "ListTagsForResource", ResourceARN=contact),
            api(app, "GetContactPolicy", ContactArn=contact)) == before
