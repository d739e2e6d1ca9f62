"""On PostgreSQL a call is authorized against the state of the database it is answered from.

Authorization that reads the database (another account's contact policy; a resource's tags for
``aws:ResourceTag`` conditions) runs in the call's own transaction: for a read, its first
statement takes the snapshot every later statement sees; for a write, the contact policy is
read ``FOR SHARE``, so a change of it waits for the call to end.

Each race is made deterministic as in ``test_postgres_snapshots``: a cursor hook on the
reading server's connections stops the call just before one of its statements and commits
writes through a second server (its own pool, as another process would have) meanwhile.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from incident_contacts.auth.credentials import Principal
from incident_contacts.auth.policy import Policy
from incident_contacts.auth.principals import PrincipalCaller
from incident_contacts.errors import AccessDeniedException
from incident_contacts.runtime import Runtime
from incident_contacts.service.context import Caller
from incident_contacts.store.db import normalise_url
from tests.store import test_postgres_snapshots as snapshots
from tests.store.test_postgres_snapshots import committed_elsewhere

OWNER = Caller("111122223333", "us-east-1")
OTHER = Caller("444455556666", "us-east-1")
SNAPSHOT = ("repeatable read", "on")
POLICY_READ = "SELECT contacts.policy"      # the authorizer's statement
TAGS_READ = "SELECT tags.key, tags.value"   # the authorizer's statement (tag_map)


class Servers(snapshots.Servers):
    def __init__(self, reader: Runtime, writer: Runtime) -> None:
        super().__init__(reader, writer)
        self.statements: list[str] = []
        self.pending: list[tuple[str, Callable[[], None]]] = []
        self.fired: list[str] = []
        run = self.hooks.run

        def hooked(connection: psycopg.Connection[Any], sql: str) -> None:
            if not connection.autocommit:
                self.statements.append(sql)
                for index, (pattern, action) in enumerate(self.pending):
                    if pattern in sql:
                        del self.pending[index]
                        self.fired.append(pattern)
                        action()
                        break
            run(connection, sql)    # after the action: a transaction this begins, it begins now

        self.hooks.run = hooked  # type: ignore[method-assign]

    def before(self, pattern: str, action: Callable[[], None]) -> None:
        """The next statement of the reading server whose SQL holds ``pattern`` waits for
        ``action()`` (once), before it begins any transaction: what ``action`` commits falls
        after the statements before, and before this one, whichever transaction each is in."""
        self.pending.append((pattern, action))


@pytest.fixture
def servers(pg_database: str) -> Iterator[Servers]:
    for reader, writer in snapshots.two_runtimes(pg_database):
        yield Servers(reader, writer)


def _contact(servers: Servers, alias: str) -> str:
    arn: str = servers.write("CreateContact", {
        "Alias": alias, "DisplayName": "before", "Type": "PERSONAL", "Plan": {"Stages": []}})[
        "ContactArn"]
    return arn


def _share(servers: Servers, contact: str, *actions: str) -> None:
    servers.write("PutContactPolicy", {"ContactArn": contact, "Policy": json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": OTHER.account},
                       "Action": [f"ssm-contacts:{a}" for a in actions],
                       "Resource": [contact, contact.replace(":contact/", ":engagement/")
                                    + "/*"]}]})})


def _unshared(contact: str) -> dict[str, Any]:
    return {"ContactArn": contact, "Policy": json.dumps({"Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "999999999999"},
        "Action": "ssm-contacts:GetContact", "Resource": contact}]})}


def _transactions_of(servers: Servers, call: Any) -> tuple[Any, list[tuple[str, str]]]:
    """The call's answer, and the transactions the reading server began for it."""
    before = len(servers.hooks.characteristics)
    answer = call()
    return answer, servers.hooks.characteristics[before:]


@pytest.mark.postgres
def test_a_shared_contact_is_read_in_the_snapshot_it_was_authorized_in(
        servers: Servers) -> None:
    """Another account reads a contact shared with it. Between the authorizer's read of the
    contact policy and GetContact's read of the contact, the owner renames the contact and
    then revokes the share, each committed. Authorized in one transaction and answered from
    another, the reader got the new name: an answer from a state in which it may not read the
    contact. In one snapshot it gets the contact as it was when it was allowed."""
    contact = _contact(servers, "shared")
    _share(servers, contact, "GetContact")
    before = servers.read_as(OTHER, "GetContact", {"ContactId": contact})
    assert isinstance(before, dict) and before["DisplayName"] == "before"

    def change() -> None:
        servers.write("UpdateContact", {"ContactId": contact, "DisplayName": "after"})
        servers.write("PutContactPolicy", _unshared(contact))

    servers.before(POLICY_READ, lambda: None)
    servers.before("FROM contacts", committed_elsewhere(change))
    held, began = _transactions_of(
        servers, lambda: servers.read_as(OTHER, "GetContact", {"ContactId": contact}))
    assert servers.fired == [POLICY_READ, "FROM contacts"]
    assert held == before, held
    assert began == [SNAPSHOT]          # the decision and the answer: one read-only snapshot

    assert isinstance(servers.read_as(OTHER, "GetContact", {"ContactId": contact}),
                      AccessDeniedException)
    assert servers.read_as(OWNER, "GetContact", {"ContactId": contact})["DisplayName"] == "after"  # type: ignore[index]


def _tagged_user(team: str) -> PrincipalCaller:
    policy = Policy.parse(json.dumps({"Statement": [{
        "Effect": "Allow", "Action": "ssm-contacts:*", "Resource": "*",
        "Condition": {"StringEquals": {"aws:ResourceTag/team": team}}}]}))
    principal = Principal("AKIATAGGEDUSER000001", "secret", OWNER.account, "tagged", policy)
    return PrincipalCaller(OWNER.account, OWNER.region, principal.arn, principal=principal)


@pytest.mark.postgres
def test_tags_that_authorize_a_read_are_those_of_the_state_it_answers_from(
        servers: Servers) -> None:
    """A user may read what is tagged ``team=sre``. Between the authorizer's read of the
    contact's tags and the contact's read, the owner renames it and retags it ``ops``: the
    answer is the contact as it was while tagged ``sre``."""
    contact = _contact(servers, "tagged")
    servers.write("TagResource", {"ResourceARN": contact,
                                  "Tags": [{"Key": "team", "Value": "sre"}]})
    user = _tagged_user("sre")
    before = servers.read_as(user, "GetContact", {"ContactId": contact})
    assert isinstance(before, dict) and before["DisplayName"] == "before"

    def change() -> None:
        servers.write("UpdateContact", {"ContactId": contact, "DisplayName": "after"})
        servers.write("TagResource", {"ResourceARN": contact,
                                      "Tags": [{"Key": "team", "Value": "ops"}]})

    servers.before(TAGS_READ, lambda: None)
    servers.before("FROM contacts", committed_elsewhere(change))
    held, began = _transactions_of(
        servers, lambda: servers.read_as(user, "GetContact", {"ContactId": contact}))
    assert servers.fired == [TAGS_READ, "FROM contacts"]
    assert held == before, held
    assert began == [SNAPSHOT]          # the decision and the answer: one read-only snapshot
    assert isinstance(servers.read_as(user, "GetContact", {"ContactId": contact}),
                      AccessDeniedException)


@pytest.mark.postgres
def test_a_common_call_reads_nothing_to_be_authorized(servers: Servers) -> None:
    """One's own account without a tag condition: decided without a statement, and the call
    runs its statements in its one snapshot."""
    contact = _contact(servers, "mine")
    servers.statements.clear()
    answer, began = _transactions_of(
        servers, lambda: servers.read_as(OWNER, "GetContact", {"ContactId": contact}))
    assert isinstance(answer, dict)
    assert began == [SNAPSHOT]
    assert not any(POLICY_READ in s or TAGS_READ in s for s in servers.statements)


def _waiting_for_a_lock(url: str, timeout: float = 30.0) -> None:
    """Until a session of the database waits for a lock (bounded)."""
    sa_url = normalise_url(url).replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(sa_url, autocommit=True) as watcher:
        deadline = time.monotonic() + timeout
        while True:
            waiting = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'").fetchone()
            if waiting is not None and waiting[0] > 0:
                return
            assert time.monotonic() < deadline, "nothing waited for the call's lock"
            time.sleep(0.02)


@pytest.mark.postgres
def test_a_write_holds_the_policy_it_was_authorized_under(
        servers: Servers, pg_database: str) -> None:
    """Another account starts an engagement of a contact shared with it. The owner revokes
    the share while the call runs, after it was authorized: the revocation waits for the
    call's transaction (the policy was read FOR SHARE), so the engagement is started under a
    policy that still held when it committed, and the revocation takes effect after it. At
    READ COMMITTED without the lock the revocation committed first and the engagement was
    started by a caller the database no longer allowed."""
    contact = _contact(servers, "engaged")
    _share(servers, contact, "StartEngagement", "DescribeEngagement")
    revoked = threading.Event()
    errors: list[BaseException] = []

    def revoke() -> None:
        try:
            servers.write("PutContactPolicy", _unshared(contact))
        except BaseException as exc:       # raised on the test's thread below
            errors.append(exc)
        revoked.set()

    revoker = threading.Thread(target=revoke)

    def meanwhile() -> None:
        revoker.start()
        _waiting_for_a_lock(pg_database)
        assert not revoked.is_set()

    servers.before(POLICY_READ, lambda: None)
    servers.before("INSERT INTO engagements", meanwhile)
    started = servers.read_as(OTHER, "StartEngagement", {
        "ContactId": contact, "Sender": "other", "Subject": "s", "Content": "c"})
    revoker.join(30)
    assert not revoker.is_alive() and not errors, errors
    assert servers.fired == [POLICY_READ, "INSERT INTO engagements"]
    assert isinstance(started, dict), started
    assert isinstance(servers.read_as(OTHER, "StartEngagement", {
        "ContactId": contact, "Sender": "other", "Subject": "s", "Content": "c"}),
        AccessDeniedException)
