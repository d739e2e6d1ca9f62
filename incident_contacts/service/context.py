"""What a service function gets: who is calling, where, the open transaction, and the runtime."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    from incident_contacts.runtime import Runtime


@dataclass
class Caller:
    """The identity behind a request: its account and region, and its principal if signed."""

    account: str
    region: str
    principal_arn: str | None = None


@dataclass(slots=True)
class RequestContext:
    caller: Caller
    conn: Connection
    runtime: Runtime
    operation: str
    request_id: str
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    deferred_error: Exception | None = None

    @property
    def account(self) -> str:
        return self.caller.account

    @property
    def region(self) -> str:
        return self.caller.region

    def now(self) -> float:
        return self.runtime.clock.now()

    def fail_after_commit(self, error: Exception) -> None:
        """Answer with ``error`` but keep what the call wrote (a wrong code's counted try)."""
        self.deferred_error = error
