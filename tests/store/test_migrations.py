"""The Alembic migrations build exactly the schema the code declares, on both databases."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from incident_contacts.store.db import Store
from incident_contacts.store.schema import metadata


def _diff(url: str) -> list[object]:
    store = Store(url)
    try:
        store.migrate()
        store.migrate()  # a second run finds nothing to do
        with store.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))
    finally:
        store.dispose()


def test_sqlite_migrations_match_the_schema(tmp_path):
    assert _diff(f"sqlite:///{tmp_path / 'm.db'}") == []


def test_postgresql_migrations_match_the_schema(pg_database):
    assert _diff(pg_database) == []


def test_sqlite_settings(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.migrate()
    with store.transaction(write=False) as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    store.dispose()


@pytest.mark.parametrize("write", [True, False])
def test_a_failed_call_changes_nothing(tmp_path, write):
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    store.migrate()
    table = metadata.tables["tags"]
    with pytest.raises(RuntimeError), store.transaction() as conn:
        conn.execute(table.insert().values(resource_arn="a", key="k", value="v"))
        raise RuntimeError("the operation failed")
    with store.transaction(write=write) as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0
    store.dispose()


def test_wal_is_checkpointed_in_the_background(tmp_path):
    import time

    path = tmp_path / "c.db"
    store = Store(f"sqlite:///{path}")
    store.start_checkpoints(interval=0.05)
    store.migrate()
    with store.transaction(write=False) as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    table = metadata.tables["tags"]
    with store.transaction() as conn:
        conn.execute(table.insert(), [
            {"resource_arn": f"arn-{n}", "key": "k", "value": "v" * 200} for n in range(5000)])
    # No call checkpoints any more; the store's thread copies the log into the database file.
    deadline = time.monotonic() + 10
    while path.stat().st_size < 1_000_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.stat().st_size >= 1_000_000
    store.dispose()


def test_the_log_starts_over_under_steady_writes(tmp_path):
    """Writers that never pause must not keep the checkpoint from finishing: each checkpoint
    then copies the whole log, and the next writer starts it over, so its length stays that of
    the writes between two checkpoints and not that of all of them."""
    import time

    store = Store(f"sqlite:///{tmp_path / 'w.db'}")
    store.start_checkpoints(interval=0.05)
    store.migrate()
    table = metadata.tables["tags"]
    commits = 0
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:  # back to back, as the event loop runs calls
        with store.transaction() as conn:
            conn.execute(table.insert().values(resource_arn=f"arn-{commits}", key="k",
                                               value="v" * 100))
        commits += 1
    with store.transaction(write=False) as conn:
        driver = conn.connection.driver_connection
        # (busy, frames in the log now, frames of it checkpointed): the log holds only what
        # came after the last restart.
        _busy, frames, _copied = driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    store.dispose()
    assert commits > 200
    assert frames < commits / 4


def test_a_transaction_inside_another_gets_its_own_connection(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'n.db'}")
    store.migrate()
    table = metadata.tables["tags"]
    with store.transaction() as outer:
        outer.execute(table.insert().values(resource_arn="a", key="k", value="v"))
        with store.transaction(write=False) as inner:
            assert inner is not outer
            # The outer write is not committed yet.
            assert inner.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0
    with store.transaction(write=False) as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 1
    store.dispose()


def test_an_in_memory_database_refuses_a_transaction_inside_another():
    store = Store("sqlite://")
    store.migrate()
    table = metadata.tables["tags"]
    with pytest.raises(RuntimeError), store.transaction() as outer:
        outer.execute(table.insert().values(resource_arn="a", key="k", value="v"))
        with store.transaction(write=False):
            pass
    with store.transaction(write=False) as conn:  # the outer one was rolled back
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0
    store.dispose()
