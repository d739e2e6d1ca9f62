"""The SigV4 canonical request and signing key: a part of :mod:`.sigv4`.

:func:`canonical_request` is botocore's ``SigV4Auth.canonical_request`` for a request as
received (a test holds the two together on many random requests); its layout for a method,
path and set of signed headers is made once and kept (:func:`_plan`, :func:`_layout`). The
signing key is derived once per secret, date and region, and kept as the SHA-256 states of
its HMAC pads (:func:`_signer`).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from botocore.auth import SIGNED_HEADERS_BLACKLIST, SigV4Auth
from botocore.awsrequest import AWSRequest

from incident_contacts.auth.sigv4_header import SERVICE, TERMINATOR

_MAX_CACHED_PATH = 4096
"""Paths longer than this are canonicalised again on every request, not kept."""

_sha256 = hashlib.sha256
_BLOCK = _sha256().block_size
_UNSIGNABLE = frozenset(SIGNED_HEADERS_BLACKLIST)
_DEFAULT_HOST = "localhost"
"""The ``Host`` botocore signs when a request has none: that of the URL it is given."""
_BASE_URL = "http://" + _DEFAULT_HOST
_REFERENCE = SigV4Auth(None, SERVICE, "us-east-1")
"""botocore's signer, for its credential-free canonicalisation of paths and query strings."""


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


class _Layout(NamedTuple):
    """The canonical request of one method, path and set of signed headers, less the header
    values and the payload hash: the parts to join, with their places left empty."""

    method: str
    path_qs: str
    values: Callable[[Mapping[str, str]], tuple[str, ...]]
    """The signed headers' values, in canonical order (KeyError when one is absent)."""
    parts: list[str | None]
    """``<prefix><name>:``, value, ``\\n<name>:``, value, …, ``\\n\\n<SignedHeaders>\\n``
    (the payload hash follows); shared, so copied before it is filled."""


@functools.lru_cache(maxsize=512)
def _layout(method: str, path_qs: str, signed: tuple[str, ...]) -> _Layout:
    """The layout of :func:`_plan` (cached alike: paths longer than ``_MAX_CACHED_PATH`` are
    laid out again on each request)."""
    plan = (_plan if len(path_qs) <= _MAX_CACHED_PATH else _plan.__wrapped__)(
        method, path_qs, signed)
    names = tuple(name for _, name in plan.headers)
    parts: list[str | None] = []
    for index, (label, _) in enumerate(plan.headers):
        parts += [(plan.prefix if index == 0 else "\n") + label, None]
    parts.append(plan.suffix)
    getter = operator.itemgetter(*names)
    values: Callable[[Mapping[str, str]], tuple[str, ...]] = (
        getter if len(names) > 1 else lambda headers: (getter(headers),))
    return _Layout(method, path_qs, values, parts)


__all__ = ["canonical_request"]
