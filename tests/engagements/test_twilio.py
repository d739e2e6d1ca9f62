"""Pages through a Twilio-compatible provider (a local fake): a failed delivery gives an ERROR
receipt and a retry, and people acknowledge by SMS reply or by pressing 1 in the call, through
webhooks that must carry Twilio's request signature."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from incident_contacts.delivery.twilio import compute_twilio_signature
from tests.conftest import Backend
from tests.delivery.conftest import FakeTwilio, fake_twilio
from tests.support.server import ServerProcess, start_server

from .helpers import PHONE, VOICE_PHONE, Paging, wait_until

__all__ = ["fake_twilio"]

TWILIO_FROM = "+15005550006"
SMS_HOOK = "/_aws/ssm-contacts/webhooks/twilio/sms"
VOICE_HOOK = "/_aws/ssm-contacts/webhooks/twilio/voice"
# What Twilio is told to call: a proxy in front of the server, under a path of its own.
PUBLIC_URL = "https://contacts.example.com/incident"


@pytest.fixture
def server(tmp_path: Path, fake_twilio: FakeTwilio) -> Iterator[ServerProcess]:
    process = start_server(tmp_path, env={
        "INCIDENT_CONTACTS_TWILIO_ACCOUNT_SID": fake_twilio.account_sid,
        "INCIDENT_CONTACTS_TWILIO_AUTH_TOKEN": fake_twilio.auth_token,
        "INCIDENT_CONTACTS_TWILIO_FROM": TWILIO_FROM,
        "INCIDENT_CONTACTS_TWILIO_BASE_URL": fake_twilio.base_url,
        "INCIDENT_CONTACTS_PUBLIC_URL": PUBLIC_URL,
    })
    yield process
    process.stop()


@pytest.fixture
def paging(server: ServerProcess) -> Paging:
    return Paging(Backend("server-sqlite", server=server))


def public_url(path: str) -> str:
    return PUBLIC_URL + path


def post(server: ServerProcess, path: str, form: dict[str, str],
         signature: str | None) -> httpx.Response:
    headers = {} if signature is None else {"X-Twilio-Signature": signature}
    return httpx.post(server.url + path, data=form, headers=headers, timeout=10)


def signed(server: ServerProcess, token: str, path: str, form: dict[str, str]) -> str:
    return compute_twilio_signature(token, public_url(path), form)


def activated_person(paging: Paging, fake: FakeTwilio, channels: list[tuple[str, str]],
                     retry: int = 0) -> Any:
    person = paging.person("akuam", channels)
    paging.plan(person, [(5, person.channels)], retry=retry)
    wait_until(lambda: len(fake.requests) == len(channels), message="the activation codes")
    wait_until(lambda: all(m["DeliveryStatus"] == "SENT" for m in paging.backend.messages()),
               message="the activation codes sent")
    return person


def test_a_failed_delivery_gives_error_and_a_retry(paging: Paging,
                                                   fake_twilio: FakeTwilio) -> None:
    person = activated_person(paging, fake_twilio, [("SMS", PHONE)], retry=1)
    fake_twilio.respond_next(400, {"code": 21211, "message": "Invalid 'To' Phone Number"})
    engagement = paging.engage(person.arn)
    [page] = paging.pages(engagement, 1, sent=False)
    arn = page["PageArn"]
    [error] = paging.wait_receipts(arn, ["ERROR"])
    assert "Twilio 400" in error["ReceiptInfo"] and "Invalid 'To'" in error["ReceiptInfo"]
    assert error["ContactChannelArn"] == person.channels[0]
    assert "SentTime" not in paging.client.describe_page(PageId=arn)
    paging.advance(30)
    paging.quiesce()
    assert paging.receipt_types(arn) == ["ERROR"]                 # not before the interval
    paging.advance(30)
    receipts = paging.wait_receipts(arn, ["ERROR", "SENT"])
    assert receipts[1]["ReceiptInfo"].startswith("SM")
    assert "SentTime" in paging.client.describe_page(PageId=arn)
    sends = [r["form"] for r in fake_twilio.requests[1:]]
    assert len(sends) == 2 and sends[0]["Body"] == sends[1]["Body"]  # the same code again
    [retried] = paging.wait_events(engagement, "PAGE_RETRIED")
    assert retried["PageArn"] == arn


def test_no_retry_once_the_page_was_read(paging: Paging, fake_twilio: FakeTwilio) -> None:
    person = activated_person(paging, fake_twilio, [("SMS", PHONE)], retry=1)
    fake_twilio.respond_next(400, {"code": 21211, "message": "Invalid 'To' Phone Number"})
    engagement = paging.engage(person.arn)
    [page] = paging.pages(engagement, 1, sent=False)
    paging.wait_receipts(page["PageArn"], ["ERROR"])
    paging.client.accept_page(PageId=page["PageArn"], AcceptType="READ", AcceptCode="000000")
    paging.advance(120)
    paging.quiesce()
    assert paging.receipt_types(page["PageArn"]) == ["ERROR", "READ"]
    assert len(fake_twilio.requests) == 2


def test_an_sms_reply_with_the_code_reads_the_page(paging: Paging, fake_twilio: FakeTwilio,
                                                   server: ServerProcess) -> None:
    person = activated_person(paging, fake_twilio, [("SMS", PHONE)])
    engagement = paging.engage(person.arn)
    [page] = paging.pages(engagement, 1)
    arn = page["PageArn"]
    code = paging.page_messages(engagement)[arn]["AcceptCode"]
    token = fake_twilio.auth_token
    reply = {"From": PHONE, "To": TWILIO_FROM, "Body": f"ack {code}", "MessageSid": "SM1"}

    forged = post(server, SMS_HOOK, reply, signed(server, "not-the-token", SMS_HOOK, reply))
    assert forged.status_code == 403
    assert post(server, SMS_HOOK, reply, None).status_code == 403
    tampered = dict(reply, From="+15005550100")
    assert post(server, SMS_HOOK, tampered,
                signed(server, token, SMS_HOOK, reply)).status_code == 403
    assert "ReadTime" not in paging.client.describe_page(PageId=arn)

    wrong = dict(reply, Body="ack 000000" if code != "000000" else "ack 111111")
    answer = post(server, SMS_HOOK, wrong, signed(server, token, SMS_HOOK, wrong))
    assert answer.status_code == 200 and "No open page" in answer.text
    assert "ReadTime" not in paging.client.describe_page(PageId=arn)

    answer = post(server, SMS_HOOK, reply, signed(server, token, SMS_HOOK, reply))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/xml")
    assert "<Message>Page acknowledged.</Message>" in answer.text
    assert "ReadTime" in paging.client.describe_page(PageId=arn)
    receipts = paging.receipts(arn)
    assert [r["ReceiptType"] for r in receipts] == ["SENT", "READ"]
    assert receipts[1]["ReceiptInfo"] == code
    paging.wait_events(engagement, "ACKNOWLEDGED")


def test_pressing_1_in_the_call_reads_the_page(paging: Paging, fake_twilio: FakeTwilio,
                                               server: ServerProcess) -> None:
    person = activated_person(paging, fake_twilio, [("VOICE", VOICE_PHONE)])
    engagement = paging.engage(person.arn)
    [page] = paging.pages(engagement, 1)
    arn = page["PageArn"]
    call = paging.receipts(arn)[0]["ReceiptInfo"]
    assert call.startswith("CA")
    token = fake_twilio.auth_token
    pressed = {"CallSid": call, "Digits": "1", "To": VOICE_PHONE, "From": TWILIO_FROM}
    assert post(server, VOICE_HOOK, pressed,
                signed(server, "forged", VOICE_HOOK, pressed)).status_code == 403
    other_key = dict(pressed, Digits="2")
    answer = post(server, VOICE_HOOK, other_key, signed(server, token, VOICE_HOOK, other_key))
    assert answer.status_code == 200 and "not acknowledged" in answer.text
    assert "ReadTime" not in paging.client.describe_page(PageId=arn)
    answer = post(server, VOICE_HOOK, pressed, signed(server, token, VOICE_HOOK, pressed))
    assert answer.status_code == 200 and "<Say>Page acknowledged." in answer.text
    assert "ReadTime" in paging.client.describe_page(PageId=arn)
    assert paging.receipts(arn)[1]["ReceiptInfo"] == "Pressed 1 during the call"


def test_webhooks_are_off_without_an_auth_token(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        form = {"From": PHONE, "Body": "123456"}
        assert post(server, SMS_HOOK, form, "x").status_code == 404
        assert post(server, VOICE_HOOK, form, "x").status_code == 404
    finally:
        server.stop()


def test_a_page_waiting_for_its_provider_is_not_sent_after_the_stop(
        paging: Paging, fake_twilio: FakeTwilio) -> None:
    """A provider outage holds a page's message for a retry; stopping the engagement then
    means nobody is paged: the message is not sent when the provider is back."""
    person = activated_person(paging, fake_twilio, [("SMS", PHONE)])
    fake_twilio.respond_next(503, {"code": 20500, "message": "Internal Server Error"})
    engagement = paging.engage(person.arn)
    [page] = paging.pages(engagement, 1, sent=False)
    wait_until(lambda: len(fake_twilio.requests) == 2, message="the first, refused, send")
    [message] = [m for m in paging.backend.messages() if m.get("PageArn") == page["PageArn"]]
    assert message["DeliveryStatus"] == "PENDING"
    paging.client.stop_engagement(EngagementId=engagement, Reason="resolved")
    [message] = [m for m in paging.backend.messages() if m.get("PageArn") == page["PageArn"]]
    assert message["DeliveryStatus"] == "FAILED"
    paging.advance(600)                       # past every backoff
    paging.quiesce()
    assert len(fake_twilio.requests) == 2
    assert paging.receipt_types(page["PageArn"]) == ["STOP"]
    assert "SentTime" not in paging.client.describe_page(PageId=page["PageArn"])


def test_an_acknowledged_persons_waiting_pages_are_not_sent(
        paging: Paging, fake_twilio: FakeTwilio) -> None:
    """Paged on two channels at once, one held back by a provider outage: once the person
    acknowledges the page that arrived, the other is not sent when the provider is back."""
    person = activated_person(paging, fake_twilio, [("SMS", PHONE), ("VOICE", VOICE_PHONE)])
    fake_twilio.respond_next(503, {"code": 20500, "message": "Internal Server Error"})
    engagement = paging.engage(person.arn)
    pages = paging.pages(engagement, 2, sent=False)
    wait_until(lambda: len(fake_twilio.requests) == 4, message="one refused send, one sent")
    status = {m["PageArn"]: m["DeliveryStatus"] for m in paging.backend.messages()
              if "PageArn" in m}
    [held] = [p["PageArn"] for p in pages if status[p["PageArn"]] == "PENDING"]
    [arrived] = [p["PageArn"] for p in pages if p["PageArn"] != held]
    paging.client.accept_page(PageId=arrived, AcceptType="READ", AcceptCode="000000")
    status = {m["PageArn"]: m["DeliveryStatus"] for m in paging.backend.messages()
              if "PageArn" in m}
    assert status == {held: "FAILED", arrived: "SENT"}
    paging.advance(600)                       # past every backoff
    paging.quiesce()
    assert len(fake_twilio.requests) == 4
    assert "SentTime" not in paging.client.describe_page(PageId=held)


def test_a_large_body_is_refused_unread() -> None:
    """Before its signature is checked nothing about a request is trusted: a body over
    MAX_BODY is refused (413) rather than held in memory whole."""
    from starlette.testclient import TestClient

    from incident_contacts.api.app import Application
    from incident_contacts.api.webhooks import MAX_BODY
    from incident_contacts.config import Settings
    from incident_contacts.testing import mock_ssm_contacts

    token = "12345678901234567890123456789012"
    with mock_ssm_contacts(settings=Settings(twilio_auth_token=token)) as mock:
        http = TestClient(Application(mock.runtime, mock.dispatcher, []))
        form = {"From": PHONE, "Body": "123456"}
        url = "http://testserver" + SMS_HOOK

        def large() -> Iterator[bytes]:
            for _ in range(64):
                yield b"&Body=" + b"1" * (64 * 1024)

        for path in (SMS_HOOK, VOICE_HOOK):
            answer = http.post(path, content=large(), headers={
                "X-Twilio-Signature": compute_twilio_signature(token, url, form),
                "Content-Type": "application/x-www-form-urlencoded"})
            assert answer.status_code == 413
        small = http.post(SMS_HOOK, data=form, headers={
            "X-Twilio-Signature": compute_twilio_signature(token, url, form)})
        assert small.status_code == 200 and "No open page" in small.text
        assert len(urlencode(form)) < MAX_BODY
