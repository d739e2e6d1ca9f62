"""One error hierarchy, turned into AWS JSON errors in exactly one place (``protocol.awsjson``).

::

    ServiceError                      any error a caller may see
    ├── AccessDeniedException         403
    ├── ConflictException             409   ResourceId, ResourceType, DependentEntities
    ├── DataEncryptionException       400
    ├── InternalServerException       500   RetryAfterSeconds
    ├── ResourceNotFoundException     404   ResourceId, ResourceType
    ├── ServiceQuotaExceededException 402   QuotaCode, ServiceCode, ResourceId, ResourceType
    ├── ThrottlingException           429   QuotaCode, ServiceCode, RetryAfterSeconds
    ├── ValidationException           400   Reason, Fields
    └── AuthError                     the SigV4 refusals, which the model does not list
        ├── MissingAuthenticationTokenException   403
        ├── IncompleteSignatureException          400
        ├── UnrecognizedClientException           403
        └── InvalidSignatureException             403

The status of each modeled error comes from the model extras file; a test checks that the
eight modeled classes here are exactly the model's error shapes.
"""

from __future__ import annotations

from typing import Any

from incident_contacts import model

SERVICE_CODE = "ssm-contacts"


class ServiceError(Exception):
    """An error with a wire form: a code, a status, a message and extra members."""

    code: str = "ServiceError"

    def __init__(self, message: str, **members: Any) -> None:
        super().__init__(message)
        self.message = message
        self.members = {k: v for k, v in members.items() if v is not None}

    @property
    def status(self) -> int:
        return model.error_status(self.code)

    def headers(self) -> dict[str, str]:
        return {}

    def body(self) -> dict[str, Any]:
        return {"__type": self.code, "Message": self.message, **self.members}


class AccessDeniedException(ServiceError):
    code = "AccessDeniedException"


class ConflictException(ServiceError):
    code = "ConflictException"

    def __init__(
        self,
        message: str,
        *,
        resource_id: str,
        resource_type: str,
        dependent_entities: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(
            message,
            ResourceId=resource_id,
            ResourceType=resource_type,
            DependentEntities=dependent_entities,
        )


class DataEncryptionException(ServiceError):
    code = "DataEncryptionException"


class _RetryAfter(ServiceError):
    def headers(self) -> dict[str, str]:
        retry = self.members.get("RetryAfterSeconds")
        return {"Retry-After": str(retry)} if retry is not None else {}


class InternalServerException(_RetryAfter):
    code = "InternalServerException"

    def __init__(self, message: str = "An internal error occurred.", *,
                 retry_after_seconds: int | None = None) -> None:
        super().__init__(message, RetryAfterSeconds=retry_after_seconds)


class ResourceNotFoundException(ServiceError):
    code = "ResourceNotFoundException"

    def __init__(self, message: str, *, resource_id: str, resource_type: str) -> None:
        super().__init__(message, ResourceId=resource_id, ResourceType=resource_type)


class ServiceQuotaExceededException(ServiceError):
    code = "ServiceQuotaExceededException"

    def __init__(
        self,
        message: str,
        *,
        quota_code: str,
        resource_id: str | None = None,
        resource_type: str | None = None,
    ) -> None:
        super().__init__(
            message,
            QuotaCode=quota_code,
            ServiceCode=SERVICE_CODE,
            ResourceId=resource_id,
            ResourceType=resource_type,
        )


class ThrottlingException(_RetryAfter):
    code = "ThrottlingException"

    def __init__(self, message: str, *, quota_code: str | None = None,
                 retry_after_seconds: int | None = None) -> None:
        super().__init__(
            message,
            QuotaCode=quota_code,
            ServiceCode=SERVICE_CODE,
            RetryAfterSeconds=retry_after_seconds,
        )


class ValidationException(ServiceError):
    code = "ValidationException"

    def __init__(
        self,
        message: str,
        *,
        reason: str = "FIELD_VALIDATION_FAILED",
        fields: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(message, Reason=reason, Fields=fields)

    @classmethod
    def field(cls, name: str, message: str) -> ValidationException:
        """A one-field failure, worded like the model-driven checks."""
        return cls(
            f"1 validation error detected: {message}",
            fields=[{"Name": name, "Message": message}],
        )

    @classmethod
    def other(cls, message: str) -> ValidationException:
        return cls(message, reason="OTHER")


class AuthError(ServiceError):
    """A refused signature. Not modeled, so its status is kept here."""

    http_status = 403

    def __init__(self, message: str) -> None:
        super().__init__(message)

    @property
    def status(self) -> int:
        return self.http_status


class MissingAuthenticationTokenException(AuthError):
    code = "MissingAuthenticationTokenException"


class IncompleteSignatureException(AuthError):
    code = "IncompleteSignatureException"
    http_status = 400


class UnrecognizedClientException(AuthError):
    code = "UnrecognizedClientException"


class InvalidSignatureException(AuthError):
    code = "InvalidSignatureException"


MODELED_ERRORS: tuple[type[ServiceError], ...] = (
    AccessDeniedException,
    ConflictException,
    DataEncryptionException,
    InternalServerException,
    ResourceNotFoundException,
    ServiceQuotaExceededException,
    ThrottlingException,
    ValidationException,
)

__all__ = [
    "MODELED_ERRORS",
    "AccessDeniedException",
    "AuthError",
    "ConflictException",
    "DataEncryptionException",
    "IncompleteSignatureException",
    "InternalServerException",
    "InvalidSignatureException",
    "MissingAuthenticationTokenException",
    "ResourceNotFoundException",
    "ServiceError",
    "ServiceQuotaExceededException",
    "ThrottlingException",
    "UnrecognizedClientException",
    "ValidationException",
]
