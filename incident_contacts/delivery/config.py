"""Build the transport for each channel type from the delivery settings (decisions §4).

Nothing here reads the environment on import; :meth:`DeliverySettings.from_environ` reads the
mapping it is given, when it is called.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from .base import CHANNEL_TYPES, EMAIL, SMS, VOICE, Transport
from .recording import RecordingTransport
from .smtp import SmtpTransport
from .twilio import DEFAULT_TWILIO_BASE_URL, TwilioTransport
from .webhook import WebhookTransport

__all__ = ["DeliverySettings", "build_transports"]

_ENV = {
    "smtp_url": "INCIDENT_CONTACTS_SMTP_URL",
    "email_from": "INCIDENT_CONTACTS_EMAIL_FROM",
    "twilio_account_sid": "INCIDENT_CONTACTS_TWILIO_ACCOUNT_SID",
    "twilio_auth_token": "INCIDENT_CONTACTS_TWILIO_AUTH_TOKEN",
    "twilio_from": "INCIDENT_CONTACTS_TWILIO_FROM",
    "twilio_base_url": "INCIDENT_CONTACTS_TWILIO_BASE_URL",
    "public_url": "INCIDENT_CONTACTS_PUBLIC_URL",
    "webhook_url": "INCIDENT_CONTACTS_WEBHOOK_URL",
    "webhook_secret": "INCIDENT_CONTACTS_WEBHOOK_SECRET",
    "webhook_types": "INCIDENT_CONTACTS_WEBHOOK_TYPES",
}

# Where Twilio posts the key a callee presses (served by ``api.webhooks``).
VOICE_WEBHOOK_PATH = "/_aws/ssm-contacts/webhooks/twilio/voice"


@dataclass(frozen=True)
class DeliverySettings:
    """Where email, SMS and voice go; every field unset means the development outbox only."""

    smtp_url: str | None = field(default=None, repr=False)  # may hold a password
    email_from: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = field(default=None, repr=False)
    twilio_from: str | None = None
    twilio_base_url: str | None = None
    # How providers reach this server; with it, calls offer "press 1" to acknowledge.
    public_url: str | None = None
    webhook_url: str | None = field(default=None, repr=False)     # may hold a token
    webhook_secret: str | None = field(default=None, repr=False)
    # The channel types the webhook takes, comma-separated; none: every type without SMTP or
    # Twilio.
    webhook_types: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> DeliverySettings:
        """Read the ``INCIDENT_CONTACTS_*`` variables from ``environ``; empty counts as unset."""
        values = {name: environ.get(variable) or None for name, variable in _ENV.items()}
        return cls(**values)


def build_transports(
    settings: DeliverySettings,
    *,
    http_client: httpx.Client | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> dict[str, Transport]:
    """One transport per channel type: SMTP for EMAIL and Twilio for SMS and VOICE where
    configured, the webhook for the types it is given (by default every type left), and
    :class:`RecordingTransport` for the rest.

    Raises ``ValueError`` for a half-done configuration (an SMTP URL without a sender, or some
    of the Twilio values without the others), so a server fails at start, not at first send.
    """
    transports: dict[str, Transport] = {}
    if settings.smtp_url:
        if not settings.email_from:
            raise ValueError(f"{_ENV['smtp_url']} is set but {_ENV['email_from']} is not")
        transports[EMAIL] = SmtpTransport(
            settings.smtp_url, settings.email_from, ssl_context=ssl_context
        )
    sid, token, sender = (
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        settings.twilio_from,
    )
    if sid and token and sender:
        twilio = TwilioTransport(
            sid,
            token,
            sender,
            base_url=settings.twilio_base_url or DEFAULT_TWILIO_BASE_URL,
            client=http_client,
            voice_action_url=(settings.public_url.rstrip("/") + VOICE_WEBHOOK_PATH
                              if settings.public_url else None),
        )
        transports[SMS] = twilio
        transports[VOICE] = twilio
    elif sid or token or sender:
        given = {"twilio_account_sid": sid, "twilio_auth_token": token, "twilio_from": sender}
        missing = ", ".join(_ENV[name] for name, value in given.items() if not value)
        raise ValueError(f"Twilio delivery is partly configured; missing {missing}")
    if settings.webhook_url:
        webhook = WebhookTransport(settings.webhook_url, settings.webhook_secret,
                                   client=http_client)
        for channel_type in _webhook_types(settings, taken=set(transports)):
            transports[channel_type] = webhook
    elif settings.webhook_secret or settings.webhook_types:
        raise ValueError(f"{_ENV['webhook_secret']} or {_ENV['webhook_types']} is set but "
                         f"{_ENV['webhook_url']} is not")
    recording = RecordingTransport()
    for channel_type in CHANNEL_TYPES:
        transports.setdefault(channel_type, recording)
    return transports


def _webhook_types(settings: DeliverySettings, taken: set[str]) -> list[str]:
    if not settings.webhook_types:
        return [t for t in CHANNEL_TYPES if t not in taken]
    named = [part.strip().upper() for part in settings.webhook_types.split(",") if part.strip()]
    for channel_type in named:
        if channel_type not in CHANNEL_TYPES:
            raise ValueError(f"{_ENV['webhook_types']}: {channel_type!r} is not one of "
                             f"{', '.join(CHANNEL_TYPES)}")
        if channel_type in taken:
            raise ValueError(f"{_ENV['webhook_types']} names {channel_type}, which "
                             f"{'SMTP' if channel_type == EMAIL else 'Twilio'} already sends")
    return named
