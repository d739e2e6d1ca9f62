"""Where the data key comes from (decisions §5).

``INCIDENT_CONTACTS_DATA_KEY`` (32 bytes, standard base64) or ``..._DATA_KEY_FILE``; older keys
in ``INCIDENT_CONTACTS_OLD_DATA_KEYS`` still open records during a rotation. With SQLite and
no key, one is generated into ``<database file>.key`` (mode 0600) and reused; an in-memory
database gets a fresh key; PostgreSQL without a key refuses to start.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from incident_contacts import crypto
from incident_contacts.config import Settings
from incident_contacts.store.db import is_sqlite, normalise_url, sqlite_path

log = logging.getLogger(__name__)


class KeyConfigurationError(Exception):
    """The server cannot start with the keys it was given (or not given)."""


def _read_key_file(path: str) -> bytes:
    try:
        return crypto.parse_key(Path(path).read_text())
    except OSError as exc:
        raise KeyConfigurationError(f"cannot read the data key file {path}: {exc}") from exc
    except ValueError as exc:
        raise KeyConfigurationError(f"{path}: {exc}") from exc


def load_keyring(settings: Settings) -> crypto.KeyRing:
    try:
        older = [crypto.parse_key(k) for k in settings.old_data_keys]
    except ValueError as exc:
        raise KeyConfigurationError(f"INCIDENT_CONTACTS_OLD_DATA_KEYS: {exc}") from exc
    if settings.data_key:
        try:
            return crypto.KeyRing(crypto.parse_key(settings.data_key), older)
        except ValueError as exc:
            raise KeyConfigurationError(f"INCIDENT_CONTACTS_DATA_KEY: {exc}") from exc
    if settings.data_key_file:
        return crypto.KeyRing(_read_key_file(settings.data_key_file), older)
    url = normalise_url(settings.database)
    if not is_sqlite(url):
        raise KeyConfigurationError(
            "PostgreSQL needs a data key: set INCIDENT_CONTACTS_DATA_KEY (32 random bytes in "
            "base64, e.g. from `python -c \"import os,base64;print(base64.b64encode("
            "os.urandom(32)).decode())\"`) or INCIDENT_CONTACTS_DATA_KEY_FILE, the same on "
            "every server that shares the database."
        )
    path = sqlite_path(url)
    if path is None:
        return crypto.KeyRing(crypto.new_key(), older)
    key_path = Path(str(path) + ".key")
    if key_path.exists():
        return crypto.KeyRing(_read_key_file(str(key_path)), older)
    if not key_path.parent.is_dir():
        # Not made here: a mistyped path would quietly grow a tree of folders, and the
        # database would be made in it.
        raise KeyConfigurationError(
            f"the database's folder {key_path.parent} does not exist (create it, or check "
            "the database URL)")
    key = crypto.new_key()
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(crypto.encode_key(key) + "\n")
    log.warning("no data key configured: generated one into %s (keep it with the database)",
                key_path)
    return crypto.KeyRing(key, older)


__all__ = ["KeyConfigurationError", "load_keyring"]
