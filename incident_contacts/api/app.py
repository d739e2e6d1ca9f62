"""The ASGI application: the AWS endpoint at ``POST /``, health, and the inspection endpoints.

``POST /`` is served by a small ASGI fast path in front of Starlette (it is the hot path and
needs no routing); everything else goes through a Starlette router.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import anyio
import orjson
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Message, Receive, Scope, Send

from incident_contacts.api import bodies, webhooks
from incident_contacts.api.dispatch import Dispatcher
from incident_contacts.auth.conditions import REQUEST_SCOPE
from incident_contacts.auth.principals import identity_allows, principal_of, unrestricted
from incident_contacts.console import build_console
from incident_contacts.errors import (
    AccessDeniedException,
    InternalServerException,
    ServiceError,
    ValidationException,
)
from incident_contacts.ids import new_id
from incident_contacts.metrics import Metrics
from incident_contacts.protocol import awsjson
from incident_contacts.runtime import Runtime
from incident_contacts.service import arns, engagements, outbox

log = logging.getLogger(__name__)

MAX_BODY = 2 * 1024 * 1024
_BOUND_DIGITS = len(str(MAX_BODY))
DRAINED = 16 * 1024 * 1024
"""The longest declared body, past ``MAX_BODY``, that is still read (and dropped) after its
refusal, so that a client which writes its whole body before it reads (Node's HTTP client)
reads the 400 rather than a reset connection; longer ones end the connection unread."""
MAX_ADVANCE = 10 * 365.25 * 86400
"""The most the inspection clock moves in one request (ten years)."""
BASE = "/_aws/ssm-contacts"


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _error(exc: ServiceError) -> Response:
    """An error of the inspection endpoints, in the AWS JSON form the API uses."""
    response = awsjson.error("-", exc)
    return Response(response.body, status_code=response.status,
                    headers=dict(response.headers))


_NAMES: dict[bytes, str] = {}
"""Header names as received -> as the pipeline reads them (text, lower case): a server sees
the same few names on every request. Bounded: names past the bound are read each time, and
so are names longer than any a client sends (a request may carry names of megabytes)."""
_MAX_NAMES = 512
_MAX_NAME_LENGTH = 64


def _headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """A request's headers as the dispatcher takes them: text, names in lower case (ASGI asks
    servers for lower-case names; not every server or test client obeys)."""
    names = _NAMES
    headers: dict[str, str] = {}
    for raw_name, value in raw:
        name = names.get(raw_name)
        if name is None:
            name = raw_name.decode("latin-1").lower()
            if len(names) < _MAX_NAMES and len(raw_name) <= _MAX_NAME_LENGTH:
                names[raw_name] = name
        headers[name] = value.decode("latin-1")
    return headers


class _ClientGone(Exception):
    """The client disconnected before it had sent the whole request body."""


async def _rest_of_body(receive: Receive, first: bytes) -> bytes | None:
    """A body sent in several parts, after its ``first``; None as soon as it proves larger
    than ``MAX_BODY``, the rest left unread (the answer then closes the connection). Raises
    :class:`_ClientGone` when the client leaves before its last part."""
    size = len(first)
    if size > MAX_BODY:
        return None
    chunks = [first]
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise _ClientGone
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > MAX_BODY:
                return None
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _closing_if_unread(scope: Scope, send: Send) -> Send:
    """``send`` for a request served by the router: its answer closes the connection when the
    handler left the body unread past a bound (``bodies.read_at_most``)."""

    async def send_closing(message: Message) -> None:
        if message["type"] == "http.response.start" and scope.get(bodies.UNREAD):
            message = {**message, "headers": [*message.get("headers", ()),
                                              (b"connection", b"close")]}
        await send(message)

    return send_closing


def _drains(headers: Mapping[str, str], length: str | None) -> bool:
    """Whether the rest of a refused body may be read and dropped to keep its connection: only
    a declared length of at most :data:`DRAINED`, from a client that sends the body without
    waiting for "100 Continue" (one that waits sends no body after a refusal, and its next
    request would be read as the rest of this one). Never with a ``Transfer-Encoding`` too:
    the body is then framed by its chunks, whatever the length says (an HTTP/1.1 server such
    as h11 reads it so), and would be drained without end."""
    return (length is not None and "expect" not in headers
            and "transfer-encoding" not in headers
            and not bodies.declares_more_than(length, DRAINED))


async def _refuse_too_large(send: Send, *, close: bool) -> None:
    """The answer to a body over ``MAX_BODY``: what AWS JSON calls a body it cannot parse (a
    400 ``ValidationException``, reason ``CANNOT_PARSE``). The body is not read past the bound
    here. With ``close``, the answer says ``Connection: close`` and uvicorn ends the
    connection once it is out, reading nothing more (a client could make the server read any
    length); without it, uvicorn reads and drops the rest of the declared length, and the
    connection carries the client's next request."""
    response = awsjson.error(new_id(), ValidationException(
        "The request body is larger than 2 MiB.", reason="CANNOT_PARSE"))
    await send({
        "type": "http.response.start",
        "status": response.status,
        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
        + [(b"content-length", str(len(response.body)).encode())]
        + ([(b"connection", b"close")] if close else []),
    })
    await send({"type": "http.response.body", "body": response.body})


def _for_this_turn(loop: asyncio.AbstractEventLoop) -> Callable[[Callable[[], None]], bool]:
    """``Store.keep_reading`` for calls served on ``loop``: what it is given runs at the start
    of the loop's next turn."""
    thread = threading.get_ident()

    def keep(forget: Callable[[], None]) -> bool:
        if threading.get_ident() != thread:
            return False
        loop.call_soon(forget)
        return True

    return keep


class Application:
    """ASGI callable. ``background`` are started with the server and stopped with it."""

    def __init__(self, runtime: Runtime, dispatcher: Dispatcher,
                 background: list[Any] | None = None, *,
                 metrics: Metrics | None = None) -> None:
        self.runtime = runtime
        self.dispatcher = dispatcher
        self.metrics = metrics
        self.background = background or []
        self.ready = False
        # On SQLite a call is a few dozen microseconds of local work, and a thread per call
        # costs more than that: worker threads fight the event loop for the GIL (each SQLite
        # step gives it up and waits to get it back). So calls run on the event loop itself.
        # PostgreSQL calls wait on the network, and run in threads.
        self.inline = runtime.store.sqlite
        # Writes waiting for their group: the request, and where its answer goes.
        self._writes: list[tuple[tuple[str, str, dict[str, str], bytes],
                                 asyncio.Future[awsjson.HttpResponse]]] = []
        routes: list[BaseRoute] = [Route(f"{BASE}/health", self.health, methods=["GET"])]
        if metrics is not None:
            routes.append(Route("/metrics", self.metrics_page, methods=["GET"]))
        if runtime.settings.inspection_enabled:
            routes += [
                Route(f"{BASE}/messages", self.messages, methods=["GET", "DELETE"]),
                Route(f"{BASE}/clock", self.clock, methods=["GET", "POST"]),
                Route(f"{BASE}/engagements/events", self.engagement_events, methods=["GET"]),
            ]
        routes += webhooks.routes(runtime)
        if runtime.settings.console:
            credentials = getattr(dispatcher.authenticate, "credentials", None)
            routes.append(Mount("/console", build_console(runtime, dispatcher, credentials)))
        self.router = Starlette(routes=routes, lifespan=self._lifespan)

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        store = self.runtime.store
        if self.inline:
            store.keep_reading = _for_this_turn(asyncio.get_running_loop())
        for item in self.background:
            item.start()
        self.ready = True
        try:
            yield
        finally:
            self.ready = False
            store.keep_reading = None
            for item in reversed(self.background):
                await anyio.to_thread.run_sync(item.stop)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.router(scope, receive, send)
            return
        REQUEST_SCOPE.set(scope)  # what policy conditions may test (aws:SourceIp, ...)
        if scope["path"] != "/" or scope["method"] != "POST":
            await self.router(scope, receive, _closing_if_unread(scope, send))
            return
        # The AWS endpoint, the hot path: served here rather than in a coroutine of its own.
        headers = _headers(scope["headers"])
        length = headers.get("content-length")
        # Refused before any of the body is read (uvicorn sends "100 Continue" only when the
        # body is first asked for); shorter values than the bound's are all within it.
        if length is not None and len(length) >= _BOUND_DIGITS and \
                bodies.declares_more_than(length, MAX_BODY):
            await _refuse_too_large(send, close=not _drains(headers, length))
            return
        message = await receive()
        if message["type"] != "http.request":
            return  # the client left before its body came: nothing to run, nobody to answer
        first: bytes = message.get("body", b"")
        body: bytes | None = first
        if message.get("more_body", False):
            try:
                body = await _rest_of_body(receive, first)
            except _ClientGone:
                return  # a part of a request is not run (it may be valid JSON on its own)
        if body is None or len(body) > MAX_BODY:
            await _refuse_too_large(send, close=True)
            return
        query = scope.get("query_string")
        path = scope["path"] + "?" + query.decode("latin-1") if query else scope["path"]
        if self.inline and self.dispatcher.writes(headers):
            response = await self._grouped(path, headers, body)
        elif self.inline:
            response = self.dispatcher.handle("POST", path, headers, body)
        else:
            response = await anyio.to_thread.run_sync(
                self.dispatcher.handle, "POST", path, headers, body
            )
        await send({
            "type": "http.response.start",
            "status": response.status,
            "headers": [(k.encode("latin-1"), v.encode("latin-1"))
                        for k, v in response.headers]
            + [(b"content-length", str(len(response.body)).encode())],
        })
        await send({"type": "http.response.body", "body": response.body})

    def _grouped(self, path: str, headers: dict[str, str],
                 body: bytes) -> asyncio.Future[awsjson.HttpResponse]:
        """A write, served with the other writes that arrive by the event loop's next turn
        under one commit (``Dispatcher.handle_group``).

        The group waits one turn more than it must: answers to a group leave together, so
        clients send their next requests together, and some of them reach the socket just
        after the loop has looked. Waiting for the next look brings a group under load from
        three requests to all of them (eight connections, eight), for the price of one more
        poll of the sockets.
        """
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[awsjson.HttpResponse] = loop.create_future()
        self._writes.append((("POST", path, headers, body), answer))
        if len(self._writes) == 1:
            loop.call_soon(loop.call_soon, self._serve_writes)
        return answer

    def _serve_writes(self) -> None:
        writes, self._writes = self._writes, []
        try:
            responses = self.dispatcher.handle_group([request for request, _ in writes])
        except Exception:
            log.exception("a group of %d writes failed", len(writes))
            responses = [awsjson.error("-", InternalServerException()) for _ in writes]
        for (_, answer), response in zip(writes, responses, strict=True):
            if not answer.cancelled():
                answer.set_result(response)

    async def health(self, _request: Request) -> Response:
        if not self.ready:
            return JSONResponse({"status": "starting"}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def metrics_page(self, _request: Request) -> Response:
        """Prometheus' text format (``incident_contacts.metrics``); it reads the database."""
        assert self.metrics is not None
        body = await anyio.to_thread.run_sync(self.metrics.exposition)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def _inspector(self, request: Request, what: str, *,
                         needs: tuple[str, str] | None = None,
                         changes: bool = False) -> tuple[str, str] | None:
        """Whose data an inspection request may see (an account and a region): None for
        everyone's.

        With ``--auth off`` the endpoints are a development tool: an unsigned request sees
        every account, a request with an ``Authorization`` header only the account it names.
        With ``--auth sigv4`` the request must be signed like an API call (a GET signs its path
        and query string), and it sees only the signer's account in the signed region. Its
        identity policy must also allow ``needs`` (an operation, and a resource path of the
        signer's account and region); a request that ``changes`` what others see (emptying
        the outbox, moving the clock every account shares) needs full access (no identity
        policy). ``what`` names the request in a refusal. Refusals raise the same errors as
        the API does.
        """
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in request.scope["headers"]}
        if self.runtime.settings.auth == "off" and "authorization" not in headers:
            return None
        query = request.scope.get("query_string", b"").decode("latin-1")
        path = request.scope["path"] + ("?" + query if query else "")
        body = await request.body()
        caller = await anyio.to_thread.run_sync(
            self.dispatcher.authenticate, request.method, path, headers, body
        )
        if self.runtime.settings.auth == "off":
            return caller.account, caller.region
        principal = principal_of(caller)
        if changes and not unrestricted(caller):
            raise AccessDeniedException(
                f"User: {principal.arn} is not authorized to {what}: that needs full access "
                "to the account (no identity policy).")
        if needs is not None:
            operation, resource = needs
            arn = arns.build(caller.region, caller.account, *resource.split("/"))
            if not identity_allows(caller, operation, arn, self.runtime.clock.now()):
                raise AccessDeniedException(
                    f"User: {principal.arn} is not authorized to {what}: that needs "
                    f"ssm-contacts:{operation} on resource: {arn}.")
        return caller.account, caller.region

    async def messages(self, request: Request) -> Response:
        store = self.runtime.store
        try:
            if request.method == "DELETE":
                place = await self._inspector(request, "empty the outbox record",
                                              changes=True)
            else:
                # Every address and code of the account: what reading every channel allows.
                place = await self._inspector(
                    request, "read the messages endpoint",
                    needs=("GetContactChannel", "contact-channel/*"))
        except ServiceError as exc:
            return _error(exc)
        if request.method == "DELETE":
            def clear() -> None:
                with store.transaction() as conn:
                    outbox.clear(conn, place)
            await anyio.to_thread.run_sync(clear)
            return _json({})
        arn = request.query_params.get("ContactChannelArn")

        def read() -> list[dict[str, Any]]:
            with store.transaction(write=False) as conn:
                return outbox.list_messages(conn, self.runtime, channel_arn=arn, place=place)

        return _json({"messages": await anyio.to_thread.run_sync(read)})

    async def engagement_events(self, request: Request) -> Response:
        """What the engine did besides paging (skipped channels, nobody on call, stops):
        ``?EngagementArn=<arn>`` answers ``{"events": [...]}``, oldest first."""
        arn = request.query_params.get("EngagementArn", "")
        if not arn:
            return _json({"message": "EngagementArn is required: "
                                     "?EngagementArn=<an engagement's ARN>"}, 400)
        parsed = arns.parse(arn)
        path = "/".join(parsed.parts) if parsed is not None and parsed.kind == "engagement" \
            else "*/*"
        try:
            place = await self._inspector(request, "read an engagement's events",
                                          needs=("DescribeEngagement", f"engagement/{path}"))
        except ServiceError as exc:
            return _error(exc)

        def read() -> list[dict[str, Any]] | None:
            with self.runtime.store.transaction(write=False) as conn:
                return engagements.list_events(conn, self.runtime, arn, place=place)

        events = await anyio.to_thread.run_sync(read)
        if events is None:
            return _json({"message": f"no engagement {arn}"}, 404)
        return _json({"events": events})

    async def clock(self, request: Request) -> Response:
        clock = self.runtime.clock
        try:
            # Moving it moves it for every account.
            await self._inspector(request, "move the clock", changes=request.method == "POST")
        except ServiceError as exc:
            return _error(exc)
        if request.method == "POST":
            try:
                data = orjson.loads(await request.body() or b"{}")
                seconds = float(data.get("AdvanceSeconds", 0))
                if not 0 <= seconds <= MAX_ADVANCE:    # and not NaN
                    raise ValueError
            except (ValueError, AttributeError, TypeError, orjson.JSONDecodeError):
                return _json({"message": "AdvanceSeconds must be a number of seconds from 0 to "
                                         f"{MAX_ADVANCE:.0f} (ten years)"}, 400)
            advance: Callable[[float], float] | None = getattr(clock, "advance", None)
            if advance is None:
                return _json({"message": "this server's clock cannot be moved"}, 400)
            try:
                advance(seconds)
            except ValueError as exc:
                return _json({"message": str(exc)}, 400)
            self.runtime.wake_engine()
            self.runtime.wake_delivery()
        return _json({"Now": clock.now()})


__all__ = ["BASE", "Application"]
