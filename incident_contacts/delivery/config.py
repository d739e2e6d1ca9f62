"""Build the transport for each channel type from the delivery settings (decisions §4).

Nothing here reads the environment on import; :meth:`DeliverySettings.from_environ` reads the
mapping it is given, when it is called.
"""

from __future__ import annotations

import ssl
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import httpx

from .base import CHANNEL_TYPES, EMAIL, SMS, VOICE, Transport
from .recording import RecordingTransport
from .smsvoice import DEFAULT_VOICE_ID, MESSAGE_TYPES, SmsVoiceTransport, voice_ids
from .smtp import SmtpTransport
from .sns import SMS_TYPES as SNS_SMS_TYPES
from .sns import SnsTransport
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
    "sns_region": "INCIDENT_CONTACTS_SNS_REGION",
    "sns_endpoint_url": "INCIDENT_CONTACTS_SNS_ENDPOINT_URL",
    "sns_sender_id": "INCIDENT_CONTACTS_SNS_SENDER_ID",
    "sns_origination_number": "INCIDENT_CONTACTS_SNS_ORIGINATION_NUMBER",
    "sns_sms_type": "INCIDENT_CONTACTS_SNS_SMS_TYPE",
    "sms_voice_region": "INCIDENT_CONTACTS_SMS_VOICE_REGION",
    "sms_voice_endpoint_url": "INCIDENT_CONTACTS_SMS_VOICE_ENDPOINT_URL",
    "sms_voice_origination_identity": "INCIDENT_CONTACTS_SMS_VOICE_ORIGINATION_IDENTITY",
    "sms_voice_configuration_set": "INCIDENT_CONTACTS_SMS_VOICE_CONFIGURATION_SET",
    "sms_voice_message_type": "INCIDENT_CONTACTS_SMS_VOICE_MESSAGE_TYPE",
    "sms_voice_voice_id": "INCIDENT_CONTACTS_SMS_VOICE_VOICE_ID",
    "sms_voice_types": "INCIDENT_CONTACTS_SMS_VOICE_TYPES",
}
# The End User Messaging settings that mean nothing without its region.
_SMS_VOICE_OPTIONS = tuple(name for name in _ENV
                           if name.startswith("sms_voice_") and name != "sms_voice_region")

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
    # The channel types the webhook takes, comma-separated; none: every type without another
    # provider.
    webhook_types: str | None = None
    # SMS through Amazon SNS in this region (credentials from the usual AWS chain).
    sns_region: str | None = None
    sns_endpoint_url: str | None = None
    sns_sender_id: str | None = None
    sns_origination_number: str | None = None
    sns_sms_type: str | None = None      # Transactional (when unset) or Promotional
    # SMS and calls through AWS End User Messaging SMS and voice in this region.
    sms_voice_region: str | None = None
    sms_voice_endpoint_url: str | None = None
    sms_voice_origination_identity: str | None = None  # phone number, pool or sender id
    sms_voice_configuration_set: str | None = None
    sms_voice_message_type: str | None = None   # TRANSACTIONAL (when unset) or PROMOTIONAL
    sms_voice_voice_id: str | None = None       # an Amazon Polly voice; MATTHEW when unset
    sms_voice_types: str | None = None          # the channel types it sends; SMS,VOICE when unset

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
    """One transport per channel type: SMTP for EMAIL, Twilio for SMS and VOICE, Amazon SNS
    for SMS, AWS End User Messaging for SMS and VOICE (or the types it is given), where
    configured; the webhook for the types it is given (by default every type left), and
    :class:`RecordingTransport` for the rest.

    Raises ``ValueError`` for a half-done or contradictory configuration (an SMTP URL without
    a sender, some of the Twilio values without the others, a channel type given to two
    providers, SNS or End User Messaging without AWS credentials), so a server fails at start,
    not at first send.
    """
    transports: dict[str, Transport] = {}
    providers: dict[str, str] = {}      # channel type -> who sends it, for the messages below
    if settings.smtp_url:
        if not settings.email_from:
            raise ValueError(f"{_ENV['smtp_url']} is set but {_ENV['email_from']} is not")
        transports[EMAIL] = SmtpTransport(
            settings.smtp_url, settings.email_from, ssl_context=ssl_context
        )
        providers[EMAIL] = "SMTP"
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
        providers[SMS] = providers[VOICE] = "Twilio"
    elif sid or token or sender:
        given = {"twilio_account_sid": sid, "twilio_auth_token": token, "twilio_from": sender}
        missing = ", ".join(_ENV[name] for name, value in given.items() if not value)
        raise ValueError(f"Twilio delivery is partly configured; missing {missing}")
    if settings.sns_region:
        if SMS in providers:
            raise ValueError(f"SMS is sent by {providers[SMS]}; unset {_ENV['sns_region']} or "
                             "the Twilio settings")
        _one_of(_ENV["sns_sms_type"], settings.sns_sms_type, SNS_SMS_TYPES)
        transports[SMS] = SnsTransport(
            settings.sns_region, endpoint_url=settings.sns_endpoint_url,
            sender_id=settings.sns_sender_id,
            origination_number=settings.sns_origination_number,
            sms_type=settings.sns_sms_type or "Transactional",
        )
        providers[SMS] = "SNS"
    elif (settings.sns_endpoint_url or settings.sns_sender_id
          or settings.sns_origination_number or settings.sns_sms_type):
        raise ValueError(f"SNS delivery is partly configured; missing {_ENV['sns_region']}")
    if settings.sms_voice_region:
        transports.update(_sms_voice(settings, settings.sms_voice_region, providers))
    elif any(getattr(settings, name) for name in _SMS_VOICE_OPTIONS):
        raise ValueError("End User Messaging delivery is partly configured; missing "
                         f"{_ENV['sms_voice_region']}")
    if settings.webhook_url:
        webhook = WebhookTransport(settings.webhook_url, settings.webhook_secret,
                                   client=http_client)
        for channel_type in _webhook_types(settings, providers):
            transports[channel_type] = webhook
    elif settings.webhook_secret or settings.webhook_types:
        raise ValueError(f"{_ENV['webhook_secret']} or {_ENV['webhook_types']} is set but "
                         f"{_ENV['webhook_url']} is not")
    recording = RecordingTransport()
    for channel_type in CHANNEL_TYPES:
        transports.setdefault(channel_type, recording)
    return transports


def _one_of(variable: str, value: str | None, allowed: Collection[str], *,
            named: str | None = None) -> None:
    """Refuse ``value`` (when set) unless it is one of ``allowed``, in any case, naming the
    variable that gave it (and ``named``, or else every allowed value)."""
    if value and value.upper() not in {a.upper() for a in allowed}:
        raise ValueError(f"{variable} must be {named or 'one of ' + ', '.join(allowed)}, "
                         f"not {value!r}")


def _sms_voice(settings: DeliverySettings, region: str,
               taken: dict[str, str]) -> dict[str, Transport]:
    """End User Messaging's transport for the types it sends, claimed in ``taken``."""
    variable = _ENV["sms_voice_types"]
    if settings.sms_voice_types:
        types = _named_types(variable, settings.sms_voice_types, (SMS, VOICE), taken)
        if not types:
            raise ValueError(f"{variable} names no channel type")
    else:
        types = [SMS, VOICE]
        clash = next((t for t in types if t in taken), None)
        if clash is not None:
            raise ValueError(f"{clash} is sent by {taken[clash]}; unset "
                             f"{_ENV['sms_voice_region']} or name the types End User Messaging "
                             f"sends in {variable}")
    if VOICE in types and not settings.sms_voice_origination_identity:
        raise ValueError(f"End User Messaging calls need "
                         f"{_ENV['sms_voice_origination_identity']} (a phone number or pool)")
    _one_of(_ENV["sms_voice_message_type"], settings.sms_voice_message_type, MESSAGE_TYPES)
    _one_of(_ENV["sms_voice_voice_id"], settings.sms_voice_voice_id, voice_ids(),
            named=f"an Amazon Polly voice's name, such as {DEFAULT_VOICE_ID} or JOANNA")
    transport = SmsVoiceTransport(
        region, endpoint_url=settings.sms_voice_endpoint_url,
        origination_identity=settings.sms_voice_origination_identity,
        configuration_set=settings.sms_voice_configuration_set,
        message_type=settings.sms_voice_message_type or "TRANSACTIONAL",
        voice_id=settings.sms_voice_voice_id or DEFAULT_VOICE_ID,
    )
    taken.update(dict.fromkeys(types, "End User Messaging"))
    return dict.fromkeys(types, transport)


def _webhook_types(settings: DeliverySettings, taken: dict[str, str]) -> list[str]:
    if not settings.webhook_types:
        return [t for t in CHANNEL_TYPES if t not in taken]
    return _named_types(_ENV["webhook_types"], settings.webhook_types, CHANNEL_TYPES, taken)


def _named_types(variable: str, text: str, allowed: tuple[str, ...],
                 taken: dict[str, str]) -> list[str]:
    """The channel types of a comma-separated ``variable``, each allowed and not yet taken."""
    named = [part.strip().upper() for part in text.split(",") if part.strip()]
    for channel_type in named:
        if channel_type not in allowed:
            raise ValueError(f"{variable}: {channel_type!r} is not one of {', '.join(allowed)}")
        if channel_type in taken:
            raise ValueError(f"{variable} names {channel_type}, which "
                             f"{taken[channel_type]} already sends")
    return list(dict.fromkeys(named))
