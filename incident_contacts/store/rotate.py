"""Every sealed column in the database, and re-sealing them under a new data key.

:data:`SEALED_COLUMNS` is the one list of what is encrypted at rest: a table, the column
whose value names the row in the associated data (``<table>:<row key>:<column>``, see
:mod:`incident_contacts.crypto`; or the columns, their values joined by colons), and the sealed
column. A feature that calls ``keyring.seal(...)`` for a new table or column adds it here; a
test fails until it does.

:func:`rotate` (``incident-contacts rotate-key``) walks each table in primary-key order, in
batches, each batch its own short transaction, and re-seals every value not yet under the new
key. Each row is updated only if its value is still the one read (compare and swap), so servers
may keep running meanwhile, as long as they hold the new key as their data key and the old one
among ``INCIDENT_CONTACTS_OLD_DATA_KEYS`` (decisions §5). Blind indexes and code hashes are
keyed by server secrets, which are themselves sealed records: re-sealing them changes no
secret, so every index stays valid.

A column sealed by a later release than the one that made it (contact display names, since
migration 0011) may still hold values in plain, marked by that migration: they are sealed
under the new key as they are met. A database not yet migrated that far keeps the column as
it is (it holds nothing sealed).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext

from incident_contacts import crypto
from incident_contacts.store.db import Store
from incident_contacts.store.schema import metadata
from incident_contacts.store.schema.core import plain_name

log = logging.getLogger(__name__)

DEFAULT_BATCH = 200


@dataclass(frozen=True)
class SealedColumn:
    table: str
    row_key: str | tuple[str, ...]
    """The column whose value names the row in the associated data, or the columns (of a
    unique key) whose values, joined by colons, do."""
    column: str
    plain: Callable[[str], str | None] | None = None
    """The text a value still in plain holds (None for a sealed value), when the column may
    hold such values."""
    since: str | None = None
    """The migration from which the column is sealed (a database before it is left alone;
    revision ids are four digits, so they compare as text)."""

    @property
    def key_columns(self) -> tuple[str, ...]:
        return (self.row_key,) if isinstance(self.row_key, str) else self.row_key

    def aad(self, row_key_value: Any) -> str:
        return f"{self.table}:{row_key_value}:{self.column}"

    def aad_of(self, row: Any) -> str:
        """The associated data of a row that has the key columns as attributes."""
        return self.aad(":".join(str(getattr(row, name)) for name in self.key_columns))


SEALED_COLUMNS: Final[tuple[SealedColumn, ...]] = (
    SealedColumn("server_secrets", "name", "value"),
    SealedColumn("channels", "channel_id", "address"),
    SealedColumn("outbox", "message_id", "address"),
    SealedColumn("outbox", "message_id", "subject"),
    SealedColumn("outbox", "message_id", "body"),
    SealedColumn("outbox", "message_id", "speech"),
    SealedColumn("outbox", "message_id", "code"),
    SealedColumn("engagements", "engagement_id", "subject"),
    SealedColumn("engagements", "engagement_id", "content"),
    SealedColumn("engagements", "engagement_id", "public_subject"),
    SealedColumn("engagements", "engagement_id", "public_content"),
    SealedColumn("engagements", "engagement_id", "stop_reason"),
    SealedColumn("page_receipts", "receipt_id", "note"),
    SealedColumn("contacts", ("account", "region", "alias"), "display_name",
                 plain=plain_name, since="0011"),
)


@dataclass
class RotationReport:
    resealed: int = 0
    """Values re-sealed under the new key by this run."""
    current: int = 0
    """Values already under the new key (sealed by a server holding it, or an earlier run)."""
    sealed_plain: int = 0
    """Values an older release stored in plain, sealed under the new key by this run."""
    unreadable: list[str] = field(default_factory=list)
    """Associated data of the values that no given key opens; they are left as they are."""

    @property
    def ok(self) -> bool:
        return not self.unreadable


def _by_table(columns: Iterable[SealedColumn]) -> list[tuple[str, list[SealedColumn]]]:
    ordered = sorted(columns, key=lambda c: c.table)
    return [(name, list(group)) for name, group in
            itertools.groupby(ordered, key=lambda c: c.table)]


def rotate(store: Store, keyring: crypto.KeyRing, *, batch_size: int = DEFAULT_BATCH,
           columns: Iterable[SealedColumn] = SEALED_COLUMNS,
           progress: Callable[[str, int], None] | None = None) -> RotationReport:
    """Re-seal every sealed value under ``keyring``'s primary key.

    ``keyring`` holds the new key as its primary and the old ones as older keys. Tables that
    do not exist yet (an older schema) are skipped. ``progress(table, rows)`` is called after
    each batch.
    """
    if batch_size < 1:
        raise ValueError("the batch size must be at least 1")
    report = RotationReport()
    existing = set(sa.inspect(store.engine).get_table_names())
    revision = _revision(store)
    for name, sealed in _by_table(columns):
        if name not in existing:
            log.info("rotate-key: no table %s here, skipped", name)
            continue
        if revision is not None:
            for column in [s for s in sealed if s.since is not None and revision < s.since]:
                log.info("rotate-key: %s.%s is sealed from schema %s on, and this database "
                         "is at %s: skipped", name, column.column, column.since, revision)
                sealed.remove(column)
            if not sealed:
                continue
        table = metadata.tables[name]
        (pk,) = table.primary_key.columns
        keys = sealed[0].key_columns
        after: Any = None
        while True:
            with store.transaction() as conn:
                query = sa.select(pk, *(table.c[k] for k in keys),
                                  *(table.c[s.column] for s in sealed))
                if after is not None:
                    query = query.where(pk > after)
                rows = conn.execute(query.order_by(pk).limit(batch_size)).all()
                for row in rows:
                    _reseal_row(conn, table, pk, row, sealed, keyring, report)
            if progress is not None and rows:
                progress(name, len(rows))
            if len(rows) < batch_size:
                break
            after = rows[-1][0]
    return report


def _revision(store: Store) -> str | None:
    """The database's schema revision; None for a schema made from the metadata (in memory),
    which is the newest."""
    with store.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _reseal_row(conn: sa.Connection, table: sa.Table, pk: sa.Column[Any], row: Any,
                sealed: list[SealedColumn], keyring: crypto.KeyRing,
                report: RotationReport) -> None:
    keys = len(sealed[0].key_columns)
    key_value, row_key = row[0], ":".join(str(part) for part in row[1:1 + keys])
    for index, column in enumerate(sealed):
        value = row[1 + keys + index]
        if value is None:
            continue
        if keyring.is_current(value):
            report.current += 1
            continue
        aad = column.aad(row_key)
        in_plain = column.plain(value) if column.plain is not None else None
        if in_plain is not None:
            plaintext, was_plain = in_plain, True
        else:
            try:
                plaintext, was_plain = keyring.open(value, aad=aad), False
            except crypto.DecryptError:
                report.unreadable.append(aad)
                continue
        target = table.c[column.column]
        result = conn.execute(
            table.update()
            .where(pk == key_value, target == value)
            .values({column.column: keyring.seal(plaintext, aad=aad)})
        )
        # No row: a server changed (and so sealed under the new key) or deleted it meanwhile.
        if was_plain:
            report.sealed_plain += result.rowcount
        else:
            report.resealed += result.rowcount


__all__ = ["DEFAULT_BATCH", "SEALED_COLUMNS", "RotationReport", "SealedColumn", "rotate"]
