"""The console as a responder uses it during an incident: engaging, following the pages (who,
on which channel, sent, delivered, read, failed), acknowledging, stopping; lists that page
back and forth and filter; and forms that fail keeping what was typed, with the error beside
them."""

from __future__ import annotations

import html
import json
import re

from starlette.testclient import TestClient

from incident_contacts.console import forms
from incident_contacts.console.routes import PageRow
from incident_contacts.delivery.base import CHANNEL_TYPES
from incident_contacts.delivery.recording import MemoryTransport
from incident_contacts.engine import runner
from incident_contacts.engine.delivery import deliver_all_due
from incident_contacts.engine.runner import run_all_due
from tests.console.test_console import (
    ACCOUNT,
    OTHER,
    REGION,
    START,
    api,
    csrf,
    daily_rotation,
    make_app,
    messages,
    seed,
    sign_in,
)
from tests.console.test_editing import contact_page, flash, post
from tests.console.test_rotations_tags_policies import fields_of, forms_of, text_lines


def beside(page: str, action: str) -> str:
    """The error shown beside the page's ``action`` form (just before or just after it)."""
    before = re.search(r'<p class="form-error" role="alert">([^<]*)</p>\s*<form[^>]*'
                       rf'action="/console/act/{action}"', page)
    after = re.search(rf'action="/console/act/{action}"(?:(?!<form).)*?</form>\s*'
                      r'<p class="form-error" role="alert">([^<]*)</p>', page, re.DOTALL)
    found = before or after
    assert found, f"no error beside the {action} form"
    return html.unescape(found.group(1))


def active_person(app) -> tuple[str, str, str]:
    """ama, with an activated email and SMS channel, both paged in her plan's one stage."""
    contact, mail = seed(app)
    phone = api(app, "CreateContactChannel", ContactId=contact, Name="phone", Type="SMS",
                DeliveryAddress={"SimpleAddress": "+15005550199"},
                DeferActivation=True)["ContactChannelArn"]
    for channel in (mail, phone):
        api(app, "SendActivationCode", ContactChannelId=channel)
        (sent,) = messages(app, channel)
        api(app, "ActivateContactChannel", ContactChannelId=channel,
            ActivationCode=sent["ActivationCode"])
    api(app, "UpdateContact", ContactId=contact, Plan={"Stages": [{
        "DurationInMinutes": 0,
        "Targets": [{"ChannelTargetInfo": {"ContactChannelId": mail}},
                    {"ChannelTargetInfo": {"ContactChannelId": phone,
                                           "RetryIntervalInMinutes": 5}}]}]})
    return contact, mail, phone


def rows_of(page: str) -> list[str]:
    """The body rows of the page's first table, as text."""
    if "<tbody>" not in page:
        return []
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", row)).split())
            for row in re.split(r"<tr[^>]*>", body)[1:]]


def page_and_deliver(app, **transports: MemoryTransport) -> None:
    """The engine's due steps, then delivery, as the server's workers run them; a channel
    type without a transport of its own is accepted; receipts are recorded as the server's
    delivery worker records them."""
    runner.install()
    run_all_due(app.runtime)
    accepted = MemoryTransport()
    deliver_all_due(app.runtime, {kind: transports.get(kind, accepted)
                                  for kind in CHANNEL_TYPES}, "test")


# -- during an incident ---------------------------------------------------------------------------


def test_a_responder_engages_follows_acknowledges_and_stops(app, client):
    ama, mail, phone = active_person(app)
    escalation = api(app, "CreateContact", Alias="sre-escalation", Type="ESCALATION",
                     Plan={"Stages": [{"DurationInMinutes": 5, "Targets": [
                         {"ContactTargetInfo": {"ContactId": ama, "IsEssential": True}}]}]}
                     )["ContactArn"]

    # The escalation plan's page says when each stage pages, by name.
    page = contact_page(client, escalation)
    assert "At once" in page and "contact ama (essential)" in page
    assert "After 5 minutes" not in page    # the 5 minutes come after the first stage
    assert "channel mail (EMAIL), channel phone (SMS) (retried every 5 minutes)" in \
        contact_page(client, ama)

    started = post(client, "engage", page, arn=escalation,
                   back=f"/console/contact?arn={escalation}", sender="monitor",
                   subject="DB down", content="db-1 is at 99%")
    assert flash(started.text) == "done: The engagement has started."
    (engagement,) = api(app, "ListEngagements")["Engagements"]
    arn = engagement["EngagementArn"]
    assert "<title>Engagement: DB down · incident-contacts console</title>" in started.text
    page_and_deliver(app)

    # Listed as open, on the overview and in the list.
    overview = client.get("/console/").text
    assert forms.short(arn) in overview
    (row,) = rows_of(client.get("/console/engagements").text)
    assert row.startswith(f"{forms.short(arn)} Open sre-escalation monitor")

    # Each page: the person, the contacts it came through, the channel, what became of it.
    page = client.get("/console/engagement", params={"arn": arn}).text
    assert "Times are UTC." in page
    rows = rows_of(page)
    assert len(rows) == 2
    by_channel = {("mail (EMAIL)" if "mail (EMAIL)" in r else "phone (SMS)"): r for r in rows}
    for channel, text in by_channel.items():
        assert text.startswith(f"ama through sre-escalation, stage 1 {channel} "
                               "Sent, not acknowledged"), text
        assert " UTC: SENT" in text
    codes = {m["PageArn"]: m["AcceptCode"] for channel in (mail, phone)
             for m in messages(app, channel) if m["Purpose"] == "PAGE"}
    assert len(codes) == 2

    # Acknowledged from the console with the code the phone received.
    (sms_page,) = [m["PageArn"] for m in messages(app, phone) if m["Purpose"] == "PAGE"]
    forms_here = {f["arn"]: f for f in forms_of(page, "acknowledge")}
    assert set(forms_here) == set(codes)
    wrong = "1" * 6 if codes[sms_page] != "1" * 6 else "2" * 6
    refused = client.post("/console/act/acknowledge",
                          data={**forms_here[sms_page], "code": wrong})
    assert beside(refused.text, "acknowledge").startswith("ValidationException: ")
    # The code typed stays in that page's form, and only there.
    kept = {f["arn"]: f["code"] for f in forms_of(refused.text, "acknowledge")}
    assert kept == {sms_page: wrong, **{p: "" for p in codes if p != sms_page}}
    done = client.post("/console/act/acknowledge",
                       data={**forms_here[sms_page], "code": codes[sms_page]})
    assert flash(done.text) == "done: The page is acknowledged."
    rows = {("SMS" if "phone (SMS)" in r else "EMAIL"): r for r in rows_of(done.text)}
    assert "Read: acknowledged" in rows["SMS"] and ": READ" in rows["SMS"]
    assert "Sent, not acknowledged" in rows["EMAIL"]

    # Stopped with a reason; the page nobody read says so.
    stopped = post(client, "stop", done.text, arn=arn, reason="fixed", confirm="yes",
                   back=f"/console/engagement?arn={arn}")
    assert flash(stopped.text) == "done: The engagement is stopped."
    assert "<dt>Status</dt><dd>Stopped 20" in stopped.text
    rows = {("SMS" if "phone (SMS)" in r else "EMAIL"): r for r in rows_of(stopped.text)}
    assert "Stopped before it was acknowledged" in rows["EMAIL"] and ": STOP" in rows["EMAIL"]
    (row,) = rows_of(client.get("/console/engagements").text)
    assert row.startswith(f"{forms.short(arn)} Stopped sre-escalation")


def test_a_page_says_in_words_what_became_of_it():
    """The status column, from the page's times and receipts (not by colour)."""
    mail = "arn:aws:ssm-contacts:us-east-1:111122223333:contact-channel/ama/1"
    page = {"PageArn": "arn:aws:ssm-contacts:us-east-1:111122223333:page/ama/1",
            "ContactArn": "arn:aws:ssm-contacts:us-east-1:111122223333:contact/ama",
            "SentTime": START}

    def receipt(kind: str, info: str | None = None) -> dict:
        return {"ContactChannelArn": mail, "ReceiptType": kind, "ReceiptInfo": info,
                "ReceiptTime": START}

    names = {mail: "mail (EMAIL)"}
    assert PageRow(page, [], [], names).status == "Waiting to be sent"
    assert PageRow(page, [], [], names).channel == ""
    failed = PageRow(page, [receipt("ERROR", "550 mailbox unavailable")], [], names)
    assert failed.status == "Not delivered: 550 mailbox unavailable"
    assert failed.channel == "mail (EMAIL)"
    retried = [receipt("ERROR", "timeout"), receipt("SENT", "id-1")]
    assert PageRow(page, retried, [], names).status == "Sent, not acknowledged"
    again = [*retried, receipt("ERROR", "bounced")]
    assert PageRow(page, again, [], names).status == "Not delivered: bounced"
    assert PageRow({**page, "DeliveryTime": START}, [receipt("SENT"), receipt("DELIVERED")],
                   [], names).status == "Delivered, not acknowledged"
    assert PageRow(page, [receipt("SENT"), receipt("STOP")], [], names).status == \
        "Stopped before it was acknowledged"
    assert PageRow({**page, "ReadTime": START}, [receipt("SENT"), receipt("READ")], [],
                   names).status == "Read: acknowledged"
    # A channel the principal may not list is shown by the end of its ARN.
    assert PageRow(page, [receipt("SENT")], [], {}).channel == "ama/1"


def test_a_failed_delivery_is_shown_on_the_engagement(app, client):
    ama, _mail, _phone = active_person(app)
    page_and_deliver(app)                        # the activation codes
    arn = api(app, "StartEngagement", ContactId=ama, Sender="monitor", Subject="DB down",
              Content="db-1")["EngagementArn"]
    # Before delivery, a page waits; its channel is not known from the API yet.
    run_all_due(app.runtime)
    waiting = rows_of(client.get("/console/engagement", params={"arn": arn}).text)
    assert len(waiting) == 2
    assert all("not known yet Waiting to be sent" in row for row in waiting)
    refusing = MemoryTransport()
    refusing.fail_next(reason="550 mailbox unavailable", retryable=False)
    page_and_deliver(app, EMAIL=refusing)
    shown = client.get("/console/engagement", params={"arn": arn}).text
    rows = {("EMAIL" if "mail (EMAIL)" in r else "SMS"): r for r in rows_of(shown)}
    assert "Not delivered: 550 mailbox unavailable" in rows["EMAIL"]
    assert "ERROR (550 mailbox unavailable)" in rows["EMAIL"]
    assert "Sent, not acknowledged" in rows["SMS"]


# -- many records ---------------------------------------------------------------------------------


def walk(client: TestClient, path: str, **params: str) -> list[str]:
    """Every page of a list, following its Next links; checks each Previous link on the way
    back gives the page before, and the page numbers."""
    pages: list[str] = []
    url = path + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")
    while True:
        answer = client.get(html.unescape(url))
        assert answer.status_code == 200, answer.text
        pages.append(answer.text)
        number = re.search(r"<span>Page (\d+)</span>", answer.text)
        assert number is None or int(number.group(1)) == len(pages)
        following = re.search(r'<a rel="next" href="([^"]+)"', answer.text)
        if following is None:
            break
        url = following.group(1)
    for at, page in enumerate(pages[1:], start=1):
        previous = re.search(r'<a rel="prev" href="([^"]+)"', page)
        assert previous, page
        assert rows_of(client.get(html.unescape(previous.group(1))).text) == \
            rows_of(pages[at - 1])
        first = re.search(r'<a href="([^"]+)">First page</a>', page)
        assert first and rows_of(client.get(html.unescape(first.group(1))).text) == \
            rows_of(pages[0])
    assert 'rel="prev"' not in pages[0] and "First page" not in pages[0]
    return [row for page in pages for row in rows_of(page)]


def test_long_lists_page_forward_and_back(tmp_path):
    app = make_app(tmp_path, throttle_rate=0)
    with TestClient(app) as client:
        sign_in(client, account=ACCOUNT, region=REGION)
        _long_lists(app, client)


def _long_lists(app, client: TestClient) -> None:
    people = [api(app, "CreateContact", Alias=f"person-{i:03d}", Type="PERSONAL",
                  Plan={"Stages": []})["ContactArn"] for i in range(230)]
    for i in range(205):
        api(app, "StartEngagement", ContactId=people[i], Sender="bulk", Subject=f"s{i}",
            Content="x", IncidentId="inc-7" if i % 50 == 0 else f"inc-{1000 + i}")
    for i in range(105):
        daily_rotation(app, people[i:i + 2])

    rows = walk(client, "/console/contacts")
    assert [row.split()[0] for row in rows] == [f"person-{i:03d}" for i in range(230)]
    rows = walk(client, "/console/engagements")
    assert len(rows) == 205 and len(set(rows)) == 205
    assert [row.split()[2] for row in rows[:3]] == ["person-204", "person-203", "person-202"]
    assert len(walk(client, "/console/rotations")) == 105

    # A contact found by its alias; the filter is kept while paging and ignores case.
    rows = walk(client, "/console/contacts", prefix="Person-1")
    assert [row.split()[0] for row in rows] == [f"person-{i:03d}" for i in range(100, 200)]
    listing = client.get("/console/contacts", params={"prefix": "person-00"}).text
    assert [r.split()[0] for r in rows_of(listing)] == [f"person-{i:03d}" for i in range(10)]
    # An engagement found by its incident.
    rows = walk(client, "/console/engagements", incident="inc-7")
    assert len(rows) == 5 and all("inc-7" in row for row in rows)
    page = client.get("/console/rotations", params={"name": "primary"})
    assert page.status_code == 200 and 'rel="next"' in page.text

    # A filter the API refuses is shown beside the filter, as typed; nothing else breaks.
    refused = client.get("/console/contacts", params={"prefix": "ama owusu"})
    assert refused.status_code == 400
    assert 'value="ama owusu"' in refused.text and "AliasPrefix" in refused.text
    assert 'role="alert">ValidationException: ' in refused.text
    assert 'action="/console/act/create-contact"' in refused.text
    stale = client.get("/console/engagements", params={"next": "not-a-token"})
    assert stale.status_code == 400 and "pagination token" in stale.text


def test_the_delivery_page_pages_back_through_older_messages(app, client, monkeypatch):
    from incident_contacts.console import routes
    monkeypatch.setattr(routes, "OUTBOX_ROWS", 2)
    _ama, mail, phone = active_person(app)       # an activation message to each channel
    api(app, "SendActivationCode", ContactChannelId=mail)
    api(app, "SendActivationCode", ContactChannelId=phone)     # four messages in all
    newest = client.get("/console/delivery").text
    assert len(rows_of(newest)) == 2 and "Newest messages" not in newest
    older = re.search(r'<a rel="next" href="([^"]+)">Older messages</a>', newest)
    assert older
    second = client.get(html.unescape(older.group(1))).text
    assert len(rows_of(second)) == 2 and "Newest messages" in second
    assert 'rel="next"' not in second
    # A value that is not a message's number shows the newest.
    assert rows_of(client.get("/console/delivery", params={"before": "x1"}).text) == \
        rows_of(newest)


# -- forms that fail ------------------------------------------------------------------------------


def test_a_form_that_fails_keeps_what_was_typed(app, client):
    ama, mail, _phone = active_person(app)
    back = f"/console/contact?arn={ama}"
    page = contact_page(client, ama)

    # The engagement form: everything typed is kept, the API's error is beside it.
    typed = {"sender": "monitor", "subject": "Disk full", "content": "db-1 <b>99%</b>\r\nnow",
             "public-subject": "x" * 3000, "public-content": "see the status page"}
    refused = post(client, "engage", page, arn=ama, back=back, **typed)
    assert refused.status_code == 200 and "<h1>Ama Owusu</h1>" in refused.text
    assert flash(refused.text).startswith("error: ValidationException: ")
    assert "PublicSubject" in beside(refused.text, "engage")
    kept = fields_of(refused.text, "engage")
    assert {name: kept[name] for name in typed} == typed
    assert api(app, "ListEngagements")["Engagements"] == []
    # Only the form that failed shows the error.
    assert refused.text.count('class="form-error"') == 1

    # A new channel, its type chosen and its box ticked.
    refused = post(client, "add-channel", page, arn=ama, back=back, name="pager",
                   type="SMS", address="not a number", defer="yes")
    assert beside(refused.text, "add-channel").startswith("ValidationException: ")
    kept = fields_of(refused.text, "add-channel")
    assert (kept["name"], kept["type"], kept["address"], kept["defer"]) == \
        ("pager", "SMS", "not a number", "yes")

    # The policy editor opens again with the text typed.
    policy = '{"Version": "2012-10-17",\r\n "Statement": [}'
    refused = post(client, "put-policy", page, arn=ama, back=back, policy=policy)
    assert beside(refused.text, "put-policy").startswith("The policy is not JSON")
    assert text_lines(fields_of(refused.text, "put-policy")["policy"]) == \
        text_lines(policy)
    assert "<details open>" in refused.text

    # The plan editor shows the rows as sent: minutes, boxes, intervals.
    refused = post(client, "update-plan", page, arn=ama, back=back, type="PERSONAL",
                   stages="2", **{"stage-0-minutes": "soon", "stage-0-target-1": mail,
                                  "stage-0-retry-1": "7", "stage-1-minutes": "3"})
    assert beside(refused.text, "update-plan") == \
        "Stage 1: the wait is a whole number of minutes."
    kept = fields_of(refused.text, "update-plan")
    assert kept["stages"] == "3"             # both rows, and a blank one
    assert (kept["stage-0-minutes"], kept["stage-0-target-0"], kept["stage-0-retry-0"],
            kept["stage-1-minutes"]) == ("soon", mail, "7", "3")
    assert "stage-0-target-1" not in kept    # the other channel, offered, not ticked
    assert kept["stage-2-minutes"] == ""
    fixed = client.post("/console/act/update-plan", data={**kept, "stage-0-minutes": "0"})
    assert flash(fixed.text) == "done: The plan is saved."
    assert api(app, "GetContact", ContactId=ama)["Plan"]["Stages"] == [
        {"DurationInMinutes": 0, "Targets": [{"ChannelTargetInfo": {
            "ContactChannelId": mail, "RetryIntervalInMinutes": 7}}]},
        {"DurationInMinutes": 3, "Targets": []}]

    # A new contact's alias, name and type.
    listing = client.get("/console/contacts").text
    refused = post(client, "create-contact", listing, alias="Ama", name="Ama Again",
                   type="ESCALATION", back="/console/contacts")
    kept = fields_of(refused.text, "create-contact")
    assert (kept["alias"], kept["name"], kept["type"]) == ("Ama", "Ama Again", "ESCALATION")
    assert beside(refused.text, "create-contact").startswith("ValidationException: ")

    # A failure on a page that is gone (the contact deleted meanwhile) goes to the overview.
    unknown = ama.replace("/ama", "/nobody")
    lost = post(client, "rename-contact", page, arn=unknown, name="x",
                back=f"/console/contact?arn={unknown}")
    assert str(lost.url).endswith("/console/")
    assert flash(lost.text).startswith("error: ResourceNotFoundException: ")


def test_a_rotation_form_that_fails_keeps_what_was_typed(app, client):
    ama, _ = seed(app)
    rotation = daily_rotation(app, [ama])
    page = client.get("/console/rotation", params={"arn": rotation}).text
    back = f"/console/rotation?arn={rotation}"

    refused = post(client, "create-override", page, arn=rotation, back=back, zone="UTC",
                   members="ama\nnobody", start="2027-01-20T10:00", end="2027-01-20T18:00")
    assert beside(refused.text, "create-override").startswith("ValidationException: ")
    kept = fields_of(refused.text, "create-override")
    assert (text_lines(kept["members"]), kept["start"], kept["end"]) == \
        ("ama\nnobody", "2027-01-20T10:00", "2027-01-20T18:00")

    settings = fields_of(page, "update-rotation")
    changed = {**settings, "members": "ama\r\nnobody", "time": "07:45", "zone": "Europe/Oslo"}
    refused = client.post("/console/act/update-rotation", data=changed)
    assert beside(refused.text, "update-rotation").startswith("ResourceNotFoundException: ")
    assert fields_of(refused.text, "update-rotation") == changed
    assert api(app, "GetRotation", RotationId=rotation)["TimeZoneId"] == "UTC"

    listing = client.get("/console/rotations").text
    new = {**fields_of(listing, "create-rotation"), "name": "second", "members": "ama",
           "zone": "Mars/Olympus", "time": "06:15"}
    refused = client.post("/console/act/create-rotation", data=new)
    assert beside(refused.text, "create-rotation").startswith("'Mars/Olympus' is not")
    assert fields_of(refused.text, "create-rotation") == new


# -- form tokens, other accounts, accessibility ---------------------------------------------------


def test_every_form_that_changes_something_needs_the_session_token(app, client):
    contact, _channel = seed(app)
    rotation = daily_rotation(app, [contact])
    engagement = api(app, "StartEngagement", ContactId=contact, Sender="s", Subject="s",
                     Content="c")["EngagementArn"]
    # Every form of every page carries the token.
    pages = ["/console/", "/console/contacts", "/console/engagements", "/console/rotations",
             "/console/delivery", f"/console/contact?arn={contact}",
             f"/console/rotation?arn={rotation}", f"/console/engagement?arn={engagement}"]
    token = csrf(client.get("/console/").text)
    for path in pages:
        text = client.get(path).text
        for form in re.findall(r'<form[^>]*method="post".*?</form>', text, re.DOTALL):
            assert f'name="csrf" value="{token}"' in form, (path, form)
    # Every action, without it or with another, is refused and changes nothing.
    before = (api(app, "ListContacts"), api(app, "ListRotations"),
              api(app, "DescribeEngagement", EngagementId=engagement))
    form = {"arn": contact, "confirm": "yes", "name": "x", "alias": "x", "type": "PERSONAL",
            "back": "/console/contacts"}
    for action in forms.ACTIONS:
        for given in ({}, {"csrf": ""}, {"csrf": "forged"}, {"csrf": token + "x"}):
            answer = client.post(f"/console/act/{action}", data={**form, **given})
            assert answer.status_code == 403 and "InvalidFormToken" in answer.text, action
    for action in forms.PREVIEWS:
        assert client.post(f"/console/preview/{action}", data=form).status_code == 403
    assert (api(app, "ListContacts"), api(app, "ListRotations"),
            api(app, "DescribeEngagement", EngagementId=engagement)) == before
    # Signing out without the token does not sign out (another site cannot end a session).
    client.post("/console/logout", data={})
    assert client.get("/console/contacts", follow_redirects=False).status_code == 200


def test_another_accounts_engagements_and_pages_stay_out_of_sight(app, client):
    theirs = api(app, "CreateContact", account=OTHER, Alias="kofi", Type="PERSONAL",
                 Plan={"Stages": []})["ContactArn"]
    engagement = api(app, "StartEngagement", account=OTHER, ContactId=theirs, Sender="them",
                     Subject="their secret", Content="c", IncidentId="inc-9")["EngagementArn"]
    assert "kofi" not in client.get("/console/engagements").text
    assert "kofi" not in client.get("/console/engagements",
                                    params={"incident": "inc-9"}).text
    refused = client.get("/console/engagement", params={"arn": engagement})
    assert refused.status_code == 403 and "their secret" not in refused.text
    assert "kofi" not in client.get("/console/").text
    assert "kofi" not in client.get("/console/contacts", params={"prefix": "k"}).text


class _Page:
    """What the accessibility checks read from a page."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.title = re.search(r"<title>([^<]*)</title>", text).group(1)
        self.h1 = re.findall(r"<h1>", text)

    def unlabelled(self) -> list[str]:
        """Form controls a screen reader cannot name: not inside a <label>, no aria-label."""
        missing = []
        depth = 0
        for tag in re.finditer(r"<(/?)(label|input|select|textarea)\b([^>]*)>", self.text):
            closing, name, attrs = tag.groups()
            if name == "label":
                depth += -1 if closing else 1
            elif not closing and 'type="hidden"' not in attrs and depth == 0 \
                    and "aria-label=" not in attrs:
                missing.append(tag.group(0))
        return missing


def test_every_page_has_a_title_a_heading_and_labelled_fields(app, client):
    ama, _mail, _phone = active_person(app)
    rotation = daily_rotation(app, [ama])
    api(app, "TagResource", ResourceARN=ama, Tags=[{"Key": "team", "Value": "sre"}])
    engagement = api(app, "StartEngagement", ContactId=ama, Sender="s", Subject="DB down",
                     Content="c")["EngagementArn"]
    run_all_due(app.runtime)
    titles = set()
    for path in ["/console/", "/console/contacts", "/console/engagements", "/console/rotations",
                 "/console/delivery", f"/console/contact?arn={ama}",
                 f"/console/rotation?arn={rotation}", f"/console/engagement?arn={engagement}",
                 "/console/contact?arn=nonsense"]:
        page = _Page(client.get(path).text)
        assert len(page.h1) == 1, path
        assert page.unlabelled() == [], path
        assert 'href="#main"' in page.text and '<main id="main">' in page.text
        titles.add(page.title)
    assert len(titles) == 9      # each page says what it is
    with TestClient(app) as fresh:
        page = _Page(fresh.get("/console/login").text)
        assert page.unlabelled() == [] and page.title.startswith("Sign in")
    # Success and failure do not differ by colour alone: the style sheet words them.
    css = client.get("/console/static/console.css").text
    assert '.flash.done::before { content: "Done: "' in css
    assert '.flash.error::before, .form-error::before { content: "Error: "' in css



def test_a_form_sent_after_the_session_ended_leads_back_to_its_page(app):
    contact, _ = seed(app)
    back = f"/console/contact?arn={contact}"
    with TestClient(app) as client:
        sign_in(client, account=ACCOUNT, region=REGION)
        page = contact_page(client, contact)
        client.cookies.clear()                   # the session ended (eight hours, signed out)
        answer = client.post("/console/act/engage", follow_redirects=False, data={
            "csrf": csrf(page), "arn": contact, "back": back, "sender": "monitor",
            "subject": "s", "content": "c"})
        assert answer.status_code == 303
        login_page = client.get(answer.headers["location"]).text
        assert "the form you sent was not saved" in login_page
        # Signed in again: the page the form came from, not the form's address (405 to GET).
        token = csrf(login_page)
        then = re.search(r'name="then" value="([^"]*)"', login_page).group(1)
        signed = client.post("/console/login", follow_redirects=False, data={
            "csrf": token, "account": ACCOUNT, "region": REGION, "then": html.unescape(then)})
        assert signed.headers["location"] == back
        assert client.get(back).status_code == 200
        assert api(app, "ListEngagements")["Engagements"] == []


def test_a_rotation_says_who_is_on_call_now(app, client):
    ama, _ = seed(app)
    kwame = api(app, "CreateContact", Alias="kwame", Type="PERSONAL",
                Plan={"Stages": []})["ContactArn"]
    rotation = daily_rotation(app, [ama, kwame])     # from START, 08:00 UTC; hand-off 09:00
    page = client.get("/console/rotation", params={"arn": rotation}).text
    assert "<dt>On call now</dt><dd>ama</dd>" in page
    app.runtime.clock.advance(3600)
    page = client.get("/console/rotation", params={"arn": rotation}).text
    assert "<dt>On call now</dt><dd>kwame</dd>" in page
    # Friday 10:00-12:00 only: at 09:00 on that Friday, nobody.
    hours = api(app, "CreateRotation", Name="office", ContactIds=[ama], TimeZoneId="UTC",
                StartTime=START, Recurrence={
                    "NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
                    "DailySettings": [{"HourOfDay": 9, "MinuteOfHour": 0}],
                    "ShiftCoverages": {"FRI": [{"Start": {"HourOfDay": 10, "MinuteOfHour": 0},
                                                "End": {"HourOfDay": 12, "MinuteOfHour": 0}}]}}
                )["RotationArn"]
    page = client.get("/console/rotation", params={"arn": hours}).text
    assert "<dt>On call now</dt><dd>nobody: this is outside the hours on call</dd>" in page
    # Before a rotation starts, the page does not guess.
    later = api(app, "CreateRotation", Name="later", ContactIds=[ama], TimeZoneId="UTC",
                StartTime=START + 30 * 86400, Recurrence={
                    "NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
                    "DailySettings": [{"HourOfDay": 9, "MinuteOfHour": 0}]})["RotationArn"]
    assert "On call now" not in client.get("/console/rotation", params={"arn": later}).text


def test_an_engagement_shows_what_a_narrow_policy_lets_it(tmp_path):
    """A principal who may follow engagements but not read receipts, resolutions or
    addresses sees the pages, their times and the refusals, and no guess at the rest."""
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ssm-contacts:*", "Resource": "*"},
        {"Effect": "Deny", "Action": ["ssm-contacts:ListPageReceipts",
                                      "ssm-contacts:ListPageResolutions",
                                      "ssm-contacts:ListContactChannels"], "Resource": "*"}]}
    credentials = tmp_path / "credentials.toml"
    credentials.write_text(
        f'[[credentials]]\naccess_key_id = "AKIACONSOLEWATCHER01"\n'
        f'secret_access_key = "watcher-secret"\naccount_id = "{ACCOUNT}"\nuser = "watcher"\n'
        f"policy = '''{json.dumps(policy)}'''\n")
    credentials.chmod(0o600)
    app = make_app(tmp_path, auth="sigv4", credentials_file=str(credentials))
    ama, _mail, _phone = active_person(app)
    page_and_deliver(app)
    arn = api(app, "StartEngagement", ContactId=ama, Sender="monitor", Subject="DB down",
              Content="db-1")["EngagementArn"]
    page_and_deliver(app)
    with TestClient(app) as client:
        sign_in(client, key="AKIACONSOLEWATCHER01", secret="watcher-secret", region=REGION)
        answer = client.get("/console/engagement", params={"arn": arn})
        assert answer.status_code == 200
        rows = rows_of(answer.text)
        assert len(rows) == 2
        for row in rows:
            assert row.startswith("ama not shown Not acknowledged "), row
            assert "AccessDeniedException" in row and "ListPageReceipts" in row
