"""The in-process mock: boto3 clients talk to the same pipeline as the server, with no sockets.

A ``before-send`` handler, registered once in botocore's built-in handlers (and on boto3's
default session when it already exists), answers ssm-contacts requests while a mock is active;
every other request goes on to the network as usual. Each mock has a fresh in-memory
database, the development outbox as its only transport, and a clock that moves only when told.
"""

from __future__ import annotations

import functools
import inspect
import io
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, TypeVar, overload

import botocore.handlers
from botocore.awsrequest import AWSResponse

from incident_contacts import model
from incident_contacts.api.dispatch import Dispatcher
from incident_contacts.clock import ManualClock
from incident_contacts.config import Settings
from incident_contacts.delivery import RecordingTransport, Transport
from incident_contacts.delivery.base import CHANNEL_TYPES
from incident_contacts.engine import runner as engine_runner
from incident_contacts.engine.delivery import deliver_all_due
from incident_contacts.runtime import Runtime
from incident_contacts.server import build_dispatcher, build_runtime
from incident_contacts.service import engagements, outbox

F = TypeVar("F", bound=Callable[..., Any])

_active: list[SsmContactsMock] = []
_registered = False
_lock = threading.Lock()
_DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


class _RawBody(io.BytesIO):
    """What botocore reads a response body from."""

    def stream(self, **_kwargs: Any) -> Iterator[bytes]:
        yield self.getvalue()


class _RequestHeaders(Mapping[str, str]):
    """A botocore request's headers as the pipeline reads them: text values under lower-case
    names. Each header is looked up when asked for (botocore's header dictionary is already
    case-insensitive); copying all of them costs more than the few a call reads."""

    __slots__ = ("_headers",)

    def __init__(self, headers: Any) -> None:
        self._headers = headers

    def __getitem__(self, name: str) -> str:
        value = self._headers[name]
        return value.decode("latin-1") if isinstance(value, bytes) else str(value)

    def get(self, name: str, default: Any = None) -> Any:
        value = self._headers.get(name)
        if value is None:
            return default
        return value.decode("latin-1") if isinstance(value, bytes) else str(value)

    def __iter__(self) -> Iterator[str]:
        return (name.lower() for name in self._headers)

    def __len__(self) -> int:
        return len(self._headers)


def _before_send(request: Any, **_kwargs: Any) -> AWSResponse | None:
    if not _active:
        return None
    target = request.headers.get("X-Amz-Target", b"")
    if isinstance(target, bytes):
        target = target.decode("latin-1")
    if not target.startswith(model.target_prefix() + "."):
        return None
    return _active[-1].respond(request)


def _register() -> None:
    global _registered
    with _lock:
        if _registered:
            return
        botocore.handlers.BUILTIN_HANDLERS.append(("before-send", _before_send))
        _registered = True
    try:
        import boto3
    except ImportError:  # boto3 is optional: botocore sessions alone work too
        return
    if boto3.DEFAULT_SESSION is not None:
        boto3.DEFAULT_SESSION.events.register(
            "before-send", _before_send, unique_id="incident-contacts-mock"
        )


class SsmContactsMock:
    """An active mock: read what was sent with :meth:`messages`, move time with ``clock``."""

    def __init__(self, settings: Settings | None = None) -> None:
        # No throttling unless asked for: the mock's clock stands still, so an emptied
        # bucket would never refill.
        self._settings = (settings or Settings(throttle_rate=0.0)).with_overrides(
            database="sqlite://", inspection=True
        )
        self.clock = _MockClock(self)
        self.runtime: Runtime | None = None
        self.dispatcher: Dispatcher | None = None
        self._saved_env: dict[str, str | None] = {}

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> SsmContactsMock:
        _register()
        self.runtime = build_runtime(self._settings, self.clock.inner)
        self.dispatcher = build_dispatcher(self.runtime)
        self.runtime.on_wake(self.run_due)
        if not os.environ.get("AWS_ACCESS_KEY_ID") and not os.environ.get("AWS_PROFILE"):
            for key, value in _DUMMY_CREDENTIALS.items():
                self._saved_env[key] = os.environ.get(key)
                os.environ[key] = value
        _active.append(self)
        return self

    def stop(self) -> None:
        if self in _active:
            _active.remove(self)
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()
        if self.runtime is not None:
            self.runtime.close()

    def __enter__(self) -> SsmContactsMock:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __call__(self, func: F) -> F:
        return _decorate(func, lambda: SsmContactsMock(self._settings))

    # -- serving ----------------------------------------------------------------------------

    def respond(self, request: Any) -> AWSResponse:
        assert self.dispatcher is not None, "the mock is not started"
        headers = _RequestHeaders(request.headers)
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif not isinstance(body, bytes):
            body = body.read()
        response = self.dispatcher.handle(request.method, "/", headers, body)
        return AWSResponse(request.url, response.status, dict(response.headers),
                           _RawBody(response.body))

    def run_due(self) -> None:
        """Deliver what is due now; the mock does it before the API call returns."""
        # Background engines register their synchronous steps here (see ``_due_work``).
        assert self.runtime is not None
        for work in _due_work:
            work(self.runtime)

    # -- inspection --------------------------------------------------------------------------

    def messages(self, ContactChannelArn: str | None = None) -> list[dict[str, Any]]:
        """The messages sent so far, oldest first: the entries of the HTTP endpoint."""
        assert self.runtime is not None, "the mock is not started"
        with self.runtime.store.transaction(write=False) as conn:
            return outbox.list_messages(conn, self.runtime, channel_arn=ContactChannelArn)

    def engagement_events(self, EngagementArn: str) -> list[dict[str, Any]]:
        """What the engine did for an engagement besides paging (skipped channels, nobody on
        call, acknowledgements, stops): the entries of ``/_aws/ssm-contacts/engagements/
        events``. ``[]`` for an engagement that does not exist."""
        assert self.runtime is not None, "the mock is not started"
        with self.runtime.store.transaction(write=False) as conn:
            return engagements.list_events(conn, self.runtime, EngagementArn) or []

    def clear_messages(self) -> None:
        assert self.runtime is not None, "the mock is not started"
        with self.runtime.store.transaction() as conn:
            outbox.clear(conn)


class _MockClock:
    """The mock's clock: ``advance`` moves it and runs the work that became due."""

    def __init__(self, mock: SsmContactsMock) -> None:
        self.inner = ManualClock()
        self._mock = mock

    def now(self) -> float:
        return self.inner.now()

    def advance(self, seconds: float) -> float:
        now = self.inner.advance(seconds)
        if self._mock.runtime is not None:
            self._mock.run_due()
        return now


def _deliver_messages(runtime: Runtime) -> None:
    """The delivery worker's step, run to the end: every due message is SENT (the
    development outbox accepts all) before the API call that queued it returns."""
    deliver_all_due(runtime, _MOCK_TRANSPORTS, "in-process-mock")


def _run_engine(runtime: Runtime) -> None:
    """The engagement engine's due steps, run to the end, before delivery: the pages a step
    writes go out (and get their SENT receipts) in the same pass."""
    engine_runner.install()
    engine_runner.run_all_due(runtime, "in-process-mock")


_recording = RecordingTransport()
_MOCK_TRANSPORTS: dict[str, Transport] = {t: _recording for t in CHANNEL_TYPES}

# Synchronous "run what is due" steps of the background engines, in order: f(runtime).
_due_work: list[Callable[[Runtime], None]] = [_run_engine, _deliver_messages]


def _decorate(func: F, make: Callable[[], SsmContactsMock]) -> F:
    if inspect.isclass(func):
        for name, attr in list(vars(func).items()):
            if name.startswith("test") and callable(attr):
                setattr(func, name, _decorate(attr, make))
        return func

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with make():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@overload
def mock_ssm_contacts(func: F) -> F: ...
@overload
def mock_ssm_contacts(func: None = None, *,
                      settings: Settings | None = None) -> SsmContactsMock: ...
def mock_ssm_contacts(func: F | None = None, *,
                      settings: Settings | None = None) -> F | SsmContactsMock:
    """A mock of ssm-contacts for boto3, as a context manager or a decorator.

    ::

        with mock_ssm_contacts() as contacts:
            client = boto3.client("ssm-contacts", region_name="us-east-1")
            ...
            contacts.messages(ContactChannelArn=arn)

    Both ``@mock_ssm_contacts`` and ``@mock_ssm_contacts()`` decorate functions and classes.
    """
    if func is not None:
        return _decorate(func, SsmContactsMock)
    return SsmContactsMock(settings)


__all__ = ["SsmContactsMock", "mock_ssm_contacts"]
