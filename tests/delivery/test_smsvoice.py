"""The End User Messaging SMS and voice transport against a local fake of its JSON API: what
SendTextMessage and SendVoiceMessage carry, how each refusal is classified, what it refuses to
start without, and a server that sends codes through it."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from xml.etree import ElementTree

import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from incident_contacts.delivery import (
    OutgoingMessage,
    PermanentDeliveryError,
    RetryableDeliveryError,
    SmsVoiceTransport,
    activation_text,
    page_text,
)
from incident_contacts.delivery.smsvoice import (
    PAGE_TIME_TO_LIVE,
    SSML_MAX_LENGTH,
    time_to_live,
    time_to_live_range,
    voice_ids,
    voice_ssml,
)
from tests.activation.helpers import new_channel, wait_delivered, wait_until
from tests.conftest import Backend
from tests.delivery.conftest import LOOPBACK, FakeSmsVoice
from tests.support.server import free_port, start_server

PHONE = "+15005550100"
ORIGIN = "+15005550006"
AWS_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_WEB_IDENTITY_TOKEN_FILE")


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch, fake_sms_voice: FakeSmsVoice) -> None:
    """Credentials for botocore's chain from the environment only, the fake's key."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", fake_sms_voice.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", fake_sms_voice.secret_key)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def no_aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credentials anywhere botocore looks: no variables, no files, no instance metadata."""
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def message(channel_type: str = "SMS", body: str = "Your code is 123456.",
            speech: str | None = None, address: str = PHONE) -> OutgoingMessage:
    return OutgoingMessage(message_id="m-1", channel_type=channel_type, address=address,
                           subject=None, body=body, speech=speech)


def send(fake: FakeSmsVoice, outgoing: OutgoingMessage, **options: str) -> str:
    """Send one message through a new transport to the fake; the provider's id."""
    options.setdefault("origination_identity", ORIGIN)
    transport = SmsVoiceTransport(fake.region, endpoint_url=fake.url, **options)
    try:
        return transport.send(outgoing).provider_message_id
    finally:
        transport.close()


def spoken(ssml: str) -> tuple[list[str], list[str]]:
    """The texts an SSML body says, in order, and the tags of its elements."""
    root = ElementTree.fromstring(ssml)
    assert root.tag == "speak"
    texts = [root.text or ""] + [child.tail or "" for child in root]
    return texts, [child.tag for child in root]


# --- SMS -----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("aws_credentials")
def test_an_sms_carries_the_code(fake_sms_voice: FakeSmsVoice) -> None:
    text = activation_text("SMS", "123456", 15)
    provider_id = send(fake_sms_voice, message(body=text.body),
                       configuration_set="oncall-events")
    [request] = fake_sms_voice.requests
    assert request["accepted"]                  # signed for sms-voice, valid for the model
    assert request["headers"]["x-amz-target"] == "PinpointSMSVoiceV2.SendTextMessage"
    assert request["body"] == {
        "DestinationPhoneNumber": PHONE,
        "OriginationIdentity": ORIGIN,
        "ConfigurationSetName": "oncall-events",
        "Context": {"incident-contacts-message-id": "m-1"},
        "MessageType": "TRANSACTIONAL",
        "MessageBody": "Your Incident Manager activation code is 123456. It expires in "
                       "15 minutes.",
    }
    assert len(provider_id) == 36               # the service's MessageId


@pytest.mark.usefixtures("aws_credentials")
def test_optional_members_are_left_out_and_the_type_taken_in_any_case(
        fake_sms_voice: FakeSmsVoice) -> None:
    send(fake_sms_voice, message(), origination_identity="", message_type="promotional")
    [body] = fake_sms_voice.sent("SendTextMessage")
    assert body["MessageType"] == "PROMOTIONAL"
    assert "OriginationIdentity" not in body and "ConfigurationSetName" not in body


# --- voice ---------------------------------------------------------------------------------------


@pytest.mark.usefixtures("aws_credentials")
def test_a_call_speaks_the_code_digit_by_digit_twice(fake_sms_voice: FakeSmsVoice) -> None:
    text = activation_text("VOICE", "123456", 15)
    send(fake_sms_voice, message("VOICE", body=text.body, speech=text.speech))
    [request] = fake_sms_voice.requests
    assert request["accepted"]
    assert request["headers"]["x-amz-target"] == "PinpointSMSVoiceV2.SendVoiceMessage"
    body = request["body"]
    assert {name: body[name] for name in body if name != "MessageBody"} == {
        "DestinationPhoneNumber": PHONE,
        "OriginationIdentity": ORIGIN,
        "Context": {"incident-contacts-message-id": "m-1"},
        "MessageBodyTextType": "SSML",
        "VoiceId": "MATTHEW",
    }
    texts, tags = spoken(body["MessageBody"])
    assert tags == ["break"]                    # a pause between the two readings
    expected = ("Your Incident Manager activation code is 1, 2, 3, 4, 5, 6. "
                "It expires in 15 minutes.")
    assert texts == [expected, expected]


@pytest.mark.usefixtures("aws_credentials")
def test_a_page_is_spoken_with_its_markup_escaped(fake_sms_voice: FakeSmsVoice) -> None:
    text = page_text("VOICE", "Disk <90%> on db-1 & db-2", "Check \"it\" isn't full",
                     None, None, "424242")
    send(fake_sms_voice, message("VOICE", body=text.body, speech=text.speech),
         voice_id="joanna")
    [body] = fake_sms_voice.sent("SendVoiceMessage")
    assert body["VoiceId"] == "JOANNA"
    texts, _ = spoken(body["MessageBody"])
    assert texts == [text.speech, text.speech]
    assert "4, 2, 4, 2, 4, 2" in texts[0]


@pytest.mark.usefixtures("aws_credentials")
def test_a_call_without_speech_reads_the_body(fake_sms_voice: FakeSmsVoice) -> None:
    send(fake_sms_voice, message("VOICE", body="Plain words."))
    texts, _ = spoken(fake_sms_voice.sent("SendVoiceMessage")[0]["MessageBody"])
    assert texts == ["Plain words.", "Plain words."]


@pytest.mark.usefixtures("aws_credentials")
def test_long_speech_is_cut_to_fit_the_ssml_limit(fake_sms_voice: FakeSmsVoice) -> None:
    speech = "Tom & Jerry's <alert>. " * 400         # 9,200 characters, more once escaped
    ssml = voice_ssml(speech)
    assert len(ssml) <= SSML_MAX_LENGTH
    assert len(voice_ssml(speech, max_length=SSML_MAX_LENGTH + 200)) > SSML_MAX_LENGTH
    texts, _ = spoken(ssml)
    assert texts[0] == texts[1] and len(texts[0]) > 1000 and speech.startswith(texts[0])
    send(fake_sms_voice, message("VOICE", speech=speech))
    assert fake_sms_voice.sent("SendVoiceMessage")[0]["MessageBody"] == ssml


def test_characters_xml_forbids_are_dropped() -> None:
    texts, _ = spoken(voice_ssml("bell\x07 and\x00 nul"))
    assert texts == ["bell and nul", "bell and nul"]


@pytest.mark.usefixtures("aws_credentials")
def test_a_call_needs_an_origination_identity(fake_sms_voice: FakeSmsVoice) -> None:
    with pytest.raises(PermanentDeliveryError, match="need an origination identity"):
        send(fake_sms_voice, message("VOICE", speech="words"), origination_identity="")
    assert fake_sms_voice.requests == []


@pytest.mark.usefixtures("aws_credentials")
def test_email_is_refused(fake_sms_voice: FakeSmsVoice) -> None:
    with pytest.raises(PermanentDeliveryError, match="SMS and VOICE only, not EMAIL"):
        send(fake_sms_voice, message("EMAIL", address="akua@example.com"))
    assert fake_sms_voice.requests == []


# --- time to live --------------------------------------------------------------------------------


@pytest.mark.usefixtures("aws_credentials")
@pytest.mark.parametrize("channel_type", ["SMS", "VOICE"])
@pytest.mark.parametrize(("expires_in", "ttl"), [
    (900.0, 900),           # a code just made, at the default 15 minutes
    (123.9, 123),           # whole seconds, never past the code's expiry
    (1.5, 5),               # the model's least
    (-30.0, 5),             # expired meanwhile: still within the model's range
    (30 * 86400.0, 259200),  # a code set to live a month: the model's most, 72 hours
    (float("inf"), 259200),
])
def test_an_activation_message_lives_as_long_as_its_code(
        fake_sms_voice: FakeSmsVoice, channel_type: str, expires_in: float, ttl: int) -> None:
    """The code's remaining life (what the delivery engine hands over) is the message's
    TimeToLive, so End User Messaging stops trying to deliver a code that no longer works
    (its default would be 72 hours)."""
    outgoing = replace(message(channel_type, speech="Your code is 1, 2, 3."),
                       purpose="ACTIVATION", expires_in=expires_in)
    send(fake_sms_voice, outgoing)
    [request] = fake_sms_voice.requests
    assert request["accepted"], request               # within the model's range
    assert request["body"]["TimeToLive"] == ttl


@pytest.mark.usefixtures("aws_credentials")
@pytest.mark.parametrize("channel_type", ["SMS", "VOICE"])
def test_a_page_lives_an_hour(fake_sms_voice: FakeSmsVoice, channel_type: str) -> None:
    text = page_text(channel_type, "Disk full on db-1", "Free some space", None, None, "424242")
    send(fake_sms_voice, replace(message(channel_type, body=text.body, speech=text.speech),
                                 purpose="PAGE"))
    [request] = fake_sms_voice.requests
    assert request["accepted"]
    assert request["body"]["TimeToLive"] == PAGE_TIME_TO_LIVE == 3600


@pytest.mark.usefixtures("aws_credentials")
def test_a_message_that_says_nothing_of_its_life_keeps_the_default(
        fake_sms_voice: FakeSmsVoice) -> None:
    send(fake_sms_voice, replace(message(), purpose="ACTIVATION"))
    send(fake_sms_voice, replace(message(), expires_in=float("nan")))
    assert [("TimeToLive" in body) for body in fake_sms_voice.sent("SendTextMessage")] == \
        [False, False]


def test_the_time_to_live_range_is_the_models() -> None:
    assert time_to_live_range() == (5, 72 * 3600)
    assert time_to_live(replace(message(), expires_in=4.0)) == 5


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("aws_credentials")
@pytest.mark.parametrize("channel_type", ["SMS", "VOICE"])
def test_a_throttled_send_is_retryable_and_the_next_one_goes_out(
        fake_sms_voice: FakeSmsVoice, channel_type: str) -> None:
    fake_sms_voice.refuse_next(400, "ThrottlingException")
    transport = SmsVoiceTransport(fake_sms_voice.region, endpoint_url=fake_sms_voice.url,
                                  origination_identity=ORIGIN)
    outgoing = message(channel_type, speech="Your code is 1, 2, 3.")
    try:
        with pytest.raises(RetryableDeliveryError) as info:
            transport.send(outgoing)
        assert len(fake_sms_voice.requests) == 1    # one attempt: the outbox owns retries
        assert info.value.reason == \
            "End User Messaging refused the message: ThrottlingException (HTTP 400)"
        transport.send(outgoing)                    # the outbox's next attempt
    finally:
        transport.close()
    refused, accepted = fake_sms_voice.requests
    assert refused["body"] == accepted["body"] and accepted["accepted"]


@pytest.mark.usefixtures("aws_credentials")
@pytest.mark.parametrize(("status", "code", "reason", "retryable"), [
    (400, "ThrottlingException", None, True),
    (429, "TooManyRequestsException", None, True),
    (500, "InternalServerException", None, True),
    (503, "ServiceUnavailable", None, True),
    (400, "ExpiredTokenException", None, True),
    (403, "AccessDeniedException", "ACCOUNT_DISABLED", False),
    (400, "ValidationException", "INVALID_IDENTITY_FOR_DESTINATION_COUNTRY", False),
    (402, "ServiceQuotaExceededException", "MONTHLY_SPEND_LIMIT_REACHED_FOR_TEXT", False),
    (404, "ResourceNotFoundException", None, False),
    (400, "ConflictException", "DESTINATION_PHONE_NUMBER_OPTED_OUT", False),
])
def test_refusals_are_classified_by_code_alone(fake_sms_voice: FakeSmsVoice, status: int,
                                               code: str, reason: str | None,
                                               retryable: bool) -> None:
    fake_sms_voice.refuse_next(status, code, reason)
    with pytest.raises(RetryableDeliveryError if retryable else PermanentDeliveryError) as info:
        send(fake_sms_voice, message())
    assert len(fake_sms_voice.requests) == 1
    said = f"{code} {reason}" if reason else code
    assert info.value.reason == f"End User Messaging refused the message: {said} (HTTP {status})"
    assert PHONE[1:] not in info.value.reason       # the service's text quoted the number


@pytest.mark.usefixtures("aws_credentials")
def test_an_opted_out_number_fails_for_good(fake_sms_voice: FakeSmsVoice) -> None:
    fake_sms_voice.opted_out.add(PHONE)
    with pytest.raises(PermanentDeliveryError) as info:
        send(fake_sms_voice, message())
    assert info.value.reason == ("End User Messaging refused the message: ConflictException "
                                 "DESTINATION_PHONE_NUMBER_OPTED_OUT (HTTP 400)")


@pytest.mark.usefixtures("aws_credentials")
def test_a_reason_that_is_not_an_enum_is_not_recorded(fake_sms_voice: FakeSmsVoice) -> None:
    fake_sms_voice.refuse_next(400, "ValidationException", f"bad number {PHONE}")
    with pytest.raises(PermanentDeliveryError) as info:
        send(fake_sms_voice, message())
    assert info.value.reason == \
        "End User Messaging refused the message: ValidationException (HTTP 400)"


@pytest.mark.usefixtures("aws_credentials")
def test_a_message_botocore_refuses_to_send_is_permanent(fake_sms_voice: FakeSmsVoice) -> None:
    """An empty SMS body is below the model's minimum: never sent, failed at once."""
    with pytest.raises(PermanentDeliveryError, match="ParamValidationError"):
        send(fake_sms_voice, message(body=""))
    assert fake_sms_voice.requests == []


@pytest.mark.usefixtures("aws_credentials")
def test_an_unreachable_endpoint_is_retryable(closed_port: int,
                                              fake_sms_voice: FakeSmsVoice) -> None:
    transport = SmsVoiceTransport(fake_sms_voice.region,
                                  endpoint_url=f"http://{LOOPBACK}:{closed_port}")
    try:
        with pytest.raises(RetryableDeliveryError, match="EndpointConnectionError"):
            transport.send(message())
    finally:
        transport.close()


def test_the_fake_refuses_a_wrong_signature(monkeypatch: pytest.MonkeyPatch,
                                            fake_sms_voice: FakeSmsVoice) -> None:
    """The fake recomputes the signature: a wrong secret, or another region's scope, is
    refused (and a 403 that is not about time is permanent)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", fake_sms_voice.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(PermanentDeliveryError, match="InvalidSignatureException"):
        send(fake_sms_voice, message())
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", fake_sms_voice.secret_key)
    transport = SmsVoiceTransport("us-west-2", endpoint_url=fake_sms_voice.url)
    try:
        with pytest.raises(PermanentDeliveryError, match="InvalidSignatureException"):
            transport.send(message())
    finally:
        transport.close()
    assert [r["accepted"] for r in fake_sms_voice.requests] == [False, False]


@pytest.mark.usefixtures("aws_credentials")
@pytest.mark.parametrize(("operation", "params", "problem"), [
    ("send_text_message", {"MessageBody": "x" * 1601}, "MessageBody: 1601 is out of 1..1600"),
    ("send_text_message", {"MessageBody": "hi", "MessageType": "URGENT"},
     "MessageType: not one of the enum"),
    ("send_voice_message", {"MessageBody": "<speak>open", "MessageBodyTextType": "SSML",
                            "OriginationIdentity": ORIGIN}, "MessageBody: not well-formed SSML"),
    ("send_voice_message", {"MessageBody": "hi"}, "OriginationIdentity: required"),
    ("send_text_message", {"MessageBody": "hi", "TimeToLive": 4},
     "TimeToLive: 4 is out of 5..259200"),
    ("send_voice_message", {"MessageBody": "hi", "OriginationIdentity": ORIGIN,
                            "TimeToLive": 259201}, "TimeToLive: 259201 is out of 5..259200"),
    ("send_voice_message", {"MessageBody": "a" * 3001, "OriginationIdentity": ORIGIN},
     "MessageBody: longer than 3000 for TEXT"),
])
def test_the_fake_holds_requests_to_the_model(fake_sms_voice: FakeSmsVoice, operation: str,
                                              params: dict[str, str], problem: str) -> None:
    """The fake checks requests against the model on its own (botocore's own checks are off
    here; it never checks maximum lengths, enums or SSML)."""
    client = botocore.session.get_session().create_client(
        "pinpoint-sms-voice-v2", region_name=fake_sms_voice.region,
        endpoint_url=fake_sms_voice.url,
        config=Config(retries={"total_max_attempts": 1}, parameter_validation=False))
    try:
        with pytest.raises(ClientError) as info:
            getattr(client, operation)(DestinationPhoneNumber=PHONE, **params)
    finally:
        client.close()
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert info.value.response["Error"]["Message"] == problem


# --- start-up ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("no_aws_credentials")
def test_no_credentials_refuses_to_start() -> None:
    with pytest.raises(ValueError, match="End User Messaging delivery needs AWS credentials"):
        SmsVoiceTransport("eu-west-1")


@pytest.mark.parametrize(("options", "said"), [
    ({"message_type": "URGENT"}, "TRANSACTIONAL, PROMOTIONAL"),
    ({"voice_id": "HAL"}, "'HAL' is not an End User Messaging voice"),
])
def test_unknown_values_are_refused(options: dict[str, str], said: str) -> None:
    with pytest.raises(ValueError, match=said):
        SmsVoiceTransport("eu-west-1", client=object(), **options)


def test_the_voices_come_from_the_model() -> None:
    assert {"MATTHEW", "JOANNA", "AMY"} <= voice_ids()
    assert "URGENT" not in voice_ids()


# --- a server ------------------------------------------------------------------------------------


def test_codes_reach_end_user_messaging(tmp_path: Path, fake_sms_voice: FakeSmsVoice) -> None:
    """A server sending SMS and calls through End User Messaging (credentials from the
    environment, as botocore reads them): the code is texted and spoken, a throttled send is
    retried, and email stays with the development outbox."""
    fake_sms_voice.refuse_next(400, "ThrottlingException")
    server = start_server(tmp_path, env={
        "INCIDENT_CONTACTS_SMS_VOICE_REGION": fake_sms_voice.region,
        "INCIDENT_CONTACTS_SMS_VOICE_ENDPOINT_URL": fake_sms_voice.url,
        "INCIDENT_CONTACTS_SMS_VOICE_ORIGINATION_IDENTITY": ORIGIN,
        "INCIDENT_CONTACTS_SMS_VOICE_VOICE_ID": "Amy",
        "AWS_ACCESS_KEY_ID": fake_sms_voice.access_key,
        "AWS_SECRET_ACCESS_KEY": fake_sms_voice.secret_key,
    })
    backend = Backend("server-sqlite", server=server)
    try:
        client = backend.client()
        sms = new_channel(client, type="SMS", address=PHONE)
        # The refusal is the SMS's: the call is made once that has been throttled.
        wait_until(lambda: len(fake_sms_voice.requests) == 1, message="the throttled SMS")
        voice = new_channel(client, type="VOICE", address="+15005550142")
        email = new_channel(client, type="EMAIL", address="akua@example.com")
        backend.advance(60)      # past the first retry's backoff
        [texted] = wait_delivered(backend, sms, count=1)
        [called] = wait_delivered(backend, voice, count=1)
        wait_delivered(backend, email, count=1)
    finally:
        server.stop()
    throttled = fake_sms_voice.requests[0]
    [text] = fake_sms_voice.sent("SendTextMessage")
    [call] = fake_sms_voice.sent("SendVoiceMessage")
    assert len(fake_sms_voice.requests) == 3            # the email did not go to AWS
    # The same message, sent again: with the code's life as it is at each attempt.
    assert {**throttled["body"], "TimeToLive": 0} == {**text, "TimeToLive": 0}
    assert 890 <= throttled["body"]["TimeToLive"] <= 900     # 15 minutes, less the send
    assert 830 <= text["TimeToLive"] <= 840            # sent again 60 s on
    assert 890 <= call["TimeToLive"] <= 900            # sent at once
    assert text["DestinationPhoneNumber"] == PHONE and text["OriginationIdentity"] == ORIGIN
    assert text["MessageBody"] == texted["Body"] and texted["ActivationCode"] in text["MessageBody"]
    assert text["Context"] == {"incident-contacts-message-id": texted["MessageId"]}
    assert (call["DestinationPhoneNumber"], call["VoiceId"]) == ("+15005550142", "AMY")
    digits = ", ".join(called["ActivationCode"])
    texts, _ = spoken(call["MessageBody"])
    assert len(texts) == 2 and all(f"activation code is {digits}." in said for said in texts)


def test_a_server_refuses_two_providers_for_one_type(tmp_path: Path) -> None:
    """SNS already sends SMS: End User Messaging for SMS and VOICE stops ``serve`` at once,
    with one line."""
    result = subprocess.run(
        [sys.executable, "-m", "incident_contacts", "serve", "--port", str(free_port()),
         "--database", f"sqlite:///{tmp_path / 'refused.db'}"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={**{name: value for name, value in os.environ.items()
                if not name.startswith(("AWS_", "INCIDENT_CONTACTS_"))},
             "AWS_ACCESS_KEY_ID": "AKIDREFUSED", "AWS_SECRET_ACCESS_KEY": "secret",
             "INCIDENT_CONTACTS_SNS_REGION": "eu-west-1",
             "INCIDENT_CONTACTS_SMS_VOICE_REGION": "eu-west-1",
             "INCIDENT_CONTACTS_SMS_VOICE_ORIGINATION_IDENTITY": ORIGIN},
    )
    assert result.returncode == 2
    # The last line (botocore may log where it found credentials before it).
    assert result.stderr.endswith("\n") and result.stderr.splitlines()[-1] == (
        "incident-contacts: SMS is sent by SNS; unset INCIDENT_CONTACTS_SMS_VOICE_REGION or "
        "name the types End User Messaging sends in INCIDENT_CONTACTS_SMS_VOICE_TYPES")
