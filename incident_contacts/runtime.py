"""The running service: settings, database, clock, keys and the hooks of background work.

One :class:`Runtime` is built per server process (or per in-process mock) and handed to
everything that needs it; nothing reads global state.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from incident_contacts import crypto
from incident_contacts.clock import Clock
from incident_contacts.config import Settings
from incident_contacts.errors import DataEncryptionException
from incident_contacts.store.db import Store
from incident_contacts.store.schema.core import server_secrets

log = logging.getLogger(__name__)

SECRET_NAMES = ("activation-codes", "blind-index", "pagination", "accept-codes", "console")
WAKE_TOPICS = ("delivery", "engine")
"""What a committed transaction may have queued: messages for the delivery worker, or steps
for the engagement engine. Each background loop listens to its own, so a busy API that only
sends codes never wakes the engine."""


class Runtime:
    def __init__(self, settings: Settings, store: Store, clock: Clock,
                 keyring: crypto.KeyRing) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.keyring = keyring
        self._secrets: dict[str, bytes | crypto.DecryptError] = {}
        self._wake_listeners: dict[str, list[Callable[[], None]]] = {
            topic: [] for topic in WAKE_TOPICS}
        self._lock = threading.Lock()

    # -- start-up -------------------------------------------------------------------------

    def start(self) -> None:
        """Migrate the database and load (or make) the server's secrets."""
        self.store.start_checkpoints()
        self.store.migrate()
        self._load_secrets()

    def _load_secrets(self) -> None:
        insert = postgresql.insert if self.store.engine.dialect.name == "postgresql" \
            else sqlite.insert
        with self.store.transaction() as conn:
            for name in SECRET_NAMES:
                sealed = self.keyring.seal(
                    crypto.encode_key(os.urandom(32)), aad=f"server_secrets:{name}:value"
                )
                conn.execute(
                    insert(server_secrets).values(name=name, value=sealed)
                    .on_conflict_do_nothing(index_elements=["name"])
                )
            rows = conn.execute(sa.select(server_secrets)).all()
        for row in rows:
            try:
                opened = self.keyring.open(row.value, aad=f"server_secrets:{row.name}:value")
                self._secrets[row.name] = crypto.parse_key(opened)
            except crypto.DecryptError as exc:
                log.error("the server secret %r does not open with the configured data keys",
                          row.name)
                self._secrets[row.name] = exc

    # -- keys and secrets -------------------------------------------------------------------

    def secret(self, name: str) -> bytes:
        value = self._secrets[name]
        if isinstance(value, crypto.DecryptError):
            raise DataEncryptionException(
                "The data could not be decrypted with the server's data key."
            )
        return value

    def blind_index(self, purpose: str, value: str) -> str:
        return crypto.keyed_hash(self.secret("blind-index"), purpose, value)

    def open_record(self, token: str, *, aad: str) -> str:
        """Open a sealed value, or answer DataEncryptionException (never garbage, never 500)."""
        try:
            return self.keyring.open(token, aad=aad)
        except crypto.DecryptError as exc:
            raise DataEncryptionException(
                "The record could not be decrypted with the server's data key."
            ) from exc

    # -- background work --------------------------------------------------------------------

    def on_wake(self, listener: Callable[[], None],
                topics: tuple[str, ...] = WAKE_TOPICS) -> None:
        with self._lock:
            for topic in topics:
                self._wake_listeners[topic].append(listener)

    def wake_delivery(self) -> None:
        """Called after a transaction that queued a message commits."""
        self._wake("delivery")

    def wake_engine(self) -> None:
        """Called after a transaction that scheduled an engine step commits."""
        self._wake("engine")

    def _wake(self, topic: str) -> None:
        for listener in list(self._wake_listeners[topic]):
            listener()

    def close(self) -> None:
        self.store.dispose()


__all__ = ["SECRET_NAMES", "Runtime"]
