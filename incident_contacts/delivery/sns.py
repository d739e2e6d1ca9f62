"""SMS delivery through Amazon SNS: each message is one ``Publish`` to a phone number.

For teams that left Incident Manager but kept an AWS account: SNS sends the text messages and
bills that account. The client is botocore's own, so credentials come from the usual AWS chain
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, a container or instance
role) and temporary credentials are refreshed by botocore. The principal needs ``sns:Publish``.

Each message is sent with ``AWS.SNS.SMS.SMSType`` (``Transactional`` by default: SNS routes
those for reliability, which is what a code or a page needs) and, when configured, a sender id
(``AWS.SNS.SMS.SenderID``) and an origination number (``AWS.MM.SMS.OriginationNumber``; some
countries, the United States among them, require a registered one).

The outbox worker owns retries, so botocore's are off: one attempt per send. Throttling and
5xx answers, and connection failures, are worth another try; any other refusal (an invalid
number, missing permission) is permanent. A failure is recorded by SNS's error code and status
alone: SNS's message text can quote the phone number (``delivery.aws``, shared with End User
Messaging).
"""

from __future__ import annotations

from typing import Any

from .aws import aws_client, call_aws
from .base import SMS, DeliveryResult, OutgoingMessage, PermanentDeliveryError

__all__ = ["SMS_TYPES", "SnsTransport"]

SMS_TYPES = ("Transactional", "Promotional")


class SnsTransport:
    """Publishes SMS messages to phone numbers through SNS in ``region``.

    ``endpoint_url`` points the client elsewhere (a VPC endpoint, or a local fake in tests).
    ``client`` replaces the botocore client altogether. Raises ``ValueError`` when no AWS
    credentials can be found, so a server fails at start rather than at its first page.
    """

    def __init__(self, region: str, *, endpoint_url: str | None = None,
                 sender_id: str | None = None, origination_number: str | None = None,
                 sms_type: str = "Transactional", client: Any = None,
                 timeout: float = 10.0) -> None:
        sms_type = next((t for t in SMS_TYPES if t.lower() == sms_type.lower()), sms_type)
        if sms_type not in SMS_TYPES:
            raise ValueError(f"the SNS SMS type must be one of {', '.join(SMS_TYPES)}, "
                             f"not {sms_type!r}")
        attributes = {"AWS.SNS.SMS.SMSType": sms_type}
        if sender_id:
            attributes["AWS.SNS.SMS.SenderID"] = sender_id
        if origination_number:
            attributes["AWS.MM.SMS.OriginationNumber"] = origination_number
        self._attributes = {name: {"DataType": "String", "StringValue": value}
                            for name, value in attributes.items()}
        if client is None:
            client = aws_client("SNS", "sns", region, endpoint_url=endpoint_url,
                                timeout=timeout)
        self._client = client

    def send(self, message: OutgoingMessage) -> DeliveryResult:
        if message.channel_type != SMS:
            raise PermanentDeliveryError(f"SNS sends SMS only, not {message.channel_type}")
        answer = call_aws("SNS", self._client.publish, PhoneNumber=message.address,
                          Message=message.body, MessageAttributes=self._attributes)
        # Accepted: an answer without its id (never seen) must not send the message again.
        return DeliveryResult(provider_message_id=str(answer.get("MessageId") or ""))

    def close(self) -> None:
        self._client.close()

