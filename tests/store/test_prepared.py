"""Prepared statements: the same results and errors as SQLAlchemy's own execution."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from incident_contacts.store.db import Store
from incident_contacts.store.prepared import Prepared
from incident_contacts.store.schema import metadata

TAGS = metadata.tables["tags"]
INSERT = Prepared(TAGS.insert().values(
    resource_arn=sa.bindparam("arn"), key=sa.bindparam("key"), value=sa.bindparam("value")))
BY_ARN = Prepared(sa.select(TAGS.c.key, TAGS.c.value.label("tag_value"))
                  .where(TAGS.c.resource_arn == sa.bindparam("arn")).order_by(TAGS.c.key))
COUNT = Prepared(sa.select(sa.func.count()).select_from(TAGS)
                 .where(TAGS.c.resource_arn == sa.bindparam("arn")))
RENAME = Prepared(TAGS.update().where(TAGS.c.resource_arn == sa.bindparam("arn"))
                  .values(value="renamed"))


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    url = (f"sqlite:///{tmp_path / 'p.db'}" if request.param == "sqlite"
           else request.getfixturevalue("pg_database"))
    store = Store(url)
    store.migrate()
    yield store
    store.dispose()


def test_rows_scalars_and_writes(store):
    with store.transaction() as conn:
        for key in ("b", "a"):
            INSERT.execute(conn, {"arn": "r1", "key": key, "value": f"v-{key}"})
    with store.transaction(write=False) as conn:
        rows = BY_ARN.all(conn, {"arn": "r1"})
        assert [(r.key, r.tag_value) for r in rows] == [("a", "v-a"), ("b", "v-b")]
        assert BY_ARN.first(conn, {"arn": "r1"}).key == "a"
        assert BY_ARN.first(conn, {"arn": "none"}) is None
        assert BY_ARN.all(conn, {"arn": "none"}) == []
        assert COUNT.scalar(conn, {"arn": "r1"}) == 2
        # The same as SQLAlchemy's own execution.
        assert [tuple(r) for r in conn.execute(BY_ARN.statement, {"arn": "r1"})] == \
            [tuple(r) for r in rows]
    with store.transaction() as conn:
        assert RENAME.execute(conn, {"arn": "r1"}) == 2   # a literal value in the statement
        assert {r.tag_value for r in BY_ARN.all(conn, {"arn": "r1"})} == {"renamed"}


def test_driver_errors_come_out_as_sqlalchemys_and_roll_back(store):
    with store.transaction() as conn:
        INSERT.execute(conn, {"arn": "r2", "key": "k", "value": "v"})
    with pytest.raises(sa.exc.IntegrityError), store.transaction() as conn:
        INSERT.execute(conn, {"arn": "r2", "key": "other", "value": "v"})
        INSERT.execute(conn, {"arn": "r2", "key": "k", "value": "again"})
    with store.transaction(write=False) as conn:
        assert [r.key for r in BY_ARN.all(conn, {"arn": "r2"})] == ["k"]


def test_execute_many_writes_every_row_or_none(store):
    with store.transaction() as conn:
        INSERT.execute_many(conn, [{"arn": "r3", "key": f"k{n}", "value": "v"} for n in range(5)])
        INSERT.execute_many(conn, [])
    with store.transaction(write=False) as conn:
        assert COUNT.scalar(conn, {"arn": "r3"}) == 5
    with pytest.raises(sa.exc.IntegrityError), store.transaction() as conn:
        INSERT.execute_many(conn, [{"arn": "r3", "key": "new", "value": "v"},
                                   {"arn": "r3", "key": "k0", "value": "again"}])
    with store.transaction(write=False) as conn:
        assert COUNT.scalar(conn, {"arn": "r3"}) == 5


def test_a_missing_open_parameter_is_an_error(store):
    with pytest.raises(sa.exc.InvalidRequestError), store.transaction() as conn:
        INSERT.execute(conn, {"arn": "r4", "key": "k"})
