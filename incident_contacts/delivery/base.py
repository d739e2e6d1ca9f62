"""The transport interface: one outgoing message in, a provider id out, or a DeliveryError.

Transports are small synchronous classes in the manner of httpx's ``BaseTransport``; the outbox
worker owns retries and bookkeeping, a transport only says whether a failure is worth retrying.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

__all__ = [
    "CHANNEL_TYPES",
    "EMAIL",
    "SMS",
    "VOICE",
    "DeliveryError",
    "DeliveryResult",
    "OutgoingMessage",
    "PermanentDeliveryError",
    "RetryableDeliveryError",
    "Transport",
    "retry_after_seconds",
]

SMS: Final = "SMS"
VOICE: Final = "VOICE"
EMAIL: Final = "EMAIL"
CHANNEL_TYPES: Final = (SMS, VOICE, EMAIL)


@dataclass(frozen=True)
class OutgoingMessage:
    """One message to one address, as the outbox hands it to a transport."""

    message_id: str
    """Our id, stable across retries of the same message."""
    channel_type: str
    """``"SMS"``, ``"VOICE"`` or ``"EMAIL"``."""
    address: str
    """``"+15005550199"`` or ``"akua@example.com"``."""
    subject: str | None
    body: str
    """Plain text: the SMS text, the email body, or the words a call speaks."""
    speech: str | None = None
    """For VOICE, the text to speak (digits spaced out); ``body`` when not given."""
    purpose: str | None = None
    """``"ACTIVATION"`` or ``"PAGE"``: a call that can take a key press offers one on a page."""
    expires_in: float | None = None
    """Seconds, from when the message is handed over, that it is still worth delivering (an
    activation message: until its code expires, from the expiry its outbox row carries); None
    when nothing says. The worker does not hand over a message whose row says its code has
    expired. A transport whose provider takes a time to live passes it on (End User
    Messaging's ``TimeToLive``, Twilio's ``ValidityPeriod`` for an SMS)."""


@dataclass(frozen=True)
class DeliveryResult:
    """What the provider accepted the message as."""

    provider_message_id: str
    """Twilio's ``SM...``/``CA...`` sid, the SMTP ``Message-ID``, or a generated id."""


class DeliveryError(Exception):
    """A send that did not reach the provider, or that the provider refused.

    ``retryable`` says whether sending the same message again later may succeed;
    ``retry_after`` is the provider's hint in seconds, when it gave one.
    """

    retryable: bool = False

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """Sending the same message again will fail the same way (bad address, bad credentials)."""

    retryable = False


class RetryableDeliveryError(DeliveryError):
    """A temporary failure: connection trouble, throttling, a 4xx SMTP reply or a 5xx HTTP one."""

    retryable = True


class Transport(Protocol):
    """Sends one message synchronously; raises :class:`DeliveryError` when it was not accepted."""

    def send(self, message: OutgoingMessage) -> DeliveryResult: ...


def retry_after_seconds(value: str | None) -> float | None:
    """An HTTP ``Retry-After`` header in seconds; None when absent, negative or a date (the
    worker's own backoff then applies)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
