"""What a new on-call manager ran into in the console (session 10's walk-through): an
engagement that paged nobody without saying why, one-click stops and deactivations, a bare 405
on a failed form's address, "SENT" for messages only the development outbox kept, a stage lost
from a page's path, and buttons a screen reader could not tell apart."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser

import sqlalchemy as sa

from incident_contacts.console import engine_log, routes
from incident_contacts.console.routes import PageRow
from incident_contacts.delivery.base import CHANNEL_TYPES, DeliveryResult, OutgoingMessage
from incident_contacts.delivery.recording import MemoryTransport, RecordingTransport
from incident_contacts.engine import runner
from incident_contacts.engine.delivery import deliver_all_due
from incident_contacts.engine.runner import run_all_due
from incident_contacts.store.schema.engagements import engagement_events, engagements
from tests.console.test_console import START, api, messages, seed
from tests.console.test_editing import contact_page, flash, post
from tests.console.test_incident_flow import active_person, beside, page_and_deliver


def engagement_page(client, arn: str) -> str:
    answer = client.get("/console/engagement", params={"arn": arn})
    assert answer.status_code == 200, answer.text
    return answer.text


def happened(page: str) -> list[str]:
    """The lines of an engagement page's "What happened" list, as text."""
    part = page.split("<h2>What happened</h2>", 1)[1]
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", item)).split())
            for item in re.findall(r"<li>(.*?)</li>", part, re.DOTALL)]


# -- why nobody was paged -------------------------------------------------------------------


def test_an_engagement_says_why_nobody_was_paged(app, client):
    """A schedule whose rotation has not started, a person without plan stages, a channel not
    activated: each is said on the engagement's page, not left as "No pages yet"."""
    ama, mail = seed(app)           # no plan stages, one channel not activated
    kofi = api(app, "CreateContact", Alias="kofi", Type="PERSONAL",
               Plan={"Stages": []})["ContactArn"]
    later = api(app, "CreateRotation", Name="primary", ContactIds=[kofi], TimeZoneId="UTC",
                StartTime=START + 10 * 86400,
                Recurrence={"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
                            "DailySettings": [{"HourOfDay": 9, "MinuteOfHour": 0}]}
                )["RotationArn"]
    schedule = api(app, "CreateContact", Alias="primary-oncall", Type="ONCALL_SCHEDULE",
                   Plan={"RotationIds": [later]})["ContactArn"]
    escalation = api(app, "CreateContact", Alias="escalate", Type="ESCALATION", Plan={
        "Stages": [{"DurationInMinutes": 0, "Targets": [
            {"ContactTargetInfo": {"ContactId": schedule, "IsEssential": False}},
            {"ContactTargetInfo": {"ContactId": ama, "IsEssential": False}}]}]})["ContactArn"]
    started = api(app, "StartEngagement", ContactId=escalation, Sender="monitor",
                  Subject="DB down", Content="db-1")["EngagementArn"]
    page_and_deliver(app)
    page = engagement_page(client, started)
    assert "No pages yet." in page
    lines = happened(page)
    assert any("Nobody was on call in primary-oncall (stage 1)" in line for line in lines), lines
    assert any("ama has no stages in their engagement plan" in line for line in lines), lines

    # Given a stage with her channel, still not activated: the channel is skipped, by name.
    api(app, "UpdateContact", ContactId=ama, Plan={"Stages": [{
        "DurationInMinutes": 0, "Targets": [{"ChannelTargetInfo": {"ContactChannelId": mail}}]}]})
    direct = api(app, "StartEngagement", ContactId=ama, Sender="monitor", Subject="DB down",
                 Content="db-1")["EngagementArn"]
    page_and_deliver(app)
    lines = happened(engagement_page(client, direct))
    assert any("The channel mail (EMAIL) was skipped (stage 1): it is not activated" in line
               for line in lines), lines

    # The stop and its reason are in the log too.
    page = engagement_page(client, direct)
    stopped = post(client, "stop", page, arn=direct, reason="false alarm", confirm="yes",
                   back=f"/console/engagement?arn={direct}")
    assert flash(stopped.text) == "done: The engagement is stopped."
    assert happened(stopped.text)[-1].endswith(" UTC: The engagement was stopped (false alarm).")


def test_the_log_shows_a_stop_reason_as_text(app, client):
    """A stop reason is anyone's words: on the page it is text, never markup."""
    ama, _mail = seed(app)
    started = api(app, "StartEngagement", ContactId=ama, Sender="monitor", Subject="DB down",
                  Content="db-1")["EngagementArn"]
    api(app, "StopEngagement", EngagementId=started,
        Reason='<img src=x onerror="alert(1)">')
    page_and_deliver(app)
    page = engagement_page(client, started)
    assert "<img" not in page
    assert "&lt;img src=x onerror=" in page
    assert happened(page)[-1].endswith(
        'The engagement was stopped (<img src=x onerror="alert(1)">).')


def test_only_the_log_lines_shown_cost_calls_for_channel_names(app, client, monkeypatch):
    """Each contact whose channel a shown line names costs a ListContactChannels: lines
    left out (a long log, retries add many) cost none."""
    ama, _mail = seed(app)
    started = api(app, "StartEngagement", ContactId=ama, Sender="monitor", Subject="DB down",
                  Content="db-1")["EngagementArn"]
    page_and_deliver(app)
    prefix = started.split(":engagement/")[0]
    with app.runtime.store.transaction() as conn:
        pk = conn.execute(sa.select(engagements.c.id).where(
            engagements.c.engagement_id == started.rsplit("/", 1)[1])).scalar_one()
        conn.execute(engagement_events.insert(), [
            {"engagement_pk": pk, "at": START + n, "kind": "CHANNEL_SKIPPED",
             "detail": json.dumps({"Stage": 0, "Reason": "DELETED", "ContactChannelArn":
                                   f"{prefix}:contact-channel/gone-{n}/c{n}"})}
            for n in range(engine_log.SHOWN + 30)])
    asked: list[str] = []
    section = routes.Console.section

    async def counted(self, caller, operation, **params):
        if operation == "ListContactChannels":
            asked.append(params["ContactId"])
        return await section(self, caller, operation, **params)

    monkeypatch.setattr(routes.Console, "section", counted)
    lines = happened(engagement_page(client, started))
    assert len(lines) == engine_log.SHOWN
    assert lines[-1].endswith(f"The channel gone-{engine_log.SHOWN + 29}/c"
                              f"{engine_log.SHOWN + 29} was skipped (stage 1): it no longer "
                              "exists.")
    assert len(asked) == len(set(asked)) <= engine_log.SHOWN
    assert not any(arn.endswith("/gone-0") for arn in asked)


def test_the_log_shown_is_bounded_and_worded_for_every_kind():
    short = routes._short
    events = [{"Time": START + n, "Type": "PAGE_RETRIED",
               "PageArn": f"arn:aws:ssm-contacts:us-east-1:111122223333:page/ama/{n}"}
              for n in range(engine_log.SHOWN + 7)]
    shown, left = engine_log.log_lines(events, short, short)
    assert len(shown) == engine_log.SHOWN and left == 7
    assert shown[-1].text == \
        f"The page ama/{engine_log.SHOWN + 6} was sent again (its retry interval)."
    # A step that failed never shows its exception (the log has it).
    failed = engine_log.describe({"Type": "STEP_FAILED", "Error": "KeyError: 'secret'"},
                                 short, short)
    assert "secret" not in failed and "server's log" in failed


# -- what cannot be undone asks first -------------------------------------------------------


def test_stopping_an_engagement_asks_for_a_tick_first(app, client):
    contact, _mail, _phone = active_person(app)
    arn = api(app, "StartEngagement", ContactId=contact, Sender="monitor", Subject="s",
              Content="c")["EngagementArn"]
    page = engagement_page(client, arn)
    form = re.search(r'action="/console/act/stop">(.*?)</form>', page, re.DOTALL)
    assert form and 'name="confirm" value="yes" required' in form.group(1)
    refused = post(client, "stop", page, arn=arn, reason="oops",
                   back=f"/console/engagement?arn={arn}")
    assert beside(refused.text, "stop") == \
        "Tick the box to confirm that the engagement is to be stopped."
    assert "StopTime" not in api(app, "DescribeEngagement", EngagementId=arn)
    # The reason typed is kept for the second try.
    assert 'name="reason" maxlength="255" value="oops"' in refused.text


def test_deactivating_a_channel_asks_for_a_tick_first(app, client):
    contact, mail, _phone = active_person(app)
    page = contact_page(client, contact)
    refused = post(client, "deactivate", page, arn=mail,
                   back=f"/console/contact?arn={contact}")
    assert beside(refused.text, "deactivate") == \
        "Tick the box to confirm that the channel is to be deactivated."
    assert api(app, "GetContactChannel", ContactChannelId=mail)["ActivationStatus"] == \
        "ACTIVATED"
    done = post(client, "deactivate", page, arn=mail, confirm="yes",
                back=f"/console/contact?arn={contact}")
    assert flash(done.text) == "done: The channel is deactivated."
    assert api(app, "GetContactChannel", ContactChannelId=mail)["ActivationStatus"] == \
        "NOT_ACTIVATED"


def test_deleting_an_override_asks_for_a_tick_first(app, client):
    contact, _ = seed(app)
    rotation = api(app, "CreateRotation", Name="primary", ContactIds=[contact],
                   TimeZoneId="UTC", StartTime=START,
                   Recurrence={"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
                               "DailySettings": [{"HourOfDay": 9, "MinuteOfHour": 0}]}
                   )["RotationArn"]
    override = api(app, "CreateRotationOverride", RotationId=rotation, NewContactIds=[contact],
                   StartTime=START + 3600, EndTime=START + 7200)["RotationOverrideId"]
    page = client.get("/console/rotation", params={"arn": rotation}).text
    form = re.search(r'action="/console/act/delete-override">(.*?)</form>', page, re.DOTALL)
    assert form and 'name="confirm" value="yes" required' in form.group(1)
    refused = post(client, "delete-override", page, arn=rotation, override=override,
                   back=f"/console/rotation?arn={rotation}")
    assert "Tick the box to confirm that the override is to be deleted." in refused.text
    assert len(api(app, "ListRotationOverrides", RotationId=rotation, StartTime=START,
                   EndTime=START + 86400)["RotationOverrides"]) == 1


# -- addresses that are not pages -------------------------------------------------------------


def test_a_form_address_opened_leads_to_its_list(client):
    for address, place in (("/console/act/create-contact", "/console/contacts"),
                           ("/console/act/stop", "/console/engagements"),
                           ("/console/act/delete-override", "/console/rotations"),
                           ("/console/preview/create-rotation", "/console/rotations")):
        answer = client.get(address, follow_redirects=False)
        assert answer.status_code == 303, (address, answer.status_code)
        assert answer.headers["location"] == place
    for address in ("/console/act/no-such-action", "/console/no-such-page"):
        answer = client.get(address)
        assert answer.status_code == 404
        assert answer.headers["content-type"].startswith("text/html")
        assert '<a href="/console/">' in answer.text
        assert answer.headers["x-frame-options"] == "DENY"


# -- the development outbox -------------------------------------------------------------------


def test_delivery_says_which_messages_only_the_development_outbox_kept(app, client):
    contact, mail = seed(app)
    phone = api(app, "CreateContactChannel", ContactId=contact, Name="phone", Type="SMS",
                DeliveryAddress={"SimpleAddress": "+15005550199"},
                DeferActivation=True)["ContactChannelArn"]
    for channel in (mail, phone):
        api(app, "SendActivationCode", ContactChannelId=channel)
    runner.install()
    run_all_due(app.runtime)
    transports = {kind: MemoryTransport() for kind in CHANNEL_TYPES}
    transports["EMAIL"] = RecordingTransport()          # as with no SMTP server configured
    deliver_all_due(app.runtime, transports, "test")
    assert {m["DeliveryStatus"] for m in messages(app, mail) + messages(app, phone)} == {"SENT"}
    page = client.get("/console/delivery").text
    rows = {("EMAIL" if "<td>EMAIL</td>" in row else "SMS"): row
            for row in re.findall(r"<tr class=[^>]*>(.*?)</tr>", page, re.DOTALL)}
    assert "<td>recorded, not sent</td>" in rows["EMAIL"]
    assert "<td>SENT</td>" in rows["SMS"]
    assert 'id="recorded"' in page and 'href="/_aws/ssm-contacts/messages"' in page


def test_the_recording_transport_ids_are_the_ones_delivery_recognises():
    result = RecordingTransport().send(OutgoingMessage(
        message_id="m", channel_type="EMAIL", address="a@example.com", subject="s",
        body="b", purpose="ACTIVATION"))
    assert routes.RECORDED_ID.fullmatch(result.provider_message_id)


class _NamingProvider(MemoryTransport):
    """A real provider whose own ids begin ``dev-`` (a webhook receiver in a development
    environment, a Twilio-compatible gateway): what it sent went out."""

    def __init__(self, ids: list[str]) -> None:
        super().__init__()
        self.ids = ids

    def send(self, message: OutgoingMessage) -> DeliveryResult:
        super().send(message)
        return DeliveryResult(provider_message_id=self.ids.pop(0))


def test_a_provider_naming_its_messages_dev_is_not_taken_for_the_development_outbox(
        app, client):
    contact, mail = seed(app)
    phone = api(app, "CreateContactChannel", ContactId=contact, Name="phone", Type="SMS",
                DeliveryAddress={"SimpleAddress": "+15005550199"},
                DeferActivation=True)["ContactChannelArn"]
    for channel in (mail, phone):
        api(app, "SendActivationCode", ContactChannelId=channel)
    runner.install()
    run_all_due(app.runtime)
    provider = _NamingProvider(["dev-4711", "dev-" + "0" * 31 + "g"])
    deliver_all_due(app.runtime, dict.fromkeys(CHANNEL_TYPES, provider), "test")
    assert not provider.ids
    page = client.get("/console/delivery").text
    rows = re.findall(r"<tr class=[^>]*>(.*?)</tr>", page, re.DOTALL)
    assert len(rows) == 2
    assert all("<td>SENT</td>" in row for row in rows), rows
    assert "recorded, not sent" not in page and 'id="recorded"' not in page


# -- a page's path keeps its stage ----------------------------------------------------------


def test_a_page_through_a_schedule_says_which_stage_reached_it():
    base = "arn:aws:ssm-contacts:us-east-1:111122223333:contact/"
    row = PageRow({"ContactArn": base + "kofi"}, [], [
        {"ContactArn": base + "escalate", "Type": "ESCALATION"},
        {"ContactArn": base + "primary-oncall", "Type": "ONCALL_SCHEDULE", "StageIndex": 0},
        {"ContactArn": base + "kofi", "Type": "PERSONAL"}], {})
    assert row.path == ["escalate", "primary-oncall", "kofi"] and row.stage == 1
    row = PageRow({"ContactArn": base + "mia"}, [], [
        {"ContactArn": base + "escalate", "Type": "ESCALATION"},
        {"ContactArn": base + "mia", "Type": "PERSONAL", "StageIndex": 1}], {})
    assert row.stage == 2


# -- plans that page no one -----------------------------------------------------------------


def test_a_plan_that_pages_no_one_says_so(app, client):
    contact, _ = seed(app)
    assert "No stages yet: engaging this contact" in contact_page(client, contact)
    schedule = api(app, "CreateContact", Alias="oncall", Type="ONCALL_SCHEDULE",
                   Plan={"Stages": []})["ContactArn"]
    assert "No rotations yet: nobody is on call" in contact_page(client, schedule)


# -- names a screen reader can tell apart ----------------------------------------------------


class _Names(HTMLParser):
    """The accessible names of a page's buttons and checkboxes: aria-label, else the
    button's text or the checkbox's label text."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []
        self._label: list[str] | None = None
        self._unnamed_box = False
        self._button: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "label":
            self._label, self._unnamed_box = [], False
        elif tag == "button":
            if found.get("aria-label"):
                self.names.append(f"button:{found['aria-label']}")
            else:
                self._button = []
        elif tag == "input" and found.get("type") == "checkbox":
            if found.get("aria-label"):
                self.names.append(f"box:{found['aria-label']}")
            else:
                self._unnamed_box = True

    def handle_data(self, data: str) -> None:
        for part in (self._label, self._button):
            if part is not None:
                part.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "label" and self._label is not None:
            if self._unnamed_box:
                self.names.append("box:" + " ".join("".join(self._label).split()))
            self._label = None
        elif tag == "button" and self._button is not None:
            self.names.append("button:" + " ".join("".join(self._button).split()))
            self._button = None


def names_of(page: str) -> list[str]:
    parser = _Names()
    parser.feed(page)
    return parser.names


def repeated(names: list[str]) -> set[str]:
    return {name for name in names if names.count(name) > 1}


def test_buttons_and_boxes_have_names_a_screen_reader_can_tell_apart(app, client):
    contact, _mail, _phone = active_person(app)
    kofi = api(app, "CreateContact", Alias="kofi", Type="PERSONAL",
               Plan={"Stages": []})["ContactArn"]
    escalation = api(app, "CreateContact", Alias="escalate", Type="ESCALATION", Plan={
        "Stages": [{"DurationInMinutes": 0, "Targets": [
            {"ContactTargetInfo": {"ContactId": contact, "IsEssential": True}},
            {"ContactTargetInfo": {"ContactId": kofi, "IsEssential": False}}]}]})["ContactArn"]
    person = contact_page(client, contact)
    assert not repeated(names_of(person)), repeated(names_of(person))
    assert "button:Delete mail" in names_of(person)
    plan = contact_page(client, escalation)
    # The blank row's boxes are told apart by their stage's legend; the stage's own are named.
    assert {"box:ama is essential (stage 1)", "box:kofi is essential (stage 1)"} <= \
        set(names_of(plan))
    assert not repeated(names_of(plan)), repeated(names_of(plan))
    arn = api(app, "StartEngagement", ContactId=contact, Sender="monitor", Subject="s",
              Content="c")["EngagementArn"]
    page_and_deliver(app)
    page = engagement_page(client, arn)
    assert not repeated(names_of(page)), repeated(names_of(page))


# -- in a browser ---------------------------------------------------------------------------


def test_labels_stay_on_their_lines_and_long_words_wrap(tmp_path):
    """In Chromium: the alias field's label (with ``<code>`` in it) is one line, not five grid
    rows; a 255-character alias and name wrap instead of widening the page."""
    from tests.console.test_browser import ACCOUNT, CHROMIUM_ARGS, REGION, _chromium
    from tests.support.server import start_server

    executable = _chromium()
    import boto3
    from playwright.sync_api import sync_playwright

    server = start_server(tmp_path)
    try:
        client = boto3.client("ssm-contacts", endpoint_url=server.url, region_name=REGION,
                              aws_access_key_id=ACCOUNT, aws_secret_access_key="x")
        client.create_contact(Alias="x" * 255, DisplayName="y" * 255, Type="PERSONAL",
                              Plan={"Stages": []})
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable,
                                                 args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1000, "height": 700})
                page.set_default_timeout(15_000)
                page.goto(server.url + "/console/contacts")
                page.fill("input[name=account]", ACCOUNT)
                page.click("button[type=submit]")
                page.wait_for_url(server.url + "/console/contacts")
                label = page.locator("label:has(input[name=alias])")
                field = page.locator("input[name=alias]").bounding_box()
                box = label.bounding_box()
                assert box is not None and field is not None
                # The label's text above its field: one line of text (about 22 px).
                assert field["y"] - box["y"] < 40, (box, field)
                wide = page.evaluate("document.documentElement.scrollWidth")
                assert wide <= 1000, wide
                page.goto(server.url + "/console/contact?arn=" +
                          f"arn:aws:ssm-contacts:us-east-1:{ACCOUNT}:contact/{'x' * 255}")
                wide = page.evaluate("document.documentElement.scrollWidth")
                assert wide <= 1000, wide
            finally:
                browser.close()
    finally:
        server.stop()


# -- refusals in words ----------------------------------------------------------------------


def test_a_refused_pattern_is_said_in_words_too(client):
    listing = client.get("/console/contacts").text
    refused = post(client, "create-contact", listing, alias="Kofi", name="Mia 🚒",
                   type="PERSONAL", back="/console/contacts")
    said = beside(refused.text, "create-contact")
    assert said.startswith("ValidationException: 2 validation errors detected: ")
    assert said.endswith(" In words: an alias holds only lower-case letters, digits, _ and -; "
                         "a name holds only letters, digits, spaces, _ . and - (no emoji or "
                         "other symbols).")
    # The time of a hand-off, in the rotation form.
    page = client.get("/console/rotations").text
    refused = post(client, "create-rotation", page, name="primary", members="kofi",
                   zone="UTC", start="2027-01-15T09:00", kind="daily", time="25:99",
                   every="1", back="/console/rotations", **{"on-call": "1"})
    assert "In words: a time of day is 00:00 to 23:59." in html.unescape(refused.text)
    # Refusals without such a constraint are left as the API says them.
    refused = post(client, "create-contact", listing, alias="ok", name="", type="NOPE",
                   back="/console/contacts")
    assert "In words" not in beside(refused.text, "create-contact")
