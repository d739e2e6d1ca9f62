"""Writes that arrive together commit together (``Store.begin_group``,
``Dispatcher.handle_group``, and the server's grouping of the writes of one loop turn)."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor

import boto3
import orjson
import pytest
import sqlalchemy as sa
from botocore.config import Config

from incident_contacts.api.dispatch import Dispatcher
from incident_contacts.api.operations import OPERATIONS, Operation
from incident_contacts.config import Settings
from incident_contacts.server import build_dispatcher, build_runtime
from incident_contacts.service.context import RequestContext
from incident_contacts.store.db import Store
from incident_contacts.store.schema import metadata
from tests.support.server import start_server

ACCOUNT = "111122223333"
tags = metadata.tables["tags"]


def request(operation: str, params: dict, account: str = ACCOUNT):
    headers = {
        "x-amz-target": f"SSMContacts.{operation}",
        "authorization": f"AWS4-HMAC-SHA256 Credential={account}/20270115/us-east-1/"
                         "ssm-contacts/aws4_request, SignedHeaders=host, Signature=0",
    }
    return ("POST", "/", headers, orjson.dumps(params))


def contact(alias: str) -> tuple:
    return request("CreateContact", {"Alias": alias, "Type": "PERSONAL",
                                     "Plan": {"Stages": []}})


def body(response) -> dict:
    return orjson.loads(response.body)


def committed_aliases(path) -> list[str]:
    """What another connection sees: only what was committed."""
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT alias FROM contacts ORDER BY alias")]


@pytest.fixture
def served(tmp_path):
    runtime = build_runtime(Settings(database=f"sqlite:///{tmp_path / 'db.sqlite'}",
                                     throttle_rate=0))
    yield runtime, build_dispatcher(runtime), tmp_path / "db.sqlite"
    runtime.store.dispose()


# -- the store ----------------------------------------------------------------------------------


def test_a_group_keeps_its_writes_unseen_until_it_commits(tmp_path):
    path = tmp_path / "db.sqlite"
    store = Store(f"sqlite:///{path}")
    store.migrate()
    group = store.begin_group()
    assert group is not None
    for key in ("a", "b"):
        with store.transaction() as conn:
            conn.execute(tags.insert().values(resource_arn="r", key=key, value="v"))
    assert group.released == 2
    with sqlite3.connect(path) as other:
        assert other.execute("SELECT count(*) FROM tags").fetchone() == (0,)
    changes = store.changes
    assert store.end_group(group) is None
    assert store.changes != changes              # the read cache's mark moves on
    with sqlite3.connect(path) as other:
        assert other.execute("SELECT key FROM tags ORDER BY key").fetchall() == [("a",), ("b",)]
    store.dispose()


def test_a_failed_transaction_in_a_group_loses_only_its_own_writes(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.migrate()
    group = store.begin_group()
    assert group is not None
    with store.transaction() as conn:
        conn.execute(tags.insert().values(resource_arn="r", key="kept", value="v"))
    with pytest.raises(RuntimeError), store.transaction() as conn:
        conn.execute(tags.insert().values(resource_arn="r", key="undone", value="v"))
        raise RuntimeError("the call failed")
    with store.transaction(write=False) as conn:
        # Inside the group, a later transaction sees the writes kept so far.
        assert conn.execute(sa.select(tags.c.key)).scalars().all() == ["kept"]
    assert group.released == 1
    assert store.end_group(group) is None
    with store.transaction(write=False) as conn:
        assert conn.execute(sa.select(tags.c.key)).scalars().all() == ["kept"]
    store.dispose()


def test_groups_are_kept_only_on_sqlite_files(tmp_path):
    memory = Store("sqlite://")
    memory.migrate()
    assert memory.begin_group() is None
    memory.dispose()
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.migrate()
    group = store.begin_group()
    assert group is not None
    assert store.begin_group() is None          # one group at a time on a thread
    assert store.end_group(group) is None       # nothing written: nothing to commit
    store.dispose()


# -- the dispatcher -----------------------------------------------------------------------------


def test_a_group_of_requests_is_answered_as_one_by_one(served):
    _runtime, dispatcher, path = served
    responses = dispatcher.handle_group([
        contact("first"),
        contact("first"),                       # sees the first one's write: a conflict
        request("CreateContact", {"Alias": "x"}),  # invalid: fails alone
        contact("second"),
    ])
    assert [r.status for r in responses] == [200, 409, 400, 200]
    assert body(responses[1])["__type"] == "ConflictException"
    assert body(responses[2])["__type"] == "ValidationException"
    assert committed_aliases(path) == ["first", "second"]


def test_after_commit_work_waits_for_the_groups_commit(served):
    runtime, dispatcher, path = served
    seen: list[list[str]] = []
    # CreateContactChannel queues an activation code and wakes delivery after its commit.
    runtime.on_wake(lambda: seen.append(committed_aliases(path)), ("delivery",))
    (created,) = dispatcher.handle_group([contact("owner")])
    arn = body(created)["ContactArn"]
    responses = dispatcher.handle_group([
        request("CreateContactChannel", {"ContactId": arn, "Name": "mail", "Type": "EMAIL",
                                         "DeliveryAddress": {"SimpleAddress": "a@example.com"}}),
        contact("later"),
    ])
    assert [r.status for r in responses] == [200, 200]
    # Delivery was woken once, after the group committed: by then "later" was in too.
    assert seen == [["later", "owner"]]


def test_when_the_commit_fails_the_writes_waiting_for_it_are_answered_an_error(served):
    runtime, dispatcher, path = served

    def broken_tag(ctx: RequestContext, params: dict) -> dict:
        # A deferred foreign key is checked at COMMIT: this row makes the commit fail.
        ctx.conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
        ctx.conn.exec_driver_sql(
            "INSERT INTO activation_codes (channel_pk, code_hash, created_at, expires_at, "
            "failed_attempts) VALUES (987654, 'hash', 0, 1, 0)")
        return {}

    grouped = Dispatcher(runtime, operations={**OPERATIONS,
                                              "TagResource": Operation(broken_tag)})
    responses = grouped.handle_group([
        contact("lost"),
        request("CreateContact", {"Alias": "y"}),   # refused before writing anything
        request("TagResource", {"ResourceARN": "arn:aws:ssm-contacts:us-east-1:"
                                f"{ACCOUNT}:contact/lost", "Tags": []}),
    ])
    assert [r.status for r in responses] == [500, 400, 500]
    assert body(responses[0])["__type"] == "InternalServerException"
    assert body(responses[1])["__type"] == "ValidationException"
    assert committed_aliases(path) == []
    # The next group starts afresh.
    (again,) = dispatcher.handle_group([contact("again")])
    assert again.status == 200
    assert committed_aliases(path) == ["again"]


# -- the server ---------------------------------------------------------------------------------


def test_concurrent_writes_to_a_server_are_each_answered_and_kept(tmp_path):
    server = start_server(tmp_path)
    try:
        client = boto3.client(
            "ssm-contacts", region_name="us-east-1", endpoint_url=server.url,
            aws_access_key_id=ACCOUNT, aws_secret_access_key="secret",
            config=Config(retries={"total_max_attempts": 1}, max_pool_connections=16))

        def create(n: int) -> tuple[str, str]:
            alias = f"c{n:03d}"
            try:
                client.create_contact(Alias=alias, Type="PERSONAL", Plan={"Stages": []})
            except client.exceptions.ConflictException:
                return alias, "conflict"
            return alias, "created"

        # Each alias twice: exactly one of the two may create it, wherever the groups fall.
        with ThreadPoolExecutor(8) as pool:
            outcomes = list(pool.map(create, [n // 2 for n in range(160)]))
        by_alias: dict[str, list[str]] = {}
        for alias, outcome in outcomes:
            by_alias.setdefault(alias, []).append(outcome)
        assert all(sorted(v) == ["conflict", "created"] for v in by_alias.values())
        listed = [c["Alias"] for page in client.get_paginator("list_contacts").paginate()
                  for c in page["Contacts"]]
        assert listed == sorted(by_alias)
        server.kill()
        assert committed_aliases(tmp_path / "server.db") == sorted(by_alias)
    finally:
        server.stop()
