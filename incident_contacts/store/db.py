"""The database: one engine, migrations, and one transaction per API call.

SQLite is the embedded default (WAL journal, foreign keys on, ``synchronous=NORMAL``: a
committed transaction is in the WAL file before the call returns, so it survives the process
being killed). Writers take the database lock when their transaction begins
(``BEGIN IMMEDIATE``), so two writers never deadlock on a lock upgrade. PostgreSQL is used by
URL; there several processes may share one database. Its write transactions run at READ
COMMITTED (the locks they take make them re-read the latest committed rows: ``store.locks``,
``FOR UPDATE``), its read transactions in one snapshot (``Store._snapshot``).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator
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
WAL_SIZE_LIMIT = 64 * 1024 * 1024
"""Bytes the SQLite WAL file is cut back to when the log starts over after a checkpoint. The
log of steady load stays well below it (a second of writes: about 20 MB at 3,000 calls a
second); a burst (housekeeping's first round over a big backlog, a key rotation) would
otherwise leave the file at its largest size for good."""


class SchemaTooNewError(RuntimeError):
    """The database was migrated by a newer version than this one: nothing is changed."""


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
            cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            if flags.get("manual_checkpoints"):
                # The store's checkpoint thread copies the WAL into the database instead of
                # whichever call happens to cross the threshold (see start_checkpoints).
                cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Whether the transaction writes is left in the connection's info by Store.transaction
        # (a plain dict: cheaper than execution options, which fire events of their own).
        driver = connection.connection.driver_connection
        if driver.in_transaction:  # type: ignore[union-attr]
            return  # Store.transaction began it on the driver
        write = connection.info.get("write", True)
        # Straight to the driver: SQLAlchemy's statement machinery costs more than the BEGIN.
        _on_driver(connection, driver.execute,  # type: ignore[union-attr]
                   "BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _on_driver(connection: Connection, method: Any, statement: str | None = None) -> None:
    """Call a method of the driver's connection (``execute(statement)``, ``commit()``); a
    driver error is wrapped as SQLAlchemy wraps it, so callers see the same exceptions
    (``OperationalError`` for "database is locked") as from ``Connection.execute``."""
    error = connection.dialect.loaded_dbapi.Error
    try:
        if statement is None:
            method()
        else:
            method(statement)
    except error as exc:
        raise sa.exc.DBAPIError.instance(statement or "COMMIT", None, exc, error,
                                         dialect=connection.dialect) from exc


def _restore_driver(connection: Connection, driver: Any) -> None:
    """Put a psycopg connection's transaction settings back to the server's defaults after a
    read (``Store._snapshot``). A connection whose settings cannot be put back (its
    transaction did not end) is dropped rather than given back to the pool as read-only."""
    if driver.closed:
        return      # invalidated: the pool opens a new connection in its place
    try:
        driver.isolation_level = None
        driver.read_only = None
    except Exception:
        log.warning("dropping a connection whose read settings could not be reset",
                    exc_info=True)
        connection.invalidate()


def _roll_back(kept: Connection, driver: Any) -> None:
    """Undo the open transaction: SQLAlchemy's when a statement through it began one (which
    rolls the driver back too; a COMMIT that failed leaves it inactive, and only a rollback
    lets the connection be used again), else the driver's."""
    kept.rollback()
    if driver.in_transaction:
        driver.rollback()


def _commit(kept: Connection, driver: Any) -> None:
    """Commit the open transaction: through SQLAlchemy when a statement through it began one,
    else on the driver. A COMMIT that fails (the disk, a lock) leaves the transaction open: it
    is rolled back, and the error raised."""
    try:
        if kept.in_transaction():
            kept.commit()
        else:
            _on_driver(kept, driver.commit)
    except BaseException:
        with contextlib.suppress(Exception):
            _roll_back(kept, driver)
        raise


class WriteGroup:
    """Write transactions of one thread that commit together: group commit
    (``Store.begin_group``).

    Each transaction of the group is a savepoint inside one database transaction, which takes
    the write lock at the group's first write and commits when the group ends. A call whose
    transaction fails rolls back to its savepoint; the others keep their writes. Nothing of
    the group is durable until it commits, so its callers are answered only then.
    """

    __slots__ = ("after_commit", "failed", "nested", "open", "released")

    def __init__(self) -> None:
        self.open = False               # the database transaction has begun
        self.nested = False             # the thread held the write lock before the group
        self.released = 0               # savepoints kept: writes waiting for the commit
        self.failed: BaseException | None = None   # the transaction was lost on the way
        self.after_commit: list[Callable[[], None]] = []

    def defer(self, hooks: list[Callable[[], None]]) -> None:
        """Run ``hooks`` after the group commits (each distinct hook once)."""
        for hook in hooks:
            if hook not in self.after_commit:
                self.after_commit.append(hook)


_SAVEPOINT = "SAVEPOINT grouped_call"
_RELEASE = "RELEASE grouped_call"
_ROLLBACK_TO = "ROLLBACK TO grouped_call"


class _ThreadMarker:
    """Lives as long as a thread's locals: its end closes the thread's kept connection."""

    __slots__ = ("__weakref__",)


class _KeptTransaction:
    """A transaction on the SQLite connection a thread keeps (``Store.transaction``).

    BEGIN and COMMIT go straight to the driver: SQLAlchemy's transaction costs more than a
    keyed lookup does. A statement run through SQLAlchemy starts its own transaction object,
    which finds the driver's open (the "begin" event above) and is then committed or rolled
    back in its place. A class rather than a generator: this runs on every call.
    """

    __slots__ = ("connection", "group", "local", "nested", "store", "write")

    def __init__(self, store: Store, local: threading.local, write: bool) -> None:
        self.store = store
        self.local = local
        self.write = write
        self.nested = False
        group: WriteGroup | None = getattr(local, "group", None)
        # A read before the group's first write needs no savepoint: it reads what is
        # committed, as it would outside the group.
        self.group = group if group is not None and (write or group.open) else None

    def __enter__(self) -> Connection:
        if self.group is not None:
            return self._enter_group(self.group)
        store = self.store
        if store._memory_lock is not None:
            store._memory_lock.acquire()
        elif self.write:
            self.nested = store._enter_writers()
        try:
            kept = self.connection = store._kept_connection(self.local)
            kept.info["write"] = self.write
            _on_driver(kept, kept.connection.driver_connection.execute,  # type: ignore[union-attr]
                       "BEGIN IMMEDIATE" if self.write else "BEGIN")
        except BaseException:
            self._unlock()
            raise
        self.local.busy = True
        return kept

    def _enter_group(self, group: WriteGroup) -> Connection:
        if group.failed is not None:
            raise sa.exc.OperationalError(_SAVEPOINT, None, sqlite3.OperationalError(
                "the transaction of this call's group was lost"))
        store = self.store
        kept = self.connection = store._kept_connection(self.local)
        driver: Any = kept.connection.driver_connection
        if not group.open:
            nested = store._enter_writers()
            try:
                kept.info["write"] = True
                _on_driver(kept, driver.execute, "BEGIN IMMEDIATE")
            except BaseException:
                store._leave_writers(nested)
                raise
            group.open, group.nested = True, nested
        _on_driver(kept, driver.execute, _SAVEPOINT)
        self.local.busy = True
        return kept

    def _exit_group(self, group: WriteGroup, failed: bool) -> None:
        kept = self.connection
        driver: Any = kept.connection.driver_connection
        if not failed:
            _on_driver(kept, driver.execute, _RELEASE)
            if self.write:
                group.released += 1
            return
        try:
            _on_driver(kept, driver.execute, _ROLLBACK_TO)
            _on_driver(kept, driver.execute, _RELEASE)
        except sa.exc.DBAPIError as exc:
            # Some errors (a full disk, an I/O error) end the whole transaction in SQLite:
            # the savepoint is gone, and with it the writes of the calls before this one.
            group.failed = exc
        else:
            if not driver.in_transaction:
                group.failed = sa.exc.OperationalError(
                    _ROLLBACK_TO, None,
                    sqlite3.OperationalError("the database ended the transaction"))

    def __exit__(self, exc_type: Any, _exc: Any, _tb: Any) -> None:
        self.local.busy = False
        if self.group is not None:
            self._exit_group(self.group, exc_type is not None)
            return
        kept = self.connection
        try:
            driver: Any = kept.connection.driver_connection
            if exc_type is not None:
                _roll_back(kept, driver)
                return
            _commit(kept, driver)
        finally:
            if self.write:
                self.store.changes += 1
            self._unlock()

    def _unlock(self) -> None:
        store = self.store
        if store._memory_lock is not None:
            store._memory_lock.release()
        elif self.write:
            store._leave_writers(self.nested)


class _MemoryRead:
    """A read on an in-memory database (the mock), with no BEGIN and no COMMIT.

    The database has one connection, and every transaction on it holds the store's lock from
    its start to its end (``Store._memory_lock``), so nothing writes while a read runs: each of
    its statements, in SQLite's autocommit mode, sees what the one before it saw, as they would
    inside BEGIN and COMMIT, which cost more than the read's keyed lookup. A statement run
    through SQLAlchemy still begins a transaction (the "begin" event above); it is ended here.
    The connection's "write" mark is left as the last write set it: on a database no other
    connection shares, BEGIN IMMEDIATE and BEGIN are the same, and the count of commits it
    feeds is read only for SQLite files (``change_mark``).
    """

    __slots__ = ("connection", "local", "store")

    def __init__(self, store: Store, local: threading.local) -> None:
        self.store = store
        self.local = local

    def __enter__(self) -> Connection:
        store = self.store
        lock: Any = store._memory_lock
        lock.acquire()
        try:
            kept = self.connection = store._kept_connection(self.local)
        except BaseException:
            lock.release()
            raise
        self.local.busy = True
        return kept

    def __exit__(self, exc_type: Any, _exc: Any, _tb: Any) -> None:
        local = self.local
        local.busy = False
        kept = self.connection
        try:
            if kept.in_transaction() or local.driver.in_transaction:
                driver: Any = kept.connection.driver_connection
                if exc_type is not None:
                    _roll_back(kept, driver)
                else:
                    _commit(kept, driver)
        finally:
            lock: Any = self.store._memory_lock
            lock.release()


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
        # Cleared while the checkpoint thread waits for its turn: a lock is not fair, and
        # writers that come back to it at once would keep the checkpoint out for good.
        self._writers_may_enter = threading.Event()
        self._writers_may_enter.set()
        self._writer: int | None = None      # the thread holding the write lock
        # On SQLite each thread keeps its connection between calls: checking one out of the
        # pool and back costs more than a small query. (PostgreSQL connections go back to the
        # pool after each transaction, so the pool's size bounds what the server holds.)
        self._local = threading.local() if self.sqlite else None
        # psycopg 3's level for read transactions on PostgreSQL (see _snapshot); None for
        # SQLite and for another PostgreSQL driver.
        isolation_levels = getattr(self.engine.dialect.loaded_dbapi, "IsolationLevel", None)
        self._repeatable_read: Any = None if self.sqlite or isolation_levels is None \
            else isolation_levels.REPEATABLE_READ
        # The kept connections, each closed (back to the pool) when its thread ends or the
        # store is disposed of, whichever comes first (see _kept_connection).
        self._kept: dict[int, weakref.finalize[Any, Any]] = {}
        # An in-memory database's threads share its one driver connection: closing the handle
        # of a thread that ended rolls back the transaction another thread has open on it.
        # Their markers are held here, so their handles last until the store is disposed of.
        self._pinned: list[_ThreadMarker] = []
        self._kept_lock = threading.Lock()
        self._serials = itertools.count(1)
        # Write transactions ended in this process, for change_mark: SQLAlchemy's commits
        # (the "commit" event) and those of the kept connections, made on the driver.
        self.changes = 0
        # Set by the server: schedules a callable for the event loop's next turn and answers
        # True, or answers False when called off the loop's thread (see change_mark).
        self.keep_reading: Callable[[Callable[[], None]], bool] | None = None
        event.listen(self.engine, "commit", self._count_change)

    def _count_change(self, connection: Connection) -> None:
        """SQLAlchemy's commits, from any code that went round ``transaction``; the read
        transactions that ``transaction`` opened change nothing."""
        if connection.info.get("write", True):
            self.changes += 1

    @property
    def marks_changes(self) -> bool:
        """Whether change_mark can tell: a SQLite file (not PostgreSQL, not in memory)."""
        return self._local is not None and self._memory_lock is None

    def change_mark(self) -> tuple[int, int, int] | None:
        """A value that differs after anything commits to the database, in this process or
        another; None where that cannot be known at the price of a lookup (PostgreSQL, an
        in-memory database, or inside a transaction).

        SQLite's ``data_version`` of a connection changes when another connection commits; the
        commits of this thread's own connection are counted in ``changes``. Take the mark
        before the transaction whose result it is to vouch for: a commit in between then makes
        the next mark differ, never the same.

        Reading ``data_version`` takes and drops SQLite's file locks, two system calls. Where
        ``keep_reading`` allows (the server's event loop), one reading serves the rest of the
        loop's turn. Every request served in that turn had arrived before the reading was
        taken, so each answer still shows the database as it was at some moment between the
        request and its answer; this thread's own commits still count at once.
        """
        local = self._local
        if local is None or not self.marks_changes or getattr(local, "busy", False):
            return None
        if self.open_group() is not None:
            return None
        kept = self._kept_connection(local)
        version = local.version
        keep = self.keep_reading
        if version is None or keep is None:
            driver: Any = kept.connection.driver_connection
            try:
                (version,) = driver.execute("PRAGMA data_version").fetchone()
            except sqlite3.Error:
                return None
            local.version = version if keep is not None and keep(local.forget_version) \
                else None
        return (local.serial, version, self.changes)

    def migrate(self) -> None:
        """Bring the schema to the newest migration (in-memory databases: create it)."""
        if self._memory_lock is not None:
            metadata.create_all(self.engine)
            return
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        with self.engine.begin() as connection:
            if not self.sqlite:
                # Several processes may start at once: one migrates, the others wait.
                connection.exec_driver_sql("SELECT pg_advisory_xact_lock(4575001)")
            known = {script.revision for script in
                     ScriptDirectory.from_config(config).walk_revisions()}
            current = MigrationContext.configure(connection).get_current_heads()
            unknown = [revision for revision in current if revision not in known]
            if unknown:
                raise SchemaTooNewError(
                    f"the database is at schema revision {', '.join(unknown)}, which this "
                    "version of incident-contacts does not know: a newer version migrated it. "
                    "Upgrade this server to that version.")
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def transaction(self, *, write: bool = True) -> contextlib.AbstractContextManager[Connection]:
        """One transaction; committed when the block ends, rolled back on an exception."""
        local = self._local
        if local is None:
            # PostgreSQL: a write reads the latest committed rows, a read one snapshot.
            return self._pooled_transaction(write) if write else self._snapshot()
        if getattr(local, "busy", False):
            # On SQLite a transaction inside another one of this thread gets a connection of
            # its own.
            if self._memory_lock is not None:
                # An in-memory database has one connection, whose transaction is open.
                raise RuntimeError("an in-memory database cannot open a transaction inside "
                                   "another one")
            return self._pooled_transaction(write)
        if not write and self._memory_lock is not None:
            return _MemoryRead(self, local)
        return _KeptTransaction(self, local, write)

    def begin_group(self) -> WriteGroup | None:
        """Make this thread's next write transactions one group (``WriteGroup``), until
        :meth:`end_group`; None where groups are not kept (PostgreSQL, an in-memory database,
        inside a transaction or another group)."""
        local = self._local
        if local is None or self._memory_lock is not None or getattr(local, "busy", False) \
                or getattr(local, "group", None) is not None:
            return None
        group = local.group = WriteGroup()
        return group

    def end_group(self, group: WriteGroup, *, commit: bool = True) -> BaseException | None:
        """Commit the group (roll it back unless ``commit``); answers the error that lost its
        writes, or None when they are committed (or there were none)."""
        local = self._local
        assert local is not None, "groups are kept on SQLite files only"
        local.group = None
        if not group.open:
            return group.failed
        kept = self._kept_connection(local)
        driver: Any = kept.connection.driver_connection
        try:
            if commit and group.failed is None:
                _commit(kept, driver)
                return None
            _roll_back(kept, driver)
            return group.failed or RuntimeError("the group was rolled back")
        except Exception as exc:
            return exc
        finally:
            self.changes += 1
            self._leave_writers(group.nested)

    def open_group(self) -> WriteGroup | None:
        """This thread's group, when its transaction has begun: writes made now commit with
        it, so what waits for their commit (after-commit hooks) waits for the group's."""
        local = self._local
        group: WriteGroup | None = getattr(local, "group", None) if local is not None \
            else None
        return group if group is not None and group.open else None

    @contextlib.contextmanager
    def _pooled_transaction(self, write: bool) -> Iterator[Connection]:
        lock = self._memory_lock or (self._writers() if write else contextlib.nullcontext())
        with lock, self.engine.connect() as connection:
            if self.sqlite:
                connection.info["write"] = write
            with connection.begin():
                yield connection

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[Connection]:
        """A read on PostgreSQL: one ``REPEATABLE READ`` and ``READ ONLY`` transaction.

        At READ COMMITTED each statement sees what was committed when it began, so a read of
        several statements (a rotation, then its members) could see a write that commits
        between them in part: an answer no order of the two calls gives. Here every statement
        sees the snapshot taken at the first one (SQLite's reads are one snapshot already).
        A read-only transaction never waits for a lock nor fails to serialize; a write in it
        is refused, so nothing that writes may run in a read.

        psycopg 3 begins the transaction itself, at the first statement: with these settings
        of its connection it says ``BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`` instead
        of ``BEGIN``, so the snapshot costs no statement of its own. The settings are put back
        before the connection returns to the pool, for the writes that take it next.
        """
        with self.engine.connect() as connection:
            if self._repeatable_read is None:
                # Another driver than psycopg 3: SQLAlchemy's connection options (reset when
                # the connection returns to the pool).
                connection.execution_options(isolation_level="REPEATABLE READ",
                                             postgresql_readonly=True)
                with connection.begin():
                    yield connection
                return
            driver: Any = connection.connection.driver_connection
            driver.isolation_level = self._repeatable_read
            driver.read_only = True
            try:
                with connection.begin():
                    yield connection
            finally:
                _restore_driver(connection, driver)

    def _kept_connection(self, local: threading.local) -> Connection:
        """This thread's SQLite connection, made on first use."""
        connection: Connection | None = getattr(local, "connection", None)
        if connection is None or connection.closed or connection.invalidated:
            connection = self.engine.connect()
            local.connection = connection
            local.driver = connection.connection.driver_connection
            local.serial = next(self._serials)
            local.version = None  # see change_mark
            local.forget_version = functools.partial(setattr, local, "version", None)
            # A thread's locals go when it ends, and with them this marker, whose finalizer
            # gives the connection back to the pool. Threads come and go (anyio retires
            # workers idle for ten seconds, and /metrics and the inspection endpoints run on
            # them): each would otherwise hold a connection for good, until the pool had none
            # left and every new thread waited 30 seconds for one, then failed.
            local.marker = marker = _ThreadMarker()
            release = weakref.finalize(marker, self._release_kept, id(marker), connection)
            release.atexit = False
            with self._kept_lock:
                self._kept[id(marker)] = release
                if self._memory_lock is not None:
                    self._pinned.append(marker)
        return connection

    def _release_kept(self, key: int, connection: Connection) -> None:
        with self._kept_lock:
            self._kept.pop(key, None)
        with contextlib.suppress(Exception):
            connection.close()

    @property
    def kept_connections(self) -> int:
        """SQLite connections kept by live threads (for tests of the bound)."""
        with self._kept_lock:
            return len(self._kept)

    @contextlib.contextmanager
    def _writers(self) -> Iterator[None]:
        """The turn of one writer of this process; after as long as SQLite's busy timeout,
        the same "database is locked" error that SQLite would give."""
        nested = self._enter_writers()
        try:
            yield
        finally:
            self._leave_writers(nested)

    def _enter_writers(self) -> bool:
        """Wait for the write lock (SQLite file); True when this thread held it already."""
        if self._write_lock is None:
            return False
        me = threading.get_ident()
        nested = self._writer == me
        if not nested and not self._writers_may_enter.is_set():
            self._writers_may_enter.wait(BUSY_TIMEOUT)
        if not self._write_lock.acquire(timeout=BUSY_TIMEOUT):
            raise sa.exc.OperationalError(
                "BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked"))
        self._writer = me
        return nested

    def _leave_writers(self, nested: bool) -> None:
        if self._write_lock is None:
            return
        if not nested:
            self._writer = None
        self._write_lock.release()

    def start_checkpoints(self, interval: float = 1.0) -> None:
        """SQLite file: checkpoint the WAL from a background thread every ``interval``.

        By default SQLite checkpoints inside the commit that crosses its threshold, so one API
        call in a few hundred pays for copying the log and syncing the database file (about a
        fifth of a write's cost, averaged). Durability is the same: a committed transaction is
        in the WAL either way. Call before the first connection is made.
        """
        path = sqlite_path(self.url)
        if path is None or self._checkpointer is not None or not path.parent.is_dir():
            return   # (no folder: no database either, which the first connection reports)
        self._engine_flags["manual_checkpoints"] = True
        self._stop_checkpoints.clear()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, args=(path, interval), name="sqlite-checkpoints",
            daemon=True)
        self._checkpointer.start()

    def _checkpoint_loop(self, path: Path, interval: float) -> None:
        try:
            connection = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT,
                                         isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:   # the server's own connections meet it too, and say so
            log.warning("WAL checkpoints not started: %s", exc)
            return
        try:
            while True:
                stopping = self._stop_checkpoints.wait(interval)
                try:
                    # The writers of this process wait for the checkpoint, so it copies every
                    # frame and the next writer starts the log over from its beginning. A
                    # checkpoint racing the writers never catches up with them under steady
                    # load: the log then grows without end, and every page read and commit
                    # costs more as it does.
                    self._checkpoint(connection)
                except sqlite3.Error as exc:
                    log.warning("WAL checkpoint failed: %s", exc)
                if stopping:
                    return
        finally:
            connection.close()

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        lock = self._write_lock
        connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        if lock is None:
            return
        # The bulk of the log is copied above, beside the writers; they wait only while the
        # few frames they added meanwhile are.
        self._writers_may_enter.clear()
        try:
            if not lock.acquire(timeout=BUSY_TIMEOUT):
                raise sqlite3.OperationalError("the writers kept the checkpoint out")
            try:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            finally:
                lock.release()
        finally:
            self._writers_may_enter.set()

    def dispose(self) -> None:
        if self._checkpointer is not None:
            self._stop_checkpoints.set()
            self._checkpointer.join(BUSY_TIMEOUT)
            self._checkpointer = None
        with self._kept_lock:
            kept = list(self._kept.values())
            pinned, self._pinned = self._pinned, []
        del pinned      # outside the lock: a marker that goes runs its finalizer, which takes it
        for release in kept:
            release()
        self.engine.dispose()


__all__ = ["Store", "WriteGroup", "is_sqlite", "normalise_url", "sqlite_path"]
