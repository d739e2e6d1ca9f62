"""The authorization guard decides without the database when it can, and otherwise in the
call's own transaction (``api.dispatch.Check``): a contact policy of another account, or the
tags of the resource for ``aws:ResourceTag`` conditions, are read with the call's connection,
so a call is authorized against the state it is answered from. PostgreSQL's races are in
tests/store/test_postgres_authorization.py."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection

from incident_contacts.api.dispatch import Dispatcher
from incident_contacts.api.operations import OPERATIONS, Operation
from incident_contacts.api.readcache import ReadCache
from incident_contacts.api.security import Authorizer
from incident_contacts.auth.credentials import Principal
from incident_contacts.auth.policy import Policy
from incident_contacts.auth.principals import PrincipalCaller
from incident_contacts.clock import ManualClock
from incident_contacts.config import Settings
from incident_contacts.errors import (
    AccessDeniedException,
    ServiceError,
    ValidationException,
)
from incident_contacts.runtime import Runtime
from incident_contacts.server import build_runtime
from incident_contacts.service.context import Caller, RequestContext

OWNER = Caller("111122223333", "us-east-1")
OTHER = Caller("444455556666", "us-east-1")
NOW = 1_900_000_000.0
PREFIX = "SSMContacts."


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def runtime(tmp_path: Path, clock: ManualClock) -> Iterator[Runtime]:
    key = base64.b64encode(os.urandom(32)).decode()
    runtime = build_runtime(Settings(database=f"sqlite:///{tmp_path / 'auth.db'}",
                                     data_key=key, workers=False, throttle_rate=0), clock)
    yield runtime
    runtime.close()


def _user(*statements: dict[str, Any]) -> PrincipalCaller:
    policy = Policy.parse(json.dumps({"Statement": list(statements)}))
    principal = Principal("AKIAAUTHORIZERTEST01", "secret", OWNER.account, "user", policy)
    return PrincipalCaller(OWNER.account, OWNER.region, principal.arn, principal=principal)


def _dispatcher(runtime: Runtime, **kwargs: Any) -> Dispatcher:
    return Dispatcher(runtime, guards=[Authorizer(runtime.clock)], **kwargs)


def _contact(dispatcher: Dispatcher, alias: str, tags: dict[str, str] | None = None) -> str:
    arn: str = dispatcher.call(OWNER, "CreateContact", {
        "Alias": alias, "Type": "PERSONAL", "Plan": {"Stages": []},
        "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()] or None})[
        "ContactArn"]
    return arn


def _share(dispatcher: Dispatcher, contact: str, action: str) -> None:
    dispatcher.call(OWNER, "PutContactPolicy", {"ContactArn": contact, "Policy": json.dumps({
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": OTHER.account},
                       "Action": f"ssm-contacts:{action}", "Resource": contact}]})})


def _outcome(call: Any) -> Any:
    try:
        return call()
    except ServiceError as exc:
        return type(exc)


# -- what the guard decides at once -------------------------------------------------------------


def test_decisions_that_need_no_database_are_made_at_once(runtime: Runtime) -> None:
    authorize = Authorizer(runtime.clock)
    contact = "arn:aws:ssm-contacts:us-east-1:111122223333:contact/a"
    other = "arn:aws:ssm-contacts:us-east-1:444455556666:contact/b"
    # One's own account: with no identity policy, or a policy without tag conditions.
    assert authorize(OWNER, "GetContact", {"ContactId": contact}) is None
    reader = _user({"Effect": "Allow", "Action": "ssm-contacts:Get*", "Resource": "*"})
    assert authorize(reader, "GetContact", {"ContactId": contact}) is None
    with pytest.raises(AccessDeniedException):
        authorize(reader, "DeleteContact", {"ContactId": contact})
    # A tag condition on a resource that has no tags (a channel): decided at once too.
    tagged = _user({"Effect": "Allow", "Action": "ssm-contacts:*", "Resource": "*",
                    "Condition": {"StringEquals": {"aws:ResourceTag/team": "sre"}}})
    channel = "arn:aws:ssm-contacts:us-east-1:111122223333:contact-channel/a/c"
    with pytest.raises(AccessDeniedException):
        authorize(tagged, "GetContactChannel", {"ContactChannelId": channel})
    # An explicit deny that asks for no tags refuses before any tag is needed.
    denied = _user({"Effect": "Deny", "Action": "ssm-contacts:GetContact", "Resource": "*"},
                   {"Effect": "Allow", "Action": "ssm-contacts:*", "Resource": "*",
                    "Condition": {"StringEquals": {"aws:ResourceTag/team": "sre"}}})
    with pytest.raises(AccessDeniedException):
        authorize(denied, "GetContact", {"ContactId": contact})
    # Another account's resource that no contact policy can share: refused at once.
    with pytest.raises(AccessDeniedException):
        authorize(OWNER, "GetContactChannel", {"ContactChannelId": other + "/c"})
    # What needs the database is left to a check in the call's transaction.
    assert callable(authorize(tagged, "GetContact", {"ContactId": contact}))
    assert callable(authorize(OWNER, "GetContact", {"ContactId": other}))


def test_checks_run_with_the_calls_own_connection(runtime: Runtime) -> None:
    """A guard's check gets the connection of the call's transaction, and whether it writes,
    before the handler runs on that same connection; validation comes after the check."""
    seen: list[tuple[str, Any, bool]] = []

    def guard(_caller: Caller, _operation: str, _params: dict[str, Any]) -> Any:
        def check(conn: Connection, write: bool) -> None:
            assert conn.connection.driver_connection.in_transaction  # type: ignore[union-attr]
            seen.append(("check", conn, write))
        return check

    def recording(name: str) -> Operation:
        operation = OPERATIONS[name]

        def handler(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
            seen.append(("handler", ctx.conn, not operation.readonly))
            return operation.handler(ctx, params)
        return Operation(handler, operation.readonly, operation.cached)

    dispatcher = Dispatcher(runtime, guards=[guard], operations={
        name: recording(name) for name in ("CreateContact", "GetContact")})
    contact = _contact(dispatcher, "a")
    dispatcher.call(OWNER, "GetContact", {"ContactId": contact})
    assert [(what, write) for what, _conn, write in seen] == [
        ("check", True), ("handler", True), ("check", False), ("handler", False)]
    assert seen[0][1] is seen[1][1] and seen[2][1] is seen[3][1]


def test_a_refusal_still_comes_before_a_validation_error(runtime: Runtime) -> None:
    """Decided in the transaction, authorization still answers before the model's checks: a
    caller not allowed learns nothing of what else is wrong with its request."""
    dispatcher = _dispatcher(runtime)
    contact = _contact(dispatcher, "a")
    bad = {"ContactId": contact, "MaxResults": 1025}         # MaxResults is at most 1024
    assert _outcome(lambda: dispatcher.call(OTHER, "ListPagesByContact", bad)) \
        is AccessDeniedException
    _share(dispatcher, contact, "ListPagesByContact")
    assert _outcome(lambda: dispatcher.call(OTHER, "ListPagesByContact", bad)) \
        is ValidationException
    assert dispatcher.call(OTHER, "ListPagesByContact", {"ContactId": contact})["Pages"] == []


def test_shared_and_tagged_calls_are_decided_by_what_the_database_holds(
        runtime: Runtime) -> None:
    dispatcher = _dispatcher(runtime)
    contact = _contact(dispatcher, "a", {"team": "sre"})
    assert _outcome(lambda: dispatcher.call(OTHER, "GetContact", {"ContactId": contact})) \
        is AccessDeniedException
    _share(dispatcher, contact, "GetContact")
    assert dispatcher.call(OTHER, "GetContact", {"ContactId": contact})["Alias"] == "a"
    user = _user({"Effect": "Allow", "Action": "ssm-contacts:*", "Resource": "*",
                  "Condition": {"StringEquals": {"aws:ResourceTag/team": "sre"}}})
    assert dispatcher.call(user, "GetContact", {"ContactId": contact})["Alias"] == "a"
    dispatcher.call(user, "TagResource", {"ResourceARN": contact,
                                          "Tags": [{"Key": "team", "Value": "ops"}]})
    assert _outcome(lambda: dispatcher.call(user, "GetContact", {"ContactId": contact})) \
        is AccessDeniedException


def _request(operation: str, params: dict[str, Any]) -> tuple[str, str, dict[str, str], bytes]:
    return ("POST", "/", {"x-amz-target": PREFIX + operation,
                          "content-type": "application/x-amz-json-1.1"},
            orjson.dumps(params))


def test_a_read_authorized_in_its_transaction_is_never_answered_from_the_cache(
        runtime: Runtime, clock: ManualClock) -> None:
    """The read cache keeps answers while the database does not change; a decision that
    reads the database may still change with the clock (here a time condition beside the tag
    one). Such a read is decided, and answered, afresh each time."""
    user = _user({"Effect": "Allow", "Action": "ssm-contacts:*", "Resource": "*",
                  "Condition": {"StringEquals": {"aws:ResourceTag/team": "sre"},
                                "DateLessThan": {"aws:CurrentTime": "2030-03-17T18:00:00Z"}}})
    owner = _dispatcher(runtime)
    contact = _contact(owner, "a", {"team": "sre"})
    dispatcher = _dispatcher(runtime, authenticator=lambda *_: user,
                             read_cache=ReadCache(16))
    assert dispatcher.read_cache is not None
    get = _request("GetContact", {"ContactId": contact})
    for _ in range(2):
        answer = dispatcher.handle(*get)
        assert answer.status == 200, answer.body
    clock.advance(3600)         # past 18:00 (NOW is 17:46:40): nothing in the database moved
    answer = dispatcher.handle(*get)
    assert answer.status == 403 and b"AccessDeniedException" in answer.body


def test_on_sqlite_a_shared_read_is_answered_from_the_state_it_was_authorized_in(
        tmp_path: Path) -> None:
    """Two servers on one SQLite file. Just after the authorizer of one has read a contact's
    policy, the other renames the contact and revokes the share, each committed: the answer is
    the contact as it was when the share held (the decision's read began the call's read
    transaction, whose snapshot the handler reads), and the next call is refused."""
    key = base64.b64encode(os.urandom(32)).decode()
    database = f"sqlite:///{tmp_path / 'shared.db'}"
    reader_runtime, writer_runtime = (
        build_runtime(Settings(database=database, data_key=key, workers=False,
                               throttle_rate=0), ManualClock(NOW)) for _ in range(2))
    try:
        reader, writer = _dispatcher(reader_runtime), _dispatcher(writer_runtime)
        contact = _contact(writer, "a")
        writer.call(OWNER, "UpdateContact", {"ContactId": contact, "DisplayName": "before"})
        _share(writer, contact, "GetContact")
        fired: list[str] = []

        def after(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if "SELECT contacts.policy" in statement and not fired:
                fired.append(statement)
                writer.call(OWNER, "UpdateContact", {"ContactId": contact,
                                                     "DisplayName": "after"})
                writer.call(OWNER, "PutContactPolicy", {"ContactArn": contact, "Policy": json.dumps(
                    {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "999999999999"},
                                    "Action": "ssm-contacts:GetContact",
                                    "Resource": contact}]})})

        event.listen(reader_runtime.store.engine, "after_cursor_execute", after)
        held = reader.call(OTHER, "GetContact", {"ContactId": contact})
        assert fired
        assert held["DisplayName"] == "before"
        assert _outcome(lambda: reader.call(OTHER, "GetContact", {"ContactId": contact})) \
            is AccessDeniedException
        assert writer.call(OWNER, "GetContact", {"ContactId": contact})["DisplayName"] == "after"
    finally:
        reader_runtime.close()
        writer_runtime.close()
