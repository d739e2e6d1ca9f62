"""What the lock files beside a SQLite database must withstand: a directory or file that is
not what it seems (a symbolic link, a hard link, a directory somebody else made or anybody can
write to), and a platform without ``flock``. A worker writes its id into its lock file, so a
link planted under its file name would have it truncate whatever the link names (the database
itself); and a free file planted under a live worker's name would make it look gone, its
messages sent twice. Where the lock files cannot be trusted, workers fall back to process ids
and the lease, as where they cannot be written."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import incident_contacts
from incident_contacts.clock import ManualClock
from incident_contacts.engine import lock_files
from incident_contacts.engine.lock_files import lock_directory, lock_file_name
from incident_contacts.engine.presence import Presence, release_abandoned_claims
from incident_contacts.runtime import Runtime
from tests.engine.test_delivery import START, enqueue, make_runtime, message_row
from tests.engine.test_presence_files import ELSEWHERE, _claim

WORKER = "fixed-host:1:n0123456789ab:feedf00d"
"""A worker id whose lock file's name an attacker knows (as they would once it is listed)."""

PRECIOUS = b"SQLite format 3\x00 and everything in it"


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    monkeypatch.setattr(lock_files, "_FELL_BACK", set())
    runtime = make_runtime(f"sqlite:///{tmp_path / 'safety.db'}", clock=ManualClock(START))
    yield runtime
    runtime.close()


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "elsewhere" / "victim.db"
    path.parent.mkdir()
    path.write_bytes(PRECIOUS)
    return path


def _directory(runtime: Runtime) -> Path:
    directory = lock_directory(runtime)
    assert directory is not None
    return directory


def _held_when_announced(runtime: Runtime) -> bool:
    """Whether a worker starting on ``runtime`` holds a lock file of its own (it stops again)."""
    presence = Presence(runtime, WORKER)
    presence.announce()
    try:
        return presence.held
    finally:
        presence.close()


@pytest.mark.parametrize("plant", [
    pytest.param(lambda victim, name: name.symlink_to(victim), id="symbolic"),
    pytest.param(lambda victim, name: os.link(victim, name), id="hard"),
])
def test_a_link_under_the_workers_file_name_is_not_written_through(
        runtime: Runtime, victim: Path, plant: Callable[[Path, Path], None]) -> None:
    directory = _directory(runtime)
    directory.mkdir()
    plant(victim, directory / lock_file_name(WORKER))
    presence = Presence(runtime, WORKER)
    presence.announce()
    try:
        assert victim.read_bytes() == PRECIOUS
        assert not presence.held
    finally:
        presence.close()
    assert victim.read_bytes() == PRECIOUS


def test_a_lock_file_replaced_by_a_symbolic_link_is_not_written_through(
        runtime: Runtime, victim: Path) -> None:
    """The worker makes its file again when it is gone (``keep``, every 5 s): whoever can
    write to the directory can put a link there in the meantime."""
    presence = Presence(runtime, WORKER)
    presence.announce()
    try:
        assert presence.held and presence.path is not None
        presence.path.unlink()
        presence.path.symlink_to(victim)
        presence.keep()
        assert victim.read_bytes() == PRECIOUS
        assert not presence.held
    finally:
        presence.close()
    assert victim.read_bytes() == PRECIOUS


def test_a_lock_directory_that_is_a_symbolic_link_is_not_used(runtime: Runtime,
                                                              tmp_path: Path) -> None:
    """``<database>.workers`` made beforehand, as a link to a directory of somebody else's
    (a database in ``/tmp``): no lock file goes there, and nothing there is judged."""
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    _directory(runtime).symlink_to(theirs, target_is_directory=True)
    presence = Presence(runtime, WORKER)
    presence.announce()
    try:
        assert not presence.held
        assert os.listdir(theirs) == []
    finally:
        presence.close()


def test_a_free_file_planted_for_a_live_holder_does_not_give_its_claims_back(
        runtime: Runtime) -> None:
    """A directory anybody can write to: a file planted under the name of a live worker
    (one that runs without a lock file, or elsewhere) must not make it look gone."""
    directory = _directory(runtime)
    directory.mkdir()
    directory.chmod(0o777)
    (message,) = enqueue(runtime, 1)
    _claim(runtime, {message: ELSEWHERE})
    (directory / lock_file_name(ELSEWHERE)).write_text("planted\n")
    assert release_abandoned_claims(runtime, "judge") == 0
    assert message_row(runtime, message).claimed_by == ELSEWHERE
    assert not _held_when_announced(runtime)    # nor does a worker keep its own file there


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="giving a directory to another user takes root")
def test_a_lock_directory_of_another_user_is_not_used(runtime: Runtime) -> None:
    directory = _directory(runtime)
    directory.mkdir()
    os.chown(directory, 4242, 4242)
    (message,) = enqueue(runtime, 1)
    _claim(runtime, {message: ELSEWHERE})
    (directory / lock_file_name(ELSEWHERE)).write_text("planted\n")
    assert release_abandoned_claims(runtime, "judge") == 0
    assert not _held_when_announced(runtime)
    # The database's owner may own it: several users' workers share the database's.
    database = directory.with_name("safety.db")
    os.chown(database, 4242, 4242)
    try:
        assert _held_when_announced(runtime)
    finally:
        os.chown(database, 0, 0)


def test_a_directory_anybody_can_write_to_beside_a_database_anybody_can_write_to_is_used(
        runtime: Runtime) -> None:
    """A volume that shows every file as mode 777 (some bind mounts) protects the lock files
    no less than the database itself: they are used there."""
    directory = _directory(runtime)
    directory.mkdir()
    directory.chmod(0o777)
    directory.with_name("safety.db").chmod(0o666)
    assert _held_when_announced(runtime)


def test_a_directory_of_this_user_with_group_write_is_used(runtime: Runtime) -> None:
    """A umask of 002 makes the directory group-writable: still this user's to use."""
    directory = _directory(runtime)
    directory.mkdir()
    directory.chmod(0o775)
    presence = Presence(runtime, WORKER)
    presence.announce()
    try:
        assert presence.held
        assert presence.path is not None
        assert stat.S_ISREG(os.lstat(presence.path).st_mode)
    finally:
        presence.close()


WITHOUT_FCNTL = """
import sys
sys.modules["fcntl"] = None          # as on Windows
import incident_contacts.testing.mock
from incident_contacts.clock import ManualClock
from incident_contacts.config import Settings
from incident_contacts.delivery import MemoryTransport
from incident_contacts.engine.delivery import DeliveryWorker
from incident_contacts.engine.lock_files import lock_directory
from incident_contacts.server import build_runtime

runtime = build_runtime(Settings(database="sqlite:///" + sys.argv[1], workers=False),
                        ManualClock(1.7e9))
assert lock_directory(runtime) is None
worker = DeliveryWorker(runtime, {"SMS": MemoryTransport()}, poll_interval=0.05)
worker.start()
worker.stop()
assert not worker.presence.held
runtime.close()
print("ran")
"""


def test_the_package_runs_where_there_is_no_fcntl(tmp_path: Path) -> None:
    """Windows has no ``fcntl``: the mock and the server still import, and a worker on a
    SQLite file runs without a lock file (judged by the lease there)."""
    package_root = str(Path(incident_contacts.__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, "-c", WITHOUT_FCNTL, str(tmp_path / "w.db")],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": package_root})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ran"
    assert not (tmp_path / "w.db.workers").exists()
