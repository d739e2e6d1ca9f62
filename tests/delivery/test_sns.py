"""The SNS transport against a local fake of SNS's Query API: what it publishes, how each
refusal is classified, and what it refuses to start without."""

from __future__ import annotations

import pytest

from incident_contacts.delivery import (
    OutgoingMessage,
    PermanentDeliveryError,
    RetryableDeliveryError,
    SnsTransport,
)
from tests.delivery.conftest import LOOPBACK, FakeSns

PHONE = "+15005550100"


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch, fake_sns: FakeSns) -> None:
    """Credentials for botocore's chain from the environment only (no file, no instance
    metadata), with the fake's access key."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", fake_sns.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def sms(body: str = "Your code is 123456.") -> OutgoingMessage:
    return OutgoingMessage(message_id="m-1", channel_type="SMS", address=PHONE, subject=None,
                           body=body)


def transport_for(fake: FakeSns, **options: str) -> SnsTransport:
    return SnsTransport(fake.region, endpoint_url=fake.url, **options)


def attributes(form: dict[str, str]) -> dict[str, tuple[str, str]]:
    """``MessageAttributes.entry.N.*`` of a Query request, by name: (DataType, StringValue)."""
    found = {}
    n = 1
    while (name := form.get(f"MessageAttributes.entry.{n}.Name")) is not None:
        found[name] = (form[f"MessageAttributes.entry.{n}.Value.DataType"],
                       form[f"MessageAttributes.entry.{n}.Value.StringValue"])
        n += 1
    return found


@pytest.mark.usefixtures("aws_credentials")
def test_an_sms_is_published_to_the_number(fake_sns: FakeSns) -> None:
    transport = transport_for(fake_sns)
    try:
        result = transport.send(sms())
    finally:
        transport.close()
    [request] = fake_sns.requests
    assert request["signed"]                    # SigV4 for sns in the configured region
    form = request["form"]
    assert form["Action"] == "Publish" and form["PhoneNumber"] == PHONE
    assert form["Message"] == "Your code is 123456."
    assert attributes(form) == {"AWS.SNS.SMS.SMSType": ("String", "Transactional")}
    assert len(result.provider_message_id) == 36        # SNS's MessageId


@pytest.mark.usefixtures("aws_credentials")
def test_sender_id_origination_number_and_type_are_sent(fake_sns: FakeSns) -> None:
    transport = transport_for(fake_sns, sender_id="OnCall", origination_number="+15005550006",
                              sms_type="Promotional")
    try:
        transport.send(sms())
    finally:
        transport.close()
    assert attributes(fake_sns.requests[0]["form"]) == {
        "AWS.SNS.SMS.SMSType": ("String", "Promotional"),
        "AWS.SNS.SMS.SenderID": ("String", "OnCall"),
        "AWS.MM.SMS.OriginationNumber": ("String", "+15005550006"),
    }


@pytest.mark.usefixtures("aws_credentials")
@pytest.mark.parametrize(("status", "code", "retryable"), [
    (400, "Throttling", True),
    (429, "Throttled", True),
    (500, "InternalError", True),
    (503, "ServiceUnavailable", True),
    (400, "KMSThrottling", True),
    (403, "ExpiredToken", True),
    (400, "RequestExpired", True),
    (400, "InvalidParameter", False),
    (403, "AuthorizationError", False),
    (400, "ParameterValueInvalid", False),
])
def test_refusals_are_classified_without_quoting_sns(fake_sns: FakeSns, status: int, code: str,
                                                     retryable: bool) -> None:
    fake_sns.refuse_next(status, code)
    transport = transport_for(fake_sns)
    try:
        with pytest.raises(RetryableDeliveryError if retryable else PermanentDeliveryError) \
                as info:
            transport.send(sms())
    finally:
        transport.close()
    assert len(fake_sns.requests) == 1          # one attempt: the outbox owns the retries
    assert info.value.reason == f"SNS refused the message: {code} (HTTP {status})"
    assert PHONE[1:] not in info.value.reason   # SNS's text quoted the number; we do not


@pytest.mark.usefixtures("aws_credentials")
def test_an_unreachable_endpoint_is_retryable(closed_port: int, fake_sns: FakeSns) -> None:
    transport = SnsTransport(fake_sns.region, endpoint_url=f"http://{LOOPBACK}:{closed_port}")
    try:
        with pytest.raises(RetryableDeliveryError, match="EndpointConnectionError"):
            transport.send(sms())
    finally:
        transport.close()


@pytest.mark.usefixtures("aws_credentials")
def test_other_channel_types_are_refused(fake_sns: FakeSns) -> None:
    transport = transport_for(fake_sns)
    try:
        for channel_type in ("VOICE", "EMAIL"):
            with pytest.raises(PermanentDeliveryError, match="SMS only"):
                transport.send(OutgoingMessage("m-2", channel_type, "x", None, "text"))
    finally:
        transport.close()
    assert fake_sns.requests == []


def test_no_credentials_refuses_to_start(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(ValueError, match="SNS delivery needs AWS credentials"):
        SnsTransport("eu-west-1")


def test_an_unknown_sms_type_is_refused() -> None:
    with pytest.raises(ValueError, match="Transactional, Promotional"):
        SnsTransport("eu-west-1", sms_type="Urgent", client=object())


@pytest.mark.usefixtures("aws_credentials")
def test_a_message_botocore_refuses_to_send_is_permanent(fake_sns: FakeSns) -> None:
    """An SMS sender id SNS's model does not allow (not a string) never goes out: failed at
    once, not retried."""
    transport = transport_for(fake_sns)
    transport._attributes["AWS.SNS.SMS.SenderID"] = {"DataType": "String", "StringValue": 7}
    try:
        with pytest.raises(PermanentDeliveryError, match="ParamValidationError"):
            transport.send(sms())
    finally:
        transport.close()
    assert fake_sns.requests == []
