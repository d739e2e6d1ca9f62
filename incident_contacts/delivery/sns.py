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
alone: SNS's message text can quote the phone number.
"""

from __future__ import annotations

from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from .base import (
    SMS,
    DeliveryError,
    DeliveryResult,
    OutgoingMessage,
    PermanentDeliveryError,
    RetryableDeliveryError,
)

__all__ = ["SMS_TYPES", "SnsTransport"]

SMS_TYPES = ("Transactional", "Promotional")

# Error codes SNS (and the AWS front door) answer for a temporary condition: throttling, its own
# failures, and credentials or a signature that ran out (botocore refreshes them).
_RETRYABLE_CODES = frozenset({
    "Throttled", "Throttling", "ThrottlingException", "KMSThrottling", "InternalError",
    "InternalFailure", "ServiceUnavailable", "RequestTimeout", "RequestTimeoutException",
    "ExpiredToken", "ExpiredTokenException", "RequestExpired",
})


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
            session = botocore.session.get_session()
            if session.get_credentials() is None:
                raise ValueError("SNS delivery needs AWS credentials: AWS_ACCESS_KEY_ID and "
                                 "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a role")
            client = session.create_client(
                "sns", region_name=region, endpoint_url=endpoint_url,
                config=Config(retries={"total_max_attempts": 1, "mode": "standard"},
                              connect_timeout=timeout, read_timeout=timeout,
                              user_agent_extra="incident-contacts"),
            )
        self._client = client

    def send(self, message: OutgoingMessage) -> DeliveryResult:
        if message.channel_type != SMS:
            raise PermanentDeliveryError(f"SNS sends SMS only, not {message.channel_type}")
        try:
            answer = self._client.publish(PhoneNumber=message.address, Message=message.body,
                                          MessageAttributes=self._attributes)
        except ClientError as exc:
            raise _refusal(exc) from exc
        except ParamValidationError as exc:
            # botocore refused to send it (a value SNS's model does not allow): it never will.
            raise PermanentDeliveryError("SNS request not valid: ParamValidationError") from exc
        except BotoCoreError as exc:
            # Connection trouble, a timeout, credentials that failed to refresh.
            raise RetryableDeliveryError(f"SNS request failed: {type(exc).__name__}") from exc
        return DeliveryResult(provider_message_id=str(answer["MessageId"]))

    def close(self) -> None:
        self._client.close()


def _refusal(exc: ClientError) -> DeliveryError:
    code = str(exc.response.get("Error", {}).get("Code", "unknown"))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    reason = f"SNS refused the message: {code} (HTTP {status})"
    if code in _RETRYABLE_CODES or status == 429 or status >= 500:
        return RetryableDeliveryError(reason)
    return PermanentDeliveryError(reason)
