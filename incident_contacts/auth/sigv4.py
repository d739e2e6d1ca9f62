"""Server-side verification of AWS Signature Version 4 (``Authorization`` header form).

botocore's :class:`~botocore.auth.SigV4Auth`, the code every boto3 client signs with
(``reference/style-and-stack.md`` §2.4), is the reference this module is held to: a test
compares :func:`canonical_request` and the signature with botocore's for many random
requests. Verification computes the same strings directly, as it is on every request's path:

* the timestamp comes from ``X-Amz-Date``;
* only the headers named in ``SignedHeaders`` are canonicalised (SDKs also send unsigned
  ones), less those botocore never signs (``User-Agent``, ``Expect``, …), with botocore's
  ``Host`` when the request has none;
* the path and query string are canonicalised by botocore itself (cached per path);
* the payload is always hashed, and an ``X-Amz-Content-SHA256`` header (which botocore
  would trust instead) must match that hash;
* the signing key (the HMAC chain over date, region and service) is derived once per
  secret, date, region and service, and kept in a bounded cache;
* signatures are compared in constant time.

Refusals (``spec/decisions.md`` §5): no ``Authorization`` →
:class:`MissingAuthenticationTokenException`; a malformed one →
:class:`IncompleteSignatureException`; an unknown key → :class:`UnrecognizedClientException`;
a wrong signature or a date more than 15 minutes off → :class:`InvalidSignatureException`.
Messages follow AWS's wording.

Headers botocore never signs cannot be verified if a client signed them anyway; no AWS SDK
does.
"""

from __future__ import annotations

import calendar
import datetime
import functools
import hashlib
import hmac
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from botocore.auth import SIGNED_HEADERS_BLACKLIST, SigV4Auth
from botocore.awsrequest import AWSRequest

from incident_contacts.auth.credentials import CredentialStore, Principal
from incident_contacts.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)
from incident_contacts.service import arns

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "ssm-contacts"
TERMINATOR = "aws4_request"
MAX_SKEW_SECONDS = 15 * 60
MAX_AUTHORIZATION = 4096
"""The longest ``Authorization`` header read (an SDK's is a few hundred characters): its
parts are kept in bounded caches, and a client may send headers of megabytes."""
_MAX_CACHED_PATH = 4096
"""Paths longer than this are canonicalised again on every request, not kept."""
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"

Headers = Sequence[tuple[str, str]] | Mapping[str, str]

_REGION = arns.REGION
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
_CREDENTIAL = re.compile(r"Credential=([^,\s]+)")
_WELL_FORMED = re.compile(
    ALGORITHM + r" Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([^,\s]+)"
)
_BLOCK = hashlib.sha256().block_size
_UNSIGNABLE = frozenset(SIGNED_HEADERS_BLACKLIST)
_DEFAULT_HOST = "localhost"
"""The ``Host`` botocore signs when a request has none: that of the URL it is given."""
_BASE_URL = "http://" + _DEFAULT_HOST
_REFERENCE = SigV4Auth(None, SERVICE, "us-east-1")
"""botocore's signer, for its credential-free canonicalisation of paths and query strings."""
_SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)


@dataclass(frozen=True)
class VerifiedRequest:
    principal: Principal
    region: str
    service: str


def normalise_headers(headers: Headers) -> dict[str, str]:
    """Lower-cased names; repeated headers joined with ``,`` as SigV4 canonicalises them."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    lowered = {name.lower(): value.strip() for name, value in items}
    if len(lowered) == len(headers):
        return lowered                      # no name repeated (the usual case): nothing to join
    joined: dict[str, str] = {}
    for name, value in headers.items() if isinstance(headers, Mapping) else headers:
        key = name.lower()
        value = value.strip()
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    return joined


def _fields(params: str, header: str) -> dict[str, str]:
    """``Credential=..., SignedHeaders=..., Signature=...`` → dict."""
    fields: dict[str, str] = {}
    for part in params.split(","):
        part = part.strip()
        if not part:
            continue
        name, eq, value = part.partition("=")
        if not eq:
            raise IncompleteSignatureException(
                f"'{part}' not a valid key=value pair (missing equal-sign) in Authorization "
                f"header: '{header}'."
            )
        fields[name.strip()] = value.strip()
    return fields


def _components(header: str, has_date: bool) -> tuple[str, str, str]:
    """``(Credential, SignedHeaders, Signature)`` of an ``Authorization`` header, or the
    refusal of a malformed one."""
    if has_date:
        # What every SDK sends is read by one regular expression, as the general reading
        # would read it (a test holds the two together). Only the signature at its end
        # changes between a client's requests of a day, so the reading of the rest is kept.
        stripped = header.strip()
        signature = stripped[-64:]
        if _SIGNATURE.fullmatch(signature):
            unsigned = _unsigned_part(stripped[:-64])
            if unsigned is not None:
                return unsigned[0], unsigned[1], signature
        match = _WELL_FORMED.fullmatch(stripped)
        if match is not None:
            credential, signed_names, signature = match.groups()
            return credential, signed_names, signature
    return _components_in_general(header, has_date)


@functools.lru_cache(maxsize=1024)
def _unsigned_part(prefix: str) -> tuple[str, str] | None:
    """``(Credential, SignedHeaders)`` of a well-formed header made of ``prefix`` and a
    signature of 64 hex digits (or any 64 letters or digits), else None. Which they are cannot
    change how the expression reads the header: they are neither commas nor spaces, and the
    signature is the whole of its last group (checked)."""
    match = _WELL_FORMED.fullmatch(prefix + "0" * 64)
    if match is None or len(match[3]) != 64:
        return None
    return match[1], match[2]


def _components_in_general(header: str, has_date: bool) -> tuple[str, str, str]:
    algorithm, _, rest = header.strip().partition(" ")
    fields = _fields(rest, header) if algorithm == ALGORITHM else {}
    problems = [
        f"Authorization header requires '{name}' parameter. "
        for name in ("Credential", "Signature", "SignedHeaders")
        if not fields.get(name)
    ]
    if not has_date:
        problems.append("Authorization header requires existence of a 'X-Amz-Date' header. ")
    if problems:
        raise IncompleteSignatureException("".join(problems) + f"Authorization={header}")
    return fields["Credential"], fields["SignedHeaders"], fields["Signature"]


class _Scope(NamedTuple):
    access_key_id: str
    date: str
    region: str
    credential_scope: str
    """``<date>/<region>/ssm-contacts/aws4_request``, as the string to sign has it."""
    signed_headers: tuple[str, ...]


@functools.lru_cache(maxsize=1024)
def _scope(credential: str, signed_names: str) -> _Scope:
    """The checked ``Credential`` and ``SignedHeaders`` of an ``Authorization`` header. They
    are the same on every request of a client for a day, so their reading is cached (bounded;
    a refusal is not cached and is raised again)."""
    parts = credential.split("/")
    if len(parts) != 5 or not all(parts):
        raise IncompleteSignatureException(
            "Credential must have exactly 5 slash-delimited elements, e.g. "
            f"keyid/date/region/service/term, got '{credential}'"
        )
    key_id, date, region, service, terminator = parts
    if not _REGION.fullmatch(region):
        raise IncompleteSignatureException(
            f"Credential should be scoped to a valid region, not '{region}'. "
        )
    if service != SERVICE:
        raise IncompleteSignatureException(
            f"Credential should be scoped to correct service: '{SERVICE}'. "
        )
    if terminator != TERMINATOR:
        raise IncompleteSignatureException(
            f"Credential should be scoped with a valid terminator: '{TERMINATOR}', "
            f"not '{terminator}'. "
        )
    signed = tuple(signed_names.lower().split(";"))
    if "host" not in signed:
        raise IncompleteSignatureException(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
        )
    return _Scope(key_id, date, region, f"{date}/{region}/{SERVICE}/{TERMINATOR}", signed)


@functools.lru_cache(maxsize=1024)
def _client_scope(prefix: str) -> _Scope | None:
    """:func:`_scope` of the ``Credential`` and ``SignedHeaders`` of a well-formed header made
    of ``prefix`` and a signature of 64 letters or digits (:func:`_unsigned_part`), else None:
    one cached look-up on every request of a client for a day, where there were two."""
    unsigned = _unsigned_part(prefix)
    return None if unsigned is None else _scope(*unsigned)


def scope_of(headers: Headers) -> tuple[str, str] | None:
    """``(access_key_id, region)`` from the credential scope, without verifying anything.

    The development mode takes the account and region from it; None when there is no
    well-formed ``Credential=<key>/<date>/<region>/<service>/aws4_request``.
    """
    header = normalise_headers(headers).get("authorization", "")
    match = _CREDENTIAL.search(header)
    if not match:
        return None
    parts = match.group(1).split("/")
    if len(parts) != 5 or not parts[0] or not _REGION.fullmatch(parts[2]):
        return None
    return parts[0], parts[2]


@functools.lru_cache(maxsize=256)
def _amz_time(value: str) -> float:
    """Epoch seconds of ``YYYYMMDDTHHMMSSZ`` (cached: a busy client sends the same second many
    times, and ``strptime`` is slow)."""
    if _AMZ_DATE.fullmatch(value):
        try:
            moment = datetime.datetime(
                int(value[0:4]), int(value[4:6]), int(value[6:8]),
                int(value[9:11]), int(value[11:13]), int(value[13:15]),
            )
            return float(calendar.timegm(moment.timetuple()))
        except ValueError:
            pass
    raise IncompleteSignatureException(
        f"Date must be in ISO-8601 'basic format'. Got '{value}'. "
        "See http://en.wikipedia.org/wiki/ISO_8601"
    )


def _fmt(t: float) -> str:
    return time.strftime(AMZ_DATE_FORMAT, time.gmtime(t))


def _check_skew(amz_date: str, signed_at: float, now: float) -> None:
    if -MAX_SKEW_SECONDS <= now - signed_at <= MAX_SKEW_SECONDS:
        return
    fmt = _fmt
    if now - signed_at > MAX_SKEW_SECONDS:
        raise InvalidSignatureException(
            f"Signature expired: {amz_date} is now earlier than "
            f"{fmt(now - MAX_SKEW_SECONDS)} ({fmt(now)} - 15 min.)"
        )
    if signed_at - now > MAX_SKEW_SECONDS:
        raise InvalidSignatureException(
            f"Signature not yet current: {amz_date} is still later than "
            f"{fmt(now + MAX_SKEW_SECONDS)} ({fmt(now)} + 15 min.)"
        )


@functools.lru_cache(maxsize=256)
def _canonical_target(path_qs: str) -> tuple[str, str]:
    """The canonical URI and query string of ``path_qs``, by botocore (a server sees a handful
    of distinct paths, so they are cached)."""
    url = _BASE_URL + (path_qs if path_qs.startswith("/") else "/" + path_qs)
    path: str = _REFERENCE._normalize_url_path(urlsplit(url).path)
    query: str = _REFERENCE.canonical_query_string(AWSRequest(method="GET", url=url))
    return path, query


class _Plan(NamedTuple):
    """How a request's canonical form is laid out, given its method, path and signed names."""

    prefix: str
    """``<METHOD>\\n<canonical URI>\\n<canonical query>\\n``"""
    headers: tuple[tuple[str, str], ...]
    """``(<name>:, name)`` of the headers botocore canonicalises, in order (``Host`` always)."""
    required: frozenset[str]
    """Those a request must carry for this plan: all but ``Host``, which has a default."""
    suffix: str
    """``\\n\\n<SignedHeaders>\\n``, before the payload hash."""


@functools.lru_cache(maxsize=512)
def _plan(method: str, path_qs: str, signed: tuple[str, ...]) -> _Plan:
    path, query = (_canonical_target if len(path_qs) <= _MAX_CACHED_PATH
                   else _canonical_target.__wrapped__)(path_qs)
    names = tuple(sorted({name for name in signed if name not in _UNSIGNABLE} | {"host"}))
    return _Plan(
        prefix=f"{method.upper()}\n{path}\n{query}\n",
        headers=tuple((f"{name}:", name) for name in names),
        required=frozenset(names) - {"host"},
        suffix="\n\n" + ";".join(sorted(name.strip() for name in names)) + "\n",
    )


def canonical_request(
    method: str,
    path_qs: str,
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    payload_hash: str,
) -> str:
    """The SigV4 canonical request, as botocore's ``SigV4Auth.canonical_request`` builds it
    for a request carrying only ``signed_headers`` of ``headers`` (lower-case names, each
    once) and a body hashing to ``payload_hash``."""
    # a path of megabytes is not kept (the signed names are as long as the header allows)
    plan_of = _plan if len(path_qs) <= _MAX_CACHED_PATH else _plan.__wrapped__
    plan = plan_of(method, path_qs, tuple(signed_headers))
    if not headers.keys() >= plan.required:
        # a named header is absent: botocore, given only the headers there are, omits it
        plan = plan_of(method, path_qs, tuple(name for name in signed_headers if name in headers))
    get = headers.get
    lines = []
    for label, name in plan.headers:
        value = get(name, _DEFAULT_HOST)
        # what botocore makes of a value: its words joined by single spaces (a value of
        # printable characters without a space has one word, itself)
        lines.append(label + (value if " " not in value and value.isprintable()
                              else " ".join(value.split())))
    block = "\n".join(lines)
    return f"{plan.prefix}{block}{plan.suffix}{payload_hash}"


@functools.lru_cache(maxsize=1024)
def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """``kSigning``, the HMAC chain of SigV4."""
    key = hmac.digest(f"AWS4{secret}".encode(), date.encode(), "sha256")
    for part in (region, service, TERMINATOR):
        key = hmac.digest(key, part.encode(), "sha256")
    return key


@functools.lru_cache(maxsize=1024)
def _signer(secret: str, date: str, region: str) -> tuple[Any, Any]:
    """SHA-256 states of ``kSigning`` xor the HMAC inner and outer pads (RFC 2104), so that a
    signature costs two copies and two hashes. The key changes once a day per secret and
    region; the cache is bounded, so scopes a client makes up only cost recomputation."""
    key = _signing_key(secret, date, region, SERVICE)   # 32 bytes: shorter than a block
    block = key.ljust(_BLOCK, b"\0")
    return (hashlib.sha256(bytes(b ^ 0x36 for b in block)),
            hashlib.sha256(bytes(b ^ 0x5C for b in block)))


def verify(
    method: str,
    path_qs: str,
    headers: Headers,
    body: bytes,
    now: float,
    credentials: CredentialStore,
) -> VerifiedRequest:
    """Verify a SigV4-signed request and return who sent it, or raise the AWS refusal.

    ``path_qs`` is the raw path with its query string (``/`` for AWS JSON); ``now`` is epoch
    seconds from the server's clock. ``headers`` are pairs or a mapping, names in any case.
    """
    principal, region = verify_received(method, path_qs, normalise_headers(headers), body, now,
                                        credentials)
    return VerifiedRequest(principal, region, SERVICE)


def verify_received(
    method: str,
    path_qs: str,
    headers: Mapping[str, str],
    body: bytes,
    now: float,
    credentials: CredentialStore,
) -> tuple[Principal, str]:
    """:func:`verify` for headers as the server hands them over: lower-case names, each once
    (what :func:`normalise_headers` makes of any). Returns the principal and the region."""
    get = headers.get
    header = get("authorization", "").strip()
    if not header:
        raise MissingAuthenticationTokenException("Missing Authentication Token")
    if len(header) > MAX_AUTHORIZATION:
        # before any reading: the readings of headers are kept in caches of bounded length
        raise IncompleteSignatureException(
            f"The Authorization header is longer than {MAX_AUTHORIZATION} characters.")
    amz_date = get("x-amz-date", "").strip()
    signature = header[-64:]
    # What every SDK sends, read as _components reads it: the header up to its last 64
    # characters is the same on every request of a client for a day, so its reading and
    # checked scope are kept (refusals are not). Any 64 letters or digits there (neither commas
    # nor spaces) are the whole of a well-formed header's signature; one that is not 64 hex
    # digits fails the comparison below, as it would after the general reading.
    scope = _client_scope(header[:-64]) if amz_date and len(signature) == 64 \
        and signature.isalnum() else None
    if scope is None:
        credential, signed_names, signature = _components(header, bool(amz_date))
        scope = _scope(credential, signed_names)
    signed_at = _amz_time(amz_date)
    if scope.date != amz_date[:8]:
        raise IncompleteSignatureException(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{scope.date}' != '{amz_date[:8]}', from '{amz_date}'."
        )
    principal = credentials.get(scope.access_key_id)
    if principal is None:
        raise UnrecognizedClientException("The security token included in the request is invalid.")
    if not -MAX_SKEW_SECONDS <= now - signed_at <= MAX_SKEW_SECONDS:
        _check_skew(amz_date, signed_at, now)
    payload_hash = hashlib.sha256(body).hexdigest()
    content_sha = get("x-amz-content-sha256")
    if content_sha is not None and not hmac.compare_digest(
        content_sha.strip().encode("utf-8", "replace"), payload_hash.encode()
    ):
        raise InvalidSignatureException(
            "The provided 'x-amz-content-sha256' header does not match what was computed."
        )
    canonical = canonical_request(method, path_qs, headers, scope.signed_headers, payload_hash)
    string_to_sign = (
        f"{ALGORITHM}\n{amz_date}\n{scope.credential_scope}\n"
        + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    )
    inner, outer = _signer(principal.secret_access_key, scope.date, scope.region)
    inner = inner.copy()
    inner.update(string_to_sign.encode("utf-8"))
    outer = outer.copy()
    outer.update(inner.digest())
    expected = outer.hexdigest()
    # as bytes: compare_digest takes any bytes, and a given signature may be any text
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        raise InvalidSignatureException(
            f"{_SIGNATURE_MISMATCH}\n\nThe Canonical String for this request should have been\n"
            f"'{canonical}'\n\nThe String-to-Sign should have been\n'{string_to_sign}'\n"
        )
    return principal, scope.region


__all__ = [
    "ALGORITHM",
    "MAX_SKEW_SECONDS",
    "SERVICE",
    "Headers",
    "VerifiedRequest",
    "canonical_request",
    "normalise_headers",
    "scope_of",
    "verify",
    "verify_received",
]
