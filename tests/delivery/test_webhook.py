"""The webhook transport against a local receiver: the JSON it posts, its signature, and how
each answer is classified."""

from __future__ import annotations

import json

import httpx
import pytest

from incident_contacts.delivery import (
    OutgoingMessage,
    PermanentDeliveryError,
    RetryableDeliveryError,
    WebhookTransport,
    verify_webhook_signature,
    webhook_signature,
)
from tests.delivery.conftest import FakeWebhook

SECRET = "whsec-test"
NOW = 1_800_000_000.0


def sms(message_id: str = "m-1") -> OutgoingMessage:
    return OutgoingMessage(message_id=message_id, channel_type="SMS", address="+15005550100",
                           subject=None, body="Your code is 123456.")


def test_a_message_is_posted_signed(fake_webhook: FakeWebhook) -> None:
    transport = WebhookTransport(fake_webhook.url, SECRET, clock=lambda: NOW)
    try:
        result = transport.send(sms())
    finally:
        transport.close()
    (request,) = fake_webhook.requests
    assert result.provider_message_id.startswith("relay-")
    assert json.loads(request["body"]) == {
        "MessageId": "m-1", "ChannelType": "SMS", "Address": "+15005550100",
        "Subject": None, "Body": "Your code is 123456.", "Speech": None}
    headers = request["headers"]
    assert headers["content-type"] == "application/json"
    assert headers["x-incident-contacts-message-id"] == "m-1"
    signature = headers["x-incident-contacts-signature"]
    assert signature == webhook_signature(SECRET, int(NOW), request["body"])
    assert verify_webhook_signature(SECRET, signature, request["body"], now=NOW + 10)
    # What a receiver refuses: another secret, a changed body, an old signature, nonsense.
    assert not verify_webhook_signature("other", signature, request["body"], now=NOW)
    assert not verify_webhook_signature(SECRET, signature, request["body"] + b" ", now=NOW)
    assert not verify_webhook_signature(SECRET, signature, request["body"], now=NOW + 301)
    assert not verify_webhook_signature(SECRET, "v1=abc", request["body"], now=NOW)


def test_without_a_secret_nothing_is_signed(fake_webhook: FakeWebhook) -> None:
    transport = WebhookTransport(fake_webhook.url)
    try:
        assert transport.send(sms()).provider_message_id
    finally:
        transport.close()
    assert "x-incident-contacts-signature" not in fake_webhook.requests[0]["headers"]


def test_failures_are_classified(fake_webhook: FakeWebhook) -> None:
    transport = WebhookTransport(fake_webhook.url, SECRET)
    try:
        fake_webhook.respond_next(503, {"Retry-After": "7"})
        with pytest.raises(RetryableDeliveryError) as retry:
            transport.send(sms())
        assert retry.value.retry_after == 7.0 and "503" in retry.value.reason
        fake_webhook.respond_next(429)
        with pytest.raises(RetryableDeliveryError):
            transport.send(sms())
        fake_webhook.respond_next(400)
        with pytest.raises(PermanentDeliveryError, match="webhook answered 400"):
            transport.send(sms())
    finally:
        transport.close()


def test_an_unreachable_webhook_is_retried_without_naming_its_url(closed_port: int) -> None:
    transport = WebhookTransport(f"http://127.0.0.1:{closed_port}/hook?token=s3cret")
    try:
        with pytest.raises(RetryableDeliveryError) as failed:
            transport.send(sms())
    finally:
        transport.close()
    assert "s3cret" not in failed.value.reason and "ConnectError" in failed.value.reason


def test_an_answer_without_an_id_records_the_message_id() -> None:
    client = httpx.Client(transport=httpx.MockTransport(lambda _r: httpx.Response(204)))
    assert WebhookTransport("https://relay.example/hook", client=client).send(
        sms("m-9")).provider_message_id == "m-9"


def test_a_failure_never_records_what_the_receiver_echoed() -> None:
    """The error is stored, logged and shown on the console: a receiver's answer that repeats
    the message (and its code) stays out of it."""
    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, content=request.content)

    client = httpx.Client(transport=httpx.MockTransport(echo))
    with pytest.raises(PermanentDeliveryError) as failed:
        WebhookTransport("https://relay.example/hook", client=client).send(sms())
    assert failed.value.reason == "webhook answered 400 Bad Request"
    assert "123456" not in str(failed.value)
