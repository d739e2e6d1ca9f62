"""A write that fails changes nothing: "bad input gets a clear error and changes nothing", and
"no request, however malformed, gets a 500" (decisions §2).

Each scenario below sets a service up, then sends one write request that passes the model's
checks but fails later, in the handler: a plan naming a contact, channel or rotation that is
missing, deleted, of another account or another region; a quota passed by the Nth stage, tag
or activation code (tags counted after the merge); an address taken by another channel; an
idempotency token reused with other parameters; an override outside the times a shift can
take. The test checks that the error is the modeled one, with each of its members (Fields,
ResourceId, ResourceType, QuotaCode, ServiceCode, DependentEntities) and its status, and that
the database is unchanged row for row: every table before and after, and no message queued.
The one deliberate exception, ActivateContactChannel's wrong code, is counted and committed
(decisions §1), and must change that count and nothing else.

The scenarios run four ways: on a SQLite file through the in-process Dispatcher (every table
of a fresh database compared, with no background workers), and through the ``backend``
fixture: the in-process mock, a server on SQLite and a server on PostgreSQL. The servers are
shared by the session, so there the comparison keeps every row of the test's own account
(found by the account in its values, or by a foreign key to such a row) and the server-wide
tables, after waiting for the server's workers to be idle.

The file-only tests at the end send the same failures inside one group commit (each call a
savepoint), and random requests that pass the model's checks to every write operation.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
import orjson
import pytest
import sqlalchemy as sa
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.pool import NullPool

from incident_contacts import model
from incident_contacts.api.dispatch import Dispatcher
from incident_contacts.auth.sigv4 import verify
from incident_contacts.clock import ManualClock
from incident_contacts.config import Settings
from incident_contacts.delivery import RecordingTransport
from incident_contacts.delivery.base import CHANNEL_TYPES
from incident_contacts.engine import runner
from incident_contacts.engine.delivery import deliver_all_due
from incident_contacts.errors import IncompleteSignatureException
from incident_contacts.runtime import Runtime
from incident_contacts.server import build_dispatcher, build_runtime
from incident_contacts.service import outbox
from incident_contacts.store.db import normalise_url
from tests.auth.helpers import STORE, T0_EPOCH, sign
from tests.protocol.test_fuzz import _valid

REGION = "us-east-1"
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})
ERROR_STATUS = {
    "AccessDeniedException": 403, "ConflictException": 409, "IncompleteSignatureException": 400,
    "ResourceNotFoundException": 404, "ServiceQuotaExceededException": 402,
    "ValidationException": 400,
}
SERVER_WIDE = ("alembic_version", "server_secrets")
"""Tables of a shared server that belong to no account, compared whole."""

Rows = dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]]
"""A database's content: each table's column names and its rows, in a stable order."""


def new_account() -> str:
    return "".join(random.choice("0123456789") for _ in range(12))


# -- reading a database ----------------------------------------------------------------------


def read_tables(conn: sa.Connection) -> Rows:
    """Every row of every table (SQLite or PostgreSQL), sorted so that two reads of the same
    content compare equal whatever order the database returns rows in."""
    out: Rows = {}
    for name in sorted(sa.inspect(conn).get_table_names()):
        result = conn.execute(sa.text(f'SELECT * FROM "{name}"'))
        columns = tuple(result.keys())
        out[name] = (columns, sorted((tuple(row) for row in result), key=repr))
    return out


def of_account(conn: sa.Connection, rows: Rows, account: str) -> Rows:
    """The rows of one account: those with a value naming the account (its ``account``
    column, an ARN), those referring to such a row by a foreign key, and the server-wide
    tables."""
    inspector = sa.inspect(conn)
    references = {name: inspector.get_foreign_keys(name) for name in rows}
    mine: dict[str, set[int]] = {name: set() for name in rows}
    keys: dict[tuple[str, str], set[Any]] = {}
    changed = True
    while changed:
        changed = False
        for name, (columns, table_rows) in rows.items():
            for index, row in enumerate(table_rows):
                if index in mine[name]:
                    continue
                named = any(isinstance(value, str) and account in value for value in row)
                referring = any(
                    row[columns.index(column)] in keys.get((fk["referred_table"], target), ())
                    for fk in references[name]
                    for column, target in zip(fk["constrained_columns"],
                                              fk["referred_columns"], strict=True))
                if named or referring:
                    mine[name].add(index)
                    for position, column in enumerate(columns):
                        keys.setdefault((name, column), set()).add(row[position])
                    changed = True
    return {name: (columns, table_rows if name in SERVER_WIDE
                   else [row for i, row in enumerate(table_rows) if i in mine[name]])
            for name, (columns, table_rows) in rows.items()}


def differences(before: Rows, after: Rows) -> dict[str, dict[str, list[tuple[Any, ...]]]]:
    """Per table, the rows only before (``gone``) and only after (``new``)."""
    out = {}
    for name in sorted(set(before) | set(after)):
        old = before.get(name, ((), []))[1]
        now = after.get(name, ((), []))[1]
        if old != now:
            out[name] = {"gone": [r for r in old if r not in now],
                         "new": [r for r in now if r not in old]}
    return out


# -- the services --------------------------------------------------------------------------


class Service:
    """One way of running the service, as these tests need it: clients, the database's rows
    of the test's account, and the messages of that account."""

    kind: str
    account: str

    def client(self, account: str | None = None, region: str = REGION) -> Any:
        raise NotImplementedError

    def rows(self) -> Rows:
        raise NotImplementedError

    def all_messages(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def messages(self) -> list[dict[str, Any]]:
        return [m for m in self.all_messages() if f":{self.account}:" in m["ContactChannelArn"]]

    def state(self) -> Rows:
        """The rows once the background workers are idle: no change between two reads, and no
        message of the account waiting to be delivered."""
        deadline = time.monotonic() + 15
        last = self.rows()
        while True:
            if self.kind in ("file", "inprocess"):
                return last      # no background work: it ran before the call returned
            time.sleep(0.05)
            now = self.rows()
            columns, outbox_rows = now["outbox"]
            status = columns.index("status")
            if now == last and all(row[status] != "PENDING" for row in outbox_rows):
                return now
            assert time.monotonic() < deadline, "the server's workers never went idle"
            last = now


class BackendService(Service):
    """The ``backend`` fixture: the mock, or a server whose database is read beside it."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.kind = backend.kind
        self.account = backend.account
        self.engine: sa.Engine | None = None
        if backend.server is not None:
            args = backend.server.args
            url = normalise_url(args[args.index("--database") + 1])
            self.engine = sa.create_engine(url, poolclass=NullPool)

    def client(self, account: str | None = None, region: str = REGION) -> Any:
        return self.backend.client(region=region, account=account)

    def rows(self) -> Rows:
        if self.engine is None:
            with self.backend.mock.runtime.store.transaction(write=False) as conn:
                return read_tables(conn)      # a fresh in-memory database: all of it
        with self.engine.connect() as conn:
            return of_account(conn, read_tables(conn), self.account)

    def all_messages(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.backend.messages()
        return found

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()


class _Body:
    """A response body as botocore reads it."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_kwargs: Any) -> Iterator[bytes]:
        yield self.data


class FileService(Service):
    """A Dispatcher on a SQLite file, called in-process by boto3 clients (a ``before-send``
    handler), with the engine and delivery run before each call that woke them returns."""

    kind = "file"

    def __init__(self, path: Path, settings: Settings | None = None) -> None:
        base = settings or Settings(throttle_rate=0)
        self.runtime: Runtime = build_runtime(
            base.with_overrides(database=f"sqlite:///{path}"), ManualClock())
        self.dispatcher: Dispatcher = build_dispatcher(self.runtime)
        self.account = new_account()
        transport = RecordingTransport()
        transports = {kind: transport for kind in CHANNEL_TYPES}

        def run_due() -> None:
            runner.install()
            runner.run_all_due(self.runtime, "test")
            deliver_all_due(self.runtime, transports, "test")

        self.runtime.on_wake(run_due)

    def _respond(self, request: Any, **_kwargs: Any) -> AWSResponse:
        headers = {name.lower(): value.decode("latin-1") if isinstance(value, bytes) else value
                   for name, value in request.headers.items()}
        body = request.body or b""
        response = self.dispatcher.handle(
            "POST", "/", headers, body.encode() if isinstance(body, str) else body)
        return AWSResponse(request.url, response.status, dict(response.headers),
                           _Body(response.body))

    def client(self, account: str | None = None, region: str = REGION) -> Any:
        client = boto3.client("ssm-contacts", region_name=region,
                              endpoint_url="http://sqlite-file.invalid",
                              aws_access_key_id=account or self.account,
                              aws_secret_access_key="secret", config=NO_RETRIES)
        client.meta.events.register("before-send.ssm-contacts", self._respond)
        return client

    def rows(self) -> Rows:
        with self.runtime.store.transaction(write=False) as conn:
            return read_tables(conn)

    def all_messages(self) -> list[dict[str, Any]]:
        with self.runtime.store.transaction(write=False) as conn:
            return outbox.list_messages(conn, self.runtime)

    def close(self) -> None:
        self.runtime.close()


@pytest.fixture
def service(backend: Any) -> Iterator[Service]:
    made = BackendService(backend)
    yield made
    made.close()


@pytest.fixture
def file_service(tmp_path: Path) -> Iterator[FileService]:
    made = FileService(tmp_path / "contacts.db")
    yield made
    made.close()


# -- building what the scenarios fail against ------------------------------------------------


RECURRENCE = {"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
              "DailySettings": [{"HourOfDay": 9, "MinuteOfHour": 0}]}
MISSING_ROTATION = "rotation/00000000-0000-4000-8000-000000000000"


class World:
    """Resources of the test's account, made through the API."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.account = service.account
        self.client = service.client()

    def arn(self, path: str, *, account: str | None = None, region: str = REGION) -> str:
        return f"arn:aws:ssm-contacts:{region}:{account or self.account}:{path}"

    def personal(self, alias: str, **extra: Any) -> str:
        arn: str = self.client.create_contact(
            Alias=alias, Type="PERSONAL", Plan={"Stages": []}, **extra)["ContactArn"]
        return arn

    def escalation(self, alias: str, *targets: str) -> str:
        arn: str = self.client.create_contact(Alias=alias, Type="ESCALATION", Plan={
            "Stages": [stage(*targets)] if targets else []})["ContactArn"]
        return arn

    def channel(self, contact: str, address: str = "+15005550100", kind: str = "SMS",
                name: str = "phone", *, send: bool = False) -> str:
        arn: str = self.client.create_contact_channel(
            ContactId=contact, Name=name, Type=kind, DeliveryAddress={"SimpleAddress": address},
            DeferActivation=not send)["ContactChannelArn"]
        return arn

    def code_of(self, channel: str) -> str:
        """The newest activation code sent to a channel."""
        codes = [m["ActivationCode"] for m in self.service.messages()
                 if m["ContactChannelArn"] == channel and m["Purpose"] == "ACTIVATION"]
        assert codes, f"no code was sent to {channel}"
        code: str = codes[-1]
        return code

    def rotation(self, *members: str, **extra: Any) -> str:
        arn: str = self.client.create_rotation(
            Name="rota", ContactIds=list(members), TimeZoneId="UTC", Recurrence=RECURRENCE,
            **extra)["RotationArn"]
        return arn

    def page(self) -> tuple[str, str, str]:
        """A page sent to an activated channel: (page ARN, its channel, its accept code)."""
        contact = self.personal("paged")
        channel = self.channel(contact, send=True)
        self.client.activate_contact_channel(ContactChannelId=channel,
                                             ActivationCode=self.code_of(channel))
        self.client.update_contact(ContactId=contact, Plan={"Stages": [{
            "DurationInMinutes": 5, "Targets": [{"ChannelTargetInfo": {
                "ContactChannelId": channel}}]}]})
        self.client.start_engagement(ContactId=contact, Sender="ops", Subject="disk",
                                     Content="full")
        deadline = time.monotonic() + 15
        while True:
            sent = [m for m in self.service.messages()
                    if m["Purpose"] == "PAGE" and m["DeliveryStatus"] == "SENT"
                    and m["ContactChannelArn"] == channel]
            if sent:
                return sent[0]["PageArn"], channel, sent[0]["AcceptCode"]
            assert time.monotonic() < deadline, "the page was never sent"
            time.sleep(0.05)


def stage(*contacts: str, minutes: int = 5) -> dict[str, Any]:
    return {"DurationInMinutes": minutes, "Targets": [
        {"ContactTargetInfo": {"ContactId": c, "IsEssential": False}} for c in contacts]}


def channel_stage(*channels: str) -> dict[str, Any]:
    return {"DurationInMinutes": 5, "Targets": [
        {"ChannelTargetInfo": {"ContactChannelId": c}} for c in channels]}


def tags(count: int, prefix: str = "k", value: str = "v") -> list[dict[str, str]]:
    return [{"Key": f"{prefix}{n}", "Value": value} for n in range(count)]


# -- the scenarios ---------------------------------------------------------------------------


@dataclass
class Failure:
    """The failing call, and what its error must carry: the code, the members given here
    exactly, and for a ValidationException the names of its ``Fields``."""

    call: Callable[[], Any]
    code: str
    members: dict[str, Any] = field(default_factory=dict)
    fields: list[str] | None = None
    message: str = ""          # how the message begins
    counted: bool = False      # ActivateContactChannel: the wrong try is kept


SCENARIOS: dict[str, Callable[[World], Failure]] = {}


def scenario(arrange: Callable[[World], Failure]) -> Callable[[World], Failure]:
    SCENARIOS[arrange.__name__] = arrange
    return arrange


def not_found(given: str, resource_type: str) -> dict[str, Any]:
    return {"ResourceId": given, "ResourceType": resource_type}


# CreateContact


@scenario
def create_contact_second_stage_names_a_missing_contact(w: World) -> Failure:
    first, missing = w.personal("first"), w.arn("contact/gone")
    return Failure(lambda: w.client.create_contact(
        Alias="esc", Type="ESCALATION", Plan={"Stages": [stage(first), stage(missing)]},
        Tags=tags(3), IdempotencyToken="create-esc"),
        "ValidationException", fields=["Plan.Stages[1].Targets[0].ContactTargetInfo.ContactId"])


@scenario
def create_contact_names_a_deleted_contact(w: World) -> Failure:
    gone = w.personal("gone")
    w.client.delete_contact(ContactId=gone)
    return Failure(lambda: w.client.create_contact(
        Alias="esc", Type="ESCALATION", Plan={"Stages": [stage(gone)]}),
        "ValidationException", fields=["Plan.Stages[0].Targets[0].ContactTargetInfo.ContactId"])


@scenario
def create_schedule_second_rotation_missing(w: World) -> Failure:
    rotation = w.rotation(w.personal("akua"))
    return Failure(lambda: w.client.create_contact(
        Alias="oncall", Type="ONCALL_SCHEDULE",
        Plan={"RotationIds": [rotation, w.arn(MISSING_ROTATION)]}),
        "ValidationException", fields=["Plan.RotationIds[1]"])


@scenario
def create_schedule_rotation_arn_of_another_region(w: World) -> Failure:
    rotation = w.rotation(w.personal("akua"))
    elsewhere = rotation.replace(f":{REGION}:", ":eu-west-1:")
    return Failure(lambda: w.client.create_contact(
        Alias="oncall", Type="ONCALL_SCHEDULE", Plan={"RotationIds": [elsewhere]}),
        "ValidationException", fields=["Plan.RotationIds[0]"])


@scenario
def create_schedule_rotation_arn_of_another_account(w: World) -> Failure:
    rotation = w.rotation(w.personal("akua"))
    theirs = rotation.replace(f":{w.account}:", f":{new_account()}:")
    return Failure(lambda: w.client.create_contact(
        Alias="oncall", Type="ONCALL_SCHEDULE", Plan={"RotationIds": [theirs]}),
        "ValidationException", fields=["Plan.RotationIds[0]"])


@scenario
def create_contact_alias_taken(w: World) -> Failure:
    w.personal("akua", DisplayName="Akua")
    # With a token, the dispatcher runs a conflict a second time (a lost race, PostgreSQL):
    # neither run may leave the token remembered.
    return Failure(lambda: w.client.create_contact(
        Alias="akua", Type="PERSONAL", Plan={"Stages": []}, DisplayName="Other",
        Tags=tags(2), IdempotencyToken="fresh-token"),
        "ConflictException", not_found("akua", "CONTACT"))


@scenario
def create_contact_plan_names_another_contacts_channel(w: World) -> Failure:
    theirs = w.channel(w.personal("akua"))
    return Failure(lambda: w.client.create_contact(
        Alias="bongani", Type="PERSONAL", Plan={"Stages": [channel_stage(theirs)]}),
        "ValidationException",
        fields=["Plan.Stages[0].Targets[0].ChannelTargetInfo.ContactChannelId"])


@scenario
def create_contact_token_reused_with_other_parameters(w: World) -> Failure:
    w.client.create_contact(Alias="first", Type="PERSONAL", Plan={"Stages": []},
                            IdempotencyToken="same-token")
    return Failure(lambda: w.client.create_contact(
        Alias="second", Type="PERSONAL", Plan={"Stages": []}, IdempotencyToken="same-token"),
        "ValidationException", fields=["IdempotencyToken"])


# UpdateContact and DeleteContact


@scenario
def update_contact_plan_names_a_deleted_channel(w: World) -> Failure:
    contact = w.personal("akua", DisplayName="Akua")
    kept = w.channel(contact, "+15005550100")
    gone = w.channel(contact, "+15005550101")
    w.client.update_contact(ContactId=contact, Plan={"Stages": [channel_stage(kept)]})
    w.client.delete_contact_channel(ContactChannelId=gone)
    return Failure(lambda: w.client.update_contact(
        ContactId=contact, DisplayName="Renamed", Plan={"Stages": [channel_stage(kept, gone)]}),
        "ResourceNotFoundException", not_found(gone, "CONTACT_CHANNEL"))


@scenario
def update_contact_plan_names_its_channel_under_another_alias(w: World) -> Failure:
    contact = w.personal("akua")
    mine = w.channel(contact)
    w.personal("bongani")
    misnamed = mine.replace("contact-channel/akua/", "contact-channel/bongani/")
    return Failure(lambda: w.client.update_contact(
        ContactId=contact, Plan={"Stages": [channel_stage(misnamed)]}),
        "ResourceNotFoundException", not_found(misnamed, "CONTACT_CHANNEL"))


@scenario
def update_schedule_names_a_deleted_rotation(w: World) -> Failure:
    person = w.personal("akua")
    kept, gone = w.rotation(person), w.rotation(person)
    schedule = w.client.create_contact(Alias="oncall", Type="ONCALL_SCHEDULE",
                                       Plan={"RotationIds": [kept]})["ContactArn"]
    w.client.delete_rotation(RotationId=gone)
    return Failure(lambda: w.client.update_contact(
        ContactId=schedule, DisplayName="On call", Plan={"RotationIds": [kept, gone]}),
        "ResourceNotFoundException", not_found(gone, "ROTATION"))


@scenario
def update_contact_past_the_stages_quota(w: World) -> Failure:
    person = w.personal("akua")
    contact = w.escalation("esc", person)
    plan = {"Stages": [stage(person, minutes=1) for _ in range(101)]}
    return Failure(lambda: w.client.update_contact(ContactId=contact, Plan=plan),
                   "ServiceQuotaExceededException",
                   {"QuotaCode": "L-5AE11799", "ServiceCode": "ssm-contacts",
                    "ResourceId": contact, "ResourceType": "CONTACT"})


@scenario
def update_contact_of_another_account(w: World) -> Failure:
    other = new_account()
    theirs = w.service.client(account=other).create_contact(
        Alias="akua", Type="PERSONAL", Plan={"Stages": []})["ContactArn"]
    return Failure(lambda: w.client.update_contact(ContactId=theirs, DisplayName="Mine now"),
                   "AccessDeniedException", message=(
                       f"User: arn:aws:iam::{w.account}:root is not authorized to perform: "
                       f"ssm-contacts:UpdateContact on resource: {theirs}"))


@scenario
def delete_contact_member_of_a_rotation(w: World) -> Failure:
    person = w.personal("akua", Tags=tags(2))
    w.channel(person)
    rotation = w.rotation(person)
    return Failure(lambda: w.client.delete_contact(ContactId=person), "ConflictException", {
        "ResourceId": person, "ResourceType": "CONTACT", "DependentEntities": [
            {"RelationType": "ROTATION_MEMBER", "DependentResourceIds": [rotation]}]})


# Contact channels and activation


@scenario
def create_channel_address_taken(w: World) -> Failure:
    contact = w.personal("akua")
    first = w.channel(contact, send=True)
    return Failure(lambda: w.client.create_contact_channel(
        ContactId=contact, Name="again", Type="SMS",
        DeliveryAddress={"SimpleAddress": "+15005550100"}),
        "ConflictException", not_found(first, "CONTACT_CHANNEL"))


@scenario
def create_channel_on_an_escalation_plan(w: World) -> Failure:
    contact = w.escalation("esc")
    return Failure(lambda: w.channel(contact, send=True), "ValidationException",
                   fields=["ContactId"])


@scenario
def create_channel_on_a_deleted_contact(w: World) -> Failure:
    contact = w.personal("akua")
    w.client.delete_contact(ContactId=contact)
    return Failure(lambda: w.channel(contact, send=True), "ValidationException",
                   fields=["ContactId"])


@scenario
def create_channel_token_reused_with_other_parameters(w: World) -> Failure:
    contact = w.personal("akua")
    w.client.create_contact_channel(ContactId=contact, Name="phone", Type="SMS",
                                    DeliveryAddress={"SimpleAddress": "+15005550100"},
                                    IdempotencyToken="same-token")
    return Failure(lambda: w.client.create_contact_channel(
        ContactId=contact, Name="phone", Type="SMS",
        DeliveryAddress={"SimpleAddress": "+15005550101"}, IdempotencyToken="same-token"),
        "ValidationException", fields=["IdempotencyToken"])


@scenario
def create_channel_email_with_a_control_character(w: World) -> Failure:
    contact = w.personal("akua")
    return Failure(lambda: w.channel(contact, "akua\x00@example.com", "EMAIL", send=True),
                   "ValidationException", fields=["DeliveryAddress.SimpleAddress"])


@scenario
def update_channel_to_an_address_taken(w: World) -> Failure:
    contact = w.personal("akua")
    taken = w.channel(contact, "+15005550100", send=True)
    moving = w.channel(contact, "+15005550101", name="second", send=True)
    return Failure(lambda: w.client.update_contact_channel(
        ContactChannelId=moving, Name="renamed",
        DeliveryAddress={"SimpleAddress": "+15005550100"}),
        "ConflictException", not_found(taken, "CONTACT_CHANNEL"))


@scenario
def update_channel_address_of_the_wrong_kind(w: World) -> Failure:
    phone = w.channel(w.personal("akua"))
    return Failure(lambda: w.client.update_contact_channel(
        ContactChannelId=phone, Name="renamed", DeliveryAddress={"SimpleAddress": "a@b.example"}),
        "ValidationException", fields=["DeliveryAddress.SimpleAddress"])


@scenario
def send_activation_code_past_the_hourly_quota(w: World) -> Failure:
    phone = w.channel(w.personal("akua"), send=True)      # the first code
    for _ in range(4):
        w.client.send_activation_code(ContactChannelId=phone)
    return Failure(lambda: w.client.send_activation_code(ContactChannelId=phone),
                   "ServiceQuotaExceededException", {
                       "QuotaCode": "activation-codes-per-channel-per-hour",
                       "ServiceCode": "ssm-contacts", "ResourceId": phone,
                       "ResourceType": "CONTACT_CHANNEL"})


@scenario
def activate_with_a_wrong_code(w: World) -> Failure:
    phone = w.channel(w.personal("akua"), send=True)
    wrong = "000000" if w.code_of(phone) != "000000" else "111111"
    return Failure(lambda: w.client.activate_contact_channel(
        ContactChannelId=phone, ActivationCode=wrong),
        "ValidationException", fields=["ActivationCode"], counted=True)


@scenario
def deactivate_a_channel_named_in_another_region(w: World) -> Failure:
    phone = w.channel(w.personal("akua"), send=True)
    elsewhere = phone.replace(f":{REGION}:", ":eu-west-1:")
    return Failure(lambda: w.client.deactivate_contact_channel(ContactChannelId=elsewhere),
                   "ResourceNotFoundException", not_found(elsewhere, "CONTACT_CHANNEL"))


@scenario
def delete_a_deleted_channel(w: World) -> Failure:
    contact = w.personal("akua")
    gone = w.channel(contact)
    w.channel(contact, "+15005550101")
    w.client.delete_contact_channel(ContactChannelId=gone)
    return Failure(lambda: w.client.delete_contact_channel(ContactChannelId=gone),
                   "ResourceNotFoundException", not_found(gone, "CONTACT_CHANNEL"))


# Rotations and overrides


@scenario
def create_rotation_second_member_missing(w: World) -> Failure:
    person = w.personal("akua")
    missing = w.arn("contact/gone")
    return Failure(lambda: w.rotation(person, missing, Tags=tags(2),
                                      IdempotencyToken="rota-token"),
                   "ResourceNotFoundException", not_found(missing, "CONTACT"))


@scenario
def create_rotation_member_of_another_account(w: World) -> Failure:
    person = w.personal("akua")
    theirs = w.arn("contact/akua", account=new_account())
    return Failure(lambda: w.rotation(person, theirs), "ValidationException",
                   fields=["ContactIds[1]"])


@scenario
def create_rotation_escalation_member(w: World) -> Failure:
    person = w.personal("akua")
    plan = w.escalation("esc", person)
    return Failure(lambda: w.rotation(person, plan), "ValidationException",
                   fields=["ContactIds[1]"])


@scenario
def create_rotation_token_reused_with_other_parameters(w: World) -> Failure:
    first, second = w.personal("akua"), w.personal("bongani")
    w.rotation(first, IdempotencyToken="same-token")
    return Failure(lambda: w.rotation(second, IdempotencyToken="same-token"),
                   "ValidationException", fields=["IdempotencyToken"])


@scenario
def update_rotation_new_member_missing(w: World) -> Failure:
    first, second = w.personal("akua"), w.personal("bongani")
    rotation = w.rotation(first, second)
    missing = w.arn("contact/gone")
    return Failure(lambda: w.client.update_rotation(
        RotationId=rotation, ContactIds=[second, missing], TimeZoneId="Europe/Paris",
        StartTime=1_900_000_000, Recurrence=RECURRENCE),
        "ResourceNotFoundException", not_found(missing, "CONTACT"))


@scenario
def update_rotation_unknown_zone(w: World) -> Failure:
    first, second = w.personal("akua"), w.personal("bongani")
    rotation = w.rotation(first, second)
    return Failure(lambda: w.client.update_rotation(
        RotationId=rotation, ContactIds=[second], TimeZoneId="Mars/Olympus_Mons",
        Recurrence=RECURRENCE), "ValidationException", fields=["TimeZoneId"])


@scenario
def delete_a_deleted_rotation(w: World) -> Failure:
    rotation = w.rotation(w.personal("akua"))
    w.client.delete_rotation(RotationId=rotation)
    return Failure(lambda: w.client.delete_rotation(RotationId=rotation),
                   "ResourceNotFoundException", not_found(rotation, "ROTATION"))


@scenario
def override_names_a_contact_not_a_member(w: World) -> Failure:
    member, outsider = w.personal("akua"), w.personal("bongani")
    rotation = w.rotation(member)
    return Failure(lambda: w.client.create_rotation_override(
        RotationId=rotation, NewContactIds=[member, outsider], StartTime=2_000_000_000,
        EndTime=2_000_086_400), "ValidationException", fields=["NewContactIds[1]"])


@scenario
def override_ends_before_it_starts(w: World) -> Failure:
    member = w.personal("akua")
    rotation = w.rotation(member)
    return Failure(lambda: w.client.create_rotation_override(
        RotationId=rotation, NewContactIds=[member], StartTime=2_000_086_400,
        EndTime=2_000_000_000), "ValidationException", fields=["EndTime"])


@scenario
def override_starts_after_the_year_9000(w: World) -> Failure:
    member = w.personal("akua")
    rotation = w.rotation(member)
    year_9500 = 237_649_968_000
    return Failure(lambda: w.client.create_rotation_override(
        RotationId=rotation, NewContactIds=[member], StartTime=year_9500,
        EndTime=year_9500 + 86_400), "ValidationException", fields=["StartTime"])


@scenario
def override_of_a_deleted_rotation(w: World) -> Failure:
    member = w.personal("akua")
    rotation = w.rotation(member)
    w.client.delete_rotation(RotationId=rotation)
    return Failure(lambda: w.client.create_rotation_override(
        RotationId=rotation, NewContactIds=[member], StartTime=2_000_000_000,
        EndTime=2_000_086_400), "ResourceNotFoundException", not_found(rotation, "ROTATION"))


@scenario
def delete_an_unknown_override(w: World) -> Failure:
    member = w.personal("akua")
    rotation = w.rotation(member)
    w.client.create_rotation_override(RotationId=rotation, NewContactIds=[member],
                                      StartTime=2_000_000_000, EndTime=2_000_086_400)
    unknown = "00000000-0000-4000-8000-000000000000"
    return Failure(lambda: w.client.delete_rotation_override(
        RotationId=rotation, RotationOverrideId=unknown),
        "ResourceNotFoundException", not_found(unknown, "ROTATION_OVERRIDE"))


# Contact policies and tags


POLICY = orjson.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": "222233334444"},
    "Action": "ssm-contacts:GetContact", "Resource": "*"}]}).decode()


@scenario
def put_a_policy_that_is_not_one(w: World) -> Failure:
    contact = w.personal("akua")
    w.client.put_contact_policy(ContactArn=contact, Policy=POLICY)
    return Failure(lambda: w.client.put_contact_policy(
        ContactArn=contact, Policy='{"Statement": [{"Effect": "Maybe"}]}'),
        "ValidationException", fields=["Policy"])


@scenario
def put_a_policy_on_a_deleted_contact(w: World) -> Failure:
    contact = w.personal("akua")
    w.client.delete_contact(ContactId=contact)
    return Failure(lambda: w.client.put_contact_policy(ContactArn=contact, Policy=POLICY),
                   "ResourceNotFoundException", not_found(contact, "CONTACT"))


@scenario
def tag_a_contact_past_fifty_after_the_merge(w: World) -> Failure:
    contact = w.personal("akua", Tags=tags(45))
    # Three keys it has (new values) and six new ones: 51 after the merge.
    wanted = tags(3, value="changed") + tags(6, prefix="new")
    return Failure(lambda: w.client.tag_resource(ResourceARN=contact, Tags=wanted),
                   "ServiceQuotaExceededException", {
                       "QuotaCode": "ssm-contacts-tags-per-resource",
                       "ServiceCode": "ssm-contacts", "ResourceId": contact,
                       "ResourceType": "CONTACT"})


@scenario
def tag_a_rotation_past_fifty(w: World) -> Failure:
    rotation = w.rotation(w.personal("akua"), Tags=tags(50))
    return Failure(lambda: w.client.tag_resource(
        ResourceARN=rotation, Tags=[{"Key": "k0", "Value": "changed"},
                                    {"Key": "one-more", "Value": "v"}]),
        "ServiceQuotaExceededException", {
            "QuotaCode": "ssm-contacts-tags-per-resource", "ServiceCode": "ssm-contacts",
            "ResourceId": rotation, "ResourceType": "ROTATION"})


@scenario
def tag_a_channel(w: World) -> Failure:
    phone = w.channel(w.personal("akua"))
    return Failure(lambda: w.client.tag_resource(ResourceARN=phone, Tags=tags(1)),
                   "ValidationException", fields=["ResourceARN"])


@scenario
def tag_a_contact_named_in_another_region(w: World) -> Failure:
    contact = w.personal("akua")
    elsewhere = contact.replace(f":{REGION}:", ":eu-west-1:")
    return Failure(lambda: w.client.tag_resource(ResourceARN=elsewhere, Tags=tags(1)),
                   "ResourceNotFoundException", not_found(elsewhere, "CONTACT"))


@scenario
def tag_a_deleted_rotation(w: World) -> Failure:
    rotation = w.rotation(w.personal("akua"), Tags=tags(1))
    w.client.delete_rotation(RotationId=rotation)
    return Failure(lambda: w.client.tag_resource(ResourceARN=rotation, Tags=tags(2)),
                   "ResourceNotFoundException", not_found(rotation, "ROTATION"))


@scenario
def tag_an_arn_holding_a_nul(w: World) -> Failure:
    # ResourceARN is the one ARN member without a pattern in the model: on PostgreSQL the NUL
    # reached a query, which refused it (a 500).
    w.personal("akua")
    broken = w.arn("contact/ak\x00ua")
    return Failure(lambda: w.client.tag_resource(ResourceARN=broken, Tags=tags(1)),
                   "ValidationException", fields=["ResourceARN"])


@scenario
def untag_a_deleted_contact(w: World) -> Failure:
    contact = w.personal("akua", Tags=tags(2))
    w.client.delete_contact(ContactId=contact)
    return Failure(lambda: w.client.untag_resource(ResourceARN=contact, TagKeys=["k0"]),
                   "ResourceNotFoundException", not_found(contact, "CONTACT"))


# Engagements and pages


@scenario
def engage_a_deleted_contact(w: World) -> Failure:
    contact = w.personal("akua")
    w.client.delete_contact(ContactId=contact)
    return Failure(lambda: w.client.start_engagement(
        ContactId=contact, Sender="ops", Subject="s", Content="c"),
        "ResourceNotFoundException", not_found(contact, "CONTACT"))


@scenario
def engage_with_a_token_reused_with_other_parameters(w: World) -> Failure:
    contact = w.personal("akua")
    w.client.start_engagement(ContactId=contact, Sender="ops", Subject="s", Content="c",
                              IdempotencyToken="same-token")
    return Failure(lambda: w.client.start_engagement(
        ContactId=contact, Sender="ops", Subject="other", Content="c",
        IdempotencyToken="same-token"), "ValidationException", fields=["IdempotencyToken"])


@scenario
def engage_a_contact_of_another_account(w: World) -> Failure:
    theirs = w.service.client(account=new_account()).create_contact(
        Alias="akua", Type="PERSONAL", Plan={"Stages": []})["ContactArn"]
    return Failure(lambda: w.client.start_engagement(
        ContactId=theirs, Sender="ops", Subject="s", Content="c"),
        "AccessDeniedException", message=(
            f"User: arn:aws:iam::{w.account}:root is not authorized to perform: "
            f"ssm-contacts:StartEngagement on resource: {theirs}"))


@scenario
def engage_a_nul_arn_of_another_account(w: World) -> Failure:
    # Authorization runs before validation: the policy of a contact of another account was
    # looked up with the NUL in the query (a 500 on PostgreSQL).
    theirs = w.arn("contact/ak\x00ua", account=new_account())
    return Failure(lambda: w.client.start_engagement(
        ContactId=theirs, Sender="ops", Subject="s", Content="c"), "AccessDeniedException")


@scenario
def stop_an_unknown_engagement(w: World) -> Failure:
    unknown = w.arn("engagement/akua/00000000-0000-4000-8000-000000000000")
    w.personal("akua")
    return Failure(lambda: w.client.stop_engagement(EngagementId=unknown, Reason="done"),
                   "ResourceNotFoundException", not_found(unknown, "ENGAGEMENT"))


@scenario
def accept_a_page_with_a_wrong_enforced_code(w: World) -> Failure:
    page, _channel, code = w.page()
    wrong = "0" * 6 if code != "0" * 6 else "1" * 6
    return Failure(lambda: w.client.accept_page(
        PageId=page, AcceptType="READ", AcceptCode=wrong, AcceptCodeValidation="ENFORCE",
        Note="on it"), "ValidationException", fields=["AcceptCode"])


@scenario
def accept_a_page_naming_its_channel_in_another_account(w: World) -> Failure:
    page, channel, code = w.page()
    theirs = channel.replace(f":{w.account}:", f":{new_account()}:")
    return Failure(lambda: w.client.accept_page(
        PageId=page, AcceptType="DELIVERED", AcceptCode=code, ContactChannelId=theirs),
        "ValidationException", fields=["ContactChannelId"])


@scenario
def accept_an_unknown_page(w: World) -> Failure:
    unknown = w.arn("page/akua/00000000-0000-4000-8000-000000000000")
    w.personal("akua")
    return Failure(lambda: w.client.accept_page(
        PageId=unknown, AcceptType="READ", AcceptCode="123456"),
        "ResourceNotFoundException", not_found(unknown, "PAGE"))


# The caller's region


@scenario
def create_a_contact_in_a_region_too_long_to_keep(w: World) -> Failure:
    # 40 characters: botocore takes it; the tables keep 32 (a 500 on PostgreSQL).
    client = w.service.client(region="a" * 40)
    return Failure(lambda: client.create_contact(Alias="akua", Type="PERSONAL",
                                                 Plan={"Stages": []}),
                   "IncompleteSignatureException")


@scenario
def create_a_contact_in_a_region_spelled_in_capitals(w: World) -> Failure:
    # Its ARNs would name a region no AWS region is: accepted, they were kept.
    client = w.service.client(region="US-EAST-1")
    return Failure(lambda: client.create_contact(Alias="akua", Type="PERSONAL",
                                                 Plan={"Stages": []}),
                   "IncompleteSignatureException")


WRITE_OPERATIONS = sorted(name for name in model.operation_names()
                          if not name.startswith(("Get", "List", "Describe")))


def test_every_write_operation_has_a_failing_scenario() -> None:
    # Scenarios are named after what they do; this says which names are whose.
    failing = {
        "AcceptPage": "accept", "ActivateContactChannel": "activate",
        "CreateContact": "create_contact", "CreateContactChannel": "create_channel",
        "CreateRotation": "create_rotation", "CreateRotationOverride": "override",
        "DeactivateContactChannel": "deactivate", "DeleteContact": "delete_contact",
        "DeleteContactChannel": "delete_a_deleted_channel",
        "DeleteRotation": "delete_a_deleted_rotation",
        "DeleteRotationOverride": "delete_an_unknown_override", "PutContactPolicy": "put_a",
        "SendActivationCode": "send_activation_code", "StartEngagement": "engage",
        "StopEngagement": "stop", "TagResource": "tag_", "UntagResource": "untag",
        "UpdateContact": "update_contact", "UpdateContactChannel": "update_channel",
        "UpdateRotation": "update_rotation",
    }
    assert sorted(failing) == WRITE_OPERATIONS
    for operation, prefix in failing.items():
        assert any(name.startswith(prefix) for name in SCENARIOS), operation


# -- the checks ------------------------------------------------------------------------------


def check_error(response: Mapping[str, Any], failure: Failure) -> None:
    """The modeled error, its status and header, and every member expected."""
    error = response["Error"]
    status = response["ResponseMetadata"]["HTTPStatusCode"]
    assert error["Code"] == failure.code, response
    assert status == ERROR_STATUS[failure.code], response
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == failure.code
    assert error["Message"], response
    assert error["Message"].startswith(failure.message), response
    for name, value in failure.members.items():
        assert response.get(name) == value, (name, response)
    if failure.code == "ValidationException":
        assert response["Reason"] == "FIELD_VALIDATION_FAILED", response
        assert [f["Name"] for f in response["Fields"]] == failure.fields, response
        assert all(f["Message"] for f in response["Fields"]), response
    if failure.code in ("ResourceNotFoundException", "ConflictException"):
        assert {"ResourceId", "ResourceType"} <= set(response), response
    if failure.code == "ServiceQuotaExceededException":
        assert {"QuotaCode", "ServiceCode"} <= set(response), response


def check_counted_try(before: Rows, after: Rows) -> None:
    """ActivateContactChannel's wrong code: one more failed attempt on the current code, and
    nothing else (decisions §1)."""
    changed = differences(before, after)
    assert list(changed) == ["activation_codes"], changed
    columns = before["activation_codes"][0]
    (old,), (new,) = changed["activation_codes"]["gone"], changed["activation_codes"]["new"]
    attempts = columns.index("failed_attempts")
    assert new[attempts] == old[attempts] + 1
    assert new[:attempts] + new[attempts + 1:] == old[:attempts] + old[attempts + 1:]


def fails_and_changes_nothing(service: Service, arrange: Callable[[World], Failure]) -> None:
    failure = arrange(World(service))
    before, sent = service.state(), service.messages()
    with pytest.raises(ClientError) as info:
        failure.call()
    check_error(info.value.response, failure)
    after = service.state()
    if failure.counted:
        check_counted_try(before, after)
    else:
        assert after == before, differences(before, after)
    assert service.messages() == sent


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_a_failed_write_changes_nothing(service: Service, name: str) -> None:
    fails_and_changes_nothing(service, SCENARIOS[name])


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_a_failed_write_changes_nothing_in_a_sqlite_file(file_service: FileService,
                                                         name: str) -> None:
    fails_and_changes_nothing(file_service, SCENARIOS[name])


ACCOUNT_TABLES = {
    "contacts", "channels", "tags", "idempotency", "activation_codes", "outbox",
    "delivery_attempts",
    "rotations", "rotation_members", "rotation_overrides", "override_members",
    "engagements", "engagement_tracks", "engagement_events", "engine_timers", "pages",
    "page_receipts",
}


def test_the_comparison_sees_every_table_an_account_writes(service: Service) -> None:
    """The check above cannot pass by looking away: writes of the test's account show in
    every table they touch, on a shared server too (found through their foreign keys)."""
    w = World(service)
    before = service.state()
    person = w.personal("akua", Tags=tags(1), IdempotencyToken="token")
    rotation = w.rotation(person)
    w.client.create_rotation_override(RotationId=rotation, NewContactIds=[person],
                                      StartTime=2_000_000_000, EndTime=2_000_086_400)
    w.page()
    plan = w.escalation("esc", person)
    w.client.update_contact(ContactId=plan, Plan={"Stages": [stage(person), stage(person)]})
    w.client.start_engagement(ContactId=plan, Sender="ops", Subject="s", Content="c")
    stopped = w.client.start_engagement(ContactId=person, Sender="ops", Subject="s",
                                        Content="c")["EngagementArn"]
    w.client.stop_engagement(EngagementId=stopped)
    after = service.state()
    changed = differences(before, after)
    assert set(changed) >= ACCOUNT_TABLES, sorted(ACCOUNT_TABLES - set(changed))
    # Every table but the server's own, the console's sessions and sign-in limits, and the
    # maintenance done.
    assert set(after) - set(SERVER_WIDE) - {"console_sessions", "console_sign_in_limits",
                                            "maintenance_done"} == ACCOUNT_TABLES


def test_inspection_of_an_arn_holding_a_nul(backend: Any) -> None:
    """The development endpoints take any text: one no ARN is spelled like names nothing (on
    PostgreSQL it reached a query, which refused it: a 500)."""
    channel = f"arn:aws:ssm-contacts:{REGION}:{backend.account}:contact-channel/a/b\x00c"
    engagement = f"arn:aws:ssm-contacts:{REGION}:{backend.account}:engagement/a/b\x00c"
    assert backend.messages(channel) == []
    if backend.server is None:
        assert backend.mock.engagement_events(EngagementArn=engagement) == []
        return
    answer = httpx.get(f"{backend.server.url}/_aws/ssm-contacts/engagements/events",
                       params={"EngagementArn": engagement}, timeout=10)
    assert answer.status_code == 404, answer.text
    # No engagement named at all is a mistake in the request, not an engagement not found.
    answer = httpx.get(f"{backend.server.url}/_aws/ssm-contacts/engagements/events", timeout=10)
    assert answer.status_code == 400 and "EngagementArn is required" in answer.text, answer.text


@pytest.mark.parametrize("region", ["a" * 33, "a" * 64])
def test_a_signed_region_too_long_to_keep_is_refused(region: str) -> None:
    """The SigV4 mode refuses what the development mode refuses: a region the tables cannot
    keep (up to 64 characters were taken, and the write was a 500 on PostgreSQL)."""
    body = b'{"Alias": "akua", "Type": "PERSONAL", "Plan": {"Stages": []}}'
    headers = sign(body, region=region)
    with pytest.raises(IncompleteSignatureException, match="scoped to a valid region"):
        verify("POST", "/", headers, body, T0_EPOCH, STORE)
    assert verify("POST", "/", sign(body, region="a" * 32), body, T0_EPOCH, STORE).region \
        == "a" * 32


# -- the SQLite file alone -------------------------------------------------------------------


def _request(service: FileService, operation: str, params: dict[str, Any],
             account: str | None = None) -> tuple[str, str, dict[str, str], bytes]:
    headers = {
        "x-amz-target": f"{model.target_prefix()}.{operation}",
        "content-type": "application/x-amz-json-1.1",
        "authorization": (f"AWS4-HMAC-SHA256 Credential={account or service.account}/20260101/"
                          f"{REGION}/ssm-contacts/aws4_request, SignedHeaders=host, "
                          f"Signature={'0' * 64}"),
    }
    return "POST", "/", headers, orjson.dumps(params)


def test_failures_inside_a_group_commit_keep_the_others(file_service: FileService) -> None:
    """Group commit (server, SQLite file): each call of a group is a savepoint. The failed
    ones, wherever they come, leave nothing; the others commit, as does the counted try."""
    w = World(file_service)
    person = w.personal("akua", Tags=tags(48))
    phone = w.channel(person, send=True)
    wrong = "000000" if w.code_of(phone) != "000000" else "111111"
    arn = w.arn("contact/bongani")
    before = file_service.state()
    calls = [
        ("CreateContact", {"Alias": "akua", "Type": "PERSONAL", "Plan": {"Stages": []}}),
        ("CreateContact", {"Alias": "bongani", "Type": "PERSONAL", "Plan": {"Stages": []},
                           "Tags": tags(2, prefix="b")}),
        ("TagResource", {"ResourceARN": person, "Tags": tags(3, prefix="more")}),
        ("CreateContactChannel", {"ContactId": person, "Name": "again", "Type": "SMS",
                                  "DeliveryAddress": {"SimpleAddress": "+15005550100"}}),
        ("ActivateContactChannel", {"ContactChannelId": phone, "ActivationCode": wrong}),
        ("CreateRotation", {"Name": "rota", "ContactIds": [person, w.arn("contact/gone")],
                            "TimeZoneId": "UTC", "Recurrence": RECURRENCE}),
    ]
    answers = file_service.dispatcher.handle_group(
        [_request(file_service, op, params) for op, params in calls])
    assert [a.status for a in answers] == [409, 200, 402, 409, 400, 404]
    changed = differences(before, file_service.state())
    assert set(changed) == {"contacts", "tags", "activation_codes"}, changed
    contacts_columns = before["contacts"][0]
    assert [row[contacts_columns.index("alias")] for row in changed["contacts"]["new"]] == [
        "bongani"]
    assert changed["contacts"]["gone"] == []
    tag_columns = before["tags"][0]
    assert sorted(row[tag_columns.index("resource_arn")] for row in changed["tags"]["new"]) \
        == [arn, arn]
    assert changed["tags"]["gone"] == []
    assert len(changed["activation_codes"]["new"]) == 1


def test_account_quotas_refuse_without_a_trace(tmp_path: Path) -> None:
    """Contacts and rotations per account and targets per stage, set low (spec §5): the call
    past one changes no table."""
    service = FileService(tmp_path / "contacts.db", Settings(
        throttle_rate=0, quota_contacts=2, quota_rotations=1, quota_targets=2))
    try:
        w = World(service)
        akua, bongani = w.personal("akua"), w.personal("bongani")
        phones = [w.channel(akua, f"+1500555010{n}") for n in range(3)]
        w.rotation(akua)
        failures = [
            Failure(lambda: w.client.create_contact(
                Alias="esc", Type="ESCALATION", Plan={"Stages": [stage(akua, bongani)]},
                Tags=tags(2), IdempotencyToken="token"), "ServiceQuotaExceededException", {
                    "QuotaCode": "L-7DD2017D", "ResourceId": w.arn("contact/esc"),
                    "ResourceType": "CONTACT"}),
            Failure(lambda: w.rotation(akua, bongani, Tags=tags(2)),
                    "ServiceQuotaExceededException",
                    {"QuotaCode": "L-4EA3AB3A", "ResourceType": "ROTATION"}),
            Failure(lambda: w.client.update_contact(
                ContactId=akua, DisplayName="Akua", Plan={"Stages": [channel_stage(*phones)]}),
                "ServiceQuotaExceededException", {
                    "QuotaCode": "L-F338226A", "ResourceId": akua, "ResourceType": "CONTACT"}),
        ]
        for failure in failures:
            failure.members["ServiceCode"] = "ssm-contacts"
            before = service.state()
            with pytest.raises(ClientError) as info:
                failure.call()
            check_error(info.value.response, failure)
            assert service.state() == before, differences(before, service.state())
    finally:
        service.close()


@pytest.fixture(scope="module")
def fuzz_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FileService, list[str]]]:
    """A service on a SQLite file holding one of each resource, for random requests to name
    (the account of ``tests.protocol.test_fuzz``, whose strategies build the requests)."""
    made = FileService(tmp_path_factory.mktemp("fuzz") / "contacts.db")
    made.account = "123456789012"
    w = World(made)
    people = [w.personal("akua", Tags=tags(2)), w.personal("bongani")]
    plan = w.escalation("oncall", *people)
    phones = [w.channel(people[0], send=True),
              w.channel(people[0], "akua@example.com", "EMAIL", send=True)]
    rotation = w.rotation(*people, Tags=tags(1))
    schedule = w.client.create_contact(Alias="schedule", Type="ONCALL_SCHEDULE",
                                       Plan={"RotationIds": [rotation]})["ContactArn"]
    w.client.update_contact(ContactId=people[0], Plan={"Stages": [channel_stage(phones[0])]})
    engagement = w.client.start_engagement(ContactId=plan, Sender="ops", Subject="s",
                                           Content="c")["EngagementArn"]
    yield made, [*people, plan, *phones, rotation, schedule, engagement]
    made.close()


@pytest.mark.parametrize("operation", WRITE_OPERATIONS)
@settings(max_examples=25, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_random_valid_writes_fail_cleanly(fuzz_world: tuple[FileService, list[str]],
                                          operation: str, data: st.DataObject) -> None:
    """Requests that pass the model's checks: never a 5xx, only the operation's modeled
    errors, and a failure leaves every table as it was (but for a counted activation try)."""
    service, arns = fuzz_world
    params = data.draw(_valid(model.operation_model(operation).input_shape, arns),
                       label="params")
    before = service.rows()
    answer = service.dispatcher.handle(*_request(service, operation, params))
    if answer.status == 200:
        return
    body = orjson.loads(answer.body)
    modeled = {shape.name for shape in model.operation_model(operation).error_shapes}
    assert answer.status < 500 and body["__type"] in modeled, (params, body)
    if operation != "ActivateContactChannel":
        after = service.rows()
        assert after == before, (params, body, differences(before, after))
