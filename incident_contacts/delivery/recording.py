"""Transports that send nothing: the development outbox's, and a mock for tests.

As httpx pairs its real transports with ``MockTransport``, these stand in where no provider is
configured or wanted.
"""

from __future__ import annotations

import threading

from incident_contacts.ids import new_id

from .base import (
    DeliveryError,
    DeliveryResult,
    OutgoingMessage,
    PermanentDeliveryError,
    RetryableDeliveryError,
)

__all__ = ["MemoryTransport", "RecordingTransport"]


class RecordingTransport:
    """Accepts every message and delivers none.

    This is the development outbox's transport: the message rows already live in the database
    (and show on ``/_aws/ssm-contacts/messages``), so sending only has to succeed and name the
    message. Ids look like ``dev-<uuid hex>``.
    """

    def send(self, message: OutgoingMessage) -> DeliveryResult:
        return DeliveryResult(provider_message_id="dev-" + new_id().replace("-", ""))


class MemoryTransport:
    """Keeps every accepted message in :attr:`sent`; can be told to fail the next sends."""

    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []
        self.attempts = 0
        self._failures: list[DeliveryError] = []
        self._lock = threading.Lock()

    def fail_next(
        self, count: int = 1, *, reason: str = "simulated failure", retryable: bool = True
    ) -> None:
        """Make the next ``count`` sends raise; retryable unless told otherwise."""
        error_type: type[DeliveryError] = (
            RetryableDeliveryError if retryable else PermanentDeliveryError
        )
        with self._lock:
            self._failures.extend(error_type(reason) for _ in range(count))

    def fail_next_with(self, *errors: DeliveryError) -> None:
        """Make the next sends raise these errors, in order."""
        with self._lock:
            self._failures.extend(errors)

    def send(self, message: OutgoingMessage) -> DeliveryResult:
        with self._lock:
            self.attempts += 1
            if self._failures:
                raise self._failures.pop(0)
            self.sent.append(message)
            return DeliveryResult(provider_message_id=f"mem-{len(self.sent)}")

    def clear(self) -> None:
        """Forget sent messages, attempts and pending failures."""
        with self._lock:
            self.sent.clear()
            self.attempts = 0
            self._failures.clear()
