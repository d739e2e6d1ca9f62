"""Reads on PostgreSQL see one snapshot: a read-only call's statements all see the database as
it was at one moment, however many statements it runs and whatever commits in between.

Each race is made deterministic: a cursor hook on the reading server's connections stops the
read just before one of its statements and commits a write through a second server (its own
connection pool, as another process would have) before letting the statement run. At READ
COMMITTED that statement would see the write and the ones before it would not: an answer no
serial order of the two calls gives.
"""

from __future__ import annotations

import base64
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy import event

from incident_contacts.api.dispatch import Dispatcher
from incident_contacts.api.operations import OPERATIONS
from incident_contacts.config import Settings
from incident_contacts.engine import runner
from incident_contacts.errors import ResourceNotFoundException, ServiceError
from incident_contacts.runtime import Runtime
from incident_contacts.server import build_dispatcher, build_runtime
from incident_contacts.service import engagements, outbox
from incident_contacts.service.context import Caller
from incident_contacts.store.db import _restore_driver

CALLER = Caller("111122223333", "us-east-1")
T0 = 1_900_000_000.0        # 2030-03-17, a fixed future instant for rotations and windows
DAY = 86_400.0
DAILY_9 = {"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
           "DailySettings": [{"HourOfDay": 9, "MinuteOfHour": 0}]}
DAILY_17 = {"NumberOfOnCalls": 1, "RecurrenceMultiplier": 2,
            "DailySettings": [{"HourOfDay": 17, "MinuteOfHour": 30}]}
SNAPSHOT = ("repeatable read", "on")
LATEST = ("read committed", "off")


class Hooks:
    """Runs code just before statements of one runtime's PostgreSQL connections.

    ``before(pattern, action)``: the next statement whose SQL contains ``pattern`` waits for
    ``action()`` (once). ``characteristics``: the isolation level and read-only flag of each
    transaction the connections began, as the server reports them, in order.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.pending: list[tuple[str, Callable[[], None]]] = []
        self.fired: list[str] = []
        self.characteristics: list[tuple[str, str]] = []
        hooks = self

        class HookedCursor(psycopg.Cursor[Any]):
            def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
                hooks.run(self.connection, str(query))
                return super().execute(query, params, **kwargs)

        def on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
            dbapi_connection.cursor_factory = HookedCursor

        event.listen(runtime.store.engine, "checkout", on_checkout)

    def before(self, pattern: str, action: Callable[[], None]) -> None:
        self.pending.append((pattern, action))

    def run(self, connection: psycopg.Connection[Any], sql: str) -> None:
        if connection.autocommit:
            return      # the pool's ping on checkout, outside any transaction
        if connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            # This statement begins a transaction: ask the server what kind. (A plain
            # cursor: the hooked one would come back here.)
            with psycopg.Cursor(connection) as cursor:
                cursor.execute("SELECT current_setting('transaction_isolation'), "
                               "current_setting('transaction_read_only')")
                row = cursor.fetchone()
                assert row is not None
                self.characteristics.append((row[0], row[1]))
        for index, (pattern, action) in enumerate(self.pending):
            if pattern in sql:
                del self.pending[index]
                self.fired.append(pattern)
                action()
                return


def committed_elsewhere(call: Callable[[], Any]) -> Callable[[], None]:
    """``call`` on another thread, waited for: the write commits on another server's
    connection while the read is held. A write that waited for a lock of the held read would
    hang the test; it is bounded instead."""
    def action() -> None:
        errors: list[BaseException] = []

        def run() -> None:
            try:
                call()
            except BaseException as exc:      # raised on the test's thread below
                errors.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        thread.join(30)
        assert not thread.is_alive(), "the concurrent write waited for the held read"
        if errors:
            raise errors[0]
    return action


class Servers:
    def __init__(self, reader: Runtime, writer: Runtime) -> None:
        self.runtime = reader
        self.reader = build_dispatcher(reader)
        self.writer = build_dispatcher(writer)
        self.hooks = Hooks(reader)

    def read(self, name: str, params: dict[str, Any]) -> dict[str, Any] | ServiceError:
        return self.read_as(CALLER, name, params)

    def read_as(self, caller: Caller, name: str, params: dict[str, Any]
                ) -> dict[str, Any] | ServiceError:
        try:
            return self.reader.call(caller, name, params)
        except ServiceError as exc:
            return exc

    def write(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        return self.writer.call(CALLER, name, params)


def two_runtimes(pg_database: str) -> Iterator[tuple[Runtime, Runtime]]:
    """Two runtimes on one database, each with its own pool, as two server processes have;
    closed when the generator is."""
    key = base64.b64encode(os.urandom(32)).decode()
    runtimes = [build_runtime(Settings(database=pg_database, data_key=key, workers=False,
                                       throttle_rate=0))
                for _ in range(2)]
    try:
        yield runtimes[0], runtimes[1]
    finally:
        for runtime in runtimes:
            runtime.close()


@pytest.fixture
def servers(pg_database: str) -> Iterator[Servers]:
    for reader, writer in two_runtimes(pg_database):
        yield Servers(reader, writer)


def person(servers: Servers, alias: str) -> str:
    arn: str = servers.write("CreateContact", {"Alias": alias, "Type": "PERSONAL",
                                               "Plan": {"Stages": []}})["ContactArn"]
    return arn


def rotation(servers: Servers, members: list[str]) -> str:
    arn: str = servers.write("CreateRotation", {
        "Name": "primary", "ContactIds": members, "TimeZoneId": "UTC", "StartTime": T0,
        "Recurrence": DAILY_9})["RotationArn"]
    return arn


def same(answer: Any) -> Any:
    """An answer in a form that compares: errors by their code."""
    return type(answer).__name__ if isinstance(answer, ServiceError) else answer


# -- the races -------------------------------------------------------------------------------

@pytest.mark.postgres
def test_get_rotation_never_shows_a_rotation_without_its_members(servers: Servers) -> None:
    """DeleteRotation commits between GetRotation's two statements (the rotation, then its
    members). Serially GetRotation answers the whole rotation or ResourceNotFound; at READ
    COMMITTED it answered the rotation with no members at all."""
    members = [person(servers, "a"), person(servers, "b")]
    arn = rotation(servers, members)
    before = servers.read("GetRotation", {"RotationId": arn})
    assert isinstance(before, dict) and before["ContactIds"] == members

    servers.hooks.before("FROM rotation_members", committed_elsewhere(
        lambda: servers.write("DeleteRotation", {"RotationId": arn})))
    held = servers.read("GetRotation", {"RotationId": arn})
    assert servers.hooks.fired == ["FROM rotation_members"]

    after = servers.read("GetRotation", {"RotationId": arn})
    assert isinstance(after, ResourceNotFoundException)
    assert same(held) in (same(before), same(after)), held
    assert held == before       # the snapshot was taken at the read's first statement


@pytest.mark.postgres
def test_get_rotation_never_mixes_old_settings_with_new_members(servers: Servers) -> None:
    """UpdateRotation (members, zone and recurrence at once) between the two statements:
    the answer is the rotation before or after, never the old zone with the new members."""
    a, b, c = person(servers, "a"), person(servers, "b"), person(servers, "c")
    arn = rotation(servers, [a, b])
    before = servers.read("GetRotation", {"RotationId": arn})
    update = {"RotationId": arn, "ContactIds": [c], "TimeZoneId": "Asia/Tokyo",
              "Recurrence": DAILY_17}

    servers.hooks.before("FROM rotation_members", committed_elsewhere(
        lambda: servers.write("UpdateRotation", update)))
    held = servers.read("GetRotation", {"RotationId": arn})
    after = servers.read("GetRotation", {"RotationId": arn})

    assert isinstance(after, dict) and after["ContactIds"] == [c]
    assert after["TimeZoneId"] == "Asia/Tokyo"
    assert held in (before, after), held


@pytest.mark.postgres
def test_rotation_shifts_come_from_one_state_of_the_rotation(servers: Servers) -> None:
    """ListRotationShifts reads the rotation (recurrence, zone, start), then its members, then
    its overrides. An UpdateRotation committed in between gave shifts of the old recurrence
    handed between the new members: a schedule that never existed."""
    a, b, c = person(servers, "a"), person(servers, "b"), person(servers, "c")
    arn = rotation(servers, [a, b])
    window = {"RotationId": arn, "StartTime": T0, "EndTime": T0 + 6 * DAY}
    before = servers.read("ListRotationShifts", window)
    update = {"RotationId": arn, "ContactIds": [c, a], "Recurrence": DAILY_17}

    servers.hooks.before("FROM rotation_members", committed_elsewhere(
        lambda: servers.write("UpdateRotation", update)))
    held = servers.read("ListRotationShifts", window)
    after = servers.read("ListRotationShifts", window)

    assert servers.hooks.fired == ["FROM rotation_members"]
    assert before != after
    assert held in (before, after), held


@pytest.mark.postgres
def test_engagement_log_reads_the_engagement_and_its_events_together(
        servers: Servers) -> None:
    """The inspection endpoint's engagement log (a read transaction outside the dispatcher):
    the engagement row (its sealed stop reason), then its events. A StopEngagement committed
    in between showed the stop event without its reason."""
    contact = person(servers, "a")
    engagement = servers.write("StartEngagement", {
        "ContactId": contact, "Sender": "tester", "Subject": "s", "Content": "c"})[
        "EngagementArn"]
    store = servers.runtime.store

    def log() -> list[dict[str, Any]]:
        with store.transaction(write=False) as conn:
            found = engagements.list_events(conn, servers.runtime, engagement)
        assert found is not None
        return [{k: v for k, v in e.items() if k != "Time"} for e in found]

    before = log()
    servers.hooks.before("FROM engagement_events", committed_elsewhere(
        lambda: servers.write("StopEngagement", {"EngagementId": engagement,
                                                 "Reason": "resolved"})))
    held = log()
    after = log()

    assert {"Type": "ENGAGEMENT_STOPPED", "UnreadPages": 0, "Reason": "resolved"} in after
    assert held in (before, after), held


# -- every read, and only reads, in a snapshot -----------------------------------------------

def _activated_channel(servers: Servers, contact: str) -> str:
    channel: str = servers.write("CreateContactChannel", {
        "ContactId": contact, "Name": "mail", "Type": "EMAIL",
        "DeliveryAddress": {"SimpleAddress": "a@example.com"}})["ContactChannelArn"]
    with servers.runtime.store.transaction(write=False) as conn:
        [message] = outbox.list_messages(conn, servers.runtime, channel_arn=channel)
    servers.write("ActivateContactChannel", {"ContactChannelId": channel,
                                             "ActivationCode": message["ActivationCode"]})
    return channel


def _every_read(servers: Servers) -> dict[str, dict[str, Any]]:
    """Parameters that succeed for each read-only operation, on resources made here."""
    a, b = person(servers, "a"), person(servers, "b")
    channel = _activated_channel(servers, a)
    servers.write("UpdateContact", {"ContactId": a, "Plan": {"Stages": [{
        "DurationInMinutes": 0, "Targets": [{"ChannelTargetInfo": {
            "ContactChannelId": channel, "RetryIntervalInMinutes": 1}}]}]}})
    servers.write("TagResource", {"ResourceARN": a, "Tags": [{"Key": "team", "Value": "db"}]})
    servers.write("PutContactPolicy", {"ContactArn": a, "Policy": (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
        '{"AWS":"arn:aws:iam::444455556666:root"},"Action":"ssm-contacts:GetContact",'
        '"Resource":"*"}]}')})
    rotation_arn = rotation(servers, [a, b])
    override = servers.write("CreateRotationOverride", {
        "RotationId": rotation_arn, "NewContactIds": [b], "StartTime": T0 + DAY,
        "EndTime": T0 + 2 * DAY})["RotationOverrideId"]
    engagement = servers.write("StartEngagement", {
        "ContactId": a, "Sender": "tester", "Subject": "s", "Content": "c"})["EngagementArn"]
    runner.run_all_due(servers.runtime)
    [page] = servers.read("ListPagesByEngagement", {"EngagementId": engagement})["Pages"]
    window = {"StartTime": T0, "EndTime": T0 + 3 * DAY}
    return {
        "GetContact": {"ContactId": a},
        "ListContacts": {},
        "GetContactChannel": {"ContactChannelId": channel},
        "ListContactChannels": {"ContactId": a},
        "ListTagsForResource": {"ResourceARN": a},
        "GetContactPolicy": {"ContactArn": a},
        "DescribeEngagement": {"EngagementId": engagement},
        "ListEngagements": {},
        "ListPagesByContact": {"ContactId": a},
        "ListPagesByEngagement": {"EngagementId": engagement},
        "DescribePage": {"PageId": page["PageArn"]},
        "ListPageReceipts": {"PageId": page["PageArn"]},
        "ListPageResolutions": {"PageId": page["PageArn"]},
        "GetRotation": {"RotationId": rotation_arn},
        "ListRotations": {},
        "GetRotationOverride": {"RotationId": rotation_arn, "RotationOverrideId": override},
        "ListRotationOverrides": {"RotationId": rotation_arn, **window},
        "ListRotationShifts": {"RotationId": rotation_arn, **window},
        "ListPreviewRotationShifts": {"Members": ["x", "y"], "TimeZoneId": "UTC",
                                      "Recurrence": DAILY_9, "RotationStartTime": T0,
                                      **window},
    }


@pytest.mark.postgres
def test_every_read_only_operation_answers_from_one_read_only_snapshot(
        servers: Servers) -> None:
    """Each read-only operation of the table succeeds on PostgreSQL, in one transaction that
    the server reports as REPEATABLE READ and READ ONLY (a write in it would fail)."""
    reads = _every_read(servers)
    assert set(reads) == {name for name, op in OPERATIONS.items() if op.readonly}
    hooks = servers.hooks
    for name, params in reads.items():
        hooks.characteristics.clear()
        answer = servers.read(name, params)
        assert isinstance(answer, dict), (name, answer)
        # A preview needs no stored resource: its transaction runs no statement, and psycopg
        # then begins none.
        expected = [] if name == "ListPreviewRotationShifts" else [SNAPSHOT]
        assert hooks.characteristics == expected, name


@pytest.mark.postgres
def test_writes_still_read_the_latest_committed_rows(servers: Servers) -> None:
    """Write transactions stay READ COMMITTED and read-write, on the pipeline and after a
    read on the same pooled connection; other read transactions of the store are
    snapshots too."""
    hooks = servers.hooks
    hooks.characteristics.clear()
    contact = servers.reader.call(CALLER, "CreateContact", {
        "Alias": "w", "Type": "PERSONAL", "Plan": {"Stages": []}})["ContactArn"]
    assert servers.reader.call(CALLER, "GetContact", {"ContactId": contact})["Alias"] == "w"
    servers.reader.call(CALLER, "UpdateContact", {"ContactId": contact, "DisplayName": "W"})
    rotation_arn = servers.reader.call(CALLER, "CreateRotation", {
        "Name": "r", "ContactIds": [contact], "TimeZoneId": "UTC", "StartTime": T0,
        "Recurrence": DAILY_9})["RotationArn"]
    servers.reader.call(CALLER, "DeleteRotation", {"RotationId": rotation_arn})
    assert hooks.characteristics == [LATEST, SNAPSHOT, LATEST, LATEST, LATEST]

    hooks.characteristics.clear()
    store = servers.runtime.store
    with store.transaction() as conn:
        assert conn.exec_driver_sql("SHOW transaction_isolation").scalar() == LATEST[0]
    with store.transaction(write=False) as conn:
        assert conn.exec_driver_sql("SHOW transaction_isolation").scalar() == SNAPSHOT[0]
    assert runner.next_due(servers.runtime) is None
    with store.transaction() as conn:
        assert conn.exec_driver_sql("SHOW transaction_read_only").scalar() == LATEST[1]
    assert hooks.characteristics == [LATEST, SNAPSHOT, SNAPSHOT, LATEST]


@pytest.mark.postgres
def test_a_failed_read_leaves_its_connection_for_writes(servers: Servers) -> None:
    """A read that fails (here by trying to write) gives its connection back as it found it:
    the next transaction on it writes at READ COMMITTED."""
    store = servers.runtime.store
    with pytest.raises(Exception, match="read-only transaction"), \
            store.transaction(write=False) as conn:
        conn.exec_driver_sql("CREATE TEMPORARY TABLE refused (a int)")
    hooks = servers.hooks
    hooks.characteristics.clear()
    for _ in range(store.engine.pool.size() + 1):   # every pooled connection in turn
        with store.transaction() as conn:
            conn.exec_driver_sql("CREATE TEMPORARY TABLE IF NOT EXISTS allowed (a int)")
    assert set(hooks.characteristics) == {LATEST}


@pytest.mark.postgres
def test_a_read_whose_connection_is_lost_leaves_the_pool_working(servers: Servers) -> None:
    """The server ends a read's session (a restart, an administrator): the read fails, the
    pool drops the connection, and the transactions after it are as they should be."""
    store = servers.runtime.store
    with pytest.raises(sa.exc.OperationalError), store.transaction(write=False) as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with servers.writer.runtime.store.transaction() as other:
            assert other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})").scalar()
        conn.exec_driver_sql("SELECT 1")
    hooks = servers.hooks
    hooks.characteristics.clear()
    for _ in range(store.engine.pool.size() + 1):
        with store.transaction() as conn:
            conn.exec_driver_sql("SELECT 1")
        with store.transaction(write=False) as conn:
            conn.exec_driver_sql("SELECT 1")
    assert hooks.characteristics == [LATEST, SNAPSHOT] * (store.engine.pool.size() + 1)


def test_a_connection_whose_settings_stay_is_dropped() -> None:
    """Should psycopg refuse to put a read's settings back (its transaction still open), the
    connection is invalidated, never given back to the pool as read-only."""
    class Driver:
        closed = False

        def __setattr__(self, name: str, value: Any) -> None:
            raise psycopg.ProgrammingError(f"can't change {name!r} now")

    class Connection:
        invalidated = False

        def invalidate(self) -> None:
            self.invalidated = True

    connection = Connection()
    _restore_driver(connection, Driver())  # type: ignore[arg-type]
    assert connection.invalidated


@pytest.mark.postgres
def test_another_driver_gets_the_snapshot_through_sqlalchemy(
        servers: Servers, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without psycopg 3's settings (another PostgreSQL driver) a read takes SQLAlchemy's
    connection options instead: the same snapshot, and writes after it as before."""
    store = servers.runtime.store
    monkeypatch.setattr(store, "_repeatable_read", None)
    contact = person(servers, "a")
    hooks = servers.hooks
    hooks.characteristics.clear()
    for _ in range(store.engine.pool.size() + 1):
        assert servers.reader.call(CALLER, "GetContact", {"ContactId": contact})["Alias"] == "a"
        servers.reader.call(CALLER, "UpdateContact", {"ContactId": contact, "DisplayName": "A"})
    assert hooks.characteristics == [SNAPSHOT, LATEST] * (store.engine.pool.size() + 1)


# -- SQLite keeps its transactions as they were ---------------------------------------------

def test_sqlite_reads_are_unchanged(tmp_path: Path) -> None:
    """On SQLite a read is BEGIN, its statements and COMMIT on the thread's kept connection,
    nothing more: its reads are one snapshot already (WAL)."""
    key = base64.b64encode(os.urandom(32)).decode()
    runtime = build_runtime(Settings(database=f"sqlite:///{tmp_path / 'ic.db'}",
                                     data_key=key, workers=False, throttle_rate=0))
    try:
        dispatcher: Dispatcher = build_dispatcher(runtime)
        members = [dispatcher.call(CALLER, "CreateContact", {
            "Alias": alias, "Type": "PERSONAL", "Plan": {"Stages": []}})["ContactArn"]
            for alias in ("a", "b")]
        arn = dispatcher.call(CALLER, "CreateRotation", {
            "Name": "r", "ContactIds": members, "TimeZoneId": "UTC", "StartTime": T0,
            "Recurrence": DAILY_9})["RotationArn"]
        store = runtime.store
        assert store._local is not None
        driver: sqlite3.Connection = store._kept_connection(store._local).connection \
            .driver_connection  # type: ignore[assignment]
        statements: list[str] = []
        driver.set_trace_callback(statements.append)
        try:
            assert dispatcher.call(CALLER, "GetRotation", {"RotationId": arn})[
                "ContactIds"] == members
        finally:
            driver.set_trace_callback(None)
        assert statements[0] == "BEGIN" and statements[-1] == "COMMIT", statements
        assert len(statements) == 4, statements
        assert all(s.startswith("SELECT") for s in statements[1:-1]), statements
    finally:
        runtime.close()
