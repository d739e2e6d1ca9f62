from __future__ import annotations

import pytest

from incident_contacts.delivery import (
    MemoryTransport,
    OutgoingMessage,
    PermanentDeliveryError,
    RecordingTransport,
    RetryableDeliveryError,
    Transport,
)

MESSAGE = OutgoingMessage("msg-1", "SMS", "+15005550199", None, "hello")


def test_recording_transport_accepts_and_names_each_message() -> None:
    transport: Transport = RecordingTransport()
    first = transport.send(MESSAGE)
    second = transport.send(MESSAGE)
    assert first.provider_message_id.startswith("dev-")
    assert len(first.provider_message_id) == len("dev-") + 32
    assert first != second


def test_memory_transport_keeps_what_it_sent() -> None:
    transport = MemoryTransport()
    result = transport.send(MESSAGE)
    assert transport.sent == [MESSAGE]
    assert result.provider_message_id == "mem-1"


def test_memory_transport_fails_the_next_sends() -> None:
    transport = MemoryTransport()
    transport.fail_next(2)
    for _ in range(2):
        with pytest.raises(RetryableDeliveryError):
            transport.send(MESSAGE)
    assert transport.sent == []
    transport.send(MESSAGE)
    assert transport.sent == [MESSAGE]
    assert transport.attempts == 3


def test_memory_transport_permanent_and_custom_failures() -> None:
    transport = MemoryTransport()
    transport.fail_next(retryable=False, reason="bad number")
    transport.fail_next_with(RetryableDeliveryError("busy", retry_after=3))
    with pytest.raises(PermanentDeliveryError, match="bad number"):
        transport.send(MESSAGE)
    with pytest.raises(RetryableDeliveryError) as caught:
        transport.send(MESSAGE)
    assert caught.value.retry_after == 3
    transport.clear()
    assert (transport.sent, transport.attempts) == ([], 0)


def test_errors_say_whether_to_retry() -> None:
    assert RetryableDeliveryError("x").retryable is True
    assert PermanentDeliveryError("x").retryable is False
    assert PermanentDeliveryError("why").reason == "why"
