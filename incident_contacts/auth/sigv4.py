"""Server-side verification of AWS Signature Version 4 (``Authorization`` header form).

The signature is recomputed with botocore's own :class:`~botocore.auth.SigV4Auth`, the code
every boto3 client signs with (``reference/style-and-stack.md`` §2.4), keeping clear of its
pitfalls:

* the timestamp comes from ``X-Amz-Date`` through ``request.context["timestamp"]``
  (``add_auth`` would stamp the current time);
* only the headers named in ``SignedHeaders`` are handed over (botocore signs every header it
  is given; SDKs also send unsigned ones);
* ``X-Amz-Content-SHA256``, which botocore trusts, is checked against the body here, and the
  URL is rebuilt as ``http://`` so the payload is always hashed;
* signatures are compared in constant time.

Refusals (``spec/decisions.md`` §5): no ``Authorization`` →
:class:`MissingAuthenticationTokenException`; a malformed one →
:class:`IncompleteSignatureException`; an unknown key → :class:`UnrecognizedClientException`;
a wrong signature or a date more than 15 minutes off → :class:`InvalidSignatureException`.
Messages follow AWS's wording.

Headers botocore never signs (``User-Agent``, ``Expect``, …) cannot be verified if a client
signed them anyway; no AWS SDK does.
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

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from incident_contacts.auth.credentials import CredentialStore, Principal
from incident_contacts.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "ssm-contacts"
TERMINATOR = "aws4_request"
MAX_SKEW_SECONDS = 15 * 60
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"

Headers = Sequence[tuple[str, str]] | Mapping[str, str]

_REGION = re.compile(r"[a-z0-9-]{1,64}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
_SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)


class _ReceivedRequest(AWSRequest):  # type: ignore[misc]
    """A request as received, for botocore's signer to canonicalise. Its body is the bytes
    received: botocore's ``body`` would prepare (copy and re-encode) the whole request first."""

    @property
    def body(self) -> bytes:
        data: bytes = self.data
        return data


@dataclass(frozen=True)
class VerifiedRequest:
    principal: Principal
    region: str
    service: str


@dataclass(frozen=True)
class _Authorization:
    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def normalise_headers(headers: Headers) -> dict[str, str]:
    """Lower-cased names; repeated headers joined with ``,`` as SigV4 canonicalises them."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    joined: dict[str, str] = {}
    for name, value in items:
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


def _parse(header: str, has_date: bool) -> _Authorization:
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
    credential = fields["Credential"]
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
    signed = tuple(fields["SignedHeaders"].lower().split(";"))
    if "host" not in signed:
        raise IncompleteSignatureException(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
        )
    return _Authorization(key_id, date, region, service, signed, fields["Signature"])


def scope_of(headers: Headers) -> tuple[str, str] | None:
    """``(access_key_id, region)`` from the credential scope, without verifying anything.

    The development mode takes the account and region from it; None when there is no
    well-formed ``Credential=<key>/<date>/<region>/<service>/aws4_request``.
    """
    header = normalise_headers(headers).get("authorization", "")
    match = re.search(r"Credential=([^,\s]+)", header)
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


def _check_skew(amz_date: str, signed_at: float, now: float) -> None:
    def fmt(t: float) -> str:
        return time.strftime(AMZ_DATE_FORMAT, time.gmtime(t))

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
    seconds from the server's clock.
    """
    h = normalise_headers(headers)
    header = h.get("authorization")
    if not header:
        raise MissingAuthenticationTokenException("Missing Authentication Token")
    amz_date = h.get("x-amz-date", "")
    auth = _parse(header, bool(amz_date))
    signed_at = _amz_time(amz_date)
    if auth.date != amz_date[:8]:
        raise IncompleteSignatureException(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{auth.date}' != '{amz_date[:8]}', from '{amz_date}'."
        )
    principal = credentials.get(auth.access_key_id)
    if principal is None:
        raise UnrecognizedClientException("The security token included in the request is invalid.")
    _check_skew(amz_date, signed_at, now)
    content_sha = h.get("x-amz-content-sha256")
    if content_sha is not None and not hmac.compare_digest(
        content_sha.encode("utf-8", "replace"), hashlib.sha256(body).hexdigest().encode()
    ):
        raise InvalidSignatureException(
            "The provided 'x-amz-content-sha256' header does not match what was computed."
        )
    request = _ReceivedRequest(
        method=method.upper(),
        url="http://localhost" + (path_qs if path_qs.startswith("/") else "/" + path_qs),
        data=body,
        headers={name: h[name] for name in auth.signed_headers if name in h},
    )
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(
        Credentials(principal.access_key_id, principal.secret_access_key),
        auth.service,
        auth.region,
    )
    canonical = signer.canonical_request(request)
    string_to_sign = signer.string_to_sign(request, canonical)
    expected: str = signer.signature(string_to_sign, request)
    given = auth.signature if _SIGNATURE.fullmatch(auth.signature) else "-" * 64
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise InvalidSignatureException(
            f"{_SIGNATURE_MISMATCH}\n\nThe Canonical String for this request should have been\n"
            f"'{canonical}'\n\nThe String-to-Sign should have been\n'{string_to_sign}'\n"
        )
    return VerifiedRequest(principal, auth.region, auth.service)


__all__ = [
    "ALGORITHM",
    "MAX_SKEW_SECONDS",
    "SERVICE",
    "Headers",
    "VerifiedRequest",
    "normalise_headers",
    "scope_of",
    "verify",
]
