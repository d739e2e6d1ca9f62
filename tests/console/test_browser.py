"""The console in a real browser (Chromium through Playwright): what only a browser checks,
the Content-Security-Policy letting the style sheet in, the ``SameSite=Strict`` session
cookie surviving the sign-in redirect, and forms posting with their token.

Chromium comes from Debian (``apt-get install chromium``); Playwright drives it through
``executable_path`` and never downloads a browser. Outside CI a machine without either skips
these tests; in CI that is a failure, as a missing PostgreSQL is.
"""

from __future__ import annotations

import datetime
import shutil
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.conftest import IN_CI
from tests.support.server import ServerProcess, start_server

ACCOUNT = "111122223333"
REGION = "us-east-1"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        path = None
    if path is None:
        if IN_CI:
            pytest.fail("Chromium and Playwright are needed in CI (apt-get install chromium)")
        pytest.skip("Chromium or Playwright is not installed")
    return path


@pytest.fixture
def browser_page(tmp_path) -> Iterator[tuple[object, ServerProcess]]:
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    server = start_server(tmp_path)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable,
                                                 args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.set_default_timeout(15_000)
                yield page, server
            finally:
                browser.close()
    finally:
        server.stop()


def test_sign_in_and_activate_a_channel_in_a_browser(browser_page):
    page, server = browser_page
    client = boto3.client("ssm-contacts", endpoint_url=server.url, region_name=REGION,
                          aws_access_key_id=ACCOUNT, aws_secret_access_key="x")
    contact = client.create_contact(Alias="ama", DisplayName="Ama Owusu", Type="PERSONAL",
                                    Plan={"Stages": []})["ContactArn"]
    channel = client.create_contact_channel(
        ContactId=contact, Name="mail", Type="EMAIL",
        DeliveryAddress={"SimpleAddress": "ama@example.com"}, DeferActivation=True,
    )["ContactChannelArn"]
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text)
            if message.type == "error" else None)
    page.on("response", lambda response: refused.append(f"{response.status} {response.url}")
            if response.status >= 400 else None)

    page.goto(server.url + "/console/contacts")
    assert page.url.startswith(server.url + "/console/login")
    page.fill("input[name=account]", ACCOUNT)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/console/contacts")   # the page first asked for
    # The style sheet was allowed by the policy: the header has its colour.
    colour = page.eval_on_selector("header", "e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(32, 48, 63)"

    page.click("text=ama")
    page.click("button:has-text('Send a code')")
    page.wait_for_selector("text=An activation code is on its way.")
    (message,) = server.messages(channel)
    page.fill("input[name=code]", message["ActivationCode"])
    page.click("button:has-text('Activate')")
    page.wait_for_selector("text=The channel is activated.")
    assert client.get_contact_channel(ContactChannelId=channel)["ActivationStatus"] == \
        "ACTIVATED"
    assert refused == []   # nothing missing, nothing the policy refused, no script error

    page.click("button:has-text('Sign out')")
    page.wait_for_url(server.url + "/console/login")
    page.goto(server.url + "/console/contacts")
    assert page.url.startswith(server.url + "/console/login")


def _signed_in(page: Any, server: ServerProcess) -> tuple[Any, list[str]]:
    """A boto3 client of the test account, and the page signed in to the console with the
    errors its browser reports gathered in the list returned."""
    client = boto3.client("ssm-contacts", endpoint_url=server.url, region_name=REGION,
                          aws_access_key_id=ACCOUNT, aws_secret_access_key="x")
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text)
            if message.type == "error" else None)
    page.goto(server.url + "/console/contacts")
    page.fill("input[name=account]", ACCOUNT)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/console/contacts")
    return client, refused


def test_a_contact_is_built_and_engaged_in_a_browser(browser_page):
    """The editing forms as a browser sends them: the plan editor's boxes and rows, under the
    policy's ``form-action 'self'``."""
    page, server = browser_page
    client, refused = _signed_in(page, server)

    page.fill("input[name=alias]", "kwame")
    page.fill("input[name=name]", "Kwame Mensah")
    page.click("button:has-text('Create the contact')")
    page.wait_for_selector("text=The contact is created.")
    page.fill("form[action$=add-channel] input[name=name]", "phone")
    page.select_option("form[action$=add-channel] select[name=type]", "SMS")
    page.fill("form[action$=add-channel] input[name=address]", "+15005550100")
    page.click("button:has-text('Add the channel')")
    page.wait_for_selector("text=an activation code is on its way")
    (contact,) = client.list_contacts()["Contacts"]
    (channel,) = client.list_contact_channels(ContactId=contact["ContactArn"])["ContactChannels"]
    (message,) = server.messages(channel["ContactChannelArn"])
    page.fill("input[name=code]", message["ActivationCode"])
    page.click("button:has-text('Activate')")
    page.wait_for_selector("text=The channel is activated.")

    page.click("summary:has-text('Edit')")
    page.fill("input[name=stage-0-minutes]", "0")
    page.check("input[name=stage-0-target-0]")
    page.click("button:has-text('Save the plan')")
    page.wait_for_selector("text=The plan is saved.")
    assert client.get_contact(ContactId=contact["ContactArn"])["Plan"]["Stages"] == [
        {"DurationInMinutes": 0,
         "Targets": [{"ChannelTargetInfo": {"ContactChannelId": channel["ContactChannelArn"]}}]}]

    page.fill("input[name=sender]", "console")
    page.fill("input[name=subject]", "Disk full")
    page.fill("textarea[name=content]", "db-1 is at 99%")
    page.click("button:has-text('Start an engagement')")
    page.wait_for_selector("text=The engagement has started.")
    assert "/console/engagement?arn=" in page.url
    (engagement,) = client.list_engagements()["Engagements"]
    assert engagement["ContactArn"] == contact["ContactArn"]
    assert refused == []


def test_a_rotation_is_previewed_changed_and_tagged_in_a_browser(browser_page):
    """The rotation form as a browser sends it: pre-filled fields that pass the browser's own
    checks (a start with seconds), the preview button's ``formaction`` under the policy's
    ``form-action 'self'``, and the form coming back from the preview to be saved."""
    page, server = browser_page
    client = boto3.client("ssm-contacts", endpoint_url=server.url, region_name=REGION,
                          aws_access_key_id=ACCOUNT, aws_secret_access_key="x")
    ama, kwame = (client.create_contact(Alias=alias, Type="PERSONAL",
                                        Plan={"Stages": []})["ContactArn"]
                  for alias in ("ama", "kwame"))
    start = datetime.datetime(2027, 1, 15, 9, 0, 30, tzinfo=datetime.UTC)
    rotation = client.create_rotation(
        Name="primary", ContactIds=[ama, kwame], TimeZoneId="Europe/Berlin", StartTime=start,
        Recurrence={"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
                    "DailySettings": [{"HourOfDay": 9, "MinuteOfHour": 0}]})["RotationArn"]
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text)
            if message.type == "error" else None)
    page.goto(server.url + "/console/rotations")
    page.fill("input[name=account]", ACCOUNT)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/console/rotations")
    page.click("text=primary")

    page.click("summary:has-text('Change the contacts')")
    page.fill("form[action$=update-rotation] textarea[name=members]", "kwame\nama")
    page.click("form[action$=update-rotation] button:has-text('Preview the shifts')")
    page.wait_for_selector("text=Nothing is saved yet.")
    assert "/console/preview/update-rotation" in page.url
    assert client.get_rotation(RotationId=rotation)["ContactIds"] == [ama, kwame]
    page.click("button:has-text('Save the rotation')")
    page.wait_for_selector("text=The rotation is saved.")
    saved = client.get_rotation(RotationId=rotation)
    assert saved["ContactIds"] == [kwame, ama]
    assert saved["StartTime"] == start     # the start, with its seconds, is kept

    page.fill("form[action$='act/tag'] input[name=key]", "team")
    page.fill("form[action$='act/tag'] input[name=value]", "sre")
    page.click("button:has-text('Add the tag')")
    page.wait_for_selector("text=The tag is saved.")
    assert client.list_tags_for_resource(ResourceARN=rotation)["Tags"] == [
        {"Key": "team", "Value": "sre"}]
    assert refused == []


def test_a_large_escalation_plan_is_edited_by_typing_aliases_in_a_browser(browser_page):
    """Past a dozen contacts the plan editor lists them once (a ``<datalist>``): a browser
    sends an alias typed into a stage's field to add a target, without any script."""
    page, server = browser_page
    client, refused = _signed_in(page, server)
    people = [client.create_contact(Alias=f"person-{n:02d}", Type="PERSONAL",
                                    Plan={"Stages": []})["ContactArn"] for n in range(15)]
    plan = client.create_contact(Alias="sre", Type="ESCALATION", Plan={"Stages": []})
    page.goto(server.url + "/console/contact?arn=" + plan["ContactArn"])
    page.click("summary:has-text('Edit')")
    assert page.locator("datalist#plan-choices option").count() == 15
    page.fill("input[name=stage-0-minutes]", "5")
    page.get_by_label("Add a contact (its alias)").first.fill("person-07")
    page.check("input[name=stage-0-essential-0]")
    page.click("button:has-text('Save the plan')")
    page.wait_for_selector("text=The plan is saved.")
    assert client.get_contact(ContactId=plan["ContactArn"])["Plan"]["Stages"] == [
        {"DurationInMinutes": 5,
         "Targets": [{"ContactTargetInfo": {"ContactId": people[7], "IsEssential": True}}]}]
    assert refused == []
