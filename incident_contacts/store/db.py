"""The database: one engine, migrations, and one transaction per API call.

SQLite is the embedded default (WAL journal, foreign keys on, ``synchronous=NORMAL``: a
committed transaction is in the WAL file before the call returns, so it survives the process
being killed). Writers take the database lock when their transaction begins
(``BEGIN IMMEDIATE``), so two writers never deadlock on a lock upgrade. PostgreSQL is used by
URL; there several processes may share one database.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from incident_contacts.store.schema import metadata

log = logging.getLogger(__name__)

_MIGRATIONS = Path(__file__).parent / "migrations"
BUSY_TIMEOUT = 30.0     # seconds a SQLite writer waits for the lock


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for an in-memory database."""
    parsed = sa.engine.make_url(url)
    if not parsed.drivername.startswith("sqlite"):
        return None
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(database)


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and use psycopg 3 for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def _create_engine(url: str, flags: dict[str, bool]) -> Engine:
    url = normalise_url(url)
    if not is_sqlite(url):
        return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    if sqlite_path(url) is None:
        engine = sa.create_engine(
            url, poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    else:
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT}, pool_size=8
        )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN, not the driver.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
        if sqlite_path(url) is not None:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            if flags.get("manual_checkpoints"):
                # The store's checkpoint thread copies the WAL into the database instead of
                # whichever call happens to cross the threshold (see start_checkpoints).
                cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Whether the transaction writes is left in the connection's info by Store.transaction
        # (a plain dict: cheaper than execution options, which fire events of their own).
        write = connection.info.get("write", True)
        statement = "BEGIN IMMEDIATE" if write else "BEGIN"
        # Straight to the driver: this runs once per API call, and SQLAlchemy's statement
        # machinery costs more than the BEGIN itself. A driver error is wrapped as
        # SQLAlchemy wraps it, so callers see the same OperationalError (e.g. "locked").
        error = connection.dialect.loaded_dbapi.Error
        try:
            connection.connection.driver_connection.execute(statement)  # type: ignore[union-attr]
        except error as exc:
            raise sa.exc.DBAPIError.instance(statement, None, exc, error,
                                             dialect=connection.dialect) from exc

    return engine


class Store:
    """The engine plus what every caller needs of it."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self._engine_flags = {"manual_checkpoints": False}
        self.engine = _create_engine(self.url, self._engine_flags)
        self._checkpointer: threading.Thread | None = None
        self._stop_checkpoints = threading.Event()
        self.sqlite = is_sqlite(self.url)
        # An in-memory database has one connection; calls from several threads take turns.
        self._memory_lock = threading.RLock() if self.sqlite and sqlite_path(url) is None \
            else None
        # SQLite has one writer at a time. The writers of this process queue here, woken in
        # turn, instead of in SQLite's busy handler, which sleeps in growing steps (up to
        # 100 ms) and gave writes under load a p99 of hundreds of milliseconds. Other
        # processes on the same file still meet the busy timeout.
        self._write_lock = threading.RLock() if self.sqlite and self._memory_lock is None \
            else None
        # On SQLite each thread keeps its connection between calls: checking one out of the
        # pool and back costs more than a small query. (PostgreSQL connections go back to the
        # pool after each transaction, so the pool's size bounds what the server holds.)
        self._local = threading.local() if self.sqlite else None
        self._kept: list[Connection] = []
        self._kept_lock = threading.Lock()

    def migrate(self) -> None:
        """Bring the schema to the newest migration (in-memory databases: create it)."""
        if self._memory_lock is not None:
            metadata.create_all(self.engine)
            return
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        with self.engine.begin() as connection:
            if not self.sqlite:
                # Several processes may start at once: one migrates, the others wait.
                connection.exec_driver_sql("SELECT pg_advisory_xact_lock(4575001)")
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    @contextlib.contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Connection]:
        """One transaction; committed when the block ends, rolled back on an exception."""
        lock = self._memory_lock or (self._writers() if write else contextlib.nullcontext())
        with lock:
            kept = self._kept_connection()
            if kept is None:
                with self.engine.connect() as connection:
                    if self.sqlite:
                        connection.info["write"] = write
                    with connection.begin():
                        yield connection
                return
            kept.info["write"] = write
            with kept.begin():
                yield kept

    def _kept_connection(self) -> Connection | None:
        """This thread's SQLite connection, or None (PostgreSQL, or a transaction is already
        open on it: a nested call gets a connection of its own)."""
        if self._local is None:
            return None
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is None or connection.closed or connection.invalidated:
            connection = self.engine.connect()
            self._local.connection = connection
            with self._kept_lock:
                self._kept.append(connection)
        elif connection.in_transaction():
            return None
        return connection

    @contextlib.contextmanager
    def _writers(self) -> Iterator[None]:
        """The turn of one writer of this process; after as long as SQLite's busy timeout,
        the same "database is locked" error that SQLite would give."""
        if self._write_lock is None:
            yield
            return
        if not self._write_lock.acquire(timeout=BUSY_TIMEOUT):
            raise sa.exc.OperationalError(
                "BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked"))
        try:
            yield
        finally:
            self._write_lock.release()

    def start_checkpoints(self, interval: float = 1.0) -> None:
        """SQLite file: checkpoint the WAL from a background thread every ``interval``.

        By default SQLite checkpoints inside the commit that crosses its threshold, so one API
        call in a few hundred pays for copying the log and syncing the database file (about a
        fifth of a write's cost, averaged). Durability is the same: a committed transaction is
        in the WAL either way. Call before the first connection is made.
        """
        path = sqlite_path(self.url)
        if path is None or self._checkpointer is not None:
            return
        self._engine_flags["manual_checkpoints"] = True
        self._stop_checkpoints.clear()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, args=(path, interval), name="sqlite-checkpoints",
            daemon=True)
        self._checkpointer.start()

    def _checkpoint_loop(self, path: Path, interval: float) -> None:
        connection = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT, isolation_level=None,
                                     check_same_thread=False)
        try:
            while True:
                stopping = self._stop_checkpoints.wait(interval)
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:
                    log.warning("WAL checkpoint failed: %s", exc)
                if stopping:
                    return
        finally:
            connection.close()

    def dispose(self) -> None:
        if self._checkpointer is not None:
            self._stop_checkpoints.set()
            self._checkpointer.join(BUSY_TIMEOUT)
            self._checkpointer = None
        with self._kept_lock:
            kept, self._kept = self._kept, []
        for connection in kept:
            with contextlib.suppress(Exception):
                connection.close()
        self.engine.dispose()


__all__ = ["Store", "is_sqlite", "normalise_url", "sqlite_path"]
