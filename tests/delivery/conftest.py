"""Local peers for the delivery tests: a self-signed certificate, an SMTP server (aiosmtpd), a
fake of Twilio's Messages and Calls endpoints, a webhook receiver and a fake of SNS's Publish
(Starlette under uvicorn). All listen on 127.0.0.1 on a port the OS picks, and each is stopped
by the fixture that started it."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import ipaddress
import socket
import ssl
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

LOOPBACK = "127.0.0.1"


# --- certificate -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SelfSigned:
    cert_file: Path
    key_file: Path
    cert_pem: str

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        """Trusts this certificate only, with full hostname checking."""
        return ssl.create_default_context(cadata=self.cert_pem)


@pytest.fixture(scope="session")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> SelfSigned:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(LOOPBACK))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    cert_file = folder / "cert.pem"
    key_file = folder / "key.pem"
    cert_file.write_text(cert_pem)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return SelfSigned(cert_file, key_file, cert_pem)


# --- SMTP --------------------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    login: str | None
    tls: bool


@dataclass
class RecordingHandler:
    """aiosmtpd handler: keeps every accepted message; refuses the recipients it is told to."""

    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert server.transport is not None
        self.received.append(
            Received(
                mail_from=envelope.mail_from or "",
                rcpt_tos=list(envelope.rcpt_tos),
                content=envelope.original_content or b"",
                login=session.auth_data,
                tls=server.transport.get_extra_info("ssl_object") is not None,
            )
        )
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """aiosmtpd's Controller, but learns the port when it was asked for port 0."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


def password_authenticator(users: dict[str, str]) -> Callable[..., AuthResult]:
    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        if users.get(login) != password:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=login)

    return authenticate


@dataclass
class SmtpServer:
    handler: RecordingHandler
    port: int


SmtpServerFactory = Callable[..., SmtpServer]


@pytest.fixture
def smtp_server_factory() -> Iterator[SmtpServerFactory]:
    """Start aiosmtpd servers on 127.0.0.1; keyword arguments go to Controller/SMTP."""
    controllers: list[_Controller] = []

    def start(**kwargs: Any) -> SmtpServer:
        handler = RecordingHandler()
        controller = _Controller(
            handler, hostname=LOOPBACK, port=0, server_hostname="mail.test", **kwargs
        )
        controller.start()
        controllers.append(controller)
        return SmtpServer(handler, controller.port)

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that is bound but not listening, so connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        yield sock.getsockname()[1]


# --- Twilio ------------------------------------------------------------------------------------


@dataclass
class FakeTwilio:
    """Twilio's Messages.json and Calls.json, enough to be sent to; records each request."""

    account_sid: str
    auth_token: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    scripted: list[tuple[int, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    base_url: str = ""

    def respond_next(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        self.scripted.append((status, body, headers or {}))

    def app(self) -> Starlette:
        async def create(request: Request) -> JSONResponse:
            # Parsed by hand: Starlette's form parser needs python-multipart.
            pairs = parse_qsl((await request.body()).decode(), keep_blank_values=True)
            form = dict(pairs)
            assert len(form) == len(pairs), "a form field was sent twice"
            self.requests.append(
                {
                    "path": request.url.path,
                    "authorization": request.headers.get("authorization"),
                    "content_type": request.headers.get("content-type"),
                    "form": form,
                }
            )
            expected = request.path_params["sid"]
            if not _basic_auth_ok(request, expected, self.auth_token) or (
                expected != self.account_sid
            ):
                return JSONResponse(
                    {"code": 20003, "message": "Authenticate", "status": 401}, status_code=401
                )
            if self.scripted:
                status, body, headers = self.scripted.pop(0)
                return JSONResponse(body, status_code=status, headers=headers)
            prefix = "SM" if request.url.path.endswith("/Messages.json") else "CA"
            return JSONResponse(
                {"sid": prefix + uuid.uuid4().hex, "status": "queued", "to": form.get("To")},
                status_code=201,
            )

        return Starlette(
            routes=[
                Route("/2010-04-01/Accounts/{sid}/Messages.json", create, methods=["POST"]),
                Route("/2010-04-01/Accounts/{sid}/Calls.json", create, methods=["POST"]),
            ]
        )


def _basic_auth_ok(request: Request, user: str, password: str) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(encoded).decode()
    except ValueError:
        return False
    return decoded == f"{user}:{password}"


class _ThreadedServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()

    @property
    def port(self) -> int:
        port: int = self.servers[0].sockets[0].getsockname()[1]
        return port


@contextlib.contextmanager
def served(app: Starlette) -> Iterator[str]:
    """``app`` served by uvicorn on 127.0.0.1 in a thread; yields its base URL."""
    config = uvicorn.Config(app, host=LOOPBACK, port=0, lifespan="off", ws="none",
                            log_level="warning")
    server = _ThreadedServer(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    try:
        assert server.ready.wait(10), "the local server did not start"
        yield f"http://{LOOPBACK}:{server.port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    """FakeTwilio served by uvicorn on 127.0.0.1 in a thread; ``base_url`` says where."""
    fake = FakeTwilio(account_sid="AC" + "0" * 32, auth_token="token-" + uuid.uuid4().hex)
    with served(fake.app()) as base_url:
        fake.base_url = base_url
        yield fake


# --- a webhook receiver ------------------------------------------------------------------------


@dataclass
class FakeWebhook:
    """Receives webhook deliveries at ``/hook``: each request's headers and raw body."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    scripted: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    url: str = ""

    def respond_next(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.scripted.append((status, headers or {}))

    def app(self) -> Starlette:
        async def hook(request: Request) -> JSONResponse:
            self.requests.append({"headers": dict(request.headers),
                                  "body": await request.body()})
            if self.scripted:
                status, headers = self.scripted.pop(0)
                return JSONResponse({"error": "scripted"}, status_code=status, headers=headers)
            return JSONResponse({"id": "relay-" + uuid.uuid4().hex[:12]}, status_code=202)

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


@pytest.fixture
def fake_webhook() -> Iterator[FakeWebhook]:
    fake = FakeWebhook()
    with served(fake.app()) as base_url:
        fake.url = base_url + "/hook"
        yield fake


# --- Amazon SNS --------------------------------------------------------------------------------


@dataclass
class FakeSns:
    """SNS's Query API, ``Action=Publish`` only: records each request's form and the SigV4
    credential scope it was signed with, and answers as SNS does."""

    access_key: str
    region: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    scripted: list[tuple[int, str]] = field(default_factory=list)
    url: str = ""

    def refuse_next(self, status: int, code: str) -> None:
        """Answer the next Publish with SNS's error document for ``code``."""
        self.scripted.append((status, code))

    def published(self) -> list[dict[str, str]]:
        return [request["form"] for request in self.requests
                if request["form"].get("Action") == "Publish" and request["accepted"]]

    def app(self) -> Starlette:
        async def endpoint(request: Request) -> Response:
            pairs = parse_qsl((await request.body()).decode(), keep_blank_values=True)
            form = dict(pairs)
            credential = request.headers.get("authorization", "").partition("Credential=")[2]
            scope = credential.split(",")[0].split("/")
            signed = (len(scope) == 5 and scope[0] == self.access_key
                      and scope[2:] == [self.region, "sns", "aws4_request"])
            record = {"form": form, "signed": signed, "accepted": False}
            self.requests.append(record)
            if not signed:
                return _sns_error(403, "InvalidClientTokenId",
                                  "The security token included in the request is invalid.")
            if form.get("Action") != "Publish" or form.get("Version") != "2010-03-31":
                return _sns_error(400, "InvalidAction", "Could not find operation.")
            if self.scripted:
                status, code = self.scripted.pop(0)
                return _sns_error(status, code, f"scripted {code} for {form.get('PhoneNumber')}")
            record["accepted"] = True
            message_id = str(uuid.uuid4())
            return Response(
                '<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
                f"<PublishResult><MessageId>{message_id}</MessageId></PublishResult>"
                f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
                "</PublishResponse>", media_type="text/xml")

        return Starlette(routes=[Route("/", endpoint, methods=["POST"])])


def _sns_error(status: int, code: str, message: str) -> Response:
    kind = "Receiver" if status >= 500 else "Sender"
    return Response(
        '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
        f"<Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>",
        status_code=status, media_type="text/xml")


@pytest.fixture
def fake_sns() -> Iterator[FakeSns]:
    fake = FakeSns(access_key="AKIDSNSTEST" + uuid.uuid4().hex[:8].upper(), region="eu-west-1")
    with served(fake.app()) as base_url:
        fake.url = base_url
        yield fake
