"""The delivery worker: sends what the outbox holds, retries what failed, records every attempt.

A message row is written in the transaction of the API call that made it
(``service.outbox.enqueue``), so it is durable once the call is acknowledged. This module
hands it to a transport afterwards:

1. **claim** the due rows (``PENDING``, ``next_attempt_at`` reached, no live claim) with a
   conditional ``UPDATE ... WHERE id IN (...) AND (claimed_until IS NULL OR claimed_until <
   now)``, committed before anything is sent. On PostgreSQL the candidates are picked with
   ``FOR UPDATE SKIP LOCKED``, so several server processes on one database share the outbox
   without waiting on each other, and the conditional update makes a row go to one of them
   only;
2. **send** each claimed message outside any transaction, with the transport for its channel
   type;
3. **record** the attempt in ``delivery_attempts`` and the outcome on the row (the outcomes of
   a batch together, in one transaction at most :data:`RECORD_EVERY` apart): ``SENT`` with the
   provider's id, a retry after an exponential backoff with jitter (2 s, 4 s, 8 s ... at most
   5 minutes), or ``FAILED`` after the last attempt, on a permanent error, or when the row
   cannot be opened with this server's data keys.

Delivery is at least once and never lost: a claim is a lease (:data:`CLAIM_SECONDS`), and a row
whose worker died before recording the outcome is taken again once the lease has run out. In
the normal case nothing is sent twice: only the holder of a live claim sends, and it records
the outcome within :data:`RECORD_EVERY` of the transport's answer. (A crash inside that
window is the one case in which a message is sent again, after restart.)

A worker that died does not make its claims wait out the lease: every worker looks, when it
starts and every :data:`LIVENESS_SECONDS`, for holders of live claims that are gone, and gives
their rows back (:func:`release_abandoned_claims`). Each worker shows it is alive with a
**presence lock** that it holds for as long as it runs (:class:`Presence`) and that nobody can
take while it does; a holder is gone exactly when its lock can be taken. On a SQLite file the
lock is an exclusive ``flock`` on a file of its own beside the database
(``<database>.workers/<hash of the worker id>.lock``): the kernel keeps it and frees it when
the process ends, however it ends, and every process using that file system on the same
kernel sees it, whatever its pid namespace (containers sharing the database's volume). On
PostgreSQL it is a session-level advisory lock named by the worker id, held on a connection of
the worker's own, which the database frees when that connection closes, on any host.

A holder with no lock file to look at (a worker of a version before lock files, during an
upgrade; one whose directory was read-only or not to be trusted) is judged by its process id
when it names a process of this host and of this pid namespace (a worker id carries a mark of
its pid namespace, :func:`new_worker_id`), and otherwise keeps its rows until the lease runs
out.

Due-ness is judged by the runtime's clock, so moving the inspection clock forward makes
retries due at once; claims are not (:func:`lease_time`): moving it never makes a live claim
look run out. On PostgreSQL claims are dated and judged by the database server's clock, one
clock for every host sharing the outbox, so a host whose clock runs ahead (skew, an NTP step)
does not take another host's live claims for run out.

**Hooks for other engines.** :data:`on_delivered` is an explicit registry of callbacks run
inside the transaction that records a final outcome (``SENT`` or ``FAILED``, not the retries
in between)::

    from incident_contacts.engine import delivery

    def record_receipt(conn: Connection, row: Row[Any], outcome: delivery.Outcome) -> None:
        if row.purpose == "PAGE":
            ...  # write a SENT or ERROR receipt for row.page_arn with conn

    delivery.on_delivered.append(record_receipt)

Each hook gets the open connection, the outbox row as it was claimed, and the
:class:`Outcome`. A hook that raises is logged and its writes are undone (it runs in a
savepoint); the outcome itself is kept, so a faulty hook never makes a message go out twice.
The hooks of a batch share one savepoint; when one raises, that savepoint is undone and each
hook runs again in its own, so a hook must keep its effects to the connection's writes.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import random
import socket
import stat
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from incident_contacts.clock import SystemClock
from incident_contacts.crypto import DecryptError
from incident_contacts.delivery.base import (
    DeliveryError,
    DeliveryResult,
    OutgoingMessage,
    Transport,
)
from incident_contacts.engine import legacy_texts
from incident_contacts.engine.background import BackgroundLoop
from incident_contacts.service import outbox as outbox_messages
from incident_contacts.store.db import sqlite_path
from incident_contacts.store.locks import key_of
from incident_contacts.store.prepared import Prepared, insert_of
from incident_contacts.store.schema.delivery import delivery_attempts, outbox

if TYPE_CHECKING:
    from incident_contacts.runtime import Runtime

try:
    import fcntl
except ImportError:     # Windows: no flock; workers are judged by process id and lease there
    _flock: Callable[[int, int], None] | None = None
    _LOCK_NOW = 0
else:
    _flock = fcntl.flock
    _LOCK_NOW = fcntl.LOCK_EX | fcntl.LOCK_NB

log = logging.getLogger(__name__)

CLAIM_SECONDS = 60.0
"""How long a claim holds a row. A worker stops sending a batch at half of it and gives the
rest back, so a live worker never loses a row it is still working on. Claims are dated and
judged in :func:`lease_time`."""


def lease_time(runtime: Runtime, conn: Connection | None = None) -> float:
    """The time claims are dated and judged by (``claimed_until``). On a server that is the
    real time, not its clock: the inspection clock may be moved forward (``SystemClock.advance``)
    to make retries and escalation stages due at once, and it moves on one server at a time,
    so a claim dated by it would look run out to another server, or to this one, while its
    holder is still sending, and the message would go out twice. On PostgreSQL the real time
    is the database server's (read with ``conn`` when given, else in a read transaction of its
    own): servers on several hosts share the outbox, and the host clocks may disagree by more
    than a claim lasts. Elsewhere (the in-process mock, tests with a clock of their own, on
    any database) the runtime's clock stands for the real time."""
    clock = runtime.clock
    if not isinstance(clock, SystemClock):
        return clock.now()
    if runtime.store.sqlite:
        return time.time()
    if conn is None:
        with runtime.store.transaction(write=False) as own:
            return float(own.execute(_DATABASE_TIME).scalar_one())
    return float(conn.execute(_DATABASE_TIME).scalar_one())


_DATABASE_TIME = sa.select(sa.cast(sa.extract("epoch", sa.func.clock_timestamp()),
                                   sa.Float(precision=53)))
"""PostgreSQL's real time, in epoch seconds: its clock when read, not its transaction's start."""

DEFAULT_BATCH = 100

RECORD_EVERY = 0.05
"""Outcomes are recorded together, in one transaction, at most this many seconds apart (and
at the end of each batch): a commit costs more than handing a message to most transports."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: ``base * 2**(n-1)`` seconds before attempt ``n + 1``,
    scattered by ``±jitter`` of itself and never more than ``cap``; ``FAILED`` after
    ``max_attempts`` attempts. A provider's ``Retry-After`` is honoured when it is longer
    (up to ``cap``)."""

    base: float = 2.0
    cap: float = 300.0
    max_attempts: int = 8
    jitter: float = 0.2

    def delay(self, attempts_made: int, rng: random.Random,
              retry_after: float | None = None) -> float:
        nominal = min(self.cap, self.base * 2.0 ** min(64, max(0, attempts_made - 1)))
        spread = nominal * self.jitter
        delay = min(self.cap, nominal + rng.uniform(-spread, spread))
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.cap))
        return max(delay, 0.001)


DEFAULT_POLICY = RetryPolicy()


@dataclass(frozen=True)
class Outcome:
    """What became of one attempt.

    ``status`` is ``SENT``, ``RETRY`` or ``FAILED``; ``result`` the provider's answer when sent;
    ``error`` the reason it was not; ``attempt`` counts from 1; ``at`` is when it was recorded.
    """

    status: str
    attempt: int
    at: float
    result: DeliveryResult | None = None
    error: str | None = None
    next_attempt_at: float | None = None


DeliveredHook = Callable[[Connection, Row[Any], Outcome], None]

on_delivered: list[DeliveredHook] = []
"""Run, in order, inside the transaction that records a ``SENT`` or ``FAILED`` outcome."""


ANNOUNCE_WAIT = 5.0
"""Seconds a starting SQLite worker waits for its lock file while another holds it."""

WORKER_ID_LENGTH = 64
"""The longest worker id: the width of ``outbox.claimed_by`` and ``delivery_attempts.worker``.
A :func:`new_worker_id` is at most 63 characters (a host name cut to 32, a pid of at most 7
digits, a 13-character namespace mark and an 8-character suffix, with their separators)."""

PID_NAMESPACE = "/proc/self/ns/pid"
BOOT_ID = "/proc/sys/kernel/random/boot_id"


def new_worker_id() -> str:
    """Names a worker in claims and attempt records: ``host:pid:namespace:suffix``, the host
    name, the process id, the mark of the pid namespace the process id is a number of
    (:func:`pid_namespace`), and a random suffix. Where that namespace cannot be known the mark
    is left out (``host:pid:suffix``, the form of versions before it): no other worker then
    trusts the process id to tell whether this one still runs (see :func:`_died_here`)."""
    namespace = pid_namespace()
    middle = f"{os.getpid()}" if namespace is None else f"{os.getpid()}:{namespace}"
    return f"{_host()}:{middle}:{uuid.uuid4().hex[:8]}"


def _host() -> str:
    return socket.gethostname()[:32]


def pid_namespace() -> str | None:
    """A mark of the pid namespace this process runs in, on this boot of this kernel: ``n``
    and 12 hex digits of a hash of the boot's id (``/proc/sys/kernel/random/boot_id``) and the
    namespace's device and inode (``/proc/self/ns/pid``). Two processes with the same mark see
    the same process ids; a process id means nothing to a process with another mark (another
    container, even under the same host name; another machine sharing the file).

    None where either cannot be read (no ``/proc``, as on macOS, or one that hides them). The
    inode alone would not do: the first namespace of every Linux boot has the same one."""
    try:
        with open(BOOT_ID, "rb") as file:
            boot = file.read(128).strip()
        namespace = os.stat(PID_NAMESPACE)
    except OSError:
        return None
    if not boot:
        return None
    digest = hashlib.blake2b(b"%s\x1f%d\x1f%d" % (boot, namespace.st_dev, namespace.st_ino),
                             digest_size=6, person=b"ic-pid-ns").hexdigest()
    return "n" + digest


LIVENESS_SECONDS = 5.0
"""How often a running worker looks for claims held by workers that are gone."""


def _presence_key(worker_id: str) -> int:
    return key_of("delivery-worker", worker_id)


_TRY_LOCK = sa.select(sa.func.pg_try_advisory_lock(sa.bindparam("key", type_=sa.BigInteger)))
_UNLOCK = sa.select(sa.func.pg_advisory_unlock(sa.bindparam("key", type_=sa.BigInteger)))


# -- presence on a SQLite file: lock files -----------------------------------------------------

LOCK_SUFFIX = ".lock"


def lock_directory(runtime: Runtime) -> Path | None:
    """Where the workers of a SQLite file keep their lock files: ``<database>.workers`` beside
    it. None for PostgreSQL, for an in-memory database (one process, nothing to share), and
    where the platform has no ``flock`` (Windows)."""
    if not runtime.store.sqlite or _flock is None:
        return None
    database = sqlite_path(runtime.store.url)
    return None if database is None else database.with_name(database.name + ".workers")


def lock_file_name(worker_id: str) -> str:
    """A worker's lock file: a hash of its id (ids hold characters no file name should, and
    any length); the file holds the id itself, for whoever looks."""
    return hashlib.blake2b(worker_id.encode(), digest_size=16,
                           person=b"ic-presence").hexdigest() + LOCK_SUFFIX


# Never through a symbolic link (a lock file is written to: a link planted under a worker's
# file name would have it truncate whatever the link names), and never waiting to open (a
# FIFO or a device planted there).
_OPEN = os.O_RDWR | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0) \
    | getattr(os, "O_NONBLOCK", 0)


def _lock(path: Path, *, create: bool) -> int | None:
    """A descriptor of ``path`` holding its exclusive lock, or None while someone else holds
    it. Opened for writing: NFS (which carries ``flock`` as a lock of the whole file) grants an
    exclusive lock only on such a descriptor. Raises OSError when the file cannot be opened
    (FileNotFoundError: there is none), is a symbolic link, or is not a regular file of at
    most one name (a hard link to another file)."""
    assert _flock is not None       # lock_directory() is None without it
    fd = os.open(path, _OPEN | (os.O_CREAT if create else 0), 0o666)
    try:
        held = os.fstat(fd)
        # (No name at all is a file a sweep just removed: the callers look for that.)
        if not stat.S_ISREG(held.st_mode) or held.st_nlink > 1:
            raise OSError(errno.EINVAL, "not a lock file (not a regular file of one name)",
                          str(path))
        _flock(fd, _LOCK_NOW)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return None
        raise
    return fd


def _is_file_of(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (not removed, nor replaced, not
    even by a symbolic link to it)."""
    try:
        named = os.lstat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _remove(fd: int, path: Path) -> None:
    """Remove a lock file whose lock ``fd`` holds (its worker is gone), then let go. Removed
    before the lock is let go, so nobody takes a removed file for a live one's."""
    try:
        if _is_file_of(fd, path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    finally:
        os.close(fd)


def _check_directory(directory: Path) -> None:
    """Raise OSError unless ``directory`` can be trusted with lock files: a directory itself
    (not a symbolic link to one), owned by this process's user, by the database's owner or by
    root, that nobody but its owner and group can write to (unless anybody can write to the
    database too: a volume that gives every file mode 777). Anyone else able to put files in
    it could make a live worker look gone (a free file under its name: its claims given back,
    its messages sent twice); and a directory another local user made beside a database in a
    shared place (``/tmp``) before the first worker ran would be theirs."""
    found = os.lstat(directory)
    if not stat.S_ISDIR(found.st_mode):
        raise OSError(errno.ENOTDIR, "not a directory (a symbolic link?)", str(directory))
    try:
        database: os.stat_result | None = os.stat(
            directory.with_name(directory.name.removesuffix(".workers")))
    except OSError:
        database = None
    if found.st_mode & stat.S_IWOTH and (database is None
                                         or not database.st_mode & stat.S_IWOTH):
        raise OSError(errno.EPERM, "anybody can write to it", str(directory))
    geteuid: Callable[[], int] | None = getattr(os, "geteuid", None)
    if geteuid is None:
        return
    trusted = {0, geteuid()} | (set() if database is None else {database.st_uid})
    if found.st_uid not in trusted:
        raise OSError(errno.EPERM, f"owned by user {found.st_uid}, neither this process's user "
                      "nor the database's owner", str(directory))


_FELL_BACK: set[str] = set()
_fell_back_lock = threading.Lock()


def _fall_back(directory: Path, error: OSError) -> None:
    """Say once per directory and process that claims fall back to the lease."""
    with _fell_back_lock:
        if str(directory) in _FELL_BACK:
            return
        _FELL_BACK.add(str(directory))
    log.warning("cannot keep a delivery worker's lock file in %s (%s): if this worker dies, "
                "its claims are given back when they run out (%.0f s), or, on this host and "
                "pid namespace, when its process is seen gone", directory,
                error.strerror or error, CLAIM_SECONDS)


class Presence:
    """A delivery worker's sign of life, held from :meth:`announce` to :meth:`close`.

    On a SQLite file: an exclusive ``flock`` on ``<database>.workers/<hash>.lock``
    (:func:`lock_directory`, :func:`lock_file_name`). ``flock`` locks live in the kernel, belong
    to the open file, and go when the process ends, however it ends; every process using the
    file system on the same kernel sees them, in any pid namespace: containers that share the
    database's volume see each other's. (On NFS, Linux carries ``flock`` to the server as a lock
    of the whole file: a killed process's lock goes at once, a lost client's when the server's
    lease on it ends; a mount with ``nolock`` or ``local_lock`` keeps locks on each client, where
    SQLite's own locks do not work either.) A directory that cannot be written leaves the
    worker without a lock file, said once in the log: its claims then wait out their lease when
    it dies, unless its process id tells (:func:`_died_here`). So does one that cannot be
    trusted (:func:`_check_directory`: a symbolic link, writable by others, owned by another
    user than this one, the database's owner or root), and a platform without ``flock``
    (Windows). Lock files are opened without following symbolic links, and only a regular file
    of one name is written to.

    On PostgreSQL: a session-level advisory lock named by its id, held on a connection of its
    own. The database frees it when the connection closes: when the process exits or is
    killed, or the connection is lost.

    In memory (the mock) it does nothing. :meth:`keep` notices a lost connection or a removed
    lock file and takes the lock again.
    """

    def __init__(self, runtime: Runtime, worker_id: str) -> None:
        self.runtime = runtime
        self.worker_id = worker_id
        self.key = _presence_key(worker_id)
        self._conn: Connection | None = None
        self.directory = lock_directory(runtime)
        self.path = None if self.directory is None \
            else self.directory / lock_file_name(worker_id)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this worker holds its lock now (False in memory and after falling back)."""
        return self._conn is not None or self._fd is not None

    def announce(self) -> None:
        if self.runtime.store.sqlite:
            self._announce_file()
            return
        if self._conn is not None:
            return
        conn = self.runtime.store.engine.connect()
        conn.detach()       # its own session, ended by close() instead of going back to the pool
        try:
            taken = conn.execute(_TRY_LOCK, {"key": self.key}).scalar()
            conn.commit()       # a session lock outlives the transaction that took it
        except Exception:
            conn.close()
            raise
        if not taken:
            conn.close()
            raise RuntimeError("another delivery worker runs under this worker id")
        self._conn = conn

    def _announce_file(self) -> None:
        if self.directory is None or self.path is None or self._fd is not None:
            return
        try:
            self.directory.mkdir(exist_ok=True)
            _check_directory(self.directory)
            # Held: a worker under this id, or, for a moment, a sweep that found the file
            # before this worker locked it (it removes the file and lets go). Ids are made
            # unique, so the first is a mistake and the second passes: a sweep descheduled
            # on a loaded host is waited for long enough not to stop a server from starting.
            deadline = time.monotonic() + ANNOUNCE_WAIT
            while True:
                fd = _lock(self.path, create=True)
                if fd is None:
                    if time.monotonic() > deadline:
                        raise RuntimeError("another delivery worker runs under this worker id")
                    time.sleep(0.01)
                    continue
                try:
                    if _is_file_of(fd, self.path):
                        break
                except OSError:
                    os.close(fd)
                    raise
                os.close(fd)        # removed by a sweep before we locked it: make another
            try:
                os.ftruncate(fd, 0)
                os.write(fd, f"{self.worker_id}\n".encode())
            except OSError:
                os.close(fd)
                raise
        except OSError as exc:
            _fall_back(self.directory, exc)
            return
        self._fd = fd

    def keep(self) -> None:
        """Check the lock is still held; take it again if not (a lost connection, a lock file
        somebody removed)."""
        if self.runtime.store.sqlite:
            if self._fd is not None and self.path is not None \
                    and not _is_file_of(self._fd, self.path):
                log.warning("the delivery worker's lock file %s was removed; making it again",
                            self.path)
                os.close(self._fd)
                self._fd = None
            self._announce_file()
            return
        if self._conn is None:
            self.announce()
            return
        try:
            self._conn.execute(sa.select(sa.literal(1))).scalar()
            self._conn.commit()
        except sa.exc.DBAPIError:
            log.warning("the delivery worker's presence connection was lost; taking its "
                        "lock again")
            self.close()
            self.announce()

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None and self.path is not None:
            _remove(fd, self.path)
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(sa.exc.DBAPIError):
                conn.close()        # ends the session, and with it the lock


def _gone_from_postgresql(conn: Connection, holder: str) -> bool:
    """Whether no session holds ``holder``'s presence lock. Taking it proves that; it is let go
    at once."""
    key = _presence_key(holder)
    if not conn.execute(_TRY_LOCK, {"key": key}).scalar():
        return False
    conn.execute(_UNLOCK, {"key": key})
    return True


class _LockFiles:
    """The lock files of one look for the gone, on a SQLite file: the locks of gone holders
    are kept until their claims are given back, then their files are removed."""

    def __init__(self, directory: Path | None, own: str) -> None:
        if directory is not None:
            try:
                _check_directory(directory)
            except OSError:     # none yet, or not to be trusted: process ids and leases judge
                directory = None
        self.directory = directory
        self.own = lock_file_name(own)
        self.taken: dict[str, tuple[int, Path]] = {}     # file name: (descriptor, path)

    def judge(self, holder: str) -> bool | None:
        """True: gone (its lock was free, and is now held here); False: alive (its lock is
        held); None: no lock file tells (none, or it cannot be opened)."""
        if self.directory is None:
            return None
        path = self.directory / lock_file_name(holder)
        try:
            fd = _lock(path, create=False)
        except OSError:
            return None
        if fd is None:
            return False
        self.taken[path.name] = (fd, path)
        return True

    def sweep(self) -> int:
        """Take every other lock file whose lock is free (a worker that died without claims,
        or whose claims ran out): the directory holds the files of live workers only."""
        if self.directory is None:
            return 0
        try:
            names = [entry.name for entry in os.scandir(self.directory)
                     if entry.name.endswith(LOCK_SUFFIX)]
        except OSError:
            return 0
        found = 0
        for name in names:
            if name == self.own or name in self.taken:
                continue
            path = self.directory / name
            try:
                fd = _lock(path, create=False)
            except OSError:
                continue
            if fd is not None:
                self.taken[name] = (fd, path)
                found += 1
        return found

    def remove(self) -> None:
        taken, self.taken = self.taken, {}
        for fd, path in taken.values():
            try:
                _remove(fd, path)
            except OSError as exc:
                log.warning("could not remove the lock file %s of a gone delivery worker: %s",
                            path, exc)


def release_abandoned_claims(runtime: Runtime, worker_id: str) -> int:
    """Give back the rows claimed by delivery workers that are gone (a ``kill -9``, a lost
    host): they are due at once, instead of when their claim runs out a minute later. A holder
    is gone when its presence lock can be taken (:class:`Presence`); on SQLite, a holder
    without a lock file is gone when it names a process of this host and pid namespace that no
    longer runs (:func:`_died_here`). Returns how many rows were given back. A holder this
    cannot judge keeps its rows until its claim runs out (:data:`CLAIM_SECONDS`), as every
    claim does. On SQLite, lock files of gone workers are removed, claims or not.

    On PostgreSQL a claim by a worker that holds no presence lock (one of a version before
    presence locks, during an upgrade) counts as abandoned: its messages may go out twice."""
    files = _LockFiles(lock_directory(runtime), worker_id)
    try:
        dead = _abandoning(runtime, worker_id, files)
        released = 0
        if dead:
            with runtime.store.transaction() as conn:
                released = int(conn.execute(_RELEASE_ABANDONED, {"holders": dead}).rowcount)
            log.warning("gave back %d messages claimed by delivery workers that are gone: %s",
                        released, ", ".join(dead))
        files.sweep()
    finally:
        files.remove()      # only once the claims are given back: until then, locked here
    return released


def _abandoning(runtime: Runtime, worker_id: str, files: _LockFiles) -> list[str]:
    """The holders of live claims that are gone."""
    with runtime.store.transaction(write=False) as conn:
        now = lease_time(runtime, conn)
        holders = conn.execute(sa.select(outbox.c.claimed_by).distinct().where(
            outbox.c.status == "PENDING", outbox.c.claimed_by.is_not(None),
            outbox.c.claimed_until >= now)).scalars().all()
        others = [holder for holder in holders if holder != worker_id]
        if not runtime.store.sqlite:
            # The lock alone: a pid this process cannot see may run in another pid namespace
            # of a host of the same name (containers under host networking).
            return [holder for holder in others if _gone_from_postgresql(conn, holder)]
    dead = []
    namespace: str | None = None
    for holder in others:
        verdict = files.judge(holder)
        if verdict is None:
            if namespace is None:
                namespace = pid_namespace() or ""
            verdict = _died_here(holder, namespace or None)
        if verdict:
            dead.append(holder)
    return dead


def _died_here(holder: str, namespace: str | None) -> bool:
    """Whether a worker id names a process that no longer runs, of this host and of the pid
    namespace marked ``namespace`` (ours, :func:`pid_namespace`). Anything else counts as
    alive, to be given back only when its lease runs out: a process that exists under another
    user, an id of another form, a holder of another namespace (its process id is not a number
    of ours: another container with this host name, under host networking), a holder whose
    namespace is not known (an id of a version before namespace marks, or of a system that
    has none), and any holder when ours is not known."""
    parts = holder.rsplit(":", 3)            # host:pid:namespace:suffix (new_worker_id)
    if len(parts) != 4 or namespace is None:
        return False
    host, pid_text, holder_namespace, _suffix = parts
    if host != _host() or holder_namespace != namespace or not pid_text.isdigit() \
            or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except (OSError, OverflowError):
        return False
    return False


# -- one round ----------------------------------------------------------------------------------


def deliver_due(runtime: Runtime, transports: Mapping[str, Transport], worker_id: str, *,
                limit: int = DEFAULT_BATCH, policy: RetryPolicy = DEFAULT_POLICY,
                rng: random.Random | None = None,
                hooks: list[DeliveredHook] | None = None,
                stopping: threading.Event | None = None, peek: bool = True,
                observe: Callable[[str, str], None] | None = None) -> int:
    """Claim up to ``limit`` due messages, send each, record the outcomes.

    Returns how many messages were claimed; 0 when nothing was due. Never raises for a
    message that cannot be sent: that is an outcome to record. ``peek=False`` skips the read
    that spares an idle poll the write lock, when work is known to be waiting. ``hooks`` replaces
    :data:`on_delivered` for this call; ``observe(channel_type, outcome)`` hears of every
    attempt once it is recorded (metrics); when ``stopping`` is set, or the batch runs past half
    of its claim, the messages not yet sent are given back for the next round or worker.
    """
    rng = rng or random.Random()
    run_hooks = on_delivered if hooks is None else hooks
    claimed_at = time.monotonic()
    rows = _claim(runtime, worker_id, limit, peek=peek)
    done: list[_Attempted] = []
    recorded_at = time.monotonic()
    try:
        for index, row in enumerate(rows):
            late = time.monotonic() - claimed_at > CLAIM_SECONDS / 2
            if late or (stopping is not None and stopping.is_set()):
                _release(runtime, worker_id, [r.id for r in rows[index:]])
                log.info("gave %d claimed messages back (%s)", len(rows) - index,
                         "the batch ran long" if late else "stopping")
                break
            done.append(_deliver_one(runtime, transports, row, policy, rng))
            if time.monotonic() - recorded_at >= RECORD_EVERY:
                _record(runtime, worker_id, done, run_hooks, observe)
                done = []
                recorded_at = time.monotonic()
    finally:
        if done:
            _record(runtime, worker_id, done, run_hooks, observe)
    return len(rows)


def deliver_all_due(runtime: Runtime, transports: Mapping[str, Transport], worker_id: str,
                    *, policy: RetryPolicy = DEFAULT_POLICY,
                    rng: random.Random | None = None) -> int:
    """Run :func:`deliver_due` until nothing due is left; the in-process mock's step.

    It ends: every attempt either settles a message or moves it to a later time.
    """
    total = 0
    while True:
        count = deliver_due(runtime, transports, worker_id, policy=policy, rng=rng)
        total += count
        if count < DEFAULT_BATCH:
            return total


# Built once, run with parameters: the worker runs these for every message.
_DUE = sa.and_(
    outbox.c.status == "PENDING",
    outbox.c.next_attempt_at <= sa.bindparam("now"),
    sa.or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < sa.bindparam("lease")),
)
_PICK = sa.select(outbox.c.id).where(_DUE).order_by(outbox.c.next_attempt_at, outbox.c.id) \
    .limit(sa.bindparam("limit"))
_PICK_SKIP_LOCKED = _PICK.with_for_update(skip_locked=True)
_CLAIM = outbox.update().where(outbox.c.id.in_(sa.bindparam("ids", expanding=True)), _DUE) \
    .values(claimed_by=sa.bindparam("worker"), claimed_until=sa.bindparam("until")) \
    .returning(*outbox.c)
_RELEASE = outbox.update().where(
    outbox.c.id.in_(sa.bindparam("ids", expanding=True)),
    outbox.c.claimed_by == sa.bindparam("worker"),
    outbox.c.status == "PENDING",
).values(claimed_by=None, claimed_until=None)
_RELEASE_ABANDONED = outbox.update().where(
    outbox.c.claimed_by.in_(sa.bindparam("holders", expanding=True)),
    outbox.c.status == "PENDING",
).values(claimed_by=None, claimed_until=None)
_RECORD_ATTEMPT = insert_of(delivery_attempts, "message_pk", "attempt", "started_at", "outcome",
                            "detail", "worker")


def _settle_statement(*columns: str) -> Prepared:
    """Settle a row this worker holds: the attempt count, the error, and ``columns``."""
    return Prepared(outbox.update().where(
        outbox.c.id == sa.bindparam("mid"),
        outbox.c.claimed_by == sa.bindparam("holder"),
        outbox.c.status == "PENDING",
    ).values({name: sa.bindparam(name) for name in
              ("attempts", "claimed_by", "claimed_until", "last_error", *columns)}))


# One statement per outcome, prepared: every message settles with one of them.
_SETTLE = {
    "SENT": _settle_statement("status", "sent_at", "provider_message_id"),
    "RETRY": _settle_statement("next_attempt_at"),
    "FAILED": _settle_statement("status"),
}


def _claim(runtime: Runtime, worker_id: str, limit: int, *,
           peek: bool = True) -> list[Row[Any]]:
    store = runtime.store
    now = runtime.clock.now()
    pick: dict[str, Any] = {"now": now, "limit": limit}
    if store.sqlite and peek:
        # Look before taking the write lock: an idle poll costs a read, not a write.
        pick["lease"] = lease_time(runtime)
        with store.transaction(write=False) as conn:
            if not conn.execute(_PICK, pick).first():
                return []
    with store.transaction() as conn:
        # On PostgreSQL a server reads the database's clock here: one statement a batch.
        lease = pick["lease"] = lease_time(runtime, conn)
        ids = list(conn.execute(_PICK if store.sqlite else _PICK_SKIP_LOCKED, pick).scalars())
        if not ids:
            return []
        claimed = conn.execute(_CLAIM, {"ids": ids, "now": now, "lease": lease,
                                        "worker": worker_id,
                                        "until": lease + CLAIM_SECONDS}).all()
    return sorted(claimed, key=lambda r: (r.next_attempt_at, r.id))


def _release(runtime: Runtime, worker_id: str, ids: list[int]) -> None:
    with runtime.store.transaction() as conn:
        conn.execute(_RELEASE, {"ids": ids, "worker": worker_id})


def outgoing_message(runtime: Runtime, row: Row[Any]) -> OutgoingMessage:
    """The message a transport gets; raises DecryptError when the row does not open."""

    def opened(column: str) -> str | None:
        return outbox_messages.open_column(runtime, row, column)

    return OutgoingMessage(
        message_id=row.message_id,
        channel_type=row.channel_type,
        address=opened("address") or "",
        subject=opened("subject"),
        body=opened("body") or "",
        speech=opened("speech"),
        purpose=row.purpose,
        # An activation code's message is worth delivering only while the code works.
        expires_in=(row.created_at + runtime.settings.activation_code_ttl - runtime.clock.now()
                    if row.purpose == "ACTIVATION" else None),
    )


def scrub(text: str, address: str) -> str:
    """A provider's error text without the address it names: the text is stored in plain
    (``last_error``, attempts, ERROR receipts) and an address is personal data, which is only
    ever stored sealed. The address goes in any case (an SMTP server may echo it in capitals),
    without a phone number's plus sign and percent-encoded, and so does anything else shaped
    like an address or a phone number: the same rule that scrubbed older releases' texts."""
    return legacy_texts.scrub_text(text, [address])


def _attempt(transports: Mapping[str, Transport], message: OutgoingMessage
             ) -> tuple[DeliveryResult | None, str | None, bool, float | None]:
    """(result, error, retryable, retry_after) of one send; the error never names the address."""
    result, error, retryable, retry_after = _send(transports, message)
    return result, None if error is None else scrub(error, message.address), retryable, \
        retry_after


def _send(transports: Mapping[str, Transport], message: OutgoingMessage
          ) -> tuple[DeliveryResult | None, str | None, bool, float | None]:
    transport = transports.get(message.channel_type)
    if transport is None:
        return None, f"no transport is configured for {message.channel_type}", False, None
    try:
        return transport.send(message), None, False, None
    except DeliveryError as exc:
        return None, exc.reason, exc.retryable, exc.retry_after
    except Exception as exc:
        # A transport's own bug: retry (the attempts are counted, so it ends), and say so.
        log.exception("transport for %s raised unexpectedly", message.channel_type)
        return None, f"unexpected {type(exc).__name__}: {exc}", True, None


@dataclass(frozen=True)
class _Attempted:
    row: Row[Any]
    started: float
    outcome: Outcome


def _deliver_one(runtime: Runtime, transports: Mapping[str, Transport], row: Row[Any],
                 policy: RetryPolicy, rng: random.Random) -> _Attempted:
    started = runtime.clock.now()
    attempt = row.attempts + 1
    result: DeliveryResult | None = None
    retry_after: float | None = None
    try:
        message = outgoing_message(runtime, row)
    except DecryptError:
        error: str | None = ("the message could not be decrypted with this server's data keys "
                             "(INCIDENT_CONTACTS_DATA_KEY / _OLD_DATA_KEYS)")
        retryable = False
    else:
        result, error, retryable, retry_after = _attempt(transports, message)
    now = runtime.clock.now()
    if result is not None:
        outcome = Outcome("SENT", attempt, now, result=result)
    elif retryable and attempt < policy.max_attempts:
        outcome = Outcome("RETRY", attempt, now, error=error,
                          next_attempt_at=now + policy.delay(attempt, rng, retry_after))
    else:
        if retryable:
            error = f"gave up after {attempt} attempts: {error}"
        outcome = Outcome("FAILED", attempt, now, error=error)
    return _Attempted(row, started, outcome)


def _record(runtime: Runtime, worker_id: str, attempts: list[_Attempted],
            hooks: list[DeliveredHook],
            observe: Callable[[str, str], None] | None = None) -> None:
    """Record the outcomes of several attempts in one transaction."""
    with runtime.store.transaction() as conn:
        records, final = [], []
        for attempted in attempts:
            record, settled = _settle(conn, worker_id, attempted)
            records.append(record)
            if settled and attempted.outcome.status != "RETRY":
                final.append(attempted)
        if hooks and final:
            _run_hooks(conn, final, hooks)
        _RECORD_ATTEMPT.execute_many(conn, records)
    for attempted in attempts:
        row, outcome = attempted.row, attempted.outcome
        if observe is not None:
            observe(row.channel_type, outcome.status)
        if outcome.status == "SENT":
            log.debug("message %s sent (attempt %d)", row.message_id, outcome.attempt)
        else:
            log.info("message %s: %s after attempt %d: %s", row.message_id, outcome.status,
                     outcome.attempt, outcome.error)


def _run_hooks(conn: Connection, final: list[_Attempted], hooks: list[DeliveredHook]) -> None:
    """The hooks of each final outcome, all in one savepoint (a savepoint costs more than a
    hook's writes); when one raises, that savepoint is undone and every hook runs again in a
    savepoint of its own, so only the faulty hook's writes are lost."""
    try:
        with conn.begin_nested():
            for attempted in final:
                for hook in hooks:
                    hook(conn, attempted.row, attempted.outcome)
        return
    except Exception:
        pass
    for attempted in final:
        for hook in hooks:
            try:
                with conn.begin_nested():
                    hook(conn, attempted.row, attempted.outcome)
            except Exception:
                log.exception("delivery hook %r failed for message %s", hook,
                              attempted.row.message_id)


def _settle(conn: Connection, worker_id: str,
            attempted: _Attempted) -> tuple[dict[str, Any], bool]:
    """Settle the message row; returns the attempt's record to insert, and whether the row
    was still this worker's to settle."""
    row, outcome = attempted.row, attempted.outcome
    values: dict[str, Any] = {
        "attempts": outcome.attempt,
        "claimed_by": None,
        "claimed_until": None,
        "last_error": outcome.error,
    }
    if outcome.status == "SENT":
        assert outcome.result is not None
        values.update(status="SENT", sent_at=outcome.at,
                      provider_message_id=outcome.result.provider_message_id[:256])
    elif outcome.status == "RETRY":
        values.update(next_attempt_at=outcome.next_attempt_at)
    else:
        values.update(status="FAILED")
    updated = _SETTLE[outcome.status].execute(conn, {"mid": row.id, "holder": worker_id,
                                                     **values})
    detail = outcome.error if outcome.result is None else outcome.result.provider_message_id
    if not updated:
        # The claim ran out and another worker took the row: it owns the outcome now.
        log.warning("message %s: claim lost before the outcome was recorded", row.message_id)
        detail = f"claim lost; not recorded on the message: {detail}"
    return {
        "message_pk": row.id,
        "attempt": outcome.attempt,
        "started_at": attempted.started,
        "outcome": outcome.status,
        "detail": detail,
        "worker": worker_id[:64],
    }, bool(updated)


# -- the background worker -------------------------------------------------------------------


class DeliveryWorker(BackgroundLoop):
    """Runs :func:`deliver_due` on a thread: at once when woken (``runtime.wake_delivery``,
    called after a transaction that queued a message commits), and every ``poll_interval``
    seconds for retries and for messages other processes queued.

    On start it resumes whatever is pending in the database, including rows a crashed process
    had claimed (:func:`release_abandoned_claims`), and it looks again for claims of workers
    that are gone every :data:`LIVENESS_SECONDS`. It holds its :class:`Presence` lock (a lock
    file beside a SQLite database, an advisory lock on PostgreSQL) from start to stop.
    """

    thread_name = "delivery-worker"

    def __init__(self, runtime: Runtime, transports: Mapping[str, Transport], *,
                 worker_id: str | None = None, poll_interval: float = 1.0,
                 batch: int = DEFAULT_BATCH, policy: RetryPolicy = DEFAULT_POLICY,
                 gather: float = 0.02, liveness_interval: float = LIVENESS_SECONDS,
                 observe: Callable[[str, str], None] | None = None) -> None:
        super().__init__(runtime, poll_interval=poll_interval, batch=batch, gather=gather)
        self.observe = observe
        self.transports = dict(transports)
        self.worker_id = worker_id or new_worker_id()
        self.policy = policy
        self._rng = random.Random()
        self.presence = Presence(runtime, self.worker_id)
        self.liveness_interval = liveness_interval
        self._liveness_at = 0.0

    def start(self) -> None:
        # Announced before the first claim: until then, another worker could take our claims
        # for a dead worker's.
        self.presence.announce()
        self._look_for_the_gone()
        super().start()

    def stop(self, timeout: float = 30.0) -> None:
        super().stop(timeout)
        self.presence.close()

    def _look_for_the_gone(self) -> None:
        self._liveness_at = time.monotonic()
        try:
            self.presence.keep()
            release_abandoned_claims(self.runtime, self.worker_id)
        except Exception:   # the claims then run out as they would have
            log.exception("could not give back the claims of delivery workers that are gone")

    def _round(self) -> int:
        if time.monotonic() - self._liveness_at >= self.liveness_interval:
            self._look_for_the_gone()
        return deliver_due(self.runtime, self.transports, self.worker_id, limit=self.batch,
                           policy=self.policy, rng=self._rng, stopping=self._stopping,
                           peek=not self.expecting_work, observe=self.observe)


__all__ = [
    "CLAIM_SECONDS",
    "DEFAULT_POLICY",
    "LIVENESS_SECONDS",
    "WORKER_ID_LENGTH",
    "DeliveredHook",
    "DeliveryWorker",
    "Outcome",
    "Presence",
    "RetryPolicy",
    "deliver_all_due",
    "deliver_due",
    "lease_time",
    "lock_directory",
    "lock_file_name",
    "new_worker_id",
    "on_delivered",
    "outgoing_message",
    "pid_namespace",
    "release_abandoned_claims",
]
