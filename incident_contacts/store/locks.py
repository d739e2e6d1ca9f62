"""Named locks held until the transaction ends, for checks that read before they write.

A limit counted before an insert (contacts per account, tags per resource) holds on SQLite,
whose writers run one at a time. On PostgreSQL several servers share the database and each
statement of a READ COMMITTED transaction sees what was committed when it began, so two calls
can count the same rows and both insert. :func:`hold` makes such calls take turns: on
PostgreSQL it waits for a transaction-scoped advisory lock (``pg_advisory_xact_lock``) named
by the key; the lock is released when the transaction commits or rolls back. Take it before
the reads it protects: their statements then begin after the previous holder committed, and
see its rows (at READ COMMITTED, the level the store's write transactions run at: a REPEATABLE
READ snapshot, as the store's reads take, could be older than the lock; holding one belongs in
writes). Elsewhere it runs no statement at all.

The key's parts are hashed (BLAKE2b, 64 bits) into the lock's one ``bigint``; two keys sharing
a hash only make their calls take turns for nothing.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from incident_contacts.store.prepared import Prepared

_LOCK = Prepared(sa.select(sa.func.pg_advisory_xact_lock(
    sa.bindparam("key", type_=sa.BigInteger))))


def key_of(*parts: str) -> int:
    """The advisory lock's number for a key: a signed 64-bit hash of its parts."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8,
                             person=b"ic-xact-lock").digest()
    return int.from_bytes(digest, "big", signed=True)


def hold(conn: Connection, *parts: str) -> None:
    """Wait for the lock named by ``parts`` and hold it until the transaction ends (PostgreSQL;
    elsewhere nothing: SQLite's writers already run one at a time)."""
    if conn.dialect.name == "postgresql":
        _LOCK.all(conn, {"key": key_of(*parts)})


__all__ = ["hold", "key_of"]
