"""Access keys and the IAM users they belong to, loaded from a TOML file.

::

    [[credentials]]
    access_key_id = "AKIAEXAMPLEALICE0001"
    secret_access_key = "..."
    account_id = "111122223333"
    user = "alice"              # principal arn:aws:iam::111122223333:user/alice
    policy = '''{...}'''        # optional identity policy; absent: full access to own account
    tags = { team = "sre" }     # optional: the user's tags, for aws:PrincipalTag/<key>

Secrets are needed in plaintext to verify SigV4 (an HMAC), so the file itself is the secret;
keep it readable by the server only.
"""

from __future__ import annotations

import functools
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from incident_contacts.auth.policy import Policy

_ENTRY_KEYS = frozenset({"access_key_id", "secret_access_key", "account_id", "user", "policy",
                         "tags"})
_OPTIONAL_KEYS = frozenset({"policy", "tags"})
_ACCESS_KEY_ID = re.compile(r"\w{1,128}", re.ASCII)
_ACCOUNT_ID = re.compile(r"\d{12}")
_USER = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)


@dataclass(frozen=True)
class Principal:
    """An IAM user holding one access key, or (``root``) an account acting as itself."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    account_id: str
    user: str
    policy: Policy | None = None
    root: bool = False
    tags: tuple[tuple[str, str], ...] = ()

    @functools.cached_property
    def arn(self) -> str:
        if self.root:
            return f"arn:aws:iam::{self.account_id}:root"
        return f"arn:aws:iam::{self.account_id}:user/{self.user}"

    @classmethod
    def account_root(cls, account_id: str) -> Principal:
        """The account itself, with no identity policy: the caller of the development mode,
        where requests are not signed (decisions §3). It has full access to its own account,
        and to another account's contact only as far as that contact's policy allows."""
        return cls("", "", account_id, "root", None, root=True)


class CredentialStore:
    """Access key id → :class:`Principal`."""

    def __init__(self, principals: Iterable[Principal] = ()) -> None:
        self._by_key: dict[str, Principal] = {}
        for p in principals:
            if p.access_key_id in self._by_key:
                raise ValueError(f"duplicate access_key_id {p.access_key_id!r}")
            self._by_key[p.access_key_id] = p

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> CredentialStore:
        with open(path, "rb") as f:
            raw = f.read()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{os.fspath(path)}: not UTF-8: {exc}") from None
        return cls.from_toml(text, source=os.fspath(path))

    @classmethod
    def from_toml(cls, text: str, *, source: str = "<credentials>") -> CredentialStore:
        """Parse the credentials file; ``ValueError`` names the file and the entry at fault."""
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{source}: not valid TOML: {exc}") from None
        entries = doc.get("credentials")
        if not isinstance(entries, list) or not entries:
            raise ValueError(f"{source}: expected one or more [[credentials]] tables")
        unknown = set(doc) - {"credentials"}
        if unknown:
            raise ValueError(f"{source}: unknown top-level keys: {', '.join(sorted(unknown))}")
        principals = [_principal(source, i, e) for i, e in enumerate(entries)]
        seen: dict[str, int] = {}
        for i, p in enumerate(principals):
            if p.access_key_id in seen:
                raise ValueError(
                    f"{source}: credentials[{i}] (access_key_id {p.access_key_id!r}): duplicate "
                    f"access_key_id, first defined in credentials[{seen[p.access_key_id]}]"
                )
            seen[p.access_key_id] = i
        return cls(principals)

    def get(self, access_key_id: str) -> Principal | None:
        return self._by_key.get(access_key_id)

    def __len__(self) -> int:
        return len(self._by_key)

    def __iter__(self) -> Iterator[Principal]:
        return iter(self._by_key.values())


def _principal(source: str, index: int, entry: Any) -> Principal:
    where = f"{source}: credentials[{index}]"
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: must be a table")
    key_id = entry.get("access_key_id")
    if isinstance(key_id, str):
        where += f" (access_key_id {key_id!r})"

    def fail(message: str) -> ValueError:
        return ValueError(f"{where}: {message}")

    unknown = set(entry) - _ENTRY_KEYS
    if unknown:
        raise fail(f"unknown keys: {', '.join(sorted(unknown))}")
    missing = [k for k in sorted(_ENTRY_KEYS - _OPTIONAL_KEYS) if k not in entry]
    if missing:
        raise fail(f"missing keys: {', '.join(missing)}")
    for k in (_ENTRY_KEYS - {"tags"}) & set(entry):
        if not isinstance(entry[k], str):
            hint = " (quote it, so leading zeros survive)" if k == "account_id" else ""
            raise fail(f"{k} must be a string{hint}")
    if not _ACCESS_KEY_ID.fullmatch(entry["access_key_id"]):
        raise fail("access_key_id must be 1-128 letters, digits or underscores")
    if not entry["secret_access_key"]:
        raise fail("secret_access_key must not be empty")
    if not _ACCOUNT_ID.fullmatch(entry["account_id"]):
        raise fail(f"account_id must be 12 digits, not {entry['account_id']!r}")
    if not _USER.fullmatch(entry["user"]):
        raise fail(f"user is not a valid IAM user name: {entry['user']!r}")
    policy = None
    if "policy" in entry:
        try:
            policy = Policy.parse(entry["policy"])
        except ValueError as exc:
            raise fail(f"policy: {exc}") from None
        if policy.names_principals:
            raise fail("policy: an identity policy must not name a Principal")
    return Principal(
        access_key_id=entry["access_key_id"],
        secret_access_key=entry["secret_access_key"],
        account_id=entry["account_id"],
        user=entry["user"],
        policy=policy,
        tags=_tags(entry.get("tags", {}), fail),
    )


def _tags(given: Any, fail: Callable[[str], ValueError]) -> tuple[tuple[str, str], ...]:
    """A user's tags: a table of strings, keys of 1 to 128 characters and values of at most
    256, as IAM allows them."""
    if not isinstance(given, dict):
        raise fail("tags must be a table, as tags = { team = \"sre\" }")
    for key, value in given.items():
        if not 1 <= len(key) <= 128 or not isinstance(value, str) or len(value) > 256:
            raise fail(f"tags: {key!r} must be 1-128 characters with a string value of at "
                       "most 256")
    return tuple(given.items())


__all__ = ["CredentialStore", "Principal"]
