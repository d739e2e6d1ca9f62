"""What a server that runs for months must not accumulate: per-thread SQLite connections of
threads that have ended (anyio's worker threads come and go under /metrics and the inspection
endpoints), read-cache keys beyond the cache's byte bound, metric label sets named by callers,
and a WAL file left at the size of its largest burst. (Old rows:
tests/engine/test_housekeeping.py.)"""

from __future__ import annotations

import gc
import sqlite3
import threading

import orjson
import pytest
import sqlalchemy as sa

from incident_contacts import model
from incident_contacts.api.readcache import MAX_ANSWER, ReadCache
from incident_contacts.clock import ManualClock
from incident_contacts.config import Settings
from incident_contacts.errors import ValidationException
from incident_contacts.metrics import UNKNOWN_OPERATION, Metrics
from incident_contacts.server import build_dispatcher, build_runtime
from incident_contacts.service.context import Caller
from incident_contacts.store import db
from incident_contacts.store.db import Store


def read(store: Store) -> None:
    with store.transaction(write=False) as conn:
        conn.execute(sa.text("SELECT 1")).all()


def in_a_thread(function, *args) -> None:
    failures: list[BaseException] = []

    def run() -> None:
        try:
            function(*args)
        except BaseException as exc:  # handed to the test's thread
            failures.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)
    assert not thread.is_alive()
    if failures:
        raise failures[0]


def test_a_thread_that_ends_gives_its_connection_back(tmp_path) -> None:
    """Each thread keeps a connection between its transactions; one that ended held it for
    good, and after 18 threads (the pool's 8 and 10 more) the next one waited 30 seconds
    for a connection and failed: /metrics answered 500 after a few minutes of scrapes."""
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    store.migrate()
    try:
        read(store)                     # this thread's connection, kept
        read(store)
        baseline = store.engine.pool.checkedout()
        for _ in range(25):             # more threads than the pool has connections
            in_a_thread(read, store)
            assert store.engine.pool.checkedout() == baseline
            assert store.kept_connections == 1
    finally:
        store.dispose()
    assert store.engine.pool.checkedout() == 0 and store.kept_connections == 0


def test_a_live_thread_keeps_its_connection_until_the_store_is_disposed_of(tmp_path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    store.migrate()
    go_on = threading.Event()
    ready = threading.Event()

    def worker() -> None:
        read(store)
        read(store)                     # the same connection both times
        ready.set()
        go_on.wait(10)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert ready.wait(10)
        assert store.kept_connections == 1 and store.engine.pool.checkedout() == 1
        store.dispose()
        assert store.kept_connections == 0 and store.engine.pool.checkedout() == 0
    finally:
        go_on.set()
        thread.join(10)
    assert store.kept_connections == 0


def test_a_thread_that_ends_leaves_another_threads_transaction_alone_in_memory() -> None:
    """An in-memory database (the mock) has one driver connection that every thread's handle
    shares: giving back the handle of a thread that ended rolled back the transaction another
    thread had open, so its first write was lost and its later ones committed alone."""
    store = Store("sqlite://")
    with store.transaction() as conn:
        conn.execute(sa.text("CREATE TABLE probe (id INTEGER PRIMARY KEY)"))

    def used_then_waiting() -> tuple[threading.Thread, threading.Event]:
        """A thread that used the store, and ends when told."""
        ready, end = threading.Event(), threading.Event()

        def run() -> None:
            read(store)
            ready.set()
            end.wait(10)

        thread = threading.Thread(target=run)
        thread.start()
        assert ready.wait(10)
        return thread, end

    def ends(thread: threading.Thread, end: threading.Event) -> None:
        end.set()
        thread.join(10)
        gc.collect()

    first, second = used_then_waiting(), used_then_waiting()
    with store.transaction() as conn:
        conn.execute(sa.text("INSERT INTO probe VALUES (1)"))
        ends(*first)                    # a thread ends while this transaction is open
        conn.execute(sa.text("INSERT INTO probe VALUES (2)"))
    with pytest.raises(RuntimeError), store.transaction() as conn:
        conn.execute(sa.text("INSERT INTO probe VALUES (3)"))
        ends(*second)
        conn.execute(sa.text("INSERT INTO probe VALUES (4)"))
        raise RuntimeError("roll both back")
    with store.transaction(write=False) as conn:
        assert conn.execute(sa.text("SELECT id FROM probe ORDER BY id")).scalars().all() == [
            1, 2]
    store.dispose()
    assert store.kept_connections == 0


def test_arns_too_long_to_be_any_are_not_remembered() -> None:
    """The authorization guard asks ``arns.well_formed`` of a request's ARN before validation,
    and its answers were cached by the value: 8,192 values of up to 2 MiB each (the body's
    limit) from a caller with any credentials would have kept 16 GiB."""
    from incident_contacts.service import arns

    assert model.service_model().shape_for("SsmContactsArn").metadata["max"] == arns.MAX_ARN
    prefix = "arn:aws:ssm-contacts:us-east-1:111122223333:contact/"
    before = arns._well_formed.cache_info().currsize
    assert not arns.well_formed(prefix + "a" * (1 << 20))
    assert arns._well_formed.cache_info().currsize == before
    assert arns.well_formed(prefix + "a" * (arns.MAX_ARN - len(prefix)))
    assert not arns.well_formed(prefix + "a" * (arns.MAX_ARN - len(prefix) + 1))


def test_operation_names_no_caller_chose_become_no_label_sets(tmp_path) -> None:
    """``Dispatcher.call`` (the console) counted whatever name it was given: each unknown name
    would have been a label set of its own, kept for the life of the process."""
    runtime = build_runtime(Settings(database=f"sqlite:///{tmp_path / 'm.db'}", workers=False),
                            ManualClock(1_700_000_000.0))
    metrics = Metrics(runtime)
    dispatcher = build_dispatcher(runtime, metrics)
    try:
        for n in range(20):
            with pytest.raises(ValidationException):
                dispatcher.call(Caller("111122223333", "us-east-1"), f"Nope{n}", {})
        operations = {operation for operation, _ in metrics._calls._counted}
        assert operations == {UNKNOWN_OPERATION}
    finally:
        runtime.close()


def test_the_read_cache_counts_the_requests_it_keeps_answers_for() -> None:
    cache = ReadCache(100, max_bytes=10_000)
    mark = (1, 1, 0)
    cache.get(mark, "-")
    for n in range(10):
        cache.put(mark, n, b"a", key_size=2000)
    assert len(cache) == 4 and cache.size == 4 * 2001     # a fifth would pass 10,000
    cache.put(mark, "big", b"a", key_size=MAX_ANSWER)      # larger than any answer kept
    assert cache.get(mark, "big") is None


def test_padded_reads_do_not_fill_memory(tmp_path) -> None:
    """A read's body is part of its cache key, and a body may be 2 MiB of valid JSON (spaces):
    only the answers were counted, so 300 such reads held 600 MB while the cache counted 36 kB
    (the default 4096 entries: 8 GiB)."""
    runtime = build_runtime(Settings(database=f"sqlite:///{tmp_path / 'r.db'}", workers=False,
                                     throttle_rate=0), ManualClock(1_700_000_000.0))
    dispatcher = build_dispatcher(runtime)
    headers = {"authorization": "AWS4-HMAC-SHA256 Credential=111122223333/20231114/us-east-1/"
                                "ssm-contacts/aws4_request, SignedHeaders=host, Signature=0"}
    try:
        response = dispatcher.handle("POST", "/", {**headers, "x-amz-target": "SSMContacts."
                                                   "CreateContact"}, orjson.dumps(
            {"Alias": "ops", "Type": "PERSONAL", "Plan": {"Stages": []}}))
        arn = orjson.loads(response.body)["ContactArn"]
        get = {**headers, "x-amz-target": "SSMContacts.GetContact"}
        body = orjson.dumps({"ContactId": arn})
        for n in range(20):
            padded = body + b" " * (MAX_ANSWER + n)
            response = dispatcher.handle("POST", "/", get, padded)
            assert response.status == 200 and orjson.loads(response.body)["Alias"] == "ops"
        assert dispatcher.read_cache is not None and len(dispatcher.read_cache) == 0
        for _ in range(2):
            assert dispatcher.handle("POST", "/", get, body).status == 200
        assert len(dispatcher.read_cache) == 1 and dispatcher.read_cache.hits == 1
        assert dispatcher.read_cache.size == len(body) + len(orjson.dumps(
            orjson.loads(dispatcher.handle("POST", "/", get, body).body)))
    finally:
        runtime.close()


def test_the_wal_file_is_cut_back_after_a_burst(tmp_path, monkeypatch) -> None:
    """The WAL file is reused from its start after a checkpoint, never shrunk: one burst (the
    first housekeeping round over a backlog made it 78 MB in a load test, against 23 MB of
    steady load) left it at that size for good. Past ``WAL_SIZE_LIMIT`` it is cut back when
    the log starts over."""
    monkeypatch.setattr(db, "WAL_SIZE_LIMIT", 256 * 1024)
    path = tmp_path / "w.db"
    store = Store(f"sqlite:///{path}")
    store.migrate()
    wal = tmp_path / "w.db-wal"
    try:
        with store.transaction() as conn:           # a burst: about 2 MB of log
            conn.execute(sa.text("CREATE TABLE burst (data BLOB)"))
            for _ in range(500):
                conn.execute(sa.text("INSERT INTO burst VALUES (randomblob(4000))"))
        assert wal.stat().st_size > 2_000_000
        checkpointer = sqlite3.connect(str(path), isolation_level=None)
        try:
            busy, _frames, _copied = checkpointer.execute(
                "PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            assert busy == 0
        finally:
            checkpointer.close()
        with store.transaction() as conn:           # the next write starts the log over
            conn.execute(sa.text("INSERT INTO burst VALUES (1)"))
        assert wal.stat().st_size <= 256 * 1024
    finally:
        store.dispose()
