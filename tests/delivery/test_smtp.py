from __future__ import annotations

import dataclasses
import email
import email.policy
import ssl
import uuid

import pytest

from incident_contacts.delivery import (
    DeliveryError,
    OutgoingMessage,
    PermanentDeliveryError,
    RetryableDeliveryError,
    SmtpTransport,
    activation_text,
)
from incident_contacts.delivery.smtp import parse_smtp_url

from .conftest import LOOPBACK, SelfSigned, SmtpServerFactory, password_authenticator

SENDER = "Incident Manager <contacts@example.com>"


def activation_email(address: str = "akua@example.com", code: str = "042517") -> OutgoingMessage:
    subject, body, _ = activation_text("EMAIL", code, 15)
    return OutgoingMessage(
        message_id="msg-1", channel_type="EMAIL", address=address, subject=subject, body=body
    )


def parse(content: bytes) -> email.message.EmailMessage:
    message = email.message_from_bytes(content, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def test_activation_email_reaches_the_server(smtp_server_factory: SmtpServerFactory) -> None:
    server = smtp_server_factory()
    transport = SmtpTransport(f"smtp://{LOOPBACK}:{server.port}", SENDER, local_hostname="test")

    result = transport.send(activation_email())

    [received] = server.handler.received
    assert received.mail_from == "contacts@example.com"
    assert received.rcpt_tos == ["akua@example.com"]
    assert received.login is None
    assert received.tls is False
    mail = parse(received.content)
    assert mail["Subject"] == "Your Incident Manager activation code"
    assert mail["From"] == SENDER
    assert mail["To"] == "akua@example.com"
    assert mail["Message-ID"] == result.provider_message_id
    assert result.provider_message_id.endswith("@example.com>")
    assert "msg-1" in result.provider_message_id
    assert mail["Date"]
    assert mail.get_content_type() == "text/plain"
    body = mail.get_content()
    assert "Your Incident Manager activation code is 042517." in body
    assert "It expires in 15 minutes." in body


def test_an_outbox_message_keeps_its_message_id_on_every_attempt(
        smtp_server_factory: SmtpServerFactory) -> None:
    """Sent again (a retry after an unclear failure, or after a crash), an outbox message is
    the same email, which mail servers that drop repeated Message-IDs deliver once; two
    outbox messages never share one."""
    server = smtp_server_factory()
    transport = SmtpTransport(f"smtp://{LOOPBACK}:{server.port}", SENDER, local_hostname="test")
    outbox_id = "3f6c1a0e-8a55-4a47-9d3e-5b0c1f2e7d91"
    one = dataclasses.replace(activation_email(), message_id=outbox_id)
    first, again = transport.send(one), transport.send(one)
    other = transport.send(dataclasses.replace(one, message_id=str(uuid.uuid4())))
    assert first.provider_message_id == again.provider_message_id == f"<{outbox_id}@example.com>"
    assert other.provider_message_id != first.provider_message_id
    assert [parse(r.content)["Message-ID"] for r in server.handler.received] == [
        first.provider_message_id, first.provider_message_id, other.provider_message_id]


def test_short_ids_still_get_unique_message_ids(smtp_server_factory: SmtpServerFactory) -> None:
    """An id too short to be unique on its own (not one the outbox makes) gets make_msgid's
    time and randomness."""
    server = smtp_server_factory()
    transport = SmtpTransport(f"smtp://{LOOPBACK}:{server.port}", SENDER, local_hostname="test")
    first = transport.send(activation_email())
    second = transport.send(activation_email())
    assert first.provider_message_id != second.provider_message_id
    assert len(server.handler.received) == 2


def test_auth_with_url_credentials(smtp_server_factory: SmtpServerFactory) -> None:
    # aiosmtpd offers AUTH over plain text only when told to; the STARTTLS test covers TLS.
    server = smtp_server_factory(
        authenticator=password_authenticator({"ops@example.com": "p@ss:w/rd"}),
        auth_require_tls=False,
    )
    url = f"smtp://ops%40example.com:p%40ss%3Aw%2Frd@{LOOPBACK}:{server.port}"
    SmtpTransport(url, SENDER, local_hostname="test").send(activation_email())

    [received] = server.handler.received
    assert received.login == "ops@example.com"


def test_wrong_password_is_permanent(smtp_server_factory: SmtpServerFactory) -> None:
    server = smtp_server_factory(
        authenticator=password_authenticator({"ops": "right"}), auth_require_tls=False
    )
    transport = SmtpTransport(f"smtp://ops:wrong@{LOOPBACK}:{server.port}", SENDER)
    with pytest.raises(PermanentDeliveryError) as caught:
        transport.send(activation_email())
    assert caught.value.retryable is False
    assert "535" in caught.value.reason
    assert server.handler.received == []


def test_starttls_with_auth(
    smtp_server_factory: SmtpServerFactory, self_signed: SelfSigned
) -> None:
    server = smtp_server_factory(
        tls_context=self_signed.server_context(),
        require_starttls=True,
        authenticator=password_authenticator({"ops": "secret"}),
        auth_required=True,
    )
    url = f"smtp://ops:secret@{LOOPBACK}:{server.port}?starttls=true"
    transport = SmtpTransport(url, SENDER, ssl_context=self_signed.client_context())

    transport.send(activation_email())

    [received] = server.handler.received
    assert received.tls is True
    assert received.login == "ops"


def test_starttls_with_an_untrusted_certificate_is_permanent(
    smtp_server_factory: SmtpServerFactory, self_signed: SelfSigned
) -> None:
    server = smtp_server_factory(tls_context=self_signed.server_context(), require_starttls=True)
    transport = SmtpTransport(
        f"smtp://{LOOPBACK}:{server.port}?starttls=true",
        SENDER,
        ssl_context=ssl.create_default_context(),  # the system CAs do not know our certificate
    )
    with pytest.raises(PermanentDeliveryError, match="certificate"):
        transport.send(activation_email())
    assert server.handler.received == []


def test_server_requiring_starttls_refuses_plain_mail(
    smtp_server_factory: SmtpServerFactory, self_signed: SelfSigned
) -> None:
    server = smtp_server_factory(tls_context=self_signed.server_context(), require_starttls=True)
    transport = SmtpTransport(f"smtp://{LOOPBACK}:{server.port}", SENDER)
    with pytest.raises(PermanentDeliveryError, match="530"):
        transport.send(activation_email())


def test_implicit_tls_with_auth(
    smtp_server_factory: SmtpServerFactory, self_signed: SelfSigned
) -> None:
    # Under implicit TLS aiosmtpd does not know the session is encrypted, hence
    # auth_require_tls=False.
    server = smtp_server_factory(
        ssl_context=self_signed.server_context(),
        authenticator=password_authenticator({"ops": "secret"}),
        auth_require_tls=False,
    )
    transport = SmtpTransport(
        f"smtps://ops:secret@{LOOPBACK}:{server.port}",
        SENDER,
        ssl_context=self_signed.client_context(),
    )

    result = transport.send(activation_email())

    [received] = server.handler.received
    assert received.tls is True
    assert received.login == "ops"
    assert parse(received.content)["Message-ID"] == result.provider_message_id


def test_refused_recipient_is_permanent(smtp_server_factory: SmtpServerFactory) -> None:
    server = smtp_server_factory()
    server.handler.refuse["nobody@example.com"] = "550 5.1.1 No such user"
    transport = SmtpTransport(f"smtp://{LOOPBACK}:{server.port}", SENDER)

    with pytest.raises(PermanentDeliveryError) as caught:
        transport.send(activation_email("nobody@example.com"))

    assert caught.value.retryable is False
    assert "550" in caught.value.reason
    assert "nobody@example.com" in caught.value.reason
    assert server.handler.received == []


def test_greylisted_recipient_is_retryable(smtp_server_factory: SmtpServerFactory) -> None:
    server = smtp_server_factory()
    server.handler.refuse["later@example.com"] = "451 4.7.1 Greylisted, try again later"
    transport = SmtpTransport(f"smtp://{LOOPBACK}:{server.port}", SENDER)

    with pytest.raises(RetryableDeliveryError) as caught:
        transport.send(activation_email("later@example.com"))
    assert caught.value.retryable is True
    assert "451" in caught.value.reason


def test_closed_port_is_retryable(closed_port: int) -> None:
    transport = SmtpTransport(f"smtp://{LOOPBACK}:{closed_port}", SENDER, timeout=2.0)
    with pytest.raises(DeliveryError) as caught:
        transport.send(activation_email())
    assert isinstance(caught.value, RetryableDeliveryError)
    assert caught.value.retryable is True


def test_header_injection_is_refused_before_connecting(closed_port: int) -> None:
    transport = SmtpTransport(f"smtp://{LOOPBACK}:{closed_port}", SENDER)
    message = OutgoingMessage(
        message_id="m",
        channel_type="EMAIL",
        address="a@example.com\r\nBcc: b@example.com",
        subject="s",
        body="b",
    )
    with pytest.raises(PermanentDeliveryError):
        transport.send(message)


def test_other_channel_types_are_refused(closed_port: int) -> None:
    transport = SmtpTransport(f"smtp://{LOOPBACK}:{closed_port}", SENDER)
    message = OutgoingMessage("m", "SMS", "+15005550199", None, "hi")
    with pytest.raises(PermanentDeliveryError):
        transport.send(message)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.com", ("mail.example.com", 25, False, False, None, None)),
        (
            "smtp://mail.example.com:587?starttls=true",
            ("mail.example.com", 587, False, True, None, None),
        ),
        ("smtps://u:p@mail.example.com", ("mail.example.com", 465, True, False, "u", "p")),
        (
            "smtp://a%40b.c:p%25w%3A@h:2525",
            (
                "h",
                2525,
                False,
                False,
                "a@b.c",
                "p%w:",
            ),
        ),
        ("smtp://user@h:25?starttls=false", ("h", 25, False, False, "user", "")),
    ],
)
def test_parse_smtp_url(url: str, expected: tuple[object, ...]) -> None:
    settings = parse_smtp_url(url)
    assert (
        settings.host,
        settings.port,
        settings.implicit_tls,
        settings.starttls,
        settings.username,
        settings.password,
    ) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://mail.example.com",
        "smtp://",
        "smtp://h:notaport",
        "smtp://h?starttls=maybe",
        "smtp://h?tls=true",
        "smtps://h?starttls=true",
    ],
)
def test_bad_smtp_urls(url: str) -> None:
    with pytest.raises(ValueError):
        parse_smtp_url(url)


def test_password_stays_out_of_repr() -> None:
    assert "hunter2" not in repr(parse_smtp_url("smtp://u:hunter2@h"))


def test_sender_must_be_an_address() -> None:
    with pytest.raises(ValueError):
        SmtpTransport("smtp://h", "Incident Manager")
