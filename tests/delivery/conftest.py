"""Local peers for the delivery tests: a self-signed certificate, an SMTP server (aiosmtpd), a
fake of Twilio's Messages and Calls endpoints, a webhook receiver, a fake of SNS's Publish and
one of End User Messaging SMS and voice's SendTextMessage and SendVoiceMessage (Starlette under
uvicorn). All listen on 127.0.0.1 on a port the OS picks, and each is stopped
by the fixture that started it."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import hmac
import ipaddress
import json
import re
import socket
import ssl
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl
from xml.etree import ElementTree

import botocore.session
import pytest
import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
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
            if not _validity_period_ok(request.url.path, form):
                # As Twilio: a message's ValidityPeriod is whole seconds from 1 to 36,000.
                return JSONResponse({"code": 21624, "message": "Invalid validity period value",
                                     "status": 400}, status_code=400)
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


def _validity_period_ok(path: str, form: dict[str, str]) -> bool:
    """Twilio's Messages resource takes ``ValidityPeriod`` as an integer of seconds from 1 to
    36,000. Its Calls resource documents no such parameter: the fake refuses one there, so a
    test notices it being sent."""
    value = form.get("ValidityPeriod")
    if value is None:
        return True
    if not path.endswith("/Messages.json"):
        return False
    return value.isdigit() and value.isascii() and 1 <= int(value) <= 36_000


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


# --- AWS End User Messaging SMS and voice ------------------------------------------------------

_SMS_VOICE_MODEL = botocore.session.get_session().get_service_model("pinpoint-sms-voice-v2")
_SMS_VOICE_TARGETS = {f"{_SMS_VOICE_MODEL.metadata['targetPrefix']}.{name}": name
                      for name in ("SendTextMessage", "SendVoiceMessage")}
_AUTHORIZATION = re.compile(r"AWS4-HMAC-SHA256 Credential=([^,]+), ?SignedHeaders=([^,]+), ?"
                            r"Signature=([0-9a-f]{64})")
# SendVoiceMessage's limits on MessageBody by MessageBodyTextType (the model's documentation).
_VOICE_BODY_LIMITS = {"TEXT": 3000, "SSML": 6000}


@dataclass
class FakeSmsVoice:
    """End User Messaging SMS and voice's JSON API (AWS JSON 1.0, target prefix
    ``PinpointSMSVoiceV2``), SendTextMessage and SendVoiceMessage only.

    Checks each request's SigV4 signature (recomputed with botocore's signer for the service
    ``sms-voice`` in ``region`` with this fake's key), its target and content type, and its
    members against botocore's model of the API (required, known, and within each shape's
    length, range, pattern and enum), and an SSML body is well-formed ``<speak>``. Records every
    request, and answers as the service does: a ``MessageId``, or an error document.
    """

    access_key: str
    secret_key: str
    region: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    scripted: list[tuple[int, str, str | None]] = field(default_factory=list)
    opted_out: set[str] = field(default_factory=set)
    url: str = ""

    def refuse_next(self, status: int, code: str, reason: str | None = None) -> None:
        """Answer the next send with the error ``code`` (and modeled ``reason``)."""
        self.scripted.append((status, code, reason))

    def sent(self, operation: str | None = None) -> list[dict[str, Any]]:
        """The bodies of the accepted sends, of ``operation`` when given."""
        return [r["body"] for r in self.requests
                if r["accepted"] and operation in (None, r["operation"])]

    def app(self) -> Starlette:
        async def endpoint(request: Request) -> Response:
            raw = await request.body()
            operation = _SMS_VOICE_TARGETS.get(request.headers.get("x-amz-target", ""))
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            record: dict[str, Any] = {"operation": operation, "body": body,
                                      "headers": dict(request.headers), "accepted": False}
            self.requests.append(record)
            if not _sigv4_valid(request, raw, self.access_key, self.secret_key, self.region,
                                _SMS_VOICE_MODEL.signing_name):
                return _sms_voice_error(403, "InvalidSignatureException", None,
                                        "The request signature we calculated does not match.")
            if (operation is None
                    or request.headers.get("content-type") != "application/x-amz-json-1.0"):
                return _sms_voice_error(400, "UnknownOperationException", None,
                                        "Unknown operation")
            problem = (_model_problem(_SMS_VOICE_MODEL.operation_model(operation).input_shape,
                                      body, "") if isinstance(body, dict) else "not an object")
            if problem is None and operation == "SendVoiceMessage":
                problem = _voice_body_problem(body)
            if problem is not None:
                return _sms_voice_error(400, "ValidationException", "INVALID_PARAMETER",
                                        problem)
            if self.scripted:
                status, code, reason = self.scripted.pop(0)
                return _sms_voice_error(status, code, reason, f"scripted {code} for "
                                        f"{body['DestinationPhoneNumber']}")
            if body["DestinationPhoneNumber"] in self.opted_out:
                return _sms_voice_error(
                    400, "ConflictException", "DESTINATION_PHONE_NUMBER_OPTED_OUT",
                    f"{body['DestinationPhoneNumber']} has opted out")
            record["accepted"] = True
            return JSONResponse({"MessageId": str(uuid.uuid4())},
                                media_type="application/x-amz-json-1.0")

        return Starlette(routes=[Route("/", endpoint, methods=["POST"])])


def _sigv4_valid(request: Request, body: bytes, access_key: str, secret_key: str, region: str,
                 service: str) -> bool:
    """Whether ``request`` carries the SigV4 signature botocore makes of it with this key, for
    ``service`` in ``region``, over the headers it names."""
    found = _AUTHORIZATION.fullmatch(request.headers.get("authorization", ""))
    amz_date = request.headers.get("x-amz-date", "")
    if found is None or not amz_date:
        return False
    credential, signed_names, signature = found.groups()
    scope = credential.split("/")
    if len(scope) != 5 or scope[0] != access_key or scope[2:] != [region, service,
                                                                  "aws4_request"]:
        return False
    signed = {name: request.headers.get(name, "") for name in signed_names.split(";")}
    aws_request = AWSRequest(method=request.method, url=str(request.url), data=body,
                             headers=signed)
    aws_request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(access_key, secret_key), service, region)
    expected = signer.signature(
        signer.string_to_sign(aws_request, signer.canonical_request(aws_request)), aws_request)
    return hmac.compare_digest(expected, signature)


def _model_problem(shape: Any, value: Any, path: str) -> str | None:
    """What in ``value`` does not fit botocore's ``shape``, or None."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return f"{path or 'body'}: not an object"
        for name in shape.required_members:
            if name not in value:
                return f"{path}{name}: required"
        for name, member in value.items():
            if name not in shape.members:
                return f"{path}{name}: unknown member"
            problem = _model_problem(shape.members[name], member, f"{path}{name}.")
            if problem is not None:
                return problem
        return None
    where = path.rstrip(".")
    limits = shape.metadata
    if kind == "map":
        if not isinstance(value, dict):
            return f"{where}: not a map"
        size, problem = len(value), None
        for key, item in value.items():
            problem = (_model_problem(shape.key, key, f"{where}.")
                       or _model_problem(shape.value, item, f"{where}."))
            if problem is not None:
                break
    elif kind == "string":
        if not isinstance(value, str):
            return f"{where}: not a string"
        size = len(value)
        problem = None
        if shape.enum and value not in shape.enum:
            problem = f"{where}: not one of the enum"
        elif "pattern" in limits and re.search(limits["pattern"], value) is None:
            problem = f"{where}: does not match {limits['pattern']}"
    elif kind == "boolean":
        return None if isinstance(value, bool) else f"{where}: not a boolean"
    elif kind == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            return f"{where}: not an integer"
        size, problem = value, None
    else:
        return f"{where}: the fake does not check {kind}"
    if problem is None and not limits.get("min", size) <= size <= limits.get("max", size):
        problem = f"{where}: {size} is out of {limits.get('min')}..{limits.get('max')}"
    return problem


def _voice_body_problem(body: dict[str, Any]) -> str | None:
    text_type = body.get("MessageBodyTextType", "TEXT")
    message = body.get("MessageBody", "")
    if len(message) > _VOICE_BODY_LIMITS[text_type]:
        return f"MessageBody: longer than {_VOICE_BODY_LIMITS[text_type]} for {text_type}"
    if text_type == "SSML":
        try:
            root = ElementTree.fromstring(message)
        except ElementTree.ParseError:
            return "MessageBody: not well-formed SSML"
        if root.tag != "speak":
            return "MessageBody: SSML's root is not <speak>"
    return None


def _sms_voice_error(status: int, code: str, reason: str | None, message: str) -> Response:
    document: dict[str, Any] = {"__type": f"com.amazonaws.pinpointsmsvoicev2#{code}",
                                "Message": message}
    if reason is not None:
        document["Reason"] = reason
    return JSONResponse(document, status_code=status, media_type="application/x-amz-json-1.0",
                        headers={"x-amzn-ErrorType": code})


@pytest.fixture
def fake_sms_voice() -> Iterator[FakeSmsVoice]:
    fake = FakeSmsVoice(access_key="AKIDSMSVOICE" + uuid.uuid4().hex[:8].upper(),
                        secret_key="secret-" + uuid.uuid4().hex, region="eu-central-1")
    with served(fake.app()) as base_url:
        fake.url = base_url
        yield fake
