"""Delivery to a webhook: each message is POSTed as JSON to a URL of the operator's choosing (an
SMS gateway of their own, a chat bridge, a paging relay).

The request::

    POST <url>
    Content-Type: application/json
    X-Incident-Contacts-Message-Id: <message id, the same on every retry>
    X-Incident-Contacts-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>

    {"MessageId": "...", "ChannelType": "SMS", "Address": "+15555550100",
     "Subject": null, "Body": "...", "Speech": null}

The signature is sent when a secret is configured; a receiver recomputes it over the raw body
with the same secret, compares in constant time, and refuses an old timestamp
(:func:`verify_webhook_signature` does all three). Delivery is at-least-once, so a receiver
that must not act twice keys on the message id.

A 2xx answer is a delivery; its JSON ``id``, when it has one, is recorded as the provider's id.
429, 5xx and connection failures are retried (``Retry-After`` honoured); any other answer is a
permanent failure. A failure is recorded by its status alone, never the answer's text, which
might echo the message and its code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from incident_contacts import __version__

from .base import (
    DeliveryError,
    DeliveryResult,
    OutgoingMessage,
    PermanentDeliveryError,
    RetryableDeliveryError,
    retry_after_seconds,
)

__all__ = ["SIGNATURE_HEADER", "WebhookTransport", "verify_webhook_signature",
           "webhook_signature"]

SIGNATURE_HEADER = "X-Incident-Contacts-Signature"
MESSAGE_ID_HEADER = "X-Incident-Contacts-Message-Id"
TOLERANCE = 300.0
"""Seconds a receiver accepts a signature's timestamp off its own clock."""


def webhook_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body,
                      hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_webhook_signature(secret: str, header: str, body: bytes, *, now: float | None = None,
                             tolerance: float = TOLERANCE) -> bool:
    """For receivers: whether ``header`` signs ``body`` under ``secret``, recently."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = webhook_signature(secret, timestamp, body)
    return hmac.compare_digest(expected.encode(), f"t={timestamp},v1={fields.get('v1', '')}"
                               .encode())


class WebhookTransport:
    """POSTs each message to ``url`` (see the module's docstring). A client passed in stays
    open; one created here is closed by :meth:`close`."""

    def __init__(self, url: str, secret: str | None = None, *,
                 client: httpx.Client | None = None, timeout: float = 10.0,
                 clock: Callable[[], float] = time.time) -> None:
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError("the webhook URL must be http:// or https://")
        self.url = url
        self._secret = secret
        self._clock = clock
        self._owns_client = client is None
        self._client = client if client is not None else httpx.Client(timeout=timeout)

    def send(self, message: OutgoingMessage) -> DeliveryResult:
        body = json.dumps({
            "MessageId": message.message_id,
            "ChannelType": message.channel_type,
            "Address": message.address,
            "Subject": message.subject,
            "Body": message.body,
            "Speech": message.speech,
        }).encode("utf-8")
        headers = {"Content-Type": "application/json",
                   "User-Agent": f"incident-contacts/{__version__}",
                   MESSAGE_ID_HEADER: message.message_id}
        if self._secret:
            headers[SIGNATURE_HEADER] = webhook_signature(self._secret, int(self._clock()), body)
        try:
            response = self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            # The exception names the URL, which may hold a token: say only what went wrong.
            raise RetryableDeliveryError(f"webhook request failed: {type(exc).__name__}") \
                from exc
        if response.is_success:
            return DeliveryResult(provider_message_id=_id(response) or message.message_id)
        raise _http_error(response)

    def close(self) -> None:
        if self._owns_client:
            self._client.close()


def _id(response: httpx.Response) -> str | None:
    try:
        data = response.json()
    except ValueError:
        return None
    found = data.get("id") if isinstance(data, dict) else None
    return found[:256] if isinstance(found, str) and found else None


def _http_error(response: httpx.Response) -> DeliveryError:
    # Only the status: a receiver's answer may echo the message, and this text is stored in
    # plain, logged and shown on the console's delivery page, which never shows codes.
    status = response.status_code
    reason = f"webhook answered {status} {response.reason_phrase}".rstrip()
    if status == 429 or status >= 500:
        return RetryableDeliveryError(
            reason, retry_after=retry_after_seconds(response.headers.get("Retry-After")))
    return PermanentDeliveryError(reason)
