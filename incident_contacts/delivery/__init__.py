"""Delivery of activation codes and pages: one small :class:`Transport` interface, with SMTP,
Twilio-compatible, Amazon SNS, AWS End User Messaging, webhook, recording and in-memory
implementations, and the text of the messages."""

from .base import (
    DeliveryError,
    DeliveryResult,
    OutgoingMessage,
    PermanentDeliveryError,
    RetryableDeliveryError,
    Transport,
)
from .config import DeliverySettings, build_transports
from .recording import MemoryTransport, RecordingTransport
from .smsvoice import SmsVoiceTransport
from .smtp import SmtpTransport
from .sns import SnsTransport
from .text import MessageText, activation_text, page_text
from .twilio import TwilioTransport, compute_twilio_signature, validate_twilio_signature
from .webhook import WebhookTransport, verify_webhook_signature, webhook_signature

__all__ = [
    "DeliveryError",
    "DeliveryResult",
    "DeliverySettings",
    "MemoryTransport",
    "MessageText",
    "OutgoingMessage",
    "PermanentDeliveryError",
    "RecordingTransport",
    "RetryableDeliveryError",
    "SmsVoiceTransport",
    "SmtpTransport",
    "SnsTransport",
    "Transport",
    "TwilioTransport",
    "WebhookTransport",
    "activation_text",
    "build_transports",
    "compute_twilio_signature",
    "page_text",
    "validate_twilio_signature",
    "verify_webhook_signature",
    "webhook_signature",
]
