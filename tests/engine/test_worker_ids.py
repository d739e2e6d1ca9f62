"""Delivery worker ids carry a mark of their pid namespace, and on SQLite a claim is given back
by process id only when its holder shares ours: containers with one host name and one database
volume, but pid namespaces of their own, must not take each other's live workers for dead
ones. The namespace is faked here (no containers): ``pid_namespace`` reads two files of
``/proc``, pointed elsewhere, or is replaced."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from incident_contacts.clock import ManualClock
from incident_contacts.delivery import MemoryTransport
from incident_contacts.engine import presence as worker_presence
from incident_contacts.engine.delivery import deliver_due
from incident_contacts.engine.leases import CLAIM_SECONDS
from incident_contacts.engine.presence import (
    WORKER_ID_LENGTH,
    new_worker_id,
    pid_namespace,
    release_abandoned_claims,
)
from incident_contacts.runtime import Runtime
from incident_contacts.store.schema.delivery import outbox as outbox_table
from tests.engine.test_delivery import START, enqueue, make_runtime, message_row, transports_of

OURS = "n0123456789ab"
THEIRS = "nba9876543210"
HOST = socket.gethostname()[:32]
MARK = re.compile(r"n[0-9a-f]{12}")


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def runtime(clock: ManualClock, tmp_path: Path) -> Iterator[Runtime]:
    runtime = make_runtime(f"sqlite:///{tmp_path / 'ids.db'}", clock=clock)
    yield runtime
    runtime.close()


def _claim(runtime: Runtime, holders: dict[str, str]) -> None:
    with runtime.store.transaction() as conn:
        for message_id, holder in holders.items():
            conn.execute(outbox_table.update().where(outbox_table.c.message_id == message_id)
                         .values(claimed_by=holder, claimed_until=START + CLAIM_SECONDS))


# -- the mark ---------------------------------------------------------------------------------


def _fake_proc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, boot: str) -> Path:
    boot_id = tmp_path / "boot_id"
    boot_id.write_text(boot + "\n")
    namespace = tmp_path / "pid-namespace"
    namespace.touch()
    monkeypatch.setattr(worker_presence, "BOOT_ID", str(boot_id))
    monkeypatch.setattr(worker_presence, "PID_NAMESPACE", str(namespace))
    return namespace


def test_the_mark_names_the_boot_and_the_namespace(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    namespace = _fake_proc(tmp_path, monkeypatch, "3d3e81fa-66c9-497e-b3fe-2c2754026beb")
    mark = pid_namespace()
    assert mark is not None and MARK.fullmatch(mark)
    assert pid_namespace() == mark                       # the same for the same namespace
    other = tmp_path / "other-namespace"                 # another inode: another namespace
    other.touch()
    monkeypatch.setattr(worker_presence, "PID_NAMESPACE", str(other))
    assert pid_namespace() not in (None, mark)
    monkeypatch.setattr(worker_presence, "PID_NAMESPACE", str(namespace))
    (tmp_path / "boot_id").write_text("a0000000-0000-4000-8000-000000000000\n")
    assert pid_namespace() not in (None, mark)           # same inode, another boot or kernel


@pytest.mark.parametrize("missing", ["boot_id", "pid-namespace"])
def test_no_mark_when_proc_does_not_tell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         missing: str) -> None:
    _fake_proc(tmp_path, monkeypatch, "3d3e81fa-66c9-497e-b3fe-2c2754026beb")
    (tmp_path / missing).unlink()
    assert pid_namespace() is None


def test_an_empty_boot_id_gives_no_mark(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_proc(tmp_path, monkeypatch, "")
    assert pid_namespace() is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's /proc")
def test_this_linux_shows_its_namespace() -> None:
    mark = pid_namespace()
    assert mark is not None and MARK.fullmatch(mark)


def test_worker_ids_fit_their_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """The longest host name kept, the largest pid Linux gives (``PID_MAX_LIMIT``), and a mark:
    the id still fits ``claimed_by`` (64 characters, enforced on PostgreSQL)."""
    monkeypatch.setattr(socket, "gethostname", lambda: "h" * 200)
    monkeypatch.setattr(os, "getpid", lambda: 4_194_304)
    monkeypatch.setattr(worker_presence, "pid_namespace", lambda: OURS)
    worker_id = new_worker_id()
    assert len(worker_id) <= WORKER_ID_LENGTH
    assert outbox_table.c.claimed_by.type.length == WORKER_ID_LENGTH   # type: ignore[attr-defined]
    host, pid, mark, suffix = worker_id.split(":")
    assert (host, pid, mark) == ("h" * 32, "4194304", OURS) and len(suffix) == 8
    monkeypatch.setattr(worker_presence, "pid_namespace", lambda: None)
    assert worker_id.split(":")[:2] == new_worker_id().split(":")[:2]
    assert len(new_worker_id().split(":")) == 3          # no mark: the earlier form


# -- giving claims back on SQLite -------------------------------------------------------------


def test_a_dead_pid_of_another_namespace_keeps_its_claim_until_the_lease_ends(
        runtime: Runtime, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same host name and a process id that this namespace does not run: in our namespace
    that worker is gone and its claim comes back at once; in another namespace (a container
    with this host name, whose process ids are not ours to look up) it may be alive, and its
    claim is left to run out, after which the message goes out as any other."""
    monkeypatch.setattr(worker_presence, "pid_namespace", lambda: OURS)
    ours, theirs = enqueue(runtime, 2)
    dead = _dead_pid()
    with pytest.raises(ProcessLookupError):
        os.kill(dead, 0)
    _claim(runtime, {ours: f"{HOST}:{dead}:{OURS}:deadbeef",
                     theirs: f"{HOST}:{dead}:{THEIRS}:deadbeef"})
    me = new_worker_id()
    assert release_abandoned_claims(runtime, me) == 1
    assert message_row(runtime, ours).claimed_by is None
    assert message_row(runtime, theirs).claimed_by == f"{HOST}:{dead}:{THEIRS}:deadbeef"
    memory = MemoryTransport()
    assert deliver_due(runtime, transports_of(memory), me) == 1
    assert [m.message_id for m in memory.sent] == [ours]
    assert release_abandoned_claims(runtime, me) == 0   # looked at again: still left alone
    clock.advance(CLAIM_SECONDS + 1)                    # the lease runs out
    assert deliver_due(runtime, transports_of(memory), me) == 1
    assert [m.message_id for m in memory.sent] == [ours, theirs]


def test_holders_that_cannot_be_placed_keep_their_claims(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Left to their lease: an id of a version before namespace marks (``host:pid:suffix``,
    still on the database during an upgrade), another host name, a live process of ours, this
    process under another worker id, a process id too big to be one."""
    monkeypatch.setattr(worker_presence, "pid_namespace", lambda: OURS)
    dead = _dead_pid()
    holders = [f"{HOST}:{dead}:deadbeef",
               f"{'x' if HOST[:1] != 'x' else 'y'}{HOST[1:]}:{dead}:{OURS}:deadbeef",
               f"{HOST}:{os.getppid()}:{OURS}:cafe0001",
               f"{HOST}:{os.getpid()}:{OURS}:cafe0002",
               f"{HOST}:{'9' * 40}:{OURS}:cafe0003",
               "worker-7"]
    ids = enqueue(runtime, len(holders))
    _claim(runtime, dict(zip(ids, holders, strict=True)))
    assert release_abandoned_claims(runtime, new_worker_id()) == 0
    assert [message_row(runtime, m).claimed_by for m in ids] == holders


def test_without_a_namespace_of_our_own_no_claim_is_given_back_by_pid(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where ``/proc`` does not tell this process's namespace, no holder can be shown to share
    it: even an id that names our host, a dead pid and some namespace keeps its claim."""
    monkeypatch.setattr(worker_presence, "pid_namespace", lambda: None)
    (message,) = enqueue(runtime, 1)
    _claim(runtime, {message: f"{HOST}:{_dead_pid()}:{OURS}:deadbeef"})
    assert release_abandoned_claims(runtime, new_worker_id()) == 0
    assert message_row(runtime, message).claimed_by is not None


@pytest.mark.skipif(pid_namespace() is None, reason="this system does not show its namespace")
def test_a_worker_started_here_names_this_namespace_and_its_claims_come_back(
        runtime: Runtime) -> None:
    """Unfaked: the id a worker gets names the namespace of this process, so a worker of this
    namespace that died (its pid put in such an id) is recognised as gone."""
    me = new_worker_id()
    host, pid, mark, _suffix = me.split(":")
    assert (host, pid, mark) == (HOST, str(os.getpid()), pid_namespace())
    (message,) = enqueue(runtime, 1)
    _claim(runtime, {message: f"{host}:{_dead_pid()}:{mark}:deadbeef"})
    assert release_abandoned_claims(runtime, me) == 1
