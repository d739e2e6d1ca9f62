"""What the transports through AWS (Amazon SNS, End User Messaging SMS and voice) share: a
botocore client that makes one attempt per call, and one reading of AWS's refusals.

The client is botocore's own, so credentials come from the usual AWS chain
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, a container or instance
role) and temporary credentials are refreshed by botocore. The outbox worker owns retries, so
botocore's are off. Throttling and 5xx answers, connection failures and credentials that ran
out are worth another try; any other refusal (an invalid or opted-out number, a missing
permission) is permanent. A refusal is recorded by AWS's error code and status alone: AWS's
message text can quote the phone number.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from .base import DeliveryError, PermanentDeliveryError, RetryableDeliveryError

__all__ = ["RETRYABLE_CODES", "aws_client", "call_aws", "refusal"]

# Error codes AWS services (and the AWS front door) answer for a temporary condition:
# throttling, their own failures, and credentials or a signature that ran out (botocore
# refreshes them).
RETRYABLE_CODES = frozenset({
    "Throttled", "Throttling", "ThrottlingException", "KMSThrottling", "InternalError",
    "InternalFailure", "InternalServerException", "ServiceUnavailable", "RequestTimeout",
    "RequestTimeoutException", "ExpiredToken", "ExpiredTokenException", "RequestExpired",
})

# A modeled ``Reason`` (End User Messaging's ValidationException, ConflictException, ...) is
# an enum such as DESTINATION_PHONE_NUMBER_OPTED_OUT: recorded only when it has that shape,
# which no phone number has.
_REASON = re.compile(r"[A-Z][A-Z_]{0,63}")


def aws_client(provider: str, service: str, region: str, *, endpoint_url: str | None,
               timeout: float) -> Any:
    """A botocore client for ``service`` in ``region`` with one attempt per call.

    Raises ``ValueError`` naming ``provider`` when no AWS credentials can be found, so a
    server fails at start rather than at its first page.
    """
    session = botocore.session.get_session()
    if session.get_credentials() is None:
        raise ValueError(f"{provider} delivery needs AWS credentials: AWS_ACCESS_KEY_ID and "
                         "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a role")
    return session.create_client(
        service, region_name=region, endpoint_url=endpoint_url,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"},
                      connect_timeout=timeout, read_timeout=timeout,
                      user_agent_extra="incident-contacts"),
    )


def call_aws(provider: str, operation: Callable[..., dict[str, Any]],
             **params: Any) -> dict[str, Any]:
    """``operation(**params)``, a botocore client method, with its failures as
    :class:`DeliveryError`."""
    try:
        return operation(**params)
    except ClientError as exc:
        raise refusal(provider, exc) from exc
    except ParamValidationError as exc:
        # botocore refused to send it (a value the service's model does not allow): it never
        # will.
        raise PermanentDeliveryError(f"{provider} request not valid: ParamValidationError") \
            from exc
    except BotoCoreError as exc:
        # Connection trouble, a timeout, credentials that failed to refresh.
        raise RetryableDeliveryError(f"{provider} request failed: {type(exc).__name__}") \
            from exc


def refusal(provider: str, exc: ClientError) -> DeliveryError:
    """The refusal in ``exc`` as retryable or permanent, described by code and status only
    (with the modeled reason, when there is one)."""
    code = str(exc.response.get("Error", {}).get("Code", "unknown"))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    why = exc.response.get("Reason")
    detail = f" {why}" if isinstance(why, str) and _REASON.fullmatch(why) else ""
    reason = f"{provider} refused the message: {code}{detail} (HTTP {status})"
    if code in RETRYABLE_CODES or status == 429 or status >= 500:
        return RetryableDeliveryError(reason)
    return PermanentDeliveryError(reason)
