"""Verifying the messages Amazon SNS posts to an HTTPS subscription, as AWS documents it
("Verifying the signatures of Amazon SNS messages").

Each message is a JSON object. Its ``Signature`` is base64 of an RSA PKCS #1 v1.5 signature
(``SignatureVersion`` 1: SHA1withRSA; 2: SHA256withRSA) over a canonical string: for each
signed field, in this order and when present, the field's name, a newline, its value, a
newline. A ``Notification`` signs ``Message``, ``MessageId``, ``Subject`` (only when the
message has one), ``Timestamp``, ``TopicArn`` and ``Type``; a ``SubscriptionConfirmation`` or
``UnsubscribeConfirmation`` signs ``Message``, ``MessageId``, ``SubscribeURL``,
``Timestamp``, ``Token``, ``TopicArn`` and ``Type``.

The key is in the X.509 certificate at ``SigningCertURL``. The trust anchor is where that
certificate comes from: only an ``https`` URL on SNS's own host in the topic's region
(``sns.<region>.amazonaws.com``, or ``sns.cn-<...>.amazonaws.com.cn`` in China), with no user,
port, query or fragment and a path of SNS's certificates
(``/SimpleNotificationService-<hex>.pem``), is fetched, over TLS checked against the system's
certificate authorities, without following redirects. Anything else is refused before any
request goes out: whoever posts a message cannot have the server fetch from another region's
host, nor other files, nor one file under many names (each a miss of the cache below). A
certificate must hold an RSA key and be within its validity period; it is kept (by URL, at
most :data:`CACHED_CERTIFICATES`) until it expires.

Fetches are bounded, since they happen before a signature can be checked (anyone who knows
an accepted topic's ARN can post a message naming a certificate): at most
:data:`FETCHES_AT_ONCE` at a time and :data:`FETCH_BURST` in a burst, then one every
``1 / FETCH_RATE`` seconds. Beyond that a message whose certificate is not kept is answered as
one whose certificate cannot be fetched now (SNS tries again), and no thread waits on SNS:
certificates already kept still verify.

A message dated more than :data:`MAX_AGE` seconds ago (one hour, the longest SNS keeps
retrying an HTTPS delivery) or more than :data:`MAX_AHEAD` seconds ahead is refused even with
a valid signature, so a captured message cannot be replayed for ever. Within the hour a
replay is harmless to the SMS replies this serves: a page acknowledged once stays
acknowledged.

:class:`SnsMessageVerifier` takes the function that fetches a certificate (``fetch``), so tests
can serve one they made; the URL checks run before it is called, whatever it is.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import SplitResult, parse_qs, urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from incident_contacts.auth.throttle import Throttle
from incident_contacts.clock import Clock, WallClock
from incident_contacts.errors import ThrottlingException

__all__ = [
    "CACHED_CERTIFICATES", "FETCHES_AT_ONCE", "FETCH_BURST", "FETCH_RATE", "MAX_AGE",
    "MAX_AHEAD", "SIGNED_FIELDS", "CertificateFetcher",
    "CertificateUnavailable", "SnsMessageError", "SnsMessageVerifier", "check_certificate_url",
    "check_subscribe_url", "fetch_certificate", "string_to_sign",
]

_CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token",
                        "TopicArn", "Type")
SIGNED_FIELDS: dict[str, tuple[str, ...]] = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": _CONFIRMATION_FIELDS,
    "UnsubscribeConfirmation": _CONFIRMATION_FIELDS,
}
"""The fields each type of message signs, in the order they are signed."""
_OPTIONAL = frozenset({"Subject"})
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}

MAX_AGE = 3600.0
MAX_AHEAD = 300.0
CACHED_CERTIFICATES = 16
FETCH_RATE = 1 / 6
"""Certificate fetches per second, after a burst of :data:`FETCH_BURST`."""
FETCH_BURST = 10
FETCHES_AT_ONCE = 2
_MAX_CERTIFICATE_BYTES = 64 * 1024

# SNS's endpoint in a region; China's regions are under amazonaws.com.cn.
_SNS_HOST = re.compile(r"sns\.(?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2})\.amazonaws\.com"
                       r"(?P<china>\.cn)?")
# The name SNS gives its signing certificates.
_CERTIFICATE_PATH = re.compile(r"/SimpleNotificationService-[0-9a-f]{1,64}\.pem")

CertificateFetcher = Callable[[str], bytes]
"""``fetch(url) -> PEM bytes``; raises :class:`CertificateUnavailable` when it cannot."""


class SnsMessageError(Exception):
    """The message is not a genuine, current SNS message: refuse it."""


class CertificateUnavailable(Exception):
    """The signing certificate could not be fetched now: worth SNS's retry."""


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """The canonical string ``message``'s signature covers, as UTF-8."""
    kind = message.get("Type")
    if not isinstance(kind, str) or kind not in SIGNED_FIELDS:
        raise SnsMessageError(f"not a type of SNS message: {str(kind)[:40]!r}")
    parts: list[str] = []
    for name in SIGNED_FIELDS[kind]:
        value = message.get(name)
        if value is None and name in _OPTIONAL:
            continue
        if not isinstance(value, str):
            raise SnsMessageError(f"the message has no {name}")
        parts.append(f"{name}\n{value}\n")
    return "".join(parts).encode("utf-8")


def _region_of(topic_arn: str) -> str:
    """The region of a topic's ARN (``arn:<partition>:sns:<region>:<account>:<name>``)."""
    pieces = topic_arn.split(":")
    if len(pieces) != 6 or pieces[0] != "arn" or pieces[2] != "sns" or not pieces[3]:
        raise SnsMessageError("the TopicArn is not a topic's ARN")
    return pieces[3]


def _sns_url(url: object, what: str, topic_arn: str) -> SplitResult:
    """``url`` split, when it is an https URL on SNS's host in the region of ``topic_arn``
    (SNS signs, and confirms subscriptions, from the topic's own region); else refused."""
    if not isinstance(url, str):
        raise SnsMessageError(f"the message has no {what}")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise SnsMessageError(f"the {what} is not a URL") from None
    host = _SNS_HOST.fullmatch(parts.netloc)
    if parts.scheme != "https" or host is None or parts.fragment:
        raise SnsMessageError(f"the {what} is not on an SNS host")
    if bool(host["china"]) != host["region"].startswith("cn-"):
        raise SnsMessageError(f"the {what} is not on an SNS host")
    if host["region"] != _region_of(topic_arn):
        raise SnsMessageError(f"the {what} is not on SNS's host in the topic's region")
    return parts


def check_certificate_url(url: object, topic_arn: str) -> str:
    """``url`` when SNS could have signed a message of ``topic_arn`` with a certificate
    there; else refused."""
    parts = _sns_url(url, "SigningCertURL", topic_arn)
    if parts.query or not _CERTIFICATE_PATH.fullmatch(parts.path):
        raise SnsMessageError("the SigningCertURL is not a certificate of SNS")
    return parts.geturl()


def check_subscribe_url(url: object, topic_arn: str) -> str:
    """``url`` when it confirms the subscription to ``topic_arn`` on SNS's host (checked
    before it is visited, though it was signed: only SNS's endpoint is ever asked)."""
    parts = _sns_url(url, "SubscribeURL", topic_arn)
    query = parse_qs(parts.query)
    if query.get("Action") != ["ConfirmSubscription"] or query.get("TopicArn") != [topic_arn]:
        raise SnsMessageError("the SubscribeURL does not confirm this topic")
    return parts.geturl()


def fetch_certificate(url: str, *, timeout: float = 10.0) -> bytes:
    """The certificate at ``url`` over HTTPS (TLS checked, no redirects, at most 64 KiB)."""
    try:
        with httpx.stream("GET", url, timeout=timeout, follow_redirects=False) as response:
            if response.status_code != 200:
                raise CertificateUnavailable(f"SNS answered HTTP {response.status_code} for "
                                             "its certificate")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > _MAX_CERTIFICATE_BYTES:
                    raise CertificateUnavailable("SNS's certificate is too large")
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.HTTPError as exc:
        raise CertificateUnavailable(f"SNS's certificate could not be fetched: "
                                     f"{type(exc).__name__}") from exc


def _epoch(text: object) -> float:
    if not isinstance(text, str):
        raise SnsMessageError("the message has no Timestamp")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SnsMessageError("the message's Timestamp is not a time") from None
    if moment.tzinfo is None:
        raise SnsMessageError("the message's Timestamp has no time zone")
    return moment.timestamp()


class SnsMessageVerifier:
    """Checks that a message (the parsed JSON body) was signed by SNS, and is current.

    ``fetch`` gets a certificate's PEM by URL (by default over HTTPS from SNS); ``clock``
    says what time it is (the wall clock: SNS dates its messages by the real time).
    """

    def __init__(self, fetch: CertificateFetcher = fetch_certificate, *,
                 clock: Clock | None = None, max_age: float = MAX_AGE) -> None:
        self._fetch = fetch
        self._clock = clock or WallClock()
        self._max_age = max_age
        self._keys: OrderedDict[str, tuple[rsa.RSAPublicKey, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._fetches = Throttle(FETCH_RATE, FETCH_BURST, self._clock)
        self._fetching = threading.BoundedSemaphore(FETCHES_AT_ONCE)

    def verify(self, message: Mapping[str, Any]) -> None:
        """Return when ``message`` is genuine; raise :class:`SnsMessageError` when it is not,
        or :class:`CertificateUnavailable` when its certificate cannot be fetched now."""
        signed = string_to_sign(message)
        version = message.get("SignatureVersion")
        if not isinstance(version, str) or version not in _HASHES:
            raise SnsMessageError(f"unknown SignatureVersion {str(version)[:8]!r}")
        url = check_certificate_url(message.get("SigningCertURL"), message["TopicArn"])
        now = self._clock.now()
        age = now - _epoch(message.get("Timestamp"))
        if age > self._max_age or age < -MAX_AHEAD:
            raise SnsMessageError("the message is not current (its Timestamp is more than "
                                  f"{self._max_age:g} s old, or ahead of the time)")
        encoded = message.get("Signature")
        try:
            if not isinstance(encoded, str):
                raise ValueError(encoded)
            signature = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise SnsMessageError("the message has no base64 Signature") from None
        key = self._key(url, now)
        try:
            key.verify(signature, signed, padding.PKCS1v15(), _HASHES[version]())
        except InvalidSignature:
            raise SnsMessageError("the signature does not match the message") from None

    def _key(self, url: str, now: float) -> rsa.RSAPublicKey:
        with self._lock:
            kept = self._keys.get(url)
            if kept is not None and now <= kept[1]:
                self._keys.move_to_end(url)
                return kept[0]
        key, expires = self._load(self._fetched(url), now)
        with self._lock:
            self._keys[url] = (key, expires)
            self._keys.move_to_end(url)
            while len(self._keys) > CACHED_CERTIFICATES:
                self._keys.popitem(last=False)
        return key

    def _fetched(self, url: str) -> bytes:
        """The certificate at ``url``, unless too many were fetched lately or are being
        fetched now (:class:`CertificateUnavailable` then, without waiting)."""
        try:
            self._fetches.acquire("sns", "GetCertificate")
        except ThrottlingException:
            raise CertificateUnavailable("too many certificates were fetched lately") from None
        if not self._fetching.acquire(blocking=False):
            raise CertificateUnavailable("other certificates are being fetched")
        try:
            return self._fetch(url)
        finally:
            self._fetching.release()

    @staticmethod
    def _load(pem: bytes, now: float) -> tuple[rsa.RSAPublicKey, float]:
        try:
            certificate = x509.load_pem_x509_certificate(pem)
        except ValueError:
            raise SnsMessageError("the SigningCertURL holds no certificate") from None
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise SnsMessageError("the signing certificate has no RSA key")
        start = certificate.not_valid_before_utc.timestamp()
        end = certificate.not_valid_after_utc.timestamp()
        if not start <= now <= end:
            raise SnsMessageError("the signing certificate is not valid now")
        return key, end
