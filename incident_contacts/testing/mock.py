"""The in-process mock: boto3 clients talk to the same pipeline as the server, with no sockets.

A ``before-send`` handler, put first among botocore's built-in handlers when this module is
imported (and on boto3's default session, which may be older), answers ssm-contacts requests
sent to AWS's own ssm-contacts endpoints (every partition, FIPS and dual-stack forms: see
``endpoints``) while a mock is active. Every other request goes on to the next handler (moto's,
when ``moto.mock_aws`` is active too) or to the network as usual: a client made with an
``endpoint_url`` of its own (a local server, LocalStack) reaches that server, as moto leaves
hosts it does not know alone. Being first matters: moto answers every ``amazonaws.com``
request it does not know with a 404 "Not yet implemented".

The mock never changes the environment: while one is active, sessions made after this import
get dummy credentials from a provider of their own when the environment has no keys (see
``credentials``), so it starts and stops in any order with ``moto.mock_aws`` (which sets and
puts back keys in the environment).

aiobotocore's sessions copy botocore's built-in handlers too, so its asynchronous clients
(aioboto3's included) reach the same handler and the same state; the answer is awaitable for
them (see ``_Answer``). The pipeline runs synchronously inside the call, as for botocore.

A mock started while another is active shares that one's state (its database, outbox and
clock), as nested ``moto.mock_aws`` do, unless it was given settings of its own; the outermost
mock has a fresh in-memory database, the development outbox as its only transport, and a clock
that moves only when told.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import io
import math
import threading
import unittest
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import replace
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar, overload

import botocore.handlers
from botocore.awsrequest import AWSResponse

from incident_contacts import config, model
from incident_contacts.api.dispatch import Dispatcher
from incident_contacts.clock import ManualClock, to_millisecond
from incident_contacts.config import Settings
from incident_contacts.delivery import RecordingTransport, Transport
from incident_contacts.delivery.base import CHANNEL_TYPES
from incident_contacts.engine import runner as engine_runner
from incident_contacts.engine.delivery import deliver_all_due
from incident_contacts.runtime import Runtime
from incident_contacts.server import build_dispatcher, build_runtime
from incident_contacts.service import engagements, outbox
from incident_contacts.testing import credentials, endpoints

F = TypeVar("F", bound=Callable[..., Any])

_active: list[SsmContactsMock] = []
_registered = False
_lock = threading.Lock()
_HANDLER_ID = "incident-contacts-mock"


class _RawBody(io.BytesIO):
    """What botocore reads a response body from."""

    def stream(self, **_kwargs: Any) -> Iterator[bytes]:
        yield self.getvalue()


_NO_HEADERS: dict[str, str] = {}


class _Answer(AWSResponse):  # type: ignore[misc]  # botocore is untyped here
    """The mock's answer to an ssm-contacts request.

    botocore uses it as it is. aiobotocore's emitter awaits whatever a ``before-send``
    handler returns that can be awaited, and reads the body of the response it gets with
    ``await response.content``: awaited, this answer becomes aiobotocore's own response class
    over the same status, headers and body. The one handler thus serves both kinds of client,
    and botocore's calls pay nothing for it."""

    def __init__(self, url: str, status_code: int, headers: list[tuple[str, str]],
                 body: bytes) -> None:
        # AWSResponse's own set-up (whatever a botocore release adds to it), with no headers
        # to copy: the pairs the dispatcher answers with go in directly (its generic copy of
        # any mapping costs more). The body botocore reads as ``content`` is kept as it is;
        # should a release name that cache otherwise, ``content`` reads it from ``raw``.
        super().__init__(url, status_code, _NO_HEADERS, _RawBody(body))
        copied = self.headers
        for name, value in headers:
            copied[name] = value
        self._content = body

    def __await__(self) -> Generator[Any, None, AWSResponse]:
        return self._for_aiobotocore().__await__()

    async def _for_aiobotocore(self) -> AWSResponse:
        # Only ever awaited by aiobotocore, so it is imported by then.
        awsrequest = importlib.import_module("aiobotocore.awsrequest")
        answer: AWSResponse = awsrequest.AioAWSResponse(
            self.url, self.status_code, self.headers, _AsyncRawBody(self.raw.getvalue()))
        return answer


class _AsyncRawBody:
    """What aiobotocore reads a response body from: ``await raw.read()``."""

    __slots__ = ("_body",)

    def __init__(self, body: bytes) -> None:
        self._body = body

    async def read(self, *_args: Any) -> bytes:
        return self._body


class _RequestHeaders(Mapping[str, str]):
    """A botocore request's headers as the pipeline reads them: text values under lower-case
    names. Each header is looked up when asked for (botocore's header dictionary is already
    case-insensitive); copying all of them costs more than the few a call reads. The target,
    which the mock has read to know the request is its own, is not looked up again."""

    __slots__ = ("_headers", "_target")

    def __init__(self, headers: Any, target: str | None = None) -> None:
        self._headers = headers
        self._target = target

    def __getitem__(self, name: str) -> str:
        if name == "x-amz-target" and self._target is not None:
            return self._target
        value = self._headers[name]
        return value.decode("latin-1") if isinstance(value, bytes) else str(value)

    def get(self, name: str, default: Any = None) -> Any:
        if name == "x-amz-target" and self._target is not None:
            return self._target
        value = self._headers.get(name)
        if value is None:
            return default
        return value.decode("latin-1") if isinstance(value, bytes) else str(value)

    def __iter__(self) -> Iterator[str]:
        return (name.lower() for name in self._headers)

    def __len__(self) -> int:
        return len(self._headers)


_targets: list[str] = []   # "SSMContacts.": the start of this service's targets, once read


def _before_send(request: Any, **_kwargs: Any) -> AWSResponse | None:
    if not _active:
        return None
    target = request.headers.get("X-Amz-Target", b"")
    if isinstance(target, bytes):
        target = target.decode("latin-1")
    if not _targets:
        _targets.append(model.target_prefix() + ".")
    if not target.startswith(_targets[0]) or not endpoints.is_aws_endpoint(request.url):
        return None
    return _active[-1].respond(request, target=target)


def _any_active() -> bool:
    return bool(_active)


def _register() -> None:
    """Put the handler first, once (at import): in every session made from then on (botocore
    copies its built-in handlers into each new session), and in boto3's default session when
    one was made before; the same for the dummy credentials' provider. Clients made before
    this import are not intercepted."""
    global _registered
    with _lock:
        if _registered:
            return
        botocore.handlers.BUILTIN_HANDLERS.append(
            ("before-send", _before_send, botocore.handlers.REGISTER_FIRST))
        _registered = True
    try:
        import boto3
    except ImportError:  # boto3 is optional: botocore sessions alone work too
        boto3 = None
    existing = []
    if boto3 is not None and boto3.DEFAULT_SESSION is not None:
        boto3.DEFAULT_SESSION.events.register_first(
            "before-send", _before_send, unique_id=_HANDLER_ID
        )
        existing.append(boto3.DEFAULT_SESSION._session)
    credentials.install(_any_active, existing)


def _forget_default_credentials() -> None:
    """boto3's default session keeps the credentials it first found: forget them when a mock
    starts, so keys set in the environment since are used (and pick the account). Dummy
    credentials are forgotten when the last mock stops (``credentials.withdraw``). moto swaps
    the whole session instead, which costs a model load per client."""
    try:
        import boto3
    except ImportError:
        return
    session = boto3.DEFAULT_SESSION
    if session is not None and hasattr(session._session, "_credentials"):
        session._session._credentials = None


class SsmContactsMock:
    """An active mock: read what was sent with :meth:`messages`, move time with ``clock``."""

    def __init__(self, settings: Settings | None = None, *,
                 start_time: datetime | float | None = None) -> None:
        # No throttling unless asked for: the mock's clock stands still, so an emptied
        # bucket would never refill. Settings given with the default rate get it off too
        # (a test asking for throttling gives a rate of its own and moves the clock).
        # A mock given settings or a start time keeps a state of its own even when nested
        # in another.
        self._own_settings = settings is not None or start_time is not None
        self._start_time = _epoch_seconds(start_time)
        if settings is None:
            settings = Settings(throttle_rate=0.0)
        elif settings.throttle_rate == Settings.throttle_rate:
            settings = replace(settings, throttle_rate=0.0)
        self._settings = settings.with_overrides(database="sqlite://", inspection=True)
        # What the server refuses at start is refused here, when the mock is made: unchecked,
        # a default account of other than 12 digits made ARNs no request can name again.
        config.check(self._settings)
        self.clock = _MockClock(self)
        self.runtime: Runtime | None = None
        self.dispatcher: Dispatcher | None = None
        self._depth = 0          # starts not yet matched by a stop (the same mock nested)
        self._owner = True       # False while sharing the state of the mock it was nested in

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> SsmContactsMock:
        """Start answering; started again while active (nested), it only counts."""
        _register()
        endpoints.host_pattern()    # botocore's endpoint data unreadable: say so now
        if self._depth:
            self._depth += 1
            return self
        outer = _active[-1] if _active and not self._own_settings else None
        if outer is not None and outer.runtime is not None:
            # Nested in another mock: the same state, as nested moto mocks share theirs.
            self.clock.inner = outer.clock.inner
            self.runtime, self.dispatcher = outer.runtime, outer.dispatcher
            self._owner = False
        else:
            self.clock.inner = ManualClock(self._start_time)
            self.runtime = build_runtime(self._settings, self.clock.inner)
            self.dispatcher = build_dispatcher(self.runtime)
            self.runtime.on_wake(self.run_due)
            self._owner = True
        # The dummy keys (when the environment has none; a 12-digit key id there names the
        # account) come from ``credentials``, first in botocore's chain: the environment is
        # not touched.
        if self._owner:
            _forget_default_credentials()
        self._depth = 1
        _active.append(self)
        return self

    def stop(self) -> None:
        """Stop answering (the last stop of a nested start); the state is gone after."""
        if self._depth > 1:
            self._depth -= 1
            return
        if not self._depth:
            return
        self._depth = 0
        if self in _active:
            _active.remove(self)
        if not _active:
            credentials.withdraw()
        runtime, self.runtime, self.dispatcher = self.runtime, None, None
        if runtime is not None and self._owner:
            runtime.close()

    def __enter__(self) -> SsmContactsMock:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __call__(self, func: F) -> F:
        """Decorate a function or class with this mock: each call (each test) starts it
        afresh, and ``messages()`` and ``clock`` of this object read it meanwhile."""
        return _decorate(func, lambda: self)

    def _started(self) -> Runtime:
        if self.runtime is None:
            raise RuntimeError(
                "this ssm-contacts mock is not active: read it inside `with "
                "mock_ssm_contacts() as contacts:` or the test it decorates (its state is "
                "gone once it stops)")
        return self.runtime

    # -- serving ----------------------------------------------------------------------------

    def respond(self, request: Any, *, target: str | None = None) -> AWSResponse:
        """The answer to a botocore request; ``target`` is its X-Amz-Target when already
        read."""
        dispatcher = self.dispatcher
        assert dispatcher is not None, "the mock is not started"
        headers = _RequestHeaders(request.headers, target)
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif not isinstance(body, bytes):
            body = body.read()
        response = dispatcher.handle(request.method, "/", headers, body)
        # botocore's header dictionary takes the (name, value) pairs as they are.
        return _Answer(request.url, response.status, response.headers, response.body)

    def run_due(self) -> None:
        """Deliver what is due now; the mock does it before the API call returns."""
        # Background engines register their synchronous steps here (see ``_due_work``).
        runtime = self._started()
        for work in _due_work:
            work(runtime)

    # -- inspection --------------------------------------------------------------------------

    def messages(self, ContactChannelArn: str | None = None) -> list[dict[str, Any]]:
        """The messages sent so far, oldest first: the entries of the HTTP endpoint."""
        runtime = self._started()
        with runtime.store.transaction(write=False) as conn:
            return outbox.list_messages(conn, runtime, channel_arn=ContactChannelArn)

    def engagement_events(self, EngagementArn: str) -> list[dict[str, Any]]:
        """What the engine did for an engagement besides paging (skipped channels, nobody on
        call, acknowledgements, stops): the entries of ``/_aws/ssm-contacts/engagements/
        events``. ``[]`` for an engagement that does not exist."""
        runtime = self._started()
        with runtime.store.transaction(write=False) as conn:
            return engagements.list_events(conn, runtime, EngagementArn) or []

    def clear_messages(self) -> None:
        with self._started().store.transaction() as conn:
            outbox.clear(conn)


def _epoch_seconds(moment: datetime | float | None) -> float | None:
    """A start time as the clock keeps it: epoch seconds to the millisecond, as the server's
    clock reads them. A datetime must say its time zone (a naive one is ambiguous)."""
    if moment is None:
        return None
    if isinstance(moment, datetime):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError("start_time: give a datetime with its time zone "
                             "(datetime(2027, 1, 4, 9, tzinfo=timezone.utc))")
        moment = moment.timestamp()
    if isinstance(moment, bool) or not isinstance(moment, (int, float)) \
            or not math.isfinite(moment) or moment < 0:
        raise ValueError(f"start_time: a datetime or epoch seconds, not {moment!r}")
    return to_millisecond(float(moment))


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
        return _decorate_class(func, make)  # type: ignore[return-value]
    if inspect.iscoroutinefunction(func):
        @functools.wraps(func)
        async def awaiting(*args: Any, **kwargs: Any) -> Any:
            with make():
                return await func(*args, **kwargs)

        return awaiting  # type: ignore[return-value]
    if inspect.isgeneratorfunction(func):   # a pytest fixture that yields, say
        @functools.wraps(func)
        def yielding(*args: Any, **kwargs: Any) -> Any:
            with make():
                return (yield from func(*args, **kwargs))

        return yielding  # type: ignore[return-value]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with make():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


# The mock that a decorated class's set-up started, by test instance, with the number of
# set-ups (an overriding one calling the decorated one) still to be torn down.
_class_mocks: dict[int, tuple[SsmContactsMock, int]] = {}


def _hold(instance: object, make: Callable[[], SsmContactsMock]) -> None:
    mock, depth = _class_mocks.get(id(instance)) or (make().start(), 0)
    _class_mocks[id(instance)] = (mock, depth + 1)


def _release(instance: object) -> None:
    held = _class_mocks.pop(id(instance), None)
    if held is None:
        return
    mock, depth = held
    if depth > 1:
        _class_mocks[id(instance)] = (mock, depth - 1)
    else:
        mock.stop()


def _decorate_class(cls: type, make: Callable[[], SsmContactsMock]) -> type:
    """As moto decorates a class: the mock is active in the set-up, the test and the
    tear-down, which see one state, fresh for each test.

    A ``unittest.TestCase`` starts it before ``setUp`` and stops it after ``tearDown`` and the
    cleanups. Another class gets ``setup_method``/``teardown_method`` (wrapping its own) for
    pytest, and each ``test*`` method is wrapped too (sharing the state of the set-up's mock
    when it is active), so the methods work when called without pytest as well."""
    if issubclass(cls, unittest.TestCase):
        set_up = cls.setUp

        @functools.wraps(set_up)
        def setUp(self: unittest.TestCase) -> None:
            mock = make()
            mock.start()
            self.addCleanup(mock.stop)       # cleanups run last, after tearDown's
            set_up(self)

        cls.setUp = setUp  # type: ignore[method-assign]
        return cls

    set_up_method = getattr(cls, "setup_method", None)
    tear_down_method = getattr(cls, "teardown_method", None)
    if getattr(set_up_method, "_starts_ssm_contacts_mock", False):
        return cls   # a decorated class's subclass: its set-up already starts a mock

    def setup_method(self: Any, method: Any = None) -> None:
        _hold(self, make)
        try:
            if set_up_method is not None:
                _call_optional(set_up_method, self, method)
        except BaseException:
            _release(self)     # pytest tears down no set-up that failed
            raise

    def teardown_method(self: Any, method: Any = None) -> None:
        try:
            if tear_down_method is not None:
                _call_optional(tear_down_method, self, method)
        finally:
            _release(self)

    setup_method._starts_ssm_contacts_mock = True  # type: ignore[attr-defined]
    cls.setup_method = setup_method  # type: ignore[attr-defined]
    cls.teardown_method = teardown_method  # type: ignore[attr-defined]
    for name in dir(cls):
        if not name.startswith("test"):
            continue
        raw = inspect.getattr_static(cls, name)
        if isinstance(raw, (staticmethod, classmethod)) or not inspect.isfunction(raw):
            continue
        setattr(cls, name, _decorate(raw, make))
    return cls


def _call_optional(method: Callable[..., Any], instance: Any, argument: Any) -> None:
    """Call ``setup_method``/``teardown_method`` as pytest does: with the test method when
    the function takes it."""
    takes = len(inspect.signature(method).parameters) > 1
    if takes:
        method(instance, argument)
    else:
        method(instance)


@overload
def mock_ssm_contacts(func: F) -> F: ...
@overload
def mock_ssm_contacts(func: None = None, *, settings: Settings | None = None,
                      start_time: datetime | float | None = None) -> SsmContactsMock: ...
def mock_ssm_contacts(func: F | None = None, *, settings: Settings | None = None,
                      start_time: datetime | float | None = None) -> F | SsmContactsMock:
    """A mock of ssm-contacts for boto3, as a context manager or a decorator.

    ::

        with mock_ssm_contacts() as contacts:
            client = boto3.client("ssm-contacts", region_name="us-east-1")
            ...
            contacts.messages(ContactChannelArn=arn)

    Both ``@mock_ssm_contacts`` and ``@mock_ssm_contacts()`` decorate functions and classes.
    ``start_time`` (an aware datetime or epoch seconds) starts the clock there instead of
    now, for tests of fixed dates ("who is on call on Monday 4 January at 09:00").

    Requests to AWS's own ssm-contacts endpoints are answered (any region and partition,
    FIPS and dual-stack too); a client made with an ``endpoint_url`` of its own (a local
    server, LocalStack) is left alone and reaches it, as under ``moto.mock_aws``. Without
    keys in the environment, clients get dummy credentials while the mock runs; the
    environment is never changed, so the mock and ``moto.mock_aws`` may start and stop in
    any order.
    """
    if func is not None:
        return _decorate(func, SsmContactsMock)
    return SsmContactsMock(settings, start_time=start_time)


_register()

__all__ = ["SsmContactsMock", "mock_ssm_contacts"]
