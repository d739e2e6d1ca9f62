"""Reads on an in-memory database (the mock): no BEGIN/COMMIT, the same answers.

The database has one connection and every transaction holds the store's lock throughout, so
a read of several statements sees one state even when other threads write meanwhile.
"""

from __future__ import annotations

import sys
import threading
import time

import pytest
import sqlalchemy as sa

from incident_contacts.store.db import Store
from incident_contacts.store.prepared import Prepared
from incident_contacts.store.schema import metadata

TAGS = metadata.tables["tags"]
INSERT = Prepared(TAGS.insert().values(
    resource_arn=sa.bindparam("arn"), key=sa.bindparam("key"), value=sa.bindparam("value")))
COUNT = Prepared(sa.select(sa.func.count()).select_from(TAGS)
                 .where(TAGS.c.resource_arn == sa.bindparam("arn")))


@pytest.fixture
def store():
    store = Store("sqlite://")
    store.migrate()
    yield store
    store.dispose()


def _driver(conn):
    return conn.connection.driver_connection


def test_a_read_runs_without_a_transaction_statement(store):
    with store.transaction() as conn:
        INSERT.execute(conn, {"arn": "r", "key": "k", "value": "v"})
        assert _driver(conn).in_transaction            # a write still begins one
    with store.transaction(write=False) as conn:
        assert COUNT.scalar(conn, {"arn": "r"}) == 1
        assert not _driver(conn).in_transaction


def test_sqlalchemy_statements_in_a_read_are_ended_with_it(store):
    with store.transaction(write=False) as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(TAGS)).scalar() == 0
        assert conn.in_transaction()
    assert not conn.in_transaction() and not _driver(conn).in_transaction
    with pytest.raises(ZeroDivisionError), store.transaction(write=False) as conn:
        conn.execute(sa.select(TAGS.c.key)).all()
        raise ZeroDivisionError
    assert not conn.in_transaction() and not _driver(conn).in_transaction
    # The connection is usable as before: a write after it commits.
    with store.transaction() as conn:
        INSERT.execute(conn, {"arn": "r", "key": "k", "value": "v"})
    with store.transaction(write=False) as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(TAGS)).scalar() == 1


def test_a_read_in_a_read_is_refused_and_leaves_the_lock_free(store):
    with (pytest.raises(RuntimeError), store.transaction(write=False),
          store.transaction(write=False)):
        pass
    done = threading.Event()

    def other() -> None:
        with store.transaction(write=False) as conn:
            COUNT.scalar(conn, {"arn": "r"})
        done.set()

    threading.Thread(target=other).start()
    assert done.wait(10)


def test_reads_see_one_state_while_other_threads_write(store):
    """Each write adds a row under two names, in two statements with a thread switch between
    them; every read counts both names, with a switch between, and finds them equal."""
    rounds = 300
    seen: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    interval = sys.getswitchinterval()

    def write(name: str) -> None:
        try:
            for number in range(rounds):
                with store.transaction() as conn:
                    INSERT.execute(conn, {"arn": "left", "key": f"{name}{number}", "value": ""})
                    time.sleep(0)
                    INSERT.execute(conn, {"arn": "right", "key": f"{name}{number}",
                                          "value": ""})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def read() -> None:
        try:
            for number in range(rounds):
                with store.transaction(write=False) as conn:
                    left = COUNT.scalar(conn, {"arn": "left"})
                    time.sleep(0)
                    if number % 2:
                        right = COUNT.scalar(conn, {"arn": "right"})
                    else:
                        right = conn.execute(
                            sa.select(sa.func.count()).select_from(TAGS)
                            .where(TAGS.c.resource_arn == "right")).scalar()
                seen.append((left, right))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=write, args=(name,)) for name in "ab"]
        threads += [threading.Thread(target=read) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        sys.setswitchinterval(interval)
    assert not errors
    assert len(seen) == 2 * rounds
    assert all(left == right for left, right in seen)
    assert any(0 < left < 2 * rounds for left, _right in seen)   # reads ran between writes
    with store.transaction(write=False) as conn:
        assert COUNT.scalar(conn, {"arn": "left"}) == COUNT.scalar(conn, {"arn": "right"}) \
            == 2 * rounds
