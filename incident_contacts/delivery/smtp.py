"""Email over SMTP with the standard library: plain SMTP, STARTTLS or implicit TLS, optional AUTH.

Configured by one URL (``INCIDENT_CONTACTS_SMTP_URL``, decisions §4)::

    smtp://[user:password@]host[:port][?starttls=true]    port 25 by default
    smtps://[user:password@]host[:port]                   implicit TLS, port 465 by default

User and password are percent-decoded. The message is accepted (``DeliveryStatus`` ``SENT``,
decisions §5) once the server answers the end of DATA with 250.
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from urllib.parse import parse_qsl, unquote, urlsplit

from .base import (
    EMAIL,
    DeliveryError,
    DeliveryResult,
    OutgoingMessage,
    PermanentDeliveryError,
    RetryableDeliveryError,
)

__all__ = ["SmtpSettings", "SmtpTransport", "parse_smtp_url"]

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_MSGID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class SmtpSettings:
    """A parsed SMTP URL."""

    host: str
    port: int
    implicit_tls: bool = False
    starttls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def parse_smtp_url(url: str) -> SmtpSettings:
    """Parse ``smtp://`` / ``smtps://`` URLs; raises ``ValueError`` naming what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError(f"SMTP URL must start with smtp:// or smtps://, not {parts.scheme!r}")
    if not parts.hostname:
        raise ValueError("SMTP URL has no host")
    implicit_tls = parts.scheme == "smtps"
    starttls = False
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name != "starttls":
            raise ValueError(f"unknown SMTP URL parameter {name!r}")
        if value.lower() in _TRUE:
            starttls = True
        elif value.lower() in _FALSE:
            starttls = False
        else:
            raise ValueError(f"starttls must be true or false, not {value!r}")
    if implicit_tls and starttls:
        raise ValueError("smtps:// is already TLS; starttls=true applies to smtp:// only")
    port = parts.port  # ValueError for a malformed port
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if username is not None and password is None:
        password = ""
    return SmtpSettings(
        host=parts.hostname,
        port=port if port is not None else (465 if implicit_tls else 25),
        implicit_tls=implicit_tls,
        starttls=starttls,
        username=username,
        password=password,
    )


class SmtpTransport:
    """Sends EMAIL messages as plain-text mail through one SMTP server, a connection per message.

    Connection trouble and 4xx replies raise :class:`RetryableDeliveryError`; 5xx replies
    (a refused recipient, failed AUTH) and TLS certificate failures raise
    :class:`PermanentDeliveryError`.
    """

    def __init__(
        self,
        url: str,
        sender: str,
        timeout: float = 10.0,
        *,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        self.settings = parse_smtp_url(url)
        envelope_from = parseaddr(sender)[1]
        if "@" not in envelope_from:
            raise ValueError(f"email sender must be an address, not {sender!r}")
        self.sender = sender
        self.timeout = timeout
        self._envelope_from = envelope_from
        self._domain = envelope_from.rpartition("@")[2]
        self._ssl_context = ssl_context
        self._local_hostname = local_hostname

    def send(self, message: OutgoingMessage) -> DeliveryResult:
        if message.channel_type != EMAIL:
            raise PermanentDeliveryError(
                f"SmtpTransport cannot send {message.channel_type} messages"
            )
        try:
            email, message_id_header = self._build(message)
        except ValueError as exc:  # e.g. a line break in a header
            raise PermanentDeliveryError(f"cannot build the email: {exc}") from exc
        try:
            smtp = self._connect()
        except Exception as exc:
            raise _delivery_error(exc) from exc
        try:
            refused = smtp.send_message(
                email, from_addr=self._envelope_from, to_addrs=[message.address]
            )
        except Exception as exc:
            smtp.close()
            raise _delivery_error(exc) from exc
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass  # the message was accepted already; a rude goodbye changes nothing
        finally:
            smtp.close()
        if refused:  # only for partial refusals, which one recipient cannot have; be safe
            raise _delivery_error(smtplib.SMTPRecipientsRefused(refused))
        return DeliveryResult(provider_message_id=message_id_header)

    def _build(self, message: OutgoingMessage) -> tuple[EmailMessage, str]:
        # One Message-ID per outbox message, the same on every attempt: a message sent again
        # after a crash (delivery is at least once) is then the same message to the mail
        # servers and clients that drop a second copy of one Message-ID. The outbox's ids are
        # random UUIDs, unique without the time and process make_msgid adds.
        idstring = _MSGID_UNSAFE.sub("", message.message_id)[:64]
        message_id_header = (f"<{idstring}@{self._domain}>" if len(idstring) >= 32
                             else make_msgid(idstring=idstring or None, domain=self._domain))
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = message.address
        if message.subject is not None:
            email["Subject"] = message.subject
        email["Date"] = formatdate(usegmt=True)
        email["Message-ID"] = message_id_header
        email.set_content(message.body)
        return email, message_id_header

    def _connect(self) -> smtplib.SMTP:
        settings = self.settings
        smtp: smtplib.SMTP
        if settings.implicit_tls:
            smtp = smtplib.SMTP_SSL(
                settings.host,
                settings.port,
                local_hostname=self._helo_name(),
                timeout=self.timeout,
                context=self._context(),
            )
        else:
            smtp = smtplib.SMTP(
                settings.host,
                settings.port,
                local_hostname=self._helo_name(),
                timeout=self.timeout,
            )
        try:
            if settings.starttls:
                smtp.starttls(context=self._context())
            if settings.username is not None:
                smtp.login(settings.username, settings.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _helo_name(self) -> str:
        # smtplib would call socket.getfqdn() on every connection, which can stall on DNS.
        if self._local_hostname is None:
            self._local_hostname = socket.getfqdn()
        return self._local_hostname

    def _context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context


def _delivery_error(exc: Exception) -> DeliveryError:
    """Classify an smtplib/socket failure; the order matters, as SMTPException is an OSError."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        recipient, (code, text) = next(iter(exc.recipients.items()))
        return _by_code(code, f"recipient {recipient} refused: {code} {_text(text)}")
    if isinstance(exc, smtplib.SMTPResponseException):
        return _by_code(exc.smtp_code, f"SMTP {exc.smtp_code} {_text(exc.smtp_error)}")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return RetryableDeliveryError(f"SMTP server disconnected: {exc}")
    if isinstance(exc, smtplib.SMTPException):
        # SMTPNotSupportedError (no STARTTLS, no AUTH) and "no suitable authentication
        # method": the configuration, not the moment, is wrong.
        return PermanentDeliveryError(f"SMTP: {exc}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return PermanentDeliveryError(f"SMTP server certificate rejected: {exc}")
    if isinstance(exc, OSError):
        return RetryableDeliveryError(f"SMTP connection failed: {exc}")
    return PermanentDeliveryError(f"SMTP: {type(exc).__name__}: {exc}")


def _by_code(code: int, reason: str) -> DeliveryError:
    if 500 <= code <= 599:
        return PermanentDeliveryError(reason)
    return RetryableDeliveryError(reason)


def _text(value: bytes | str) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value
