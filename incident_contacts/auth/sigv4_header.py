"""Reading a SigV4 ``Authorization`` header and ``X-Amz-Date``: a part of :mod:`.sigv4`.

The header's parts (``Credential``, ``SignedHeaders``, ``Signature``) are read as AWS reads
them, with its refusals (:class:`IncompleteSignatureException`) worded as AWS words them;
what every SDK sends takes a cached reading (the header up to its signature is the same on
every request of a client for a day). The date is checked against the server's clock with
SigV4's fifteen minutes either way.
"""

from __future__ import annotations

import calendar
import datetime
import functools
import re
import time
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from incident_contacts.errors import IncompleteSignatureException, InvalidSignatureException
from incident_contacts.service import arns

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "ssm-contacts"
TERMINATOR = "aws4_request"
MAX_SKEW_SECONDS = 15 * 60
MAX_AUTHORIZATION = 4096
"""The longest ``Authorization`` header read (an SDK's is a few hundred characters): its
parts are kept in bounded caches, and a client may send headers of megabytes."""
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"

Headers = Sequence[tuple[str, str]] | Mapping[str, str]

_REGION = arns.REGION
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
_CREDENTIAL = re.compile(r"Credential=([^,\s]+)")
_WELL_FORMED = re.compile(
    ALGORITHM + r" Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([^,\s]+)"
)


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


__all__ = [
    "ALGORITHM",
    "AMZ_DATE_FORMAT",
    "MAX_AUTHORIZATION",
    "MAX_SKEW_SECONDS",
    "SERVICE",
    "TERMINATOR",
    "Headers",
    "normalise_headers",
    "scope_of",
]
