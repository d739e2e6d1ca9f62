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

The header's reading and the date are in :mod:`.sigv4_header`, the canonical request and the
signing key in :mod:`.sigv4_canonical`. A client sends the same ``Authorization`` header up to
its signature on every request of a day, so what follows from that part (with the date, the
path and the signed headers' values) is kept per header (:class:`_Client`). Each request is
still verified in full from it: its body hashed, its canonical request completed and hashed,
its signature computed and compared. Whatever that reading does not accept is read again in
general, which words the refusal; a test holds the two readings together on mutated requests.

Refusals (``spec/decisions.md`` §5): no ``Authorization`` →
:class:`MissingAuthenticationTokenException`; a malformed one →
:class:`IncompleteSignatureException`; an unknown key → :class:`UnrecognizedClientException`;
a wrong signature or a date more than 15 minutes off → :class:`InvalidSignatureException`.
Messages follow AWS's wording.

Headers botocore never signs cannot be verified if a client signed them anyway; no AWS SDK
does.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from incident_contacts.auth.credentials import CredentialStore, Principal
from incident_contacts.auth.sigv4_canonical import (
    _MAX_CACHED_PATH,
    _Layout,
    _layout,
    _sha256,
    _signer,
    canonical_request,
)
from incident_contacts.auth.sigv4_header import (
    ALGORITHM,
    MAX_AUTHORIZATION,
    MAX_SKEW_SECONDS,
    SERVICE,
    Headers,
    _amz_time,
    _check_skew,
    _client_scope,
    _components,
    _Scope,
    _scope,
    normalise_headers,
    scope_of,
)
from incident_contacts.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

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


MAX_CLIENTS = 1024
"""Readings of ``Authorization`` headers kept for :func:`verify_received` (one per client, key
and day: the header up to its signature is the same on all their requests)."""


_MAX_KEPT_HEAD = 8192
"""The longest canonical request (less its payload hash) a client's reading keeps."""


class _Client:
    """What :func:`verify_received` keeps of one ``Authorization`` header up to its signature
    (one client's key and day), each part a function of what it is kept for:

    * the checked scope (of the header's unsigned part);
    * the layout of the canonical request of the method and path it used last;
    * for the latest ``X-Amz-Date`` it sent and the credential store it was verified with,
      the principal (with the region, as :func:`verify_received` answers) and the HMAC state
      that has read the string to sign up to the canonical request's hash;
    * the canonical request up to the payload hash, for the last signed headers' values that
      needed no folding (a client's requests of one operation within a second share them).

    Nothing is kept of the signature or the body: every request has its body hashed, its
    canonical request completed and hashed, and its signature computed and compared."""

    __slots__ = ("_dated", "_head", "_layout", "date", "key_id", "region", "scope", "scope_line")

    def __init__(self, scope: _Scope) -> None:
        self.scope = scope
        self.key_id = scope.access_key_id
        self.date = scope.date
        self.region = scope.region
        self.scope_line = f"\n{scope.credential_scope}\n"
        self._layout = _layout("POST", "/", scope.signed_headers)   # what AWS JSON sends
        # (layout, the signed headers' values, the canonical request up to the payload hash)
        self._head: tuple[_Layout | None, tuple[str, ...], str] = (None, (), "")
        # (X-Amz-Date, credential store, (principal, region), signed at, inner state, outer
        # state), as one tuple: threads replace it whole
        self._dated: tuple[str | None, CredentialStore | None, Any, float, Any, Any] = (
            None, None, None, 0.0, None, None)

    def _date(self, amz_date: str | None, credentials: CredentialStore
              ) -> tuple[str | None, CredentialStore | None, Any, float, Any, Any] | None:
        """The principal and HMAC states of requests dated ``amz_date``, or None where the
        general reading refuses (or reads another way) that date or key. A store's keys
        never change once it is built."""
        if amz_date is None or amz_date[:8] != self.date:
            return None
        try:
            signed_at = _amz_time(amz_date)   # 16 characters: never with spaces around
        except IncompleteSignatureException:
            return None
        principal = credentials.get(self.key_id)
        if principal is None:
            return None
        inner, outer = _signer(principal.secret_access_key, self.date, self.region)
        inner = inner.copy()
        inner.update(f"{ALGORITHM}\n{amz_date}{self.scope_line}".encode())
        return (amz_date, credentials, (principal, self.region), signed_at, inner, outer)

    def _head_of(self, layout: _Layout, values: tuple[str, ...] | None) -> str | None:
        """The canonical request up to the payload hash, from the signed headers' values;
        None when a value is absent or botocore would fold it (its words joined by single
        spaces), which :func:`canonical_request` does. Kept for the next request with the
        same values (a client's requests of one operation in one second), unless long."""
        if values is None:
            return None
        joined = "".join(values)
        if " " in joined or not joined.isprintable():
            return None
        parts = layout.parts.copy()
        parts[1::2] = values
        text = "".join(parts)   # type: ignore[arg-type]
        if len(text) <= _MAX_KEPT_HEAD:
            self._head = (layout, values, text)
        return text

    def accepts(self, method: str, path_qs: str, headers: Mapping[str, str], body: bytes,
                now: float, credentials: CredentialStore, signature: str
                ) -> tuple[Principal, str] | None:
        """The principal and region when the request verifies, read as :func:`_verify_in_general`
        would read it; None when it does not, or when it is not read here (a refusal is
        then worded by the general reading)."""
        amz_date = headers.get("x-amz-date")
        dated = self._dated
        if amz_date != dated[0] or dated[1] is not credentials:
            renewed = self._date(amz_date, credentials)
            if renewed is None:
                return None
            self._dated = dated = renewed
        _, _, verified, signed_at, inner, outer = dated
        if not -MAX_SKEW_SECONDS <= now - signed_at <= MAX_SKEW_SECONDS:
            return None
        payload_hash = _sha256(body).hexdigest()
        content_sha = headers.get("x-amz-content-sha256")
        if content_sha is not None and not hmac.compare_digest(
            content_sha.strip().encode("utf-8", "replace"), payload_hash.encode()
        ):
            return None
        layout = self._layout
        if layout.path_qs != path_qs or layout.method != method:
            if len(path_qs) <= _MAX_CACHED_PATH:
                layout = self._layout = _layout(method, path_qs, self.scope.signed_headers)
            else:   # a path of megabytes is not kept
                layout = _layout.__wrapped__(method, path_qs, self.scope.signed_headers)
        try:
            values: tuple[str, ...] | None = layout.values(headers)
        except KeyError:   # a signed header absent: botocore's canonical form omits it
            values = None
        head = self._head
        if values is not None and head[0] is layout and head[1] == values:
            text: str | None = head[2]
        else:
            text = self._head_of(layout, values)
        if text is None:
            canonical = canonical_request(method, path_qs, headers, self.scope.signed_headers,
                                          payload_hash)
        else:
            canonical = text + payload_hash
        inner = inner.copy()
        inner.update(_sha256(canonical.encode()).hexdigest().encode())
        outer = outer.copy()
        outer.update(inner.digest())
        try:
            # both text: compare_digest takes ASCII text, and raises for a signature that is not
            if hmac.compare_digest(outer.hexdigest(), signature):
                return verified   # type: ignore[no-any-return]
        except TypeError:
            pass
        return None


_CLIENTS: dict[str, _Client] = {}
"""``Authorization`` header up to its last 64 characters → its reading (bounded)."""


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
    (what :func:`normalise_headers` makes of any). Returns the principal and the region.

    A request whose ``Authorization`` header, up to its last 64 characters, is one verification
    has read before (:class:`_Client`) is verified from that reading; any other request, and
    any request that reading does not accept, is verified by the general reading, which raises
    the refusal. Both compute the whole signature of the request as received."""
    header = headers.get("authorization")
    if header is not None and len(header) <= MAX_AUTHORIZATION:
        client = _CLIENTS.get(header[:-64])
        if client is not None:
            verified = client.accepts(method, path_qs, headers, body, now, credentials,
                                      header[-64:])
            if verified is not None:
                return verified
    principal, region = _verify_in_general(method, path_qs, headers, body, now, credentials)
    header = headers.get("authorization", "")
    if len(header) <= MAX_AUTHORIZATION and header[:-64] not in _CLIENTS:
        try:
            scope = _client_scope(header[:-64])
        except IncompleteSignatureException:
            scope = None
        if scope is not None:
            if len(_CLIENTS) >= MAX_CLIENTS:
                _CLIENTS.clear()
            _CLIENTS[header[:-64]] = _Client(scope)
    return principal, region


def _verify_in_general(
    method: str,
    path_qs: str,
    headers: Mapping[str, str],
    body: bytes,
    now: float,
    credentials: CredentialStore,
) -> tuple[Principal, str]:
    """:func:`verify_received` read in full: every refusal is raised from here."""
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
    "MAX_AUTHORIZATION",
    "MAX_CLIENTS",
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
