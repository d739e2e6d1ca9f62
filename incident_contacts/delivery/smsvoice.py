"""SMS and voice calls through AWS End User Messaging SMS and voice (the API botocore names
``pinpoint-sms-voice-v2``): an SMS is one ``SendTextMessage``, a call one ``SendVoiceMessage``.

For teams that kept an AWS account: unlike SNS, this service also calls. Credentials come from
the usual AWS chain (``delivery.aws``); the principal needs ``sms-voice:SendTextMessage`` and
``sms-voice:SendVoiceMessage``. Each message goes out from the configured origination identity
(a phone number, pool or, for SMS, sender id, by id or ARN; a call needs a phone number or a
pool with voice capability), with the configuration set when one is given (its event
destinations then see the message, with our message id in its ``Context``).

A call reads the speech twice with a pause between, as SSML (``<speak>``/``<break>``), in the
Amazon Polly voice configured (``MATTHEW``, the service's own default, when none is): the
activation code and the accept code are already spelled out digit by digit with commas
between (``text.spell_digits``), so they are read one digit at a time, with a short pause
after each. There is no key press to acknowledge a page: End User Messaging voice messages do
not listen for keys.

Every message carries a ``TimeToLive``, after which the service stops trying to hand it to a
carrier (its default is 72 hours). An activation message lives as long as its code: the
seconds the code has left when the message goes out (``OutgoingMessage.expires_in``), so a
code never reaches a phone after it stopped working. A page lives an hour
(:data:`PAGE_TIME_TO_LIVE`): a page is about an incident happening now, and an hour is longer
than any escalation stage (at most 30 minutes) and any retry interval (at most 60 minutes)
of the contact it was sent for; a text or a call that arrives later would wake a responder
for an incident the plan has long moved past. Both are kept within the range botocore's
model gives (5 seconds to 72 hours): a message whose code has under 5 seconds left still
goes out with 5 (this transport does not decide what is sent: the delivery worker never hands
over a message whose code has expired; the service's expiry event, ``TTL_EXPIRED``, goes to
the configuration set's destinations, not here).

One attempt per send; a refusal is classified and recorded as for SNS (``delivery.aws``).
End User Messaging takes no idempotency key, so a send retried after a lost response may be
delivered twice.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import botocore.session

from .aws import aws_client, call_aws
from .base import SMS, VOICE, DeliveryResult, OutgoingMessage, PermanentDeliveryError
from .text import xml_allowed

__all__ = ["MESSAGE_TYPES", "PAGE_TIME_TO_LIVE", "SSML_MAX_LENGTH", "SmsVoiceTransport",
           "time_to_live", "time_to_live_range", "voice_ids", "voice_ssml"]

PROVIDER = "End User Messaging"
SERVICE = "pinpoint-sms-voice-v2"
MESSAGE_TYPES = ("TRANSACTIONAL", "PROMOTIONAL")
DEFAULT_VOICE_ID = "MATTHEW"
SSML_MAX_LENGTH = 6000
"""SendVoiceMessage's limit on an SSML ``MessageBody``, tags included."""
CONTEXT_KEY = "incident-contacts-message-id"
PAGE_TIME_TO_LIVE = 3600
"""Seconds a page is worth delivering (see the module's text)."""

# Polly's reserved characters in SSML text.
_SSML_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"}
_SSML = '<speak>{0}<break time="1s"/>{0}</speak>'


@cache
def voice_ids() -> frozenset[str]:
    """The Polly voices SendVoiceMessage takes, from botocore's model of the API."""
    model = botocore.session.get_session().get_service_model(SERVICE)
    return frozenset(model.shape_for("VoiceId").enum)


@cache
def time_to_live_range() -> tuple[int, int]:
    """The least and the most ``TimeToLive`` SendTextMessage and SendVoiceMessage take, in
    seconds, from botocore's model of the API."""
    model = botocore.session.get_session().get_service_model(SERVICE)
    limits = [model.operation_model(operation).input_shape.members["TimeToLive"].metadata
              for operation in ("SendTextMessage", "SendVoiceMessage")]
    return max(int(limit["min"]) for limit in limits), min(int(limit["max"]) for limit in limits)


def time_to_live(message: OutgoingMessage) -> int | None:
    """The ``TimeToLive`` of ``message``: the rest of an activation code's life, an hour for a
    page, within the model's range; None (the service's default) for a message of neither
    kind that does not say how long it lives."""
    least, most = time_to_live_range()
    if message.expires_in is not None and not math.isnan(message.expires_in):
        # Whole seconds, never past the code's expiry; the range first (it may be infinite).
        return math.floor(min(max(message.expires_in, least), most))
    if message.purpose == "PAGE":
        return min(max(PAGE_TIME_TO_LIVE, least), most)
    return None


class SmsVoiceTransport:
    """Sends SMS (``SendTextMessage``) and VOICE (``SendVoiceMessage``) messages in ``region``.

    ``endpoint_url`` points the client elsewhere (a VPC endpoint, or a local fake in tests);
    ``client`` replaces the botocore client altogether. ``message_type`` and ``voice_id`` are
    taken in any case. Raises ``ValueError`` for an unknown message type or voice, and when no
    AWS credentials can be found, so a server fails at start rather than at its first page.
    """

    def __init__(self, region: str, *, endpoint_url: str | None = None,
                 origination_identity: str | None = None,
                 configuration_set: str | None = None, message_type: str = "TRANSACTIONAL",
                 voice_id: str = DEFAULT_VOICE_ID, client: Any = None,
                 timeout: float = 10.0) -> None:
        message_type, voice_id = message_type.upper(), voice_id.upper()
        if message_type not in MESSAGE_TYPES:
            raise ValueError(f"the End User Messaging message type must be one of "
                             f"{', '.join(MESSAGE_TYPES)}, not {message_type!r}")
        if voice_id not in voice_ids():
            raise ValueError(f"{voice_id!r} is not an End User Messaging voice (Amazon Polly's "
                             f"names, such as {DEFAULT_VOICE_ID} or JOANNA)")
        self.origination_identity = origination_identity
        common = {"OriginationIdentity": origination_identity,
                  "ConfigurationSetName": configuration_set}
        self._common = {name: value for name, value in common.items() if value}
        self._text = {"MessageType": message_type}
        self._voice = {"MessageBodyTextType": "SSML", "VoiceId": voice_id}
        if client is None:
            client = aws_client(PROVIDER, SERVICE, region, endpoint_url=endpoint_url,
                                timeout=timeout)
        self._client = client

    def send(self, message: OutgoingMessage) -> DeliveryResult:
        params: dict[str, Any] = {"DestinationPhoneNumber": message.address, **self._common,
                                  "Context": {CONTEXT_KEY: message.message_id}}
        ttl = time_to_live(message)
        if ttl is not None:
            params["TimeToLive"] = ttl
        if message.channel_type == SMS:
            answer = call_aws(PROVIDER, self._client.send_text_message, **params,
                              **self._text, MessageBody=message.body)
        elif message.channel_type == VOICE:
            if not self.origination_identity:
                raise PermanentDeliveryError(
                    "End User Messaging calls need an origination identity")
            speech = message.speech if message.speech is not None else message.body
            answer = call_aws(PROVIDER, self._client.send_voice_message, **params,
                              **self._voice, MessageBody=voice_ssml(speech))
        else:
            raise PermanentDeliveryError(
                f"End User Messaging sends SMS and VOICE only, not {message.channel_type}")
        # Accepted: an answer without its id (never seen) must not send the message again.
        return DeliveryResult(provider_message_id=str(answer.get("MessageId") or ""))

    def close(self) -> None:
        self._client.close()


def voice_ssml(speech: str, *, max_length: int = SSML_MAX_LENGTH) -> str:
    """SSML that says ``speech``, pauses a second, and says it once more; the speech is cut so
    that the whole fits ``max_length`` characters, never inside an escape sequence."""
    budget = max(0, (max_length - len(_SSML.format(""))) // 2)
    kept: list[str] = []
    used = 0
    for character in xml_allowed(speech):
        piece = _SSML_ESCAPES.get(character, character)
        used += len(piece)
        if used > budget:
            break
        kept.append(piece)
    return _SSML.format("".join(kept))
