"""Repeated reads answered from memory while the database has not changed (api.readcache)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import boto3
import orjson
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from incident_contacts.api.app import _for_this_turn
from incident_contacts.api.readcache import MAX_ANSWER, ReadCache
from incident_contacts.config import Settings
from incident_contacts.server import build_dispatcher, build_runtime
from incident_contacts.store.db import Store
from incident_contacts.store.schema import metadata
from tests.support.server import start_server

ACCOUNT = "111122223333"
OTHER = "444455556666"


def call(dispatcher, operation: str, params: dict, account: str = ACCOUNT) -> tuple[int, dict]:
    headers = {
        "x-amz-target": f"SSMContacts.{operation}",
        "authorization": f"AWS4-HMAC-SHA256 Credential={account}/20270115/us-east-1/"
                         "ssm-contacts/aws4_request, SignedHeaders=host, Signature=0",
    }
    response = dispatcher.handle("POST", "/", headers, orjson.dumps(params))
    return response.status, orjson.loads(response.body)


def file_store(path) -> Store:
    store = Store(f"sqlite:///{path}")
    store.migrate()
    return store


def tag_count(store: Store) -> int:
    with store.transaction(write=False) as conn:
        return conn.exec_driver_sql("SELECT count(*) FROM tags").scalar_one()


def add_tag(store: Store, key: str) -> None:
    with store.transaction() as conn:
        conn.execute(metadata.tables["tags"].insert().values(resource_arn="a", key=key,
                                                             value="v"))


# -- the cache ----------------------------------------------------------------------------------


def test_answers_are_kept_for_one_database_state():
    cache = ReadCache(8)
    assert cache.get((1, 1, 0), "k") is None
    cache.put((1, 1, 0), "k", b"first")
    assert cache.get((1, 1, 0), "k") == b"first"
    assert (cache.hits, cache.misses) == (1, 1)
    # Another state empties the cache, and an answer made before it is not kept.
    assert cache.get((1, 2, 0), "k") is None
    cache.put((1, 1, 0), "k", b"stale")
    assert cache.get((1, 2, 0), "k") is None
    assert len(cache) == 0


def test_the_cache_is_bounded():
    cache = ReadCache(2)
    mark = (1, 1, 0)
    cache.get(mark, "a")
    for key in "abc":
        cache.put(mark, key, key.encode())
    assert cache.get(mark, "a") is None  # the least recently used went
    assert cache.get(mark, "c") == b"c"
    cache.put(mark, "large", b"x" * (MAX_ANSWER + 1))
    assert cache.get(mark, "large") is None
    with pytest.raises(ValueError):
        ReadCache(0)
    # And in bytes: the least recently used go until the rest fits.
    cache = ReadCache(100, max_bytes=10)
    cache.get(mark, "z")
    for key in "abc":
        cache.put(mark, key, b"1234")
    assert cache.get(mark, "a") is None and cache.get(mark, "b") == b"1234"
    assert cache.size == 8
    cache.put(mark, "b", b"12")  # a new answer for a key replaces the old one's size
    assert cache.size == 6 and len(cache) == 2


# -- the database's change mark -----------------------------------------------------------------


def test_the_mark_changes_with_every_commit_from_anywhere(tmp_path):
    path = tmp_path / "m.db"
    store, other = file_store(path), file_store(path)
    try:
        first = store.change_mark()
        assert first is not None
        tag_count(store)
        assert store.change_mark() == first  # a read changes nothing
        add_tag(store, "own")
        second = store.change_mark()
        assert second != first
        add_tag(other, "another process")
        third = store.change_mark()
        assert third not in (first, second)
        with sqlite3.connect(path) as program:  # any other program
            program.execute("INSERT INTO tags (resource_arn, key, value) VALUES ('a', 'p', 'v')")
        assert store.change_mark() not in (first, second, third)
    finally:
        store.dispose()
        other.dispose()


def test_no_mark_where_changes_cannot_be_told(tmp_path, pg_database):
    memory = Store("sqlite://")
    memory.migrate()
    assert memory.change_mark() is None
    postgres = Store(pg_database)
    postgres.migrate()
    assert postgres.change_mark() is None
    store = file_store(tmp_path / "n.db")
    with store.transaction(write=False):
        assert store.change_mark() is None  # inside a transaction of this thread
    for each in (memory, postgres, store):
        each.dispose()


def test_a_reading_kept_for_the_turn_still_sees_its_own_commits(tmp_path):
    path = tmp_path / "k.db"
    store, other = file_store(path), file_store(path)
    scheduled = []

    def keep(forget):
        scheduled.append(forget)
        return True

    store.keep_reading = keep
    try:
        first = store.change_mark()
        assert len(scheduled) == 1
        add_tag(other, "x")
        # Until the turn ends the reading stands: the calls served with it arrived before it.
        assert store.change_mark() == first
        assert len(scheduled) == 1
        scheduled.pop()()  # the next turn
        second = store.change_mark()
        assert second != first
        add_tag(store, "y")  # this thread's own commit counts at once
        assert store.change_mark() not in (first, second)
        # Without a keeper (the loop stopped), every mark is read afresh.
        store.keep_reading = None
        before = store.change_mark()
        add_tag(other, "z")
        assert store.change_mark() != before
    finally:
        store.dispose()
        other.dispose()


def test_readings_are_kept_on_the_loops_thread_until_its_next_turn():
    events = []

    async def main():
        keep = _for_this_turn(asyncio.get_running_loop())
        assert keep(lambda: events.append("forgotten"))
        events.append("same turn")
        answers = []
        thread = threading.Thread(target=lambda: answers.append(keep(lambda: None)))
        thread.start()
        thread.join()
        assert answers == [False]
        await asyncio.sleep(0)
        events.append("next turn")

    asyncio.run(main())
    assert events == ["same turn", "forgotten", "next turn"]


# -- through the dispatcher ---------------------------------------------------------------------


@pytest.fixture
def served(tmp_path):
    settings = Settings(database=f"sqlite:///{tmp_path / 'd.db'}", workers=False)
    runtimes = [build_runtime(settings), build_runtime(settings)]
    yield [build_dispatcher(runtime) for runtime in runtimes]
    for runtime in runtimes:
        runtime.close()


def test_a_read_is_answered_from_memory_until_something_commits(served):
    dispatcher, other_process = served
    cache = dispatcher.read_cache
    assert cache is not None
    status, created = call(dispatcher, "CreateContact", {
        "Alias": "ama", "DisplayName": "Ama", "Type": "PERSONAL", "Plan": {"Stages": []}})
    assert status == 200
    get = {"ContactId": created["ContactArn"]}
    assert call(dispatcher, "GetContact", get)[1]["DisplayName"] == "Ama"
    hits = cache.hits
    assert call(dispatcher, "GetContact", get)[1]["DisplayName"] == "Ama"
    assert cache.hits == hits + 1

    call(dispatcher, "UpdateContact", {**get, "DisplayName": "Ama O."})
    assert call(dispatcher, "GetContact", get)[1]["DisplayName"] == "Ama O."
    call(other_process, "UpdateContact", {**get, "DisplayName": "Ama Owusu"})
    assert call(dispatcher, "GetContact", get)[1]["DisplayName"] == "Ama Owusu"


def test_errors_are_not_kept_and_callers_never_share_answers(served):
    dispatcher, _ = served
    arn = f"arn:aws:ssm-contacts:us-east-1:{ACCOUNT}:contact/kofi"
    status, body = call(dispatcher, "GetContact", {"ContactId": arn})
    assert (status, body["__type"]) == (404, "ResourceNotFoundException")
    call(dispatcher, "CreateContact", {"Alias": "kofi", "Type": "PERSONAL",
                                       "Plan": {"Stages": []}})
    assert call(dispatcher, "GetContact", {"ContactId": arn})[0] == 200
    assert call(dispatcher, "GetContact", {"ContactId": arn})[0] == 200
    # The same request from another account is its own question.
    status, body = call(dispatcher, "GetContact", {"ContactId": arn}, account=OTHER)
    assert (status, body["__type"]) == (403, "AccessDeniedException")
    # Sharing the contact is a commit like any other.
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
        "Action": "ssm-contacts:GetContact", "Resource": arn}]}
    status, _ = call(dispatcher, "PutContactPolicy", {"ContactArn": arn,
                                                      "Policy": orjson.dumps(policy).decode()})
    assert status == 200
    status, body = call(dispatcher, "GetContact", {"ContactId": arn}, account=OTHER)
    assert (status, body["Alias"]) == (200, "kofi")
    # A malformed request is still refused with its validation errors.
    status, body = call(dispatcher, "GetContact", {"ContactId": "x" * 3000})
    assert (status, body["__type"]) == (400, "ValidationException")


def test_the_cache_is_off_when_asked_and_where_changes_cannot_be_told(tmp_path):
    off = build_runtime(Settings(database=f"sqlite:///{tmp_path / 'o.db'}", workers=False,
                                 read_cache=0))
    memory = build_runtime(Settings(database="sqlite://", workers=False))
    try:
        assert build_dispatcher(off).read_cache is None
        assert build_dispatcher(memory).read_cache is None
    finally:
        off.close()
        memory.close()


def test_two_servers_on_one_file_see_each_others_writes(tmp_path):
    database = f"sqlite:///{tmp_path / 'shared.db'}"
    first = start_server(tmp_path, database=database)
    second = start_server(tmp_path, database=database)
    try:
        config = Config(retries={"total_max_attempts": 1})
        clients = [boto3.client("ssm-contacts", endpoint_url=server.url, region_name="us-east-1",
                                aws_access_key_id=ACCOUNT, aws_secret_access_key="x",
                                config=config) for server in (first, second)]
        arn = clients[0].create_contact(Alias="efua", DisplayName="Efua", Type="PERSONAL",
                                        Plan={"Stages": []})["ContactArn"]
        for _ in range(3):
            assert clients[0].get_contact(ContactId=arn)["DisplayName"] == "Efua"
        clients[1].update_contact(ContactId=arn, DisplayName="Efua Mensah")
        assert clients[0].get_contact(ContactId=arn)["DisplayName"] == "Efua Mensah"
        clients[1].delete_contact(ContactId=arn)
        with pytest.raises(ClientError) as raised:
            clients[0].get_contact(ContactId=arn)
        assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
    finally:
        first.stop()
        second.stop()
