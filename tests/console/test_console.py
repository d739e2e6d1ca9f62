"""The web console: signing in, reading through the API's authorization, acting with a form
token, and what it never shows."""

from __future__ import annotations

import json
import re

import boto3
import httpx
import sqlalchemy as sa
from starlette.testclient import TestClient

from incident_contacts.clock import ManualClock
from incident_contacts.config import Settings
from incident_contacts.engine.runner import run_all_due
from incident_contacts.server import build_application
from incident_contacts.service import outbox
from incident_contacts.service.context import Caller
from tests.support.server import start_server

START = 1_800_000_000.0
ACCOUNT = "111122223333"
OTHER = "444455556666"
REGION = "us-east-1"
ADMIN_KEY, ADMIN_SECRET = "AKIACONSOLEADMIN0001", "admin-secret-access-key"
READER_KEY, READER_SECRET = "AKIACONSOLEREADER001", "reader-secret-access-key"
READER_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["ssm-contacts:GetContact", "ssm-contacts:ListEngagements",
                                   "ssm-contacts:ListRotations"], "Resource": "*"}]}


def make_app(tmp_path, **settings):
    return build_application(Settings(database=f"sqlite:///{tmp_path / 'console.db'}",
                                      workers=False, **settings), ManualClock(START))


def api(app, operation: str, account: str = ACCOUNT, **params):
    return app.dispatcher.call(Caller(account, REGION), operation, params)


def login(client, **form):
    """The sign-in form sent as a browser sends it: with the token of the page it came from."""
    token = csrf(client.get("/console/login").text)
    return client.post("/console/login", data={"csrf": token, **form}, follow_redirects=False)


def sign_in(client: TestClient, **form) -> None:
    answer = login(client, **form)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/console/"


def csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def seed(app) -> tuple[str, str]:
    contact = api(app, "CreateContact", Alias="ama", DisplayName="Ama Owusu", Type="PERSONAL",
                  Plan={"Stages": []})["ContactArn"]
    channel = api(app, "CreateContactChannel", ContactId=contact, Name="mail", Type="EMAIL",
                  DeliveryAddress={"SimpleAddress": "ama@example.com"},
                  DeferActivation=True)["ContactChannelArn"]
    return contact, channel


def daily_rotation(app, members: list[str]) -> str:
    """A rotation named "primary", handing off daily at 09:00 UTC from START."""
    return api(app, "CreateRotation", Name="primary", ContactIds=members, TimeZoneId="UTC",
               StartTime=START,
               Recurrence={"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
                           "DailySettings": [{"HourOfDay": 9, "MinuteOfHour": 0}]}
               )["RotationArn"]


def messages(app, channel: str) -> list[dict]:
    with app.runtime.store.transaction(write=False) as conn:
        return outbox.list_messages(conn, app.runtime, channel_arn=channel)


def paged(app) -> tuple[str, dict]:
    """An engagement of a person with an active channel, and the message of its one page."""
    contact, channel = seed(app)
    api(app, "SendActivationCode", ContactChannelId=channel)
    (sent,) = messages(app, channel)
    api(app, "ActivateContactChannel", ContactChannelId=channel,
        ActivationCode=sent["ActivationCode"])
    api(app, "UpdateContact", ContactId=contact, Plan={"Stages": [{
        "DurationInMinutes": 0,
        "Targets": [{"ChannelTargetInfo": {"ContactChannelId": channel}}]}]})
    engagement = api(app, "StartEngagement", ContactId=contact, Sender="monitor",
                     Subject="Disk full", Content="db-1 is at 99%")["EngagementArn"]
    run_all_due(app.runtime)
    (message,) = [m for m in messages(app, channel) if m["Purpose"] == "PAGE"]
    return engagement, message


def test_pages_ask_to_sign_in_first(app):
    with TestClient(app) as client:
        answer = client.get("/console/contacts?prefix=a", follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == \
            "/console/login?then=%2Fconsole%2Fcontacts%3Fprefix%3Da"
        page = client.get(answer.headers["location"])
        assert page.status_code == 200 and 'name="account"' in page.text
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        # After signing in, the page first asked for.
        answer = login(client, account=ACCOUNT, region=REGION, then="/console/contacts?prefix=a")
        assert answer.headers["location"] == "/console/contacts?prefix=a"
        # Never to another site.
        for then in ("https://elsewhere.example/", "//elsewhere.example/", "/console//x"):
            answer = login(client, account=ACCOUNT, region=REGION, then=then)
            assert answer.headers["location"] == "/console/"
        # A sign-in form from anywhere else (no token of this browser's) is refused.
        client.cookies.clear()
        forged = client.post("/console/login", data={"account": ACCOUNT, "region": REGION,
                                                      "csrf": "forged"})
        assert forged.status_code == 403 and "InvalidFormToken" in forged.text
        assert client.get("/console/contacts", follow_redirects=False).status_code == 303


def test_development_sign_in_shows_one_account(app):
    contact, _ = seed(app)
    api(app, "CreateContact", account=OTHER, Alias="kofi", Type="PERSONAL",
        Plan={"Stages": []})
    with TestClient(app) as client:
        refused = login(client, account="12", region=REGION)
        assert refused.status_code == 401 and "12 digits" in refused.text
        sign_in(client, account=ACCOUNT, region=REGION)
        page = client.get("/console/contacts").text
        assert "ama" in page and "Ama Owusu" in page
        assert "kofi" not in page
        page = client.get("/console/contact", params={"arn": contact}).text
        assert "ama@example.com" in page and "NOT_ACTIVATED" in page
        # Another account's contact is refused as the API refuses it.
        other = contact.replace(ACCOUNT, OTHER).replace("/ama", "/kofi")
        answer = client.get("/console/contact", params={"arn": other})
        assert answer.status_code == 403 and "AccessDeniedException" in answer.text


def test_a_channel_is_activated_from_the_console(app):
    contact, channel = seed(app)
    with TestClient(app) as client:
        sign_in(client, account=ACCOUNT, region=REGION)
        page = client.get("/console/contact", params={"arn": contact}).text
        token = csrf(page)
        back = f"/console/contact?arn={contact}"

        # A form without this session's token changes nothing.
        forged = client.post("/console/act/send-code",
                             data={"arn": channel, "back": back, "csrf": "forged"})
        assert forged.status_code == 403 and "InvalidFormToken" in forged.text
        assert messages(app, channel) == []

        done = client.post("/console/act/send-code",
                           data={"arn": channel, "back": back, "csrf": token})
        assert done.status_code == 200 and "An activation code is on its way." in done.text
        (message,) = messages(app, channel)
        code = message["ActivationCode"]

        wrong = client.post("/console/act/activate", data={
            "arn": channel, "back": back, "csrf": token, "code": "000000" if code != "000000"
            else "111111"})
        assert "ValidationException" in wrong.text and "NOT_ACTIVATED" in wrong.text
        right = client.post("/console/act/activate", data={
            "arn": channel, "back": back, "csrf": token, "code": code})
        assert "The channel is activated." in right.text and "ACTIVATED" in right.text
        assert api(app, "GetContactChannel",
                   ContactChannelId=channel)["ActivationStatus"] == "ACTIVATED"

        # The delivery page shows the message but never its code or text.
        delivery = client.get("/console/delivery").text
        assert "<td>ACTIVATION</td><td>PENDING</td>" in delivery
        assert code not in delivery and "ama@example.com" not in delivery
        assert message["Body"] not in delivery


def test_an_engagement_is_followed_and_stopped(app):
    contact, _ = seed(app)
    engagement = api(app, "StartEngagement", ContactId=contact, Sender="monitor",
                     Subject="Disk <b>full</b>", Content="db-1 is at 99%")["EngagementArn"]
    with TestClient(app) as client:
        sign_in(client, account=ACCOUNT, region=REGION)
        overview = client.get("/console/").text
        assert engagement.rsplit("/", 1)[1] in overview
        page = client.get("/console/engagement", params={"arn": engagement}).text
        assert "Disk &lt;b&gt;full&lt;/b&gt;" in page and "<b>full</b>" not in page
        assert "db-1 is at 99%" in page and "open" in page
        stopped = client.post("/console/act/stop", data={
            "arn": engagement, "csrf": csrf(page), "reason": "fixed", "confirm": "yes",
            "back": f"/console/engagement?arn={engagement}"})
        assert "The engagement is stopped." in stopped.text
        assert "Stop the engagement" not in stopped.text
        assert "StopTime" in api(app, "DescribeEngagement", EngagementId=engagement)


def test_a_page_is_acknowledged_with_its_accept_code(app):
    engagement, message = paged(app)
    back = f"/console/engagement?arn={engagement}"
    with TestClient(app) as client:
        sign_in(client, account=ACCOUNT, region=REGION)
        page = client.get("/console/engagement", params={"arn": engagement}).text
        assert "Acknowledge" in page
        form = {"arn": message["PageArn"], "back": back, "csrf": csrf(page)}
        wrong = "1" * len(message["AcceptCode"])
        if wrong == message["AcceptCode"]:
            wrong = "2" * len(wrong)
        refused = client.post("/console/act/acknowledge", data={**form, "code": wrong})
        assert "Acknowledge" in refused.text and "The page is acknowledged." not in refused.text
        done = client.post("/console/act/acknowledge",
                           data={**form, "code": message["AcceptCode"]})
        assert "The page is acknowledged." in done.text
        assert "Acknowledge" not in done.text.replace("The page is acknowledged.", "")
    (described,) = api(app, "ListPagesByEngagement", EngagementId=engagement)["Pages"]
    assert "ReadTime" in described


def test_a_rotation_shows_who_is_on_call(app):
    first = api(app, "CreateContact", Alias="ama", Type="PERSONAL",
                Plan={"Stages": []})["ContactArn"]
    second = api(app, "CreateContact", Alias="kwame", Type="PERSONAL",
                 Plan={"Stages": []})["ContactArn"]
    rotation = daily_rotation(app, [first, second])
    with TestClient(app) as client:
        sign_in(client, account=ACCOUNT, region=REGION)
        assert "primary" in client.get("/console/rotations").text
        page = client.get("/console/rotation", params={"arn": rotation}).text
        assert page.count("<tr>") >= 14  # a shift a day for the next 14 days, and the head
        assert "ama" in page and "kwame" in page


def sigv4_app(tmp_path):
    """A console with ``--auth sigv4``: an admin key, and a reader key under READER_POLICY."""
    credentials = tmp_path / "credentials.toml"
    credentials.write_text(
        f'[[credentials]]\naccess_key_id = "{ADMIN_KEY}"\n'
        f'secret_access_key = "{ADMIN_SECRET}"\naccount_id = "{ACCOUNT}"\nuser = "admin"\n\n'
        f'[[credentials]]\naccess_key_id = "{READER_KEY}"\n'
        f'secret_access_key = "{READER_SECRET}"\naccount_id = "{ACCOUNT}"\nuser = "reader"\n'
        f"policy = '''{json.dumps(READER_POLICY)}'''\n")
    credentials.chmod(0o600)
    return make_app(tmp_path, auth="sigv4", credentials_file=str(credentials))


def test_signed_in_with_an_access_key_the_console_is_as_narrow_as_its_policy(tmp_path):
    app = sigv4_app(tmp_path)
    contact, _ = seed(app)
    with TestClient(app) as client:
        page = client.get("/console/login").text
        assert 'name="secret"' in page and 'name="account"' not in page
        for key, secret in ((ADMIN_KEY, "wrong"), ("AKIANOSUCHKEY0000001", ADMIN_SECRET)):
            refused = login(client, key=key, secret=secret, region=REGION)
            assert refused.status_code == 401 and "not valid" in refused.text

        sign_in(client, key=READER_KEY, secret=READER_SECRET, region=REGION)
        overview = client.get("/console/")
        assert overview.status_code == 200
        assert "arn:aws:iam::111122223333:user/reader" in overview.text
        assert "AccessDeniedException" in overview.text  # it may not list contacts
        assert "No rotations." in overview.text          # but may list rotations
        page = client.get("/console/contact", params={"arn": contact}).text
        assert "Ama Owusu" in page  # GetContact is allowed; the addresses are not
        assert "ama@example.com" not in page and "ListContactChannels" in page
        denied = client.get("/console/contacts")
        assert denied.status_code == 403 and "AccessDeniedException" in denied.text
        assert client.get("/console/delivery").status_code == 403

        sign_in(client, key=ADMIN_KEY, secret=ADMIN_SECRET, region=REGION)
        assert "ama" in client.get("/console/contacts").text
        assert client.get("/console/delivery").status_code == 200
        # Signing out ends the session; the form needs its token like any other.
        page = client.get("/console/contacts").text
        client.post("/console/logout", data={"csrf": csrf(page)})
        assert client.get("/console/contacts", follow_redirects=False).status_code == 303


def test_the_console_can_be_turned_off(tmp_path):
    with TestClient(make_app(tmp_path, console=False)) as client:
        assert client.get("/console/login").status_code == 404


def test_the_server_serves_the_console(tmp_path):
    server = start_server(tmp_path)
    try:
        client = boto3.client("ssm-contacts", endpoint_url=server.url, region_name=REGION,
                              aws_access_key_id=ACCOUNT, aws_secret_access_key="x")
        client.create_contact(Alias="efua", DisplayName="Efua Mensah", Type="PERSONAL",
                              Plan={"Stages": []})
        with httpx.Client(base_url=server.url) as browser:
            page = browser.get("/console/login")
            assert page.status_code == 200
            assert page.headers["x-frame-options"] == "DENY"
            answer = login(browser, account=ACCOUNT, region=REGION)
            assert answer.status_code == 303
            cookie = answer.headers["set-cookie"].lower()
            assert "path=/console" in cookie and "samesite=strict" in cookie
            assert "httponly" in cookie
            assert "Efua Mensah" in browser.get("/console/contacts").text
            assert browser.get("/console/static/console.css").status_code == 200
    finally:
        server.stop()


def test_signing_out_ends_the_session_everywhere(tmp_path):
    """Sessions are kept on the server: a copy of the cookie stops working when its owner
    signs out, and every session ends eight hours after it began. The database holds a keyed
    hash of the session's token, never the token."""
    clock = ManualClock(START)
    app = build_application(Settings(database=f"sqlite:///{tmp_path / 'c.db'}", workers=False),
                            clock)
    with TestClient(app) as owner, TestClient(app) as thief:
        sign_in(owner, account=ACCOUNT, region=REGION)
        thief.cookies.set("incident_contacts_console",
                          owner.cookies.get("incident_contacts_console"), path="/console")
        assert thief.get("/console/contacts", follow_redirects=False).status_code == 200
        with app.runtime.store.transaction(write=False) as conn:
            (row,) = conn.execute(sa.text("SELECT * FROM console_sessions")).mappings().all()
        assert row["account"] == ACCOUNT and row["expires_at"] == START + 8 * 3600
        assert len(row["token_hash"]) == 64

        page = owner.get("/console/contacts").text
        out = owner.post("/console/logout", data={"csrf": csrf(page)}, follow_redirects=False)
        assert out.headers["location"] == "/console/login"
        assert thief.get("/console/contacts", follow_redirects=False).status_code == 303
        with app.runtime.store.transaction(write=False) as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM console_sessions")).scalar() == 0

        sign_in(owner, account=ACCOUNT, region=REGION)
        clock.advance(8 * 3600 - 1)
        assert owner.get("/console/contacts", follow_redirects=False).status_code == 200
        clock.advance(1)
        answer = owner.get("/console/contacts", follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith(
            "/console/login")
        # Signing in again clears the records that expired.
        sign_in(owner, account=ACCOUNT, region=REGION)
        with app.runtime.store.transaction(write=False) as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM console_sessions")).scalar() == 1
