"""A one-time sealing of the contact display names that older releases stored in plain.

A display name is a person's name: since migration 0011 it is stored sealed with the data key
(``service.contacts.seal_display_name``). A migration holds no data key, so 0011 only marks
the names already stored, each with ``PLAIN_NAME`` in front; the service reads a marked name
as it is. This runs in the server's housekeeping, which holds the key, once per database: it
seals every marked name, walking the contacts in id order in batches, each a short
transaction, and rewrites a row only if its name is still the one read (compare and swap: a
name changed meanwhile was sealed by the call that changed it), so servers keep running
meanwhile. When the walk is done a row in ``maintenance_done`` says so, and no server sharing
the database walks again; one stopped half-way walks again from the start, and finds only the
names it had not reached.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from incident_contacts.crypto import SEALED_PREFIX
from incident_contacts.engine.legacy_texts import done
from incident_contacts.service.contacts import seal_display_name
from incident_contacts.store.schema.core import PLAIN_NAME, contacts, plain_name
from incident_contacts.store.schema.maintenance import maintenance_done

if TYPE_CHECKING:
    from incident_contacts.runtime import Runtime

log = logging.getLogger(__name__)

TASK = "seal-plain-display-names"
"""The name of this task in ``maintenance_done``."""

BATCH = 500


def _marked(after: int, batch: int) -> sa.Select[Any]:
    c = contacts.c
    # substr, not LIKE: SQLite's LIKE ignores case, and "V1." is no sealed value's start
    # (plain_name tells them apart by case too).
    start = sa.func.substr(c.display_name, 1, len(SEALED_PREFIX))
    return (sa.select(c.id, c.account, c.region, c.alias, c.display_name)
            .where(c.id > after,
                   sa.or_(c.display_name.startswith(PLAIN_NAME, autoescape=True),
                          start != SEALED_PREFIX))
            .order_by(c.id).limit(batch))


def seal_legacy_display_names(runtime: Runtime, *, batch: int = BATCH) -> int:
    """Seal every display name still in plain, once per database (see the module's
    documentation); how many were sealed (0 once done)."""
    with runtime.store.transaction(write=False) as conn:
        if done(conn, TASK):
            return 0
    sealed, after = 0, 0
    while True:
        with runtime.store.transaction() as conn:
            rows = conn.execute(_marked(after, batch)).all()
            for row in rows:
                value = seal_display_name(runtime.keyring, row.account, row.region, row.alias,
                                          plain_name(row.display_name))
                sealed += conn.execute(contacts.update().where(
                    contacts.c.id == row.id, contacts.c.display_name == row.display_name,
                ).values(display_name=value)).rowcount or 0
        if len(rows) < batch:
            break
        after = rows[-1].id
    insert = postgresql.insert if runtime.store.engine.dialect.name == "postgresql" \
        else sqlite.insert
    with runtime.store.transaction() as conn:
        conn.execute(insert(maintenance_done).values(name=TASK, done_at=runtime.clock.now())
                     .on_conflict_do_nothing(index_elements=["name"]))
    if sealed:
        log.info("sealed %d contact display names stored in plain by an older release", sealed)
    return sealed


__all__ = ["BATCH", "TASK", "seal_legacy_display_names"]
