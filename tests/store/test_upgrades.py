"""Upgrades: a database written by an older release keeps working on this code.

Two layers, each on SQLite and on PostgreSQL:

* The migrations. Every revision of the chain upgrades to exactly the schema the code
  declares; a second run changes nothing; the databases that the releases with placeholder
  migrations stamped (0002 and 0003 empty, 210bb1d to 7b78e79) get their missing tables; and
  servers starting at once on a fresh database migrate it once.
* A real old release. The code of ``OLD`` (the first release with rotations, engagements and
  the delivery worker, schema 0003), taken from this repository's history with ``git
  archive``, runs as a server: it writes everything it supports through boto3, leaves
  activation codes and messages pending and an engagement not yet paged, and is killed with
  SIGKILL. This code then starts on the same database and data key, and must read every record
  back as the old server answered it, open the sealed data, accept the old codes, deliver the
  pending messages and carry the engagements on with the clock. The history is needed: in a
  shallow clone that test is skipped and says why.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from botocore.config import Config as BotoConfig

import incident_contacts
from incident_contacts.engine import legacy_texts
from incident_contacts.store.db import _MIGRATIONS, Store
from incident_contacts.store.schema import metadata
from tests.conftest import new_account
from tests.support.server import ServerProcess, start_server

OLD = "6d9a27cc848f214cfcb4df3e29a482f99a5e1c39"
REPO = Path(incident_contacts.__file__).resolve().parent.parent
NO_RETRIES = BotoConfig(retries={"total_max_attempts": 1, "mode": "standard"})
OLD_NAME = "Alice Ä"
"""A display name, which the old release stored in plain."""
# Personal data the old release is given, which must be nowhere in plain in the database once
# this code has started on it (addresses, engagement words, a stop reason).
SECRETS = ("alice@example.com", "bob@example.com", "5550100001", "5550100002", "5550100003",
           "disk full", "db01 is full", "public subject", "public content", "cpu hot",
           "flapping", "a blip", "the secret reason")


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def _chain() -> list[str]:
    """The revisions, oldest first."""
    script = ScriptDirectory.from_config(_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


HEAD = _chain()[-1]


def _alembic(store: Store, *steps: tuple[str, str]) -> None:
    """Run Alembic commands (``("upgrade", "0002")``, ``("stamp", "0003")``) in one
    transaction on the store's database, as an old release's start did."""
    config = _config()
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        for name, revision in steps:
            getattr(command, name)(config, revision)


def _state(store: Store) -> tuple[str | None, list[Any]]:
    """(the stamped revision, what differs from the declared schema)."""
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return context.get_current_revision(), list(compare_metadata(context, metadata))


def _schema(store: Store) -> list[Any]:
    """The schema as the database itself states it: SQLite's own DDL text; PostgreSQL's
    columns, index definitions and constraint definitions from its catalog."""
    with store.engine.connect() as conn:
        if store.sqlite:
            return list(conn.exec_driver_sql(
                "SELECT type, name, tbl_name, sql FROM sqlite_master "
                "WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name"))
        queries = (
            "SELECT table_name, column_name, data_type, character_maximum_length, "
            "numeric_precision, is_nullable, column_default FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY table_name, column_name",
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
            "ORDER BY indexname",
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2",
        )
        return [conn.exec_driver_sql(query).all() for query in queries]


def _revision(store: Store) -> str | None:
    with store.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@pytest.fixture(params=["sqlite", "postgresql"])
def new_url(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    """Makes fresh empty databases of one kind."""
    if request.param == "sqlite":
        count = iter(range(1000))
        return lambda: f"sqlite:///{tmp_path / f'db{next(count)}.sqlite'}"
    from tests.support import postgres

    base = request.getfixturevalue("postgres_url")
    return lambda: postgres.new_database(base)


# --------------------------------------------------------------------------- migrations


def test_every_revision_upgrades_to_the_declared_schema(new_url: Callable[[], str]) -> None:
    """A database left at any revision reaches the schema of a database made at head, which
    is the declared one; starting again on it changes nothing."""
    chain = _chain()
    assert chain[0] == "0001"
    reference = Store(new_url())
    try:
        reference.migrate()
        assert _state(reference) == (HEAD, [])
        declared = _schema(reference)
        reference.migrate()
        assert _revision(reference) == HEAD
        assert _schema(reference) == declared, "a second start changed the schema"
    finally:
        reference.dispose()
    for revision in chain[:-1]:
        store = Store(new_url())
        try:
            _alembic(store, ("upgrade", revision))
            assert _revision(store) == revision
            store.migrate()
            assert _revision(store) == HEAD
            assert _schema(store) == declared, f"from {revision}"
        finally:
            store.dispose()


@pytest.mark.parametrize("filled", ["0001", "0002"])
def test_databases_of_the_placeholder_releases_get_their_tables(
        new_url: Callable[[], str], filled: str) -> None:
    """From 210bb1d to af69003 migrations 0002 and 0003 were empty placeholders, and 7b78e79
    filled 0002 only: their databases were stamped 0003 without the tables. They reach the
    declared schema, and the records they hold stay."""
    store = Store(new_url())
    try:
        _alembic(store, ("upgrade", filled), ("stamp", "0003"))
        contacts = metadata.tables["contacts"]
        channels = metadata.tables["channels"]
        with store.engine.begin() as conn:
            (contact_pk,) = conn.execute(contacts.insert().values(
                account="111122223333", region="us-east-1", alias="alice", type="PERSONAL",
                display_name="Alice", plan='{"Stages":[]}', policy=None, created_at=1.5,
            ).returning(contacts.c.id)).one()
            conn.execute(channels.insert().values(
                channel_id="c0ffee00-0000-4000-8000-000000000000", contact_pk=contact_pk,
                account="111122223333", region="us-east-1", name="mail", type="EMAIL",
                address="v1.sealed", address_index="0" * 64, activation_status="ACTIVATED",
                created_at=1.5))
        store.migrate()
        assert _state(store) == (HEAD, [])
        store.migrate()
        assert _state(store) == (HEAD, [])
        with store.engine.begin() as conn:
            # The name stays, marked as still in plain until a server seals it (0011).
            assert conn.execute(sa.select(contacts.c.alias, contacts.c.display_name)).all() \
                == [("alice", "plain:Alice")]
            assert conn.execute(sa.select(channels.c.address)).scalar_one() == "v1.sealed"
            # The new tables take records.
            rotations = metadata.tables["rotations"]
            conn.execute(rotations.insert().values(
                rotation_id="r", account="111122223333", region="us-east-1", name="primary",
                start_time=0.0, time_zone="UTC", recurrence="{}", created_at=0.0))
            conn.execute(metadata.tables["engagements"].insert().values(
                engagement_id="e", account="111122223333", region="us-east-1",
                contact_alias="alice", contact_type="PERSONAL", plan="{}", sender="s",
                subject="v1.s", content="v1.c", start_time=0.0))
    finally:
        store.dispose()


def test_stop_reasons_written_in_plain_by_old_releases_are_removed(
        new_url: Callable[[], str]) -> None:
    """Before 3d46225 StopEngagement's reason went into the engagement log in plain besides
    its sealed copy; the upgrade leaves only the sealed copy, and the rest of the log as it
    was."""
    store = Store(new_url())
    engagements = metadata.tables["engagements"]
    events = metadata.tables["engagement_events"]
    lines = [
        ("ENGAGEMENT_STOPPED", '{"Reason":"the printer is on fire","UnreadPages":2}'),
        ("ENGAGEMENT_STOPPED", '{"UnreadPages":0}'),
        ("ENGAGEMENT_STOPPED", '{"Reason":"é ✓","UnreadPages":0}'),
        ("CONTACT_SKIPPED", '{"Reason":"NOT_FOUND","Stage":1}'),
    ]
    try:
        _alembic(store, ("upgrade", "0007"))
        with store.engine.begin() as conn:
            (pk,) = conn.execute(engagements.insert().values(
                engagement_id="e", account="111122223333", region="us-east-1",
                contact_alias="alice", contact_type="PERSONAL", plan="{}", sender="s",
                subject="v1.s", content="v1.c", start_time=0.0, stop_time=1.0,
                stop_reason="v1.sealed").returning(engagements.c.id)).one()
            conn.execute(events.insert(), [
                {"engagement_pk": pk, "at": float(n), "kind": kind, "detail": detail}
                for n, (kind, detail) in enumerate(lines)])
        store.migrate()
        with store.engine.connect() as conn:
            kept = conn.execute(sa.select(events.c.kind, events.c.detail)
                                .order_by(events.c.id)).all()
            assert conn.execute(sa.select(engagements.c.stop_reason)).scalar_one() \
                == "v1.sealed"
        assert [(kind, json.loads(detail)) for kind, detail in kept] == [
            ("ENGAGEMENT_STOPPED", {"UnreadPages": 2}),
            ("ENGAGEMENT_STOPPED", {"UnreadPages": 0}),
            ("ENGAGEMENT_STOPPED", {"UnreadPages": 0}),
            ("CONTACT_SKIPPED", {"Reason": "NOT_FOUND", "Stage": 1}),   # not a person's words
        ]
    finally:
        store.dispose()


def test_a_database_with_part_of_a_group_is_refused(tmp_path: Path) -> None:
    """No release made a database with some of the rotation tables and not the others: the
    repair refuses to guess, and the database stays as it was."""
    store = Store(f"sqlite:///{tmp_path / 'half.sqlite'}")
    try:
        _alembic(store, ("upgrade", "0002"), ("stamp", "0003"))
        with store.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE override_members")
        with pytest.raises(RuntimeError, match="override_members"):
            store.migrate()
        assert _state(store)[0] == "0003"
    finally:
        store.dispose()


def test_concurrent_first_starts_migrate_once(new_url: Callable[[], str],
                                              caplog: pytest.LogCaptureFixture) -> None:
    """Servers starting together on an empty database: one migrates, the others wait for it
    and find nothing to do (PostgreSQL: an advisory lock; SQLite: the write lock)."""
    url = new_url()
    stores = [Store(url) for _ in range(4)]
    start = threading.Barrier(len(stores))
    failures: list[BaseException] = []

    def first_start(store: Store) -> None:
        start.wait()
        try:
            store.migrate()
        except BaseException as exc:
            failures.append(exc)

    caplog.set_level("INFO", logger="alembic.runtime.migration")
    threads = [threading.Thread(target=first_start, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert failures == []
        ran = [r.getMessage() for r in caplog.records if "Running upgrade" in r.getMessage()]
        assert len(ran) == len(_chain()), ran        # each step once, by one of them
        assert _state(stores[0]) == (HEAD, [])
    finally:
        for store in stores:
            store.dispose()


# --------------------------------------------------------------------------- an old release


def _history_or_skip() -> str:
    """The full id of OLD when this checkout has the history; else the test is skipped."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed: the old release is taken from the history")
    found = subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{OLD}^{{commit}}"],
                           capture_output=True, check=False)
    if found.returncode != 0:
        pytest.skip(f"commit {OLD[:7]} is not in {REPO} (a shallow clone, or not a git "
                    "checkout): the old release cannot be run; fetch the full history")
    return OLD


@pytest.fixture(scope="module")
def old_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OLD's package, unpacked from the history (not a copy kept in the tree)."""
    commit = _history_or_skip()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", commit,
                              "incident_contacts"], capture_output=True, check=True).stdout
    root = tmp_path_factory.mktemp("old-release")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        if hasattr(tarfile, "data_filter"):     # Python 3.11.4 and later
            tar.extractall(root, filter="data")
        else:
            tar.extractall(root)
    return root


def _client(server: ServerProcess, account: str) -> Any:
    return boto3.client("ssm-contacts", region_name="us-east-1", endpoint_url=server.url,
                        aws_access_key_id=account, aws_secret_access_key="secret",
                        config=NO_RETRIES)


def _until(what: str, probe: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Bounded polling for what background workers do."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _codes(server: ServerProcess, channel: str, key: str = "ActivationCode") -> list[str]:
    return [m[key] for m in server.messages(channel) if m.get(key)]


def _events(server: ServerProcess, engagement: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{server.url}/_aws/ssm-contacts/engagements/events",
                         params={"EngagementArn": engagement}, timeout=10)
    response.raise_for_status()
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def _to_millisecond(value: Any) -> Any:
    """``value`` (an answer as boto3 reads it) with every time at the nearest millisecond."""
    if isinstance(value, dict):
        return {key: _to_millisecond(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_to_millisecond(item) for item in value]
    if isinstance(value, datetime):
        kept = value.replace(microsecond=0)
        return kept + timedelta(milliseconds=round(value.microsecond / 1000))
    return value


def _plain_text_at_rest(database: str, secrets: tuple[str, ...] = SECRETS
                        ) -> list[tuple[str, str, str]]:
    """(table, column, secret) for each of ``secrets`` (the personal texts the old versions
    were given) found in plain in the database."""
    store = Store(database)
    found = []
    try:
        with store.engine.connect() as conn:
            for table in metadata.sorted_tables:
                texts = [c for c in table.columns if isinstance(c.type, sa.String)]
                for row in conn.execute(sa.select(*texts)) if texts else ():
                    for column, value in zip(texts, row, strict=True):
                        found += [(table.name, column.name, secret) for secret in secrets
                                  if value is not None and secret in value]
    finally:
        store.dispose()
    return found


def _page_codes(server: ServerProcess) -> dict[str, str]:
    return {m["PageArn"]: m["AcceptCode"] for m in server.messages() if m.get("PageArn")}


def _write_everything(old: ServerProcess, account: str) -> dict[str, Any]:
    """With the old server's workers running: contacts of every type, channels activated
    with delivered codes, plans, rotations with an override, tags, a policy, an engagement
    whose pages went out and one stopped with a reason."""
    c = _client(old, account)
    ids: dict[str, Any] = {}
    for alias, name in (("alice", OLD_NAME), ("bob", None), ("carol", None)):
        extra = {"DisplayName": name} if name else {}
        ids[alias] = c.create_contact(Alias=alias, Type="PERSONAL", Plan={"Stages": []},
                                      Tags=[{"Key": "team", "Value": alias}], **extra
                                      )["ContactArn"]
    for key, contact, kind, address, defer in (
            ("email", "alice", "EMAIL", "alice@example.com", False),
            ("sms", "alice", "SMS", "+15550100001", False),
            ("voice", "alice", "VOICE", "+15550100002", True),
            ("bob_mail", "bob", "EMAIL", "bob@example.com", False)):
        ids[key] = c.create_contact_channel(
            ContactId=ids[contact], Name=key, Type=kind,
            DeliveryAddress={"SimpleAddress": address}, DeferActivation=defer,
        )["ContactChannelArn"]
    for key in ("email", "bob_mail", "sms"):
        code = _until(f"the code of {key}", partial(_codes, old, ids[key]))[-1]
        if key == "sms":
            ids["sms_code"] = code      # delivered, and not used before the upgrade
        else:
            c.activate_contact_channel(ContactChannelId=ids[key], ActivationCode=code)
    c.update_contact(ContactId=ids["alice"], Plan={"Stages": [
        {"DurationInMinutes": 5, "Targets": [
            {"ChannelTargetInfo": {"ContactChannelId": ids["email"],
                                   "RetryIntervalInMinutes": 2}}]},
        {"DurationInMinutes": 0, "Targets": [
            {"ChannelTargetInfo": {"ContactChannelId": ids["sms"],
                                   "RetryIntervalInMinutes": 1}}]}]})
    c.update_contact(ContactId=ids["bob"], Plan={"Stages": [{"DurationInMinutes": 0, "Targets": [
        {"ChannelTargetInfo": {"ContactChannelId": ids["bob_mail"],
                               "RetryIntervalInMinutes": 1}}]}]})
    ids["rotation"] = c.create_rotation(
        Name="primary", ContactIds=[ids["alice"], ids["bob"], ids["carol"]],
        StartTime="2026-01-05T09:00:00Z", TimeZoneId="Europe/Berlin",
        Recurrence={"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
                    "WeeklySettings": [{"DayOfWeek": "MON",
                                        "HandOffTime": {"HourOfDay": 9, "MinuteOfHour": 0}}],
                    "ShiftCoverages": {"MON": [{"Start": {"HourOfDay": 8, "MinuteOfHour": 0},
                                                "End": {"HourOfDay": 18, "MinuteOfHour": 0}}]}},
        Tags=[{"Key": "rota", "Value": "weekly"}])["RotationArn"]
    ids["override"] = c.create_rotation_override(
        RotationId=ids["rotation"], NewContactIds=[ids["carol"]],
        StartTime="2030-01-07T10:00:00Z", EndTime="2030-01-07T18:00:00Z")["RotationOverrideId"]
    ids["oncall"] = c.create_contact(Alias="oncall", Type="ONCALL_SCHEDULE",
                                     Plan={"RotationIds": [ids["rotation"]]})["ContactArn"]
    ids["esc"] = c.create_contact(Alias="esc", Type="ESCALATION", Plan={"Stages": [
        {"DurationInMinutes": 5, "Targets": [
            {"ContactTargetInfo": {"ContactId": ids["alice"], "IsEssential": True}}]},
        {"DurationInMinutes": 5, "Targets": [
            {"ContactTargetInfo": {"ContactId": ids["bob"], "IsEssential": False}},
            {"ContactTargetInfo": {"ContactId": ids["oncall"], "IsEssential": False}}]}]},
        Tags=[{"Key": "tier", "Value": "1"}])["ContactArn"]
    c.put_contact_policy(ContactArn=ids["esc"], Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
            "Action": ["ssm-contacts:GetContact"], "Resource": [ids["esc"]]}]}))
    ids["e1"] = c.start_engagement(
        ContactId=ids["esc"], Sender="ops", Subject="disk full", Content="db01 is full",
        PublicSubject="public subject", PublicContent="public content", IncidentId="inc-1",
        IdempotencyToken="upgrade-e1")["EngagementArn"]
    pages = _until("the first pages", lambda: c.list_pages_by_engagement(
        EngagementId=ids["e1"])["Pages"])
    ids["e1_page"] = pages[0]["PageArn"]
    ids["e0"] = c.start_engagement(ContactId=ids["bob"], Sender="ops", Subject="flapping",
                                   Content="a blip")["EngagementArn"]
    # Paged (the engine has nothing left to do for it), then stopped with a reason.
    _until("e0's page", lambda: c.list_pages_by_engagement(EngagementId=ids["e0"])["Pages"])
    c.stop_engagement(EngagementId=ids["e0"], Reason=SECRETS[-1])
    # Every message went out (or was cancelled by the stop), so what is pending later is what
    # the second run left.
    _until("every message settled", lambda: all(
        m["DeliveryStatus"] != "PENDING" for m in old.messages()))
    return ids


def _leave_pending(old: ServerProcess, account: str, ids: dict[str, Any]) -> None:
    """With the old server's workers off: a code sent again and a new channel's first code,
    both with their messages pending, and an engagement that was never paged."""
    c = _client(old, account)
    c.send_activation_code(ContactChannelId=ids["voice"])
    ids["voice_code"] = _codes(old, ids["voice"])[-1]
    ids["carol_sms"] = c.create_contact_channel(
        ContactId=ids["carol"], Name="carol_sms", Type="SMS",
        DeliveryAddress={"SimpleAddress": "+15550100003"})["ContactChannelArn"]
    ids["carol_code"] = _codes(old, ids["carol_sms"])[-1]
    ids["e2"] = c.start_engagement(ContactId=ids["alice"], Sender="ops", Subject="cpu",
                                   Content="cpu hot")["EngagementArn"]
    ids["pending"] = {m["MessageId"] for m in old.messages() if m["DeliveryStatus"] == "PENDING"}
    assert len(ids["pending"]) == 2


def _records(server: ServerProcess, account: str, ids: dict[str, Any]) -> dict[str, Any]:
    """Every record, as the API answers for it (the sealed ones opened)."""
    c = _client(server, account)
    shared = _client(server, "444455556666")
    calls: dict[str, Callable[[], Any]] = {
        "contacts": lambda: c.list_contacts(),
        "shared": lambda: shared.get_contact(ContactId=ids["esc"]),
        "rotations": lambda: c.list_rotations(),
        "engagements": lambda: c.list_engagements(),
        "policy": lambda: c.get_contact_policy(ContactArn=ids["esc"]),
        "override": lambda: c.get_rotation_override(RotationId=ids["rotation"],
                                                    RotationOverrideId=ids["override"]),
        "overrides": lambda: c.list_rotation_overrides(
            RotationId=ids["rotation"], StartTime="2029-01-01T00:00:00Z",
            EndTime="2031-01-01T00:00:00Z"),
        "shifts": lambda: c.list_rotation_shifts(
            RotationId=ids["rotation"], StartTime="2030-01-01T00:00:00Z",
            EndTime="2030-01-22T00:00:00Z"),
        "rotation": lambda: c.get_rotation(RotationId=ids["rotation"]),
        "e1 pages": lambda: c.list_pages_by_engagement(EngagementId=ids["e1"]),
        "e1 page": lambda: c.describe_page(PageId=ids["e1_page"]),
        "e1 receipts": lambda: c.list_page_receipts(PageId=ids["e1_page"]),
    }
    for alias in ("alice", "bob", "carol", "oncall", "esc"):
        calls[alias] = partial(c.get_contact, ContactId=ids[alias])
        calls[f"{alias} channels"] = partial(c.list_contact_channels, ContactId=ids[alias])
        calls[f"{alias} tags"] = partial(c.list_tags_for_resource, ResourceARN=ids[alias])
    for key in ("email", "sms", "voice", "bob_mail", "carol_sms"):
        calls[key] = partial(c.get_contact_channel, ContactChannelId=ids[key])
    for key in ("e0", "e1", "e2"):
        calls[key] = partial(c.describe_engagement, EngagementId=ids[key])
    calls["rotation tags"] = partial(c.list_tags_for_resource, ResourceARN=ids["rotation"])
    answers = {}
    for name, call in calls.items():
        answer = call()
        answer.pop("ResponseMetadata")
        answers[name] = answer
    # The engine's log: the stop's reason shown, whether kept in the line or sealed apart.
    answers["e0 log"] = _events(server, ids["e0"])
    # The outbox: addresses, words and codes opened; only the delivery status may move on.
    answers["messages"] = [{k: v for k, v in m.items() if k != "DeliveryStatus"}
                           for m in server.messages()]
    return answers


def _carry_on(new: ServerProcess, account: str, ids: dict[str, Any]) -> None:
    """What was in flight when the old server died goes on under this code."""
    c = _client(new, account)
    # The pending messages go out.
    _until("the old pending messages delivered", lambda: all(
        m["DeliveryStatus"] == "SENT" for m in new.messages() if m["MessageId"] in ids["pending"]))
    # The engagement the old server never paged is paged.
    e2_pages = _until("e2's pages", lambda: c.list_pages_by_engagement(
        EngagementId=ids["e2"])["Pages"])
    assert {p["ContactArn"] for p in e2_pages} == {ids["alice"]}
    # Codes the old server made open their channels: one delivered, one sent again and one
    # first code, both of these still pending when it died.
    for key, code in (("sms", "sms_code"), ("voice", "voice_code"), ("carol_sms", "carol_code")):
        assert c.get_contact_channel(ContactChannelId=ids[key])["ActivationStatus"] \
            == "NOT_ACTIVATED"
        c.activate_contact_channel(ContactChannelId=ids[key], ActivationCode=ids[code])
        assert c.get_contact_channel(ContactChannelId=ids[key])["ActivationStatus"] \
            == "ACTIVATED"
    # The idempotency record of the old server answers the same call again.
    again = c.start_engagement(
        ContactId=ids["esc"], Sender="ops", Subject="disk full", Content="db01 is full",
        PublicSubject="public subject", PublicContent="public content", IncidentId="inc-1",
        IdempotencyToken="upgrade-e1")["EngagementArn"]
    assert again == ids["e1"]
    # The old engagement escalates with the clock: stage two pages bob.
    before = {p["PageArn"] for p in c.list_pages_by_engagement(EngagementId=ids["e1"])["Pages"]}
    new.advance(6 * 60)
    later = _until("e1's second stage", lambda: [
        p for p in c.list_pages_by_engagement(EngagementId=ids["e1"])["Pages"]
        if p["PageArn"] not in before])
    assert ids["bob"] in {p["ContactArn"] for p in later}
    # A page the old server sent is acknowledged with the code it carried.
    c.accept_page(PageId=ids["e1_page"], AcceptType="READ",
                  AcceptCode=_page_codes(new)[ids["e1_page"]], AcceptCodeValidation="ENFORCE")
    receipts = c.list_page_receipts(PageId=ids["e1_page"])["Receipts"]
    assert "READ" in {r["ReceiptType"] for r in receipts}
    c.stop_engagement(EngagementId=ids["e1"], Reason="upgraded")
    # New records of every kind beside the old ones.
    rotation = c.create_rotation(
        Name="after", ContactIds=[ids["alice"], ids["bob"]], StartTime="2026-01-05T09:00:00Z",
        TimeZoneId="UTC", Recurrence={"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
                                      "DailySettings": [{"HourOfDay": 9, "MinuteOfHour": 0}]})
    c.create_rotation_override(RotationId=rotation["RotationArn"], NewContactIds=[ids["bob"]],
                               StartTime="2030-01-07T10:00:00Z", EndTime="2030-01-07T18:00:00Z")
    channel = c.create_contact_channel(
        ContactId=ids["bob"], Name="bob_sms", Type="SMS",
        DeliveryAddress={"SimpleAddress": "+15550100004"})["ContactChannelArn"]
    code = _until("a new code", partial(_codes, new, channel))[-1]
    c.activate_contact_channel(ContactChannelId=channel, ActivationCode=code)
    c.delete_rotation(RotationId=rotation["RotationArn"])


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_database_of_an_old_release_carries_on(
        old_release: Path, tmp_path: Path, request: pytest.FixtureRequest, kind: str) -> None:
    if kind == "sqlite":
        database = f"sqlite:///{tmp_path / 'upgraded.sqlite'}"
        env: dict[str, str] = {}     # the old release generated <database>.key; it is kept
    else:
        from tests.support import postgres

        database = postgres.new_database(request.getfixturevalue("postgres_url"))
        env = {"INCIDENT_CONTACTS_DATA_KEY": base64.b64encode(os.urandom(32)).decode()}
    old_env = {**env, "PYTHONPATH": str(old_release)}
    account = new_account()

    old = start_server(tmp_path, database=database, env=old_env)
    try:
        ids = _write_everything(old, account)
    finally:
        old.stop()
    old = start_server(tmp_path, database=database,
                       env={**old_env, "INCIDENT_CONTACTS_WORKERS": "false"})
    try:
        _leave_pending(old, account, ids)
        before = _records(old, account, ids)
    finally:
        old.kill()
    assert old.process.returncode == -9

    new = start_server(tmp_path, database=database, env=env)
    try:
        store = Store(database)
        try:
            assert _state(store) == (HEAD, [])
        finally:
            store.dispose()
        # Nothing of the old records moves until the clock or the workers touch it: compare
        # before the pending work settles (e2 and the old messages are left out of the
        # comparison only in what the workers may have added by now).
        after = _records(new, account, ids)
        assert after.pop("messages")[:len(before["messages"])] == before.pop("messages")
        for name in before:
            # This code answers times to the millisecond, as AWS does; the old one did not.
            assert after[name] == _to_millisecond(before[name]), name
        assert {"Type": "ENGAGEMENT_STOPPED", "Reason": SECRETS[-1]}.items() \
            <= after["e0 log"][-1].items()
        # The display name the old release stored in plain is sealed by the first
        # housekeeping round (engine.legacy_names), and still reads the same.
        _until("the old display name sealed",
               lambda: not _plain_text_at_rest(database, (OLD_NAME,)))
        assert _client(new, account).get_contact(ContactId=ids["alice"])["DisplayName"] \
            == OLD_NAME
        assert _plain_text_at_rest(database) == []
        _carry_on(new, account, ids)
    finally:
        new.stop()
    assert "Traceback" not in new.log(), new.log()


# --------------------------------------------------------------------------- legacy error texts

LEGACY_PHONE = "+15550100009"


def _stored_texts(database: str) -> list[str]:
    """Every error text the database keeps in plain: messages, attempts, ERROR receipts."""
    outbox, attempts = metadata.tables["outbox"], metadata.tables["delivery_attempts"]
    receipts = metadata.tables["page_receipts"]
    store = Store(database)
    try:
        with store.engine.connect() as conn:
            return [text for query in (
                sa.select(outbox.c.last_error),
                sa.select(attempts.c.detail).where(attempts.c.outcome != "SENT"),
                sa.select(receipts.c.info).where(receipts.c.receipt_type == "ERROR"),
            ) for text in conn.execute(query).scalars() if text]
    finally:
        store.dispose()


def _scrub_done(database: str) -> bool:
    store = Store(database)
    try:
        with store.engine.connect() as conn:
            # The scrub's own row (the sealing of names in plain has its own, too).
            done = metadata.tables["maintenance_done"]
            return conn.execute(sa.select(sa.func.count()).select_from(done).where(
                done.c.name == legacy_texts.TASK)).scalar_one() == 1
    finally:
        store.dispose()


def test_error_texts_of_an_old_release_lose_the_address(
        old_release: Path, tmp_path: Path) -> None:
    """OLD stored a provider's error as it came: Twilio's refusal names the number, in the
    message, its failed attempt and the page's ERROR receipt. Started on that database, this
    code scrubs them once (it can open each row's address; a migration could not)."""
    from tests.delivery.conftest import FakeTwilio, served

    database = f"sqlite:///{tmp_path / 'legacy.sqlite'}"
    refusal = {"code": 21211, "status": 400,
               "message": f"The 'To' number {LEGACY_PHONE} is not a valid phone number."}
    fake = FakeTwilio(account_sid="AC" + "0" * 32, auth_token="token")
    account = new_account()
    with served(fake.app()) as base_url:
        fake.base_url = base_url
        old = start_server(tmp_path, database=database, env={
            "PYTHONPATH": str(old_release),
            "INCIDENT_CONTACTS_TWILIO_ACCOUNT_SID": fake.account_sid,
            "INCIDENT_CONTACTS_TWILIO_AUTH_TOKEN": fake.auth_token,
            "INCIDENT_CONTACTS_TWILIO_FROM": "+15005550006",
            "INCIDENT_CONTACTS_TWILIO_BASE_URL": fake.base_url})
        try:
            c = _client(old, account)
            contact = c.create_contact(Alias="dana", Type="PERSONAL",
                                       Plan={"Stages": []})["ContactArn"]
            fake.respond_next(400, refusal)          # the first code: refused
            channel = c.create_contact_channel(
                ContactId=contact, Name="sms", Type="SMS",
                DeliveryAddress={"SimpleAddress": LEGACY_PHONE})["ContactChannelArn"]
            _until("the refusal", lambda: any(
                m["DeliveryStatus"] == "FAILED" for m in old.messages(channel)))
            c.send_activation_code(ContactChannelId=channel)
            _until("a code delivered", lambda: any(
                m["DeliveryStatus"] == "SENT" for m in old.messages(channel)))
            c.activate_contact_channel(ContactChannelId=channel,
                                       ActivationCode=_codes(old, channel)[-1])
            c.update_contact(ContactId=contact, Plan={"Stages": [{
                "DurationInMinutes": 0, "Targets": [{"ChannelTargetInfo": {
                    "ContactChannelId": channel, "RetryIntervalInMinutes": 10}}]}]})
            fake.respond_next(400, refusal)          # the page: refused
            engagement = c.start_engagement(ContactId=contact, Sender="ops", Subject="s",
                                            Content="c")["EngagementArn"]
            [page] = _until("the page", lambda: c.list_pages_by_engagement(
                EngagementId=engagement)["Pages"])
            _until("the page's ERROR receipt", lambda: [
                r for r in c.list_page_receipts(PageId=page["PageArn"])["Receipts"]
                if r["ReceiptType"] == "ERROR"])
            c.stop_engagement(EngagementId=engagement)
        finally:
            old.stop()
    legacy = _stored_texts(database)
    assert len([t for t in legacy if LEGACY_PHONE in t]) == 5, legacy  # 2 messages, 2
    #                                                   attempts, the receipt

    new = start_server(tmp_path, database=database)
    try:
        _until("the scrub", lambda: _scrub_done(database))
        texts = _stored_texts(database)
        assert len(texts) == len(legacy)
        assert not [t for t in texts if LEGACY_PHONE[1:] in t], texts
        assert texts.count("Twilio 400: The 'To' number <delivery address> is not a valid "
                           "phone number. (code 21211)") == 5
        [error] = [r for r in _client(new, account).list_page_receipts(
            PageId=page["PageArn"])["Receipts"] if r["ReceiptType"] == "ERROR"]
        assert error["ReceiptInfo"].startswith("Twilio 400: The 'To' number <delivery ")
        assert _plain_text_at_rest(database, (LEGACY_PHONE[1:],)) == []
    finally:
        new.stop()
    assert "Traceback" not in new.log(), new.log()
