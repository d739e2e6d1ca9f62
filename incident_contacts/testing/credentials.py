"""Dummy AWS credentials while a mock is active, given to botocore without the environment.

moto's ``mock_aws`` sets ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` when it starts and
puts back, when it stops, the values it saw at its start. The mock once did the same, and the
two undid each other when stopped out of order: our mock stopped inside moto's took moto's
keys away (moto's clients: ``NoCredentialsError``), moto stopped inside ours took ours away,
and moto then put back our dummy keys after both had stopped.

So the mock leaves the environment alone. A credential provider goes first in the chain of
every botocore session (aiobotocore's included) made once this module is installed: while a
mock is active and the environment has no key pair it gives the dummy pair (or the key id the
environment names, with a dummy secret: the account rule reads the key id, and botocore
refuses half a pair); otherwise it gives nothing and the chain goes on as usual (the
environment's keys, moto's included, then profiles). Being first, a profile named by
``AWS_PROFILE`` that needs a process, SSO or a role is never asked, as under moto. A session
given a profile in code (``boto3.Session(profile_name=...)``) drops the environment from its
chain, and this provider with it: that profile is used, as under moto.

Sessions keep the credentials they first resolve: when the last mock stops, every session
still holding dummy credentials given here forgets them, so no dummy key outlives the mocks
(boto3's default session hidden by an active ``mock_aws`` included).
"""

from __future__ import annotations

import importlib
import inspect
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

import botocore
from botocore.credentials import CredentialProvider, Credentials

DUMMY = "testing"
_ENV = "env"

_issued: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


class _DummyProvider(CredentialProvider):  # type: ignore[misc]  # botocore is untyped
    """Dummy credentials while ``active()`` says a mock is active and the environment holds
    no key pair."""

    METHOD = "incident-contacts-mock"
    CANONICAL_NAME = "custom-incident-contacts-mock"

    def __init__(self, session: Any, active: Callable[[], bool]) -> None:
        super().__init__()
        self._session = weakref.ref(session)
        self._active = active

    def load(self) -> Credentials | None:
        key_id = self._wanted()
        return None if key_id is None else self._issue(Credentials, key_id)

    def _wanted(self) -> str | None:
        """The key id to give (with a dummy secret), or None to let the chain go on."""
        if not self._active():
            return None
        key_id = os.environ.get("AWS_ACCESS_KEY_ID")
        if not key_id:
            return DUMMY
        return None if os.environ.get("AWS_SECRET_ACCESS_KEY") else key_id

    def _issue(self, kind: type, key_id: str) -> Any:
        credentials = kind(key_id, DUMMY, method=self.METHOD)
        session = self._session()
        if session is not None:
            with _lock:
                _issued[session] = credentials
        return credentials


class _AsyncDummyProvider(_DummyProvider):
    """The same for aiobotocore, whose resolver awaits each provider."""

    async def load(self) -> Any:
        key_id = self._wanted()
        if key_id is None:
            return None
        # Only an aiobotocore resolver gets this provider, so aiobotocore is imported.
        kind = importlib.import_module("aiobotocore.credentials").AioCredentials
        return self._issue(kind, key_id)


def install(active: Callable[[], bool], existing: list[Any]) -> None:
    """Put the provider in every session made from now on, and in ``existing`` ones."""
    botocore.register_initializer(lambda session: _equip_later(session, active))
    for session in existing:
        _insert(session, session.get_component("credential_provider"), active)


def _equip_later(session: Any, active: Callable[[], bool]) -> None:
    """Wrap the session's credential chain, which it builds on first use (once the
    profile of ``boto3.Session(profile_name=...)`` is set), so it gets the provider."""
    # The factory botocore and aiobotocore register for the component; botocore offers no
    # public way to add a provider to the default chain of sessions it has yet to build.
    build = getattr(session, "_create_credential_resolver", None)
    if build is None:
        return

    def resolver() -> Any:
        chain = build()
        _insert(session, chain, active)
        return chain

    session.lazy_register_component("credential_provider", resolver)


def _insert(session: Any, chain: Any, active: Callable[[], bool]) -> None:
    methods = [provider.METHOD for provider in getattr(chain, "providers", [])]
    if _ENV not in methods or _DummyProvider.METHOD in methods:
        return   # a profile named in code (no environment in the chain), or done already
    kind = _AsyncDummyProvider if inspect.iscoroutinefunction(chain.load_credentials) \
        else _DummyProvider
    chain.insert_before(_ENV, kind(session, active))


def withdraw() -> None:
    """Make every session still holding dummy credentials given here forget them (it
    resolves its credentials afresh on its next client)."""
    with _lock:
        issued = list(_issued.items())
        _issued.clear()
    for session, credentials in issued:
        # Sessions keep what they resolved in ``_credentials`` (botocore and aiobotocore):
        # no public call empties it.
        if getattr(session, "_credentials", None) is credentials:
            session._credentials = None


__all__ = ["DUMMY", "install", "withdraw"]
