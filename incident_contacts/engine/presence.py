"""Delivery workers' identities and signs of life, and the claims of workers that are gone.

Every delivery worker (``engine.delivery``) is named by a worker id (:func:`new_worker_id`) in
the claims it takes and the attempts it records. A claim is a lease (``leases.CLAIM_SECONDS``),
but a worker that died does not make its claims wait it out: every worker looks, when it
starts and every :data:`LIVENESS_SECONDS`, for holders of live claims that are gone, and gives
their rows back (:func:`release_abandoned_claims`). Each worker shows it is alive with a
**presence lock** that it holds for as long as it runs (:class:`Presence`) and that nobody can
take while it does; a holder is gone exactly when its lock can be taken. On a SQLite file the
lock is an exclusive ``flock`` on a file of its own beside the database
(``<database>.workers/<hash of the worker id>.lock``): the kernel keeps it and frees it when
the process ends, however it ends, and every process using that file system on the same
kernel sees it, whatever its pid namespace (containers sharing the database's volume). On
PostgreSQL it is a session-level advisory lock named by the worker id, held on a connection of
the worker's own, which the database frees when that connection closes, on any host. (The lock
files themselves, and whom to trust with them: ``engine.lock_files``.)

A holder with no lock file to look at (a worker of a version before lock files, during an
upgrade; one whose directory was read-only or not to be trusted) is judged by its process id
when it names a process of this host and of this pid namespace (a worker id carries a mark of
its pid namespace, :func:`new_worker_id`), and otherwise keeps its rows until the lease runs
out.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import time
import uuid
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from incident_contacts.engine.leases import lease_time
from incident_contacts.engine.lock_files import (
    LockFiles,
    check_directory,
    fall_back,
    is_file_of,
    lock,
    lock_directory,
    lock_file_name,
    remove,
)
from incident_contacts.store.locks import key_of
from incident_contacts.store.schema.delivery import outbox

if TYPE_CHECKING:
    from incident_contacts.runtime import Runtime

log = logging.getLogger(__name__)

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
_RELEASE_ABANDONED = outbox.update().where(
    outbox.c.claimed_by.in_(sa.bindparam("holders", expanding=True)),
    outbox.c.status == "PENDING",
).values(claimed_by=None, claimed_until=None)


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
    trusted (:func:`check_directory`: a symbolic link, writable by others, owned by another
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
            check_directory(self.directory)
            # Held: a worker under this id, or, for a moment, a sweep that found the file
            # before this worker locked it (it removes the file and lets go). Ids are made
            # unique, so the first is a mistake and the second passes: a sweep descheduled
            # on a loaded host is waited for long enough not to stop a server from starting.
            deadline = time.monotonic() + ANNOUNCE_WAIT
            while True:
                fd = lock(self.path, create=True)
                if fd is None:
                    if time.monotonic() > deadline:
                        raise RuntimeError("another delivery worker runs under this worker id")
                    time.sleep(0.01)
                    continue
                try:
                    if is_file_of(fd, self.path):
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
            fall_back(self.directory, exc)
            return
        self._fd = fd

    def keep(self) -> None:
        """Check the lock is still held; take it again if not (a lost connection, a lock file
        somebody removed)."""
        if self.runtime.store.sqlite:
            if self._fd is not None and self.path is not None \
                    and not is_file_of(self._fd, self.path):
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
            remove(fd, self.path)
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


def release_abandoned_claims(runtime: Runtime, worker_id: str) -> int:
    """Give back the rows claimed by delivery workers that are gone (a ``kill -9``, a lost
    host): they are due at once, instead of when their claim runs out a minute later. A holder
    is gone when its presence lock can be taken (:class:`Presence`); on SQLite, a holder
    without a lock file is gone when it names a process of this host and pid namespace that no
    longer runs (:func:`_died_here`). Returns how many rows were given back. A holder this
    cannot judge keeps its rows until its claim runs out (``leases.CLAIM_SECONDS``), as every
    claim does. On SQLite, lock files of gone workers are removed, claims or not.

    On PostgreSQL a claim by a worker that holds no presence lock (one of a version before
    presence locks, during an upgrade) counts as abandoned: its messages may go out twice."""
    files = LockFiles(lock_directory(runtime), worker_id)
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


def _abandoning(runtime: Runtime, worker_id: str, files: LockFiles) -> list[str]:
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


__all__ = [
    "ANNOUNCE_WAIT",
    "LIVENESS_SECONDS",
    "WORKER_ID_LENGTH",
    "Presence",
    "new_worker_id",
    "pid_namespace",
    "release_abandoned_claims",
]
