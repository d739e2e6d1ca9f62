"""Presence on a SQLite file: the lock files of the delivery workers (``engine.presence``).

Each worker of a SQLite file holds an exclusive ``flock`` on a file of its own in
``<database>.workers`` (:func:`lock_directory`), named by a hash of its worker id
(:func:`lock_file_name`), for as long as it runs. ``flock`` locks live in the kernel, belong to
the open file, and go when the process ends, however it ends; every process using the file
system on the same kernel sees them, in any pid namespace. A worker whose file's lock can be
taken is gone (:class:`LockFiles`).

Anyone able to put files in the directory could make a live worker look gone, so the directory
must be one to trust (:func:`check_directory`); lock files are opened without following
symbolic links, and only a regular file of one name is written to (:func:`lock`). Where that
cannot be had, a worker runs without a lock file, said once in the log (:func:`fall_back`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from incident_contacts.engine.leases import CLAIM_SECONDS
from incident_contacts.store.db import sqlite_path

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


def lock(path: Path, *, create: bool) -> int | None:
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


def is_file_of(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (not removed, nor replaced, not
    even by a symbolic link to it)."""
    try:
        named = os.lstat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def remove(fd: int, path: Path) -> None:
    """Remove a lock file whose lock ``fd`` holds (its worker is gone), then let go. Removed
    before the lock is let go, so nobody takes a removed file for a live one's."""
    try:
        if is_file_of(fd, path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    finally:
        os.close(fd)


def check_directory(directory: Path) -> None:
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


def fall_back(directory: Path, error: OSError) -> None:
    """Say once per directory and process that claims fall back to the lease."""
    with _fell_back_lock:
        if str(directory) in _FELL_BACK:
            return
        _FELL_BACK.add(str(directory))
    log.warning("cannot keep a delivery worker's lock file in %s (%s): if this worker dies, "
                "its claims are given back when they run out (%.0f s), or, on this host and "
                "pid namespace, when its process is seen gone", directory,
                error.strerror or error, CLAIM_SECONDS)


class LockFiles:
    """The lock files of one look for the gone, on a SQLite file: the locks of gone holders
    are kept until their claims are given back, then their files are removed."""

    def __init__(self, directory: Path | None, own: str) -> None:
        if directory is not None:
            try:
                check_directory(directory)
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
            fd = lock(path, create=False)
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
                fd = lock(path, create=False)
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
                remove(fd, path)
            except OSError as exc:
                log.warning("could not remove the lock file %s of a gone delivery worker: %s",
                            path, exc)


__all__ = [
    "LOCK_SUFFIX",
    "LockFiles",
    "check_directory",
    "fall_back",
    "is_file_of",
    "lock",
    "lock_directory",
    "lock_file_name",
    "remove",
]
