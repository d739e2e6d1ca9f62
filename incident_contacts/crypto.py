"""Personal data at rest: AES-GCM envelopes under a key ring, and keyed blind indexes.

A sealed value is the text ``v1.<key id>.<base64url(nonce | ciphertext | tag)>``. The
associated data names the table, the row and the column (``channels:<uuid>:address``), so a
value copied into another row or column no longer opens. The key id is the first 16 hex digits
of the SHA-256 of the key, so a ring holding the current key and older ones opens records sealed
under any of them, and ``incident-contacts rotate-key`` re-seals everything under the newest.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = "v1"
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")
KEY_BYTES = 32


class DecryptError(Exception):
    """A sealed value that no key in the ring opens (wrong key, missing key, or tampering)."""


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


def parse_key(text: str) -> bytes:
    """A data key as configured: 32 random bytes in standard base64."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (ValueError, TypeError) as exc:
        raise ValueError("a data key must be 32 bytes in standard base64") from exc
    if len(key) != KEY_BYTES:
        raise ValueError(f"a data key must be {KEY_BYTES} bytes, this one has {len(key)}")
    return key


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


class KeyRing:
    """The current data key, which seals, and older ones, which only open."""

    def __init__(self, primary: bytes, older: Iterable[bytes] = ()) -> None:
        self.primary_id = key_id(primary)
        self._keys = {key_id(k): AESGCM(k) for k in (*older, primary)}
        self._primary = AESGCM(primary)

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    def seal(self, plaintext: str, *, aad: str) -> str:
        nonce = os.urandom(12)
        sealed = self._primary.encrypt(nonce, plaintext.encode("utf-8"), aad.encode("utf-8"))
        payload = base64.urlsafe_b64encode(nonce + sealed).decode("ascii")
        return f"{_VERSION}.{self.primary_id}.{payload}"

    def open(self, token: str, *, aad: str) -> str:
        try:
            version, kid, payload = token.split(".", 2)
        except ValueError as exc:
            raise DecryptError("not a sealed value") from exc
        cipher = self._keys.get(kid)
        if version != _VERSION or cipher is None:
            raise DecryptError(f"no key {kid!r} in the key ring")
        try:
            # base64.urlsafe_b64decode, without its two layers of Python around binascii
            # (every read of a channel opens an address).
            raw = binascii.a2b_base64(payload.encode("ascii").translate(_FROM_URLSAFE))
            return cipher.decrypt(raw[:12], raw[12:], aad.encode("utf-8")).decode("utf-8")
        except (InvalidTag, ValueError) as exc:
            raise DecryptError("the sealed value does not open under its key") from exc

    def is_current(self, token: str) -> bool:
        return token.startswith(f"{_VERSION}.{self.primary_id}.")


SEALED_PREFIX = f"{_VERSION}."
"""What every value :meth:`KeyRing.seal` gives starts with."""


def keyed_hash(secret: bytes, *parts: str) -> str:
    """HMAC-SHA256 over the parts, each length-prefixed so that no two tuples collide."""
    message = bytearray()
    for part in parts:
        data = part.encode("utf-8")
        message += len(data).to_bytes(4, "big")
        message += data
    return hmac.digest(secret, message, "sha256").hex()


def hashes_equal(left: str, right: str) -> bool:
    return hmac.compare_digest(left.encode("ascii"), right.encode("ascii"))


__all__ = [
    "DecryptError",
    "KeyRing",
    "encode_key",
    "hashes_equal",
    "key_id",
    "keyed_hash",
    "new_key",
    "parse_key",
]
