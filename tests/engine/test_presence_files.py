"""On a SQLite file a delivery worker shows it is alive with an exclusive ``flock`` on a lock
file beside the database (``<database>.workers/``): a holder of claims is gone exactly when its
lock can be taken, whatever its host name or pid namespace says. The kernel frees the lock of
a killed process, so its claims come back within the liveness interval; a live worker whose
process id means nothing here (another container on the same volume) keeps them.

Workers of other pid namespaces are real where ``unshare --pid`` works (root on Linux), and
otherwise stood in for by a process that holds the lock of a worker id naming another host
and namespace."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from incident_contacts.clock import ManualClock
from incident_contacts.delivery import MemoryTransport
from incident_contacts.engine import lock_files
from incident_contacts.engine import presence as worker_presence
from incident_contacts.engine.delivery import DeliveryWorker
from incident_contacts.engine.leases import CLAIM_SECONDS
from incident_contacts.engine.lock_files import lock_directory, lock_file_name
from incident_contacts.engine.presence import Presence, new_worker_id, release_abandoned_claims
from incident_contacts.runtime import Runtime
from incident_contacts.store.schema.delivery import outbox as outbox_table
from tests.delivery.conftest import served
from tests.engine.test_delivery import (
    START,
    data_key,
    enqueue,
    make_runtime,
    message_row,
    transports_of,
)
from tests.engine.test_delivery_shared import _Hanging

ELSEWHERE = "host-elsewhere:1:n0123456789ab:0000beef"
"""A worker id no pid check here can judge: another host name, another namespace mark."""

HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o666)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
print("held", flush=True)
time.sleep(600)
"""


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'presence.db'}"


@pytest.fixture
def runtime(database: str) -> Iterator[Runtime]:
    runtime = make_runtime(database, clock=ManualClock(START))
    yield runtime
    runtime.close()


def _hold(path: Path) -> subprocess.Popen[str]:
    """Another process holding ``path``'s lock, as a live worker of anywhere would."""
    path.parent.mkdir(exist_ok=True)
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE,
                               text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    return process


def _kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(15)


def _claim(runtime: Runtime, holders: dict[str, str], until: float = START + CLAIM_SECONDS
           ) -> None:
    with runtime.store.transaction() as conn:
        for message_id, holder in holders.items():
            conn.execute(outbox_table.update().where(outbox_table.c.message_id == message_id)
                         .values(claimed_by=holder, claimed_until=until))


def _lock_files(runtime: Runtime) -> list[str]:
    directory = lock_directory(runtime)
    assert directory is not None
    return sorted(os.listdir(directory)) if directory.exists() else []


# -- one worker's file -------------------------------------------------------------------------


def test_a_worker_holds_its_lock_file_from_start_to_stop(runtime: Runtime, tmp_path: Path
                                                         ) -> None:
    worker = DeliveryWorker(runtime, transports_of(MemoryTransport()), poll_interval=0.05)
    worker.start()
    try:
        directory = tmp_path / "presence.db.workers"
        assert lock_directory(runtime) == directory
        path = directory / lock_file_name(worker.worker_id)
        assert _lock_files(runtime) == [path.name]
        assert path.read_text() == worker.worker_id + "\n"
        assert worker.presence.held
        # Held: nobody else can take it, not even another open file of this process.
        assert lock_files.lock(path, create=False) is None
    finally:
        worker.stop()
    assert _lock_files(runtime) == []            # a worker that stops removes its file


def test_memory_and_postgresql_keep_no_lock_files() -> None:
    runtime = make_runtime("sqlite://")
    try:
        assert lock_directory(runtime) is None
        presence = Presence(runtime, new_worker_id())
        presence.announce()
        presence.keep()
        assert not presence.held
        presence.close()
    finally:
        runtime.close()


def test_a_removed_lock_file_is_made_again(runtime: Runtime) -> None:
    presence = Presence(runtime, new_worker_id())
    presence.announce()
    try:
        assert presence.path is not None
        presence.path.unlink()
        presence.keep()
        assert presence.path.exists()
        assert lock_files.lock(presence.path, create=False) is None
    finally:
        presence.close()
    assert _lock_files(runtime) == []


def test_one_worker_id_cannot_be_announced_twice(runtime: Runtime,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_presence, "ANNOUNCE_WAIT", 0.2)
    worker_id = new_worker_id()
    first = Presence(runtime, worker_id)
    first.announce()
    try:
        with pytest.raises(RuntimeError, match="another delivery worker"):
            Presence(runtime, worker_id).announce()
    finally:
        first.close()


def test_a_sweep_slow_to_let_go_of_a_new_file_does_not_stop_a_worker_starting(
        runtime: Runtime) -> None:
    """A sweep that locked a starting worker's new file (free for a moment) and was then held
    up, as on a loaded host, for longer than a few retries: the worker waits for it."""
    presence = Presence(runtime, new_worker_id())
    assert presence.path is not None and presence.directory is not None
    presence.directory.mkdir(exist_ok=True)
    held = lock_files.lock(presence.path, create=True)
    assert held is not None

    def sweep_lets_go() -> None:
        time.sleep(0.6)
        presence.path.unlink()
        os.close(held)

    sweeper = threading.Thread(target=sweep_lets_go)
    sweeper.start()
    try:
        presence.announce()
        assert presence.path.exists()
        assert lock_files.lock(presence.path, create=False) is None     # this worker holds it
    finally:
        sweeper.join()
        presence.close()


def test_a_directory_that_cannot_be_used_falls_back_to_the_lease_logged_once(
        runtime: Runtime, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the lock directory cannot be made (here a file is in its way; a read-only volume
    does the same), a worker runs without a lock file and says so once. Its claims are then
    judged as before lock files: by process id in this namespace, otherwise by the lease."""
    monkeypatch.setattr(lock_files, "_FELL_BACK", set())
    (tmp_path / "presence.db.workers").write_text("in the way")
    memory = MemoryTransport()
    caplog.set_level(logging.WARNING, logger=lock_files.__name__)
    workers = [DeliveryWorker(runtime, transports_of(memory), poll_interval=0.05,
                              liveness_interval=0.05) for _ in range(2)]
    for worker in workers:
        worker.start()
    try:
        (message,) = enqueue(runtime, 1)
        deadline = time.monotonic() + 10
        while not memory.sent:
            assert time.monotonic() < deadline, "nothing was sent"
            time.sleep(0.02)
        time.sleep(0.2)                 # several liveness rounds, each trying again
    finally:
        for worker in workers:
            worker.stop()
    assert [m.message_id for m in memory.sent] == [message]
    assert not any(worker.presence.held for worker in workers)
    warnings = [r for r in caplog.records if "lock file" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "presence.db.workers" in warnings[0].getMessage()
    assert str(CLAIM_SECONDS)[:2] in warnings[0].getMessage()


# -- judging holders by their locks ------------------------------------------------------------


def test_a_live_holder_of_another_namespace_keeps_its_claims_until_killed(
        runtime: Runtime) -> None:
    """The holder names another host and pid namespace, so its process id tells nothing here;
    its lock does. Held by a live process: its claim stays. That process killed (``kill -9``):
    the claim comes back at the next look, long before the lease (the clock never moves), and
    the dead worker's file is removed."""
    directory = lock_directory(runtime)
    assert directory is not None
    (message,) = enqueue(runtime, 1)
    _claim(runtime, {message: ELSEWHERE})
    holder = _hold(directory / lock_file_name(ELSEWHERE))
    me = new_worker_id()
    try:
        assert release_abandoned_claims(runtime, me) == 0
        assert release_abandoned_claims(runtime, me) == 0
        assert message_row(runtime, message).claimed_by == ELSEWHERE
        assert _lock_files(runtime) == [lock_file_name(ELSEWHERE)]
    finally:
        _kill(holder)
    assert release_abandoned_claims(runtime, me) == 1
    assert message_row(runtime, message).claimed_by is None
    assert _lock_files(runtime) == []


def test_a_free_lock_outweighs_a_process_id_that_seems_alive(runtime: Runtime) -> None:
    """A holder naming a live process of this namespace (a reused pid, here our parent's) whose
    lock file is free is gone: the lock, not the pid, says so."""
    namespace = worker_presence.pid_namespace()
    if namespace is None:
        pytest.skip("this system does not show its pid namespace (/proc)")
    directory = lock_directory(runtime)
    assert directory is not None
    reused = f"{socket.gethostname()[:32]}:{os.getppid()}:{namespace}:0000cafe"
    (message,) = enqueue(runtime, 1)
    _claim(runtime, {message: reused})
    assert release_abandoned_claims(runtime, new_worker_id()) == 0   # no file: the pid tells
    holder = _hold(directory / lock_file_name(reused))
    _kill(holder)                                  # its file stays behind, its lock free
    assert release_abandoned_claims(runtime, new_worker_id()) == 1


def test_lock_files_of_gone_workers_are_swept_claims_or_not(runtime: Runtime) -> None:
    """A worker killed while it held no claim leaves its file; the next look removes it, and
    only it: the directory never holds more than the live workers' files."""
    directory = lock_directory(runtime)
    assert directory is not None
    live = _hold(directory / "live.lock")
    try:
        for n in range(5):
            _kill(_hold(directory / f"dead-{n}.lock"))
        (directory / "notes.txt").write_text("not a lock file")
        assert len(_lock_files(runtime)) == 7
        me = Presence(runtime, new_worker_id())
        me.announce()
        try:
            assert release_abandoned_claims(runtime, me.worker_id) == 0
            assert _lock_files(runtime) == sorted(["live.lock", "notes.txt",
                                                   lock_file_name(me.worker_id)])
        finally:
            me.close()
    finally:
        _kill(live)
    assert release_abandoned_claims(runtime, new_worker_id()) == 0
    assert _lock_files(runtime) == ["notes.txt"]


def test_workers_racing_to_start_and_sweep_all_end_up_holding_their_files(
        runtime: Runtime) -> None:
    """A sweep may find a new worker's file between its creation and its lock, and remove it:
    the worker sees its file gone and makes another, so every live worker ends up holding
    the file its id names."""
    stop = threading.Event()

    def sweep() -> None:
        while not stop.is_set():
            release_abandoned_claims(runtime, "sweeper")

    sweeper = threading.Thread(target=sweep)
    sweeper.start()
    presences = [Presence(runtime, f"w-{n}") for n in range(40)]
    try:
        for presence in presences:
            presence.announce()
    finally:
        stop.set()
        sweeper.join(30)
    try:
        for presence in presences:
            assert presence.held and presence.path is not None
            assert presence.path.exists(), presence.worker_id
            assert lock_files.lock(presence.path, create=False) is None
    finally:
        for presence in presences:
            presence.close()
    assert _lock_files(runtime) == []


# -- a killed worker process, in this pid namespace or another one ----------------------------


def _unshare_works() -> bool:
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None:
        return False
    try:
        return subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"],
                              capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _server_pid(process: subprocess.Popen[bytes], unshared: bool) -> int:
    """The worker's own process id as this namespace numbers it: under ``unshare --fork`` the
    child of the ``unshare`` process."""
    if not unshared:
        return process.pid
    deadline = time.monotonic() + 10
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    while True:
        found = children.read_text().split()
        if found:
            return int(found[0])
        assert time.monotonic() < deadline, "unshare started no child"
        time.sleep(0.02)


@pytest.mark.parametrize("unshared", [
    False,
    pytest.param(True, marks=pytest.mark.skipif(not _unshare_works(),
                                                reason="unshare --pid is not available")),
], ids=["same-namespace", "own-pid-namespace"])
def test_a_killed_worker_process_gives_its_claims_back_within_the_liveness_interval(
        tmp_path: Path, database: str, unshared: bool) -> None:
    """``incident-contacts worker`` holds a message in the middle of a send (the receiver does
    not answer). Run in a pid namespace of its own (as in another container), its id names a
    process id and namespace that mean nothing here: while it lives, a worker here leaves its
    claim alone; after ``kill -9`` it sends the message within its liveness interval, though
    the lease has most of its minute to go (and this worker's clock never moves)."""
    key = data_key()
    here = make_runtime(database, key=key)
    [message_id] = enqueue(here, 1)
    receiver = _Hanging()
    with served(receiver.app()) as url:
        log = (tmp_path / "worker.log").open("wb")
        command = [sys.executable, "-m", "incident_contacts", "worker", "--database", database]
        if unshared:
            command = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", *command]
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
            env={**os.environ, "INCIDENT_CONTACTS_DATA_KEY": key,
                 "INCIDENT_CONTACTS_WEBHOOK_URL": url + "/hook"})
        memory = MemoryTransport()
        liveness = 0.5
        worker = DeliveryWorker(here, transports_of(memory), poll_interval=0.05,
                                liveness_interval=liveness)
        try:
            assert receiver.arrived.wait(30), (tmp_path / "worker.log").read_text()
            with here.store.transaction(write=False) as conn:
                holder = conn.execute(sa.select(outbox_table.c.claimed_by)).scalar_one()
            assert holder is not None
            pid = _server_pid(process, unshared)
            if unshared:
                assert holder.split(":")[1] != str(pid)          # its own numbering
                assert holder.split(":")[2] != worker_presence.pid_namespace()
            else:
                assert holder.split(":")[1] == str(pid)
            worker.start()
            time.sleep(4 * liveness)        # several looks: a live holder keeps its claim
            assert memory.sent == []
            assert message_row(here, message_id).claimed_by == holder
            os.kill(pid, signal.SIGKILL)
            killed = time.monotonic()
            if not unshared:
                process.wait(15)            # reaped: a zombie's pid still answers
            deadline = killed + 10
            while not memory.sent:
                assert time.monotonic() < deadline, "the dead worker's claim was not given back"
                time.sleep(0.01)
            taken_over = time.monotonic() - killed
        finally:
            worker.stop()
            if process.poll() is None:
                process.kill()
            process.wait(15)
            log.close()
            receiver.release.set()
            here.close()
    assert [m.message_id for m in memory.sent] == [message_id]
    assert taken_over < liveness + 1.0, taken_over
    assert _lock_files_of(database) == []


def _lock_files_of(database: str) -> list[str]:
    runtime = make_runtime(database)
    try:
        return _lock_files(runtime)
    finally:
        runtime.close()
