"""Activation codes delivered for real by a server subprocess: email to an SMTP server
(aiosmtpd), SMS and calls to a local fake of Twilio's REST API, JSON to a webhook, SMS to a
local fake of Amazon SNS."""

from __future__ import annotations

import base64
import email
import email.policy
import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from incident_contacts.delivery import verify_webhook_signature
from tests.activation.helpers import EMAIL, PHONE, new_channel, wait_delivered, wait_until
from tests.conftest import Backend
from tests.delivery.conftest import LOOPBACK, FakeSns, FakeTwilio, FakeWebhook, SmtpServerFactory
from tests.support.server import start_server

SENDER = "Incident Manager <oncall@example.com>"
TWILIO_FROM = "+15005550006"


def twilio_env(fake: FakeTwilio, token: str | None = None) -> dict[str, str]:
    return {
        "INCIDENT_CONTACTS_TWILIO_ACCOUNT_SID": fake.account_sid,
        "INCIDENT_CONTACTS_TWILIO_AUTH_TOKEN": token or fake.auth_token,
        "INCIDENT_CONTACTS_TWILIO_FROM": TWILIO_FROM,
        "INCIDENT_CONTACTS_TWILIO_BASE_URL": fake.base_url,
    }


def test_an_activation_email_reaches_the_smtp_server(
        tmp_path: Path, smtp_server_factory: SmtpServerFactory) -> None:
    smtp = smtp_server_factory()
    server = start_server(tmp_path, env={
        "INCIDENT_CONTACTS_SMTP_URL": f"smtp://{LOOPBACK}:{smtp.port}",
        "INCIDENT_CONTACTS_EMAIL_FROM": SENDER,
    })
    try:
        backend = Backend("server-sqlite", server=server)
        client = backend.client()
        arn = new_channel(client, type="EMAIL", address=EMAIL)
        sms = new_channel(client, type="SMS", address=PHONE)    # no Twilio: the outbox only
        [message] = wait_delivered(backend, arn, count=1)
        wait_delivered(backend, sms, count=1)
    finally:
        server.stop()

    [received] = smtp.handler.received
    assert received.rcpt_tos == [EMAIL]
    assert received.mail_from == "oncall@example.com"
    mail = email.message_from_bytes(received.content, policy=email.policy.default)
    assert isinstance(mail, email.message.EmailMessage)
    assert mail["From"] == SENDER
    assert mail["To"] == EMAIL
    assert mail["Subject"] == "Your Incident Manager activation code"
    code = message["ActivationCode"]
    assert f"Your Incident Manager activation code is {code}." in mail.get_content()


def test_sms_and_call_reach_twilio(tmp_path: Path, fake_twilio: FakeTwilio) -> None:
    server = start_server(tmp_path, env=twilio_env(fake_twilio))
    try:
        backend = Backend("server-sqlite", server=server)
        client = backend.client()
        sms = new_channel(client, type="SMS", address=PHONE)
        wait_until(lambda: len(fake_twilio.requests) == 1, message="the SMS")
        voice = new_channel(client, type="VOICE", address="+15005550142")
        [sms_message] = wait_delivered(backend, sms, count=1)
        [voice_message] = wait_delivered(backend, voice, count=1)
    finally:
        server.stop()

    credentials = f"{fake_twilio.account_sid}:{fake_twilio.auth_token}".encode()
    basic = "Basic " + base64.b64encode(credentials).decode()
    account = f"/2010-04-01/Accounts/{fake_twilio.account_sid}"
    [text, call] = fake_twilio.requests
    assert text["path"] == f"{account}/Messages.json"
    assert text["authorization"] == basic
    # The code's remaining life (15 minutes, less the moment the worker took) as Twilio's
    # ValidityPeriod: Twilio drops the text rather than send it after the code expired.
    assert 890 <= int(text["form"].pop("ValidityPeriod")) <= 900
    assert text["form"] == {"To": PHONE, "From": TWILIO_FROM, "Body": sms_message["Body"]}
    assert sms_message["ActivationCode"] in text["form"]["Body"]

    assert call["path"] == f"{account}/Calls.json"
    assert call["authorization"] == basic
    assert set(call["form"]) == {"To", "From", "Twiml"}
    assert (call["form"]["To"], call["form"]["From"]) == ("+15005550142", TWILIO_FROM)
    spoken = [e.text for e in ET.fromstring(call["form"]["Twiml"]) if e.tag == "Say"]
    digits = ", ".join(voice_message["ActivationCode"])
    assert spoken and all(f"activation code is {digits}." in said for said in spoken)


def test_a_refused_provider_login_fails_the_message(tmp_path: Path,
                                                    fake_twilio: FakeTwilio) -> None:
    server = start_server(tmp_path, env=twilio_env(fake_twilio, token="not-the-token"))
    try:
        backend = Backend("server-sqlite", server=server)
        arn = new_channel(backend.client())
        wait_until(lambda: [m["DeliveryStatus"] for m in backend.messages(arn)] == ["FAILED"],
                   message="the message to fail")
    finally:
        server.stop()
    assert len(fake_twilio.requests) == 1     # a 401 is permanent: no retries


def test_codes_reach_a_webhook(tmp_path: Path, fake_webhook: FakeWebhook) -> None:
    """A server with a webhook for every channel type: the receiver gets each code as signed
    JSON, and a 503 is retried."""
    fake_webhook.respond_next(503)
    server = start_server(tmp_path, env={
        "INCIDENT_CONTACTS_WEBHOOK_URL": fake_webhook.url,
        "INCIDENT_CONTACTS_WEBHOOK_SECRET": "whsec-server",
    })
    try:
        backend = Backend("server-sqlite", server=server)
        client = backend.client()
        channel = new_channel(client, type="SMS", address=PHONE)
        backend.advance(60)      # past the first retry's backoff
        [message] = wait_delivered(backend, channel, count=1)
    finally:
        server.stop()
    refused, accepted = fake_webhook.requests
    assert refused["body"] == accepted["body"]          # the same message, sent again
    sent = json.loads(accepted["body"])
    assert sent["Address"] == PHONE and sent["ChannelType"] == "SMS"
    assert message["ActivationCode"] in sent["Body"] and sent["MessageId"] == message["MessageId"]
    assert verify_webhook_signature("whsec-server",
                                    accepted["headers"]["x-incident-contacts-signature"],
                                    accepted["body"], now=time.time())


def test_sms_codes_reach_sns(tmp_path: Path, fake_sns: FakeSns) -> None:
    """A server sending SMS through SNS (credentials from the environment, as botocore reads
    them): the code is published to the number, a throttled Publish is retried, and voice and
    email stay with the development outbox."""
    fake_sns.refuse_next(400, "Throttling")
    server = start_server(tmp_path, env={
        "INCIDENT_CONTACTS_SNS_REGION": fake_sns.region,
        "INCIDENT_CONTACTS_SNS_ENDPOINT_URL": fake_sns.url,
        "INCIDENT_CONTACTS_SNS_SENDER_ID": "OnCall",
        "AWS_ACCESS_KEY_ID": fake_sns.access_key,
        "AWS_SECRET_ACCESS_KEY": "fake-secret",
    })
    try:
        backend = Backend("server-sqlite", server=server)
        client = backend.client()
        channel = new_channel(client, type="SMS", address=PHONE)
        voice = new_channel(client, type="VOICE", address=PHONE)
        backend.advance(60)      # past the first retry's backoff
        [message] = wait_delivered(backend, channel, count=1)
        [spoken] = wait_delivered(backend, voice, count=1)
    finally:
        server.stop()
    throttled, published = fake_sns.requests
    assert throttled["form"] == published["form"]       # the same message, sent again
    assert published["form"]["PhoneNumber"] == PHONE
    assert message["ActivationCode"] in published["form"]["Message"]
    assert published["form"]["MessageAttributes.entry.2.Value.StringValue"] == "OnCall"
    assert message["DeliveryStatus"] == "SENT" and spoken["DeliveryStatus"] == "SENT"
    assert len(fake_sns.published()) == 1               # the call did not go to SNS
