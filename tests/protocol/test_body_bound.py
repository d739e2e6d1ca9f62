"""The bound on request bodies (``api.app.MAX_BODY``, ``api.bodies.read_at_most``) on a real
server, through raw sockets: a body past the bound is answered as soon as it is known to be
past it, and the rest is never taken for a new request. The rest is read and dropped only
for a declared length up to ``api.app.DRAINED`` from a client that does not wait for "100
Continue" (so that clients which write the whole body before they read get the answer);
anything else ends the connection after the answer, unread.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import orjson
import pytest

from incident_contacts.api.app import DRAINED, MAX_BODY, Application
from incident_contacts.api.webhooks import SMS_PATH
from incident_contacts.protocol.awsjson import CONTENT_TYPE
from incident_contacts.testing import mock_ssm_contacts
from tests.protocol.helpers import AUTHORIZATION
from tests.support.server import ServerProcess, start_server

TWILIO_TOKEN = "12345678901234567890123456789012"
PROMPT = 5.0
"""Seconds within which a refusal must come: far less than reading gigabytes would take, far
more than a loaded machine needs to answer."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = start_server(tmp_path_factory.mktemp("bound"),
                           env={"INCIDENT_CONTACTS_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
                                # Nothing is sent: the webhook is what is tested.
                                "INCIDENT_CONTACTS_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
                                "INCIDENT_CONTACTS_TWILIO_FROM": "+15550100000",
                                "INCIDENT_CONTACTS_TWILIO_BASE_URL": "http://127.0.0.1:9"})
    try:
        yield process
    finally:
        process.stop()


def _connect(server: ServerProcess) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=PROMPT)
    return sock


def _head(target: str, extra: str) -> bytes:
    return (f"POST / HTTP/1.1\r\nHost: localhost\r\nX-Amz-Target: {target}\r\n"
            f"Content-Type: {CONTENT_TYPE}\r\nAuthorization: {AUTHORIZATION}\r\n"
            f"{extra}\r\n").encode()


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length (what the server sends)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the connection ended before a response: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers["content-length"])
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk
        rest += chunk
    return status, headers, rest[:length]


def _closed(sock: socket.socket) -> bool:
    """Whether the server has closed the connection (an end of stream or a reset), and sent
    nothing more before that."""
    try:
        extra = sock.recv(65536)
    except ConnectionResetError:
        return True
    assert extra == b"", f"the server sent more on the connection: {extra!r}"
    return True


def _assert_too_large(status: int, headers: dict[str, str], body: bytes, *,
                      close: bool = True) -> None:
    assert status == 400
    assert headers["x-amzn-errortype"] == "ValidationException"
    assert orjson.loads(body)["Reason"] == "CANNOT_PARSE"
    assert headers["x-amzn-requestid"] not in ("", "-")
    assert headers.get("connection") == ("close" if close else None)


def _list_contacts_works(server: ServerProcess) -> None:
    """A request on a fresh connection is served."""
    with _connect(server) as sock:
        sock.sendall(_head("SSMContacts.ListContacts", "Content-Length: 2\r\n") + b"{}")
        status, _, body = _read_response(sock)
    assert status == 200
    assert "Contacts" in orjson.loads(body)


def _rss_kib(server: ServerProcess) -> int:
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.parametrize("expect", [False, True])
def test_a_declared_length_over_the_bound_is_refused_before_the_body(
        server: ServerProcess, expect: bool) -> None:
    """Content-Length of 3 GiB and a few bytes of it: the answer comes at once (the old server
    waited for the 3 GiB), without "100 Continue" to a client that waits for it, and the
    connection is closed: the bytes after it (which look like a request) are not served."""
    extra = f"Content-Length: {3 * 1024 ** 3}\r\n" + ("Expect: 100-continue\r\n" if expect else "")
    smuggled = _head("SSMContacts.ListContacts", "Content-Length: 2\r\n") + b"{}"
    started = time.monotonic()
    with _connect(server) as sock:
        sock.sendall(_head("SSMContacts.CreateContact", extra)
                     + (b"" if expect else b'{"Alias": "x"}' + smuggled))
        status, headers, body = _read_response(sock)
        assert time.monotonic() - started < PROMPT
        _assert_too_large(status, headers, body)
        assert _closed(sock)
    _list_contacts_works(server)


def test_a_chunked_body_past_the_bound_is_answered_while_it_is_still_coming(
        server: ServerProcess) -> None:
    """A chunked body with no declared length, sent for as long as the server takes it: the
    answer comes while the client is still sending, and the server stops taking the body (the
    sender is stopped by the closed connection long before it has sent what it meant to)."""
    planned = 512 * 1024 * 1024
    part = b"a" * (64 * 1024)
    frame = b"%x\r\n" % len(part) + part + b"\r\n"
    sent = 0
    finished = threading.Event()
    failure: list[BaseException] = []
    sock = _connect(server)
    sock.settimeout(30)
    sock.sendall(_head("SSMContacts.CreateContact", "Transfer-Encoding: chunked\r\n"))

    def send_body() -> None:
        nonlocal sent
        try:
            while sent < planned:
                sock.sendall(frame)
                sent += len(part)
            sock.sendall(b"0\r\n\r\n")
        except OSError as exc:      # the server closed the connection: what is expected
            failure.append(exc)
        finally:
            finished.set()

    sender = threading.Thread(target=send_body, daemon=True)
    started = time.monotonic()
    sender.start()
    try:
        status, headers, body = _read_response(sock)
        answered_after = sent
        assert time.monotonic() - started < PROMPT
        _assert_too_large(status, headers, body)
        assert answered_after < planned
        assert finished.wait(PROMPT), "the server went on taking the body"
        assert failure, "the whole body was taken"
        # What the sender got through is the bound and what the sockets' buffers hold.
        assert sent < MAX_BODY + 32 * 1024 * 1024
    finally:
        sock.close()
        sender.join(PROMPT)
    _list_contacts_works(server)


def test_a_body_sent_whole_past_the_bound_is_refused_and_its_connection_kept(
        server: ServerProcess) -> None:
    """A body just over the bound with its true length, sent whole before anything is read
    (as Node's HTTP client does): refused, the rest read and dropped, and the next request on
    the same connection served (never taken from the refused body)."""
    body = b'{"Alias": "' + b"a" * MAX_BODY + b'"}'
    with _connect(server) as sock:
        sock.sendall(_head("SSMContacts.CreateContact", f"Content-Length: {len(body)}\r\n")
                     + body)
        _assert_too_large(*_read_response(sock), close=False)
        sock.sendall(_head("SSMContacts.ListContacts", "Content-Length: 2\r\n") + b"{}")
        status, _, answer = _read_response(sock)
        assert status == 200
        assert "Contacts" in orjson.loads(answer)


@pytest.mark.parametrize("length, expect", [(DRAINED + 1, False), (MAX_BODY + 1, True)])
def test_a_body_too_long_to_drain_or_never_sent_ends_its_connection(
        server: ServerProcess, length: int, expect: bool) -> None:
    """Past what is drained, or from a client waiting for "100 Continue" (which sends no body
    after a refusal): the connection ends after the answer, and what follows on it (shaped
    like a request) is not served."""
    extra = f"Content-Length: {length}\r\n" + ("Expect: 100-continue\r\n" if expect else "")
    following = _head("SSMContacts.ListContacts", "Content-Length: 2\r\n") + b"{}"
    with _connect(server) as sock:
        sock.sendall(_head("SSMContacts.CreateContact", extra))
        _assert_too_large(*_read_response(sock))
        with contextlib.suppress(OSError):   # the server may have closed already
            sock.sendall(following)
        assert _closed(sock)
    _list_contacts_works(server)


def test_a_body_within_the_bound_keeps_its_connection(server: ServerProcess) -> None:
    """Requests within the bound, sent in parts, share one connection as before."""
    body = orjson.dumps({"Alias": "bounded", "Type": "PERSONAL", "Plan": {"Stages": []},
                         "DisplayName": "b" * 250})
    with _connect(server) as sock:
        sock.sendall(_head("SSMContacts.CreateContact", f"Content-Length: {len(body)}\r\n"))
        for index in range(0, len(body), 50):
            sock.sendall(body[index:index + 50])
        status, headers, _ = _read_response(sock)
        assert status == 200 and "connection" not in headers
        sock.sendall(_head("SSMContacts.ListContacts", "Content-Length: 2\r\n") + b"{}")
        status, _, answer = _read_response(sock)
        assert status == 200
        assert [c["Alias"] for c in orjson.loads(answer)["Contacts"]] == ["bounded"]


def test_refusals_leave_memory_bounded(server: ServerProcess) -> None:
    """Many connections sending bodies past the bound at once leave the server's memory where
    it was (within what its allocator keeps)."""
    before = _rss_kib(server)
    part = b"b" * (256 * 1024)

    def one() -> None:
        with _connect(server) as sock:
            sock.settimeout(30)
            sock.sendall(_head("SSMContacts.CreateContact", "Transfer-Encoding: chunked\r\n"))
            try:
                for _ in range(64):            # 16 MiB, eight times the bound
                    sock.sendall(b"%x\r\n" % len(part) + part + b"\r\n")
            except OSError:
                pass
            _assert_too_large(*_read_response(sock))

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert _rss_kib(server) - before < 64 * 1024
    _list_contacts_works(server)


def test_a_webhook_body_over_its_bound_is_refused_before_it_is_read(
        server: ServerProcess) -> None:
    """``read_at_most`` (the Twilio and SNS webhooks, the console's forms) refuses a declared
    length over its bound before asking for the body, and a body that proves longer once it
    passes the bound; either answer closes the connection."""
    path = SMS_PATH
    head = (f"POST {path} HTTP/1.1\r\nHost: localhost\r\nX-Twilio-Signature: x\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n")
    started = time.monotonic()
    with _connect(server) as sock:
        sock.sendall(f"{head}Content-Length: {3 * 1024 ** 3}\r\n"
                     "Expect: 100-continue\r\n\r\n".encode())
        status, headers, _ = _read_response(sock)
        assert time.monotonic() - started < PROMPT
        assert status == 413 and headers["connection"] == "close"
        assert _closed(sock)
    with _connect(server) as sock:
        sock.sendall(f"{head}Transfer-Encoding: chunked\r\n\r\n".encode())
        part = b"Body=" + b"1" * (64 * 1024)
        try:
            for _ in range(4):
                sock.sendall(b"%x\r\n" % len(part) + part + b"\r\n")
        except OSError:
            pass
        status, headers, _ = _read_response(sock)
        assert status == 413 and headers["connection"] == "close"
        assert _closed(sock)
    with _connect(server) as sock:   # within the bound: answered (a wrong signature), kept
        sock.sendall(f"{head}Content-Length: 6\r\n\r\nBody=1".encode())
        status, headers, _ = _read_response(sock)
        assert status == 403 and "connection" not in headers


# -- in-process: what the application asks of its server ------------------------------------------


def _scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/", "raw_path": b"/", "query_string": b"", "root_path": "",
        "server": ("127.0.0.1", 4575), "client": ("127.0.0.1", 50000),
        "headers": [(b"x-amz-target", b"SSMContacts.ListContacts"),
                    (b"content-type", CONTENT_TYPE.encode()), *headers],
    }


@pytest.mark.parametrize("declared, close", [
    (None, True), (str(4 * MAX_BODY).encode(), False), (str(DRAINED).encode(), False),
    (str(DRAINED + 1).encode(), True), (b"99999999999999999999", True)])
def test_the_application_stops_asking_for_the_body_past_the_bound(
        declared: bytes | None, close: bool) -> None:
    """Parts of 1 MiB without end: the application asks for the third at most (the first
    that passes the bound) and none when the declared length is already over it; it ends the
    connection unless the declared rest is short enough to drain."""
    asked = 0

    async def receive() -> dict[str, Any]:
        nonlocal asked
        asked += 1
        if asked > 100:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": b" " * (1024 * 1024), "more_body": True}

    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    headers = [] if declared is None else [(b"content-length", declared)]
    with mock_ssm_contacts() as mock:
        app = Application(mock.runtime, mock.dispatcher, [])
        asyncio.run(app(_scope(headers), receive, send))
    assert asked == (3 if declared is None else 0)
    assert sent[0]["status"] == 400
    assert ((b"connection", b"close") in sent[0]["headers"]) is close
    assert orjson.loads(sent[1]["body"])["Reason"] == "CANNOT_PARSE"


@pytest.mark.parametrize("declared", [b"2097152", b"0002097152", b"abc", b"\xb2" * 8])
def test_a_declared_length_within_the_bound_or_not_a_number_is_measured(
        declared: bytes) -> None:
    """A length at the bound (with or without leading zeros) is served; one that is not a
    number is left to the body's own length."""
    messages = [{"type": "http.request", "body": b"{}", "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    with mock_ssm_contacts() as mock:
        app = Application(mock.runtime, mock.dispatcher, [])
        asyncio.run(app(_scope([(b"content-length", declared)]), receive, send))
    assert sent[0]["status"] == 200
    assert orjson.loads(sent[1]["body"]) == {"Contacts": []}


def test_a_declared_length_beside_a_transfer_encoding_is_not_drained() -> None:
    """Content-Length and Transfer-Encoding together (h11 accepts them, framing the body by
    its chunks): refused by the length, and the connection ended rather than the chunks read
    and dropped for as long as they come."""
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        raise AssertionError("the body was asked for")

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    headers = [(b"content-length", str(MAX_BODY + 1).encode()),
               (b"transfer-encoding", b"chunked")]
    with mock_ssm_contacts() as mock:
        app = Application(mock.runtime, mock.dispatcher, [])
        asyncio.run(app(_scope(headers), receive, send))
    assert sent[0]["status"] == 400
    assert (b"connection", b"close") in sent[0]["headers"]
