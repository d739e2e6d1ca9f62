"""Retention of history (engine.housekeeping): stopped engagements go with everything that
belongs to them once older than INCIDENT_CONTACTS_ENGAGEMENT_RETENTION_DAYS, rotation
overrides once they ended longer ago than INCIDENT_CONTACTS_OVERRIDE_RETENTION_DAYS; running
engagements, pending messages and everything else stay. On SQLite and PostgreSQL, with the
injected clock."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from incident_contacts.clock import ManualClock
from incident_contacts.config import from_environ
from incident_contacts.delivery import MemoryTransport
from incident_contacts.engine import housekeeping, runner
from incident_contacts.engine.delivery import deliver_due
from incident_contacts.engine.housekeeping import keep_house, prune_engagements, prune_overrides
from incident_contacts.runtime import Runtime
from incident_contacts.server import build_dispatcher
from incident_contacts.store.schema.core import channels
from incident_contacts.store.schema.delivery import delivery_attempts, outbox
from incident_contacts.store.schema.engagements import (
    engagement_events,
    engagement_tracks,
    engagements,
    engine_timers,
    page_receipts,
    pages,
)
from incident_contacts.store.schema.rotations import override_members, rotation_overrides
from tests.engine.test_delivery import START, data_key, make_runtime

DAY = 86400.0
A, B = "111122223333", "444455556666"
PHONE = "+15005550199"


class World:
    """A runtime on a real database, its dispatcher, the engine and delivery run by hand."""

    def __init__(self, url: str, clock: ManualClock, *, engagement_days: float = 30.0,
                 override_days: float = 0.0) -> None:
        self.clock = clock
        self.runtime: Runtime = make_runtime(url, clock=clock, key=data_key())
        self.runtime.settings = dataclasses.replace(
            self.runtime.settings, engagement_retention_days=engagement_days,
            override_retention_days=override_days)
        runner.install()
        self.dispatcher = build_dispatcher(self.runtime)
        self.memory = MemoryTransport()

    def call(self, account: str, operation: str, **params: Any) -> dict[str, Any]:
        status, body = self.answer(account, operation, **params)
        assert status == 200, (operation, body)
        return body

    def answer(self, account: str, operation: str, **params: Any) -> tuple[int, dict[str, Any]]:
        headers = {
            "x-amz-target": f"SSMContacts.{operation}",
            "authorization": f"AWS4-HMAC-SHA256 Credential={account}/20231114/us-east-1/"
                             "ssm-contacts/aws4_request, SignedHeaders=host, Signature=0",
        }
        response = self.dispatcher.handle("POST", "/", headers, orjson.dumps(params))
        return response.status, orjson.loads(response.body)

    def settle(self) -> None:
        """The engine's due steps, then delivery, until nothing is left to do."""
        for _ in range(5):
            runner.run_all_due(self.runtime)
            if not deliver_due(self.runtime, {"SMS": self.memory}, "w"):
                return

    def person(self, account: str, alias: str) -> str:
        """A PERSONAL contact with an activated SMS channel, paged at once, retried after a
        minute."""
        contact = self.call(account, "CreateContact", Alias=alias, Type="PERSONAL",
                            Plan={"Stages": []})["ContactArn"]
        channel = self.call(account, "CreateContactChannel", ContactId=contact, Name="sms",
                            Type="SMS", DeliveryAddress={"SimpleAddress": PHONE},
                            DeferActivation=True)["ContactChannelArn"]
        with self.runtime.store.transaction() as conn:
            conn.execute(channels.update().where(channels.c.channel_id == channel.split("/")[-1])
                         .values(activation_status="ACTIVATED"))
        self.call(account, "UpdateContact", ContactId=contact, Plan={"Stages": [
            {"DurationInMinutes": 0, "Targets": [{"ChannelTargetInfo": {
                "ContactChannelId": channel, "RetryIntervalInMinutes": 1}}]}]})
        return contact

    def engage(self, account: str, contact: str, *, stop: bool = False) -> str:
        arn = self.call(account, "StartEngagement", ContactId=contact, Sender="ops",
                        Subject="disk full", Content="db01 is full")["EngagementArn"]
        self.settle()
        if stop:
            self.stop(account, arn)
        return arn

    def stop(self, account: str, arn: str) -> None:
        self.call(account, "StopEngagement", EngagementId=arn, Reason="fixed")
        self.settle()

    def pages_of(self, account: str, arn: str) -> list[str]:
        return [p["PageArn"] for p in
                self.call(account, "ListPagesByEngagement", EngagementId=arn)["Pages"]]

    def engagements(self, account: str) -> list[str]:
        return [e["EngagementArn"] for e in self.call(account, "ListEngagements")["Engagements"]]

    def counts(self) -> dict[str, int]:
        tables = (engagements, engagement_tracks, pages, page_receipts, engagement_events,
                  engine_timers, outbox, delivery_attempts, rotation_overrides,
                  override_members)
        with self.runtime.store.transaction(write=False) as conn:
            return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                    for t in tables}

    def rows_of(self, arn: str) -> dict[str, int]:
        """How many rows of each kind belong to the engagement ``arn`` names."""
        engagement_id = arn.split("/")[-1]
        with self.runtime.store.transaction(write=False) as conn:
            pk = conn.execute(sa.select(engagements.c.id).where(
                engagements.c.engagement_id == engagement_id)).scalar()
            page_rows = conn.execute(sa.select(pages.c.id, pages.c.page_id).where(
                pages.c.engagement_pk == pk)).all() if pk is not None else []
            page_ids = [row.id for row in page_rows]
            counted = {"engagements": 0 if pk is None else 1, "pages": len(page_rows)}
            for table in (engagement_tracks, engagement_events, engine_timers):
                counted[table.name] = conn.execute(
                    sa.select(sa.func.count()).select_from(table)
                    .where(table.c.engagement_pk == pk)).scalar_one()
            counted["page_receipts"] = conn.execute(
                sa.select(sa.func.count()).select_from(page_receipts)
                .where(page_receipts.c.page_pk.in_(page_ids))).scalar_one()
            messages = sa.or_(*[outbox.c.page_arn.endswith(f"/{row.page_id}")
                                for row in page_rows]) if page_rows else sa.false()
            counted["outbox"] = conn.execute(
                sa.select(sa.func.count()).select_from(outbox).where(messages)).scalar_one()
            counted["delivery_attempts"] = conn.execute(
                sa.select(sa.func.count()).select_from(
                    delivery_attempts.join(outbox, outbox.c.id == delivery_attempts.c.message_pk))
                .where(messages)).scalar_one()
        return counted

    def close(self) -> None:
        self.runtime.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'history.db'}"
    return str(request.getfixturevalue("pg_database"))


@pytest.fixture
def world(url: str) -> Iterator[World]:
    made = World(url, ManualClock(START))
    try:
        yield made
    finally:
        made.close()


def not_found(world: World, account: str, operation: str, **params: Any) -> bool:
    status, body = world.answer(account, operation, **params)
    return status == 404 and body.get("__type") == "ResourceNotFoundException"


# -- engagements ------------------------------------------------------------------------------


@pytest.mark.parametrize("batch", [100, 2])
def test_stopped_engagements_go_with_their_rows_once_the_retention_passed(
        world: World, batch: int) -> None:
    alice, bob = world.person(A, "alice"), world.person(B, "bob")
    running = world.engage(A, alice)                        # never stopped: kept for ever
    old = world.engage(A, alice, stop=True)
    world.memory.fail_next(1, reason="Twilio 400: unreachable (code 30003)", retryable=False)
    failed = world.engage(A, alice)                         # an ERROR receipt and a retry
    world.stop(A, failed)
    other_running = world.engage(B, bob)
    for arn in (running, old, failed):
        assert world.rows_of(arn)["pages"] >= 1 and world.rows_of(arn)["outbox"] >= 1
    receipts = world.call(A, "ListPageReceipts", PageId=world.pages_of(A, failed)[0])["Receipts"]
    assert {"SENT", "ERROR", "STOP"} >= {r["ReceiptType"] for r in receipts} >= {"ERROR"}

    world.clock.advance(20 * DAY)
    young = world.engage(A, alice, stop=True)
    other_young = world.engage(B, bob, stop=True)
    newest = world.engage(A, alice)                          # the highest ids: see below
    # A timer the engine has not come to yet (its workers were off, say).
    with world.runtime.store.transaction() as conn:
        conn.execute(engine_timers.insert().values(
            key="escalate:test", kind="ESCALATE", due_at=START + 99 * DAY, stage=1, attempts=0,
            engagement_pk=sa.select(engagements.c.id).where(
                engagements.c.engagement_id == old.split("/")[-1]).scalar_subquery()))

    world.clock.advance(10 * DAY + 1)                       # old and failed: 30 days + 1 s
    before = world.counts()
    old_rows = {arn: world.rows_of(arn) for arn in (old, failed)}
    assert all(rows["engagement_events"] and rows["engagement_tracks"]
               and rows["page_receipts"] and rows["delivery_attempts"]
               for rows in old_rows.values())
    assert old_rows[old]["engine_timers"] == 1
    kept = {arn: world.rows_of(arn) for arn in (running, young, other_running, other_young,
                                                newest)}
    assert prune_engagements(world.runtime, batch=batch) == 2
    assert prune_engagements(world.runtime, batch=batch) == 0
    for arn in (old, failed):
        assert world.rows_of(arn) == dict.fromkeys(old_rows[arn], 0)
    assert {arn: world.rows_of(arn) for arn in kept} == kept
    gone = {name: sum(rows[name] for rows in old_rows.values()) for name in old_rows[old]}
    after = world.counts()
    for name, count in gone.items():
        assert after[name] == before[name] - count, name

    # They answer as if they never were.
    for arn in (old, failed):
        assert not_found(world, A, "DescribeEngagement", EngagementId=arn)
        assert not_found(world, A, "ListPagesByEngagement", EngagementId=arn)
        assert not_found(world, A, "StopEngagement", EngagementId=arn)
    assert world.engagements(A) == [newest, young, running]
    assert world.engagements(B) == [other_young, other_running]
    by_contact = world.call(A, "ListPagesByContact", ContactId=alice)["Pages"]
    assert {p["EngagementArn"] for p in by_contact} == {running, young, newest}

    # Twenty more days: the young ones go, in both accounts; running ones stay however old.
    world.clock.advance(20 * DAY)
    assert prune_engagements(world.runtime, batch=batch) == 2
    assert world.engagements(A) == [newest, running]
    assert world.engagements(B) == [other_running]


def test_a_page_message_still_pending_keeps_its_engagement(world: World) -> None:
    alice = world.person(A, "alice")
    waiting = world.engage(A, alice, stop=True)
    world.engage(A, alice)
    with world.runtime.store.transaction() as conn:     # as if a provider were being retried
        conn.execute(outbox.update().where(outbox.c.page_arn.in_(world.pages_of(A, waiting)))
                     .values(status="PENDING"))
    world.clock.advance(31 * DAY)
    assert prune_engagements(world.runtime) == 0
    assert world.rows_of(waiting)["engagements"] == 1
    with world.runtime.store.transaction() as conn:
        conn.execute(outbox.update().where(outbox.c.page_arn.in_(world.pages_of(A, waiting)))
                     .values(status="SENT"))
    assert prune_engagements(world.runtime) == 1
    assert world.rows_of(waiting)["engagements"] == 0


def test_the_newest_engagement_stays_so_that_row_ids_are_never_given_again(
        world: World) -> None:
    """SQLite gives a new row the highest id plus one: had the newest rows gone, a new
    engagement and its pages would take their ids, and tokens naming them would name the new
    rows. The newest stays until a newer one exists."""
    alice = world.person(A, "alice")
    arns = [world.engage(A, alice, stop=True) for _ in range(3)]
    with world.runtime.store.transaction(write=False) as conn:
        highest = conn.execute(sa.select(sa.func.max(engagements.c.id))).scalar_one()
        highest_page = conn.execute(sa.select(sa.func.max(pages.c.id))).scalar_one()
    world.clock.advance(31 * DAY)
    assert prune_engagements(world.runtime) == 2
    assert world.engagements(A) == [arns[-1]]
    later = world.engage(A, alice, stop=True)
    with world.runtime.store.transaction(write=False) as conn:
        assert conn.execute(sa.select(engagements.c.id).where(
            engagements.c.engagement_id == later.split("/")[-1])).scalar_one() > highest
        assert conn.execute(sa.select(sa.func.max(pages.c.id))).scalar_one() > highest_page
    world.clock.advance(31 * DAY)
    assert prune_engagements(world.runtime) == 1
    assert world.engagements(A) == [later]


def test_tokens_of_lists_stay_valid_across_a_deletion(world: World) -> None:
    alice = world.person(A, "alice")
    arns = [world.engage(A, alice, stop=n % 2 == 0) for n in range(6)]   # 0, 2, 4 stopped
    world.clock.advance(31 * DAY)
    engagements_first = world.call(A, "ListEngagements", MaxResults=2)
    pages_first = world.call(A, "ListPagesByContact", ContactId=alice, MaxResults=2)
    assert prune_engagements(world.runtime) == 3
    rest = world.call(A, "ListEngagements", NextToken=engagements_first["NextToken"])
    assert [e["EngagementArn"] for e in rest["Engagements"]] == [arns[3], arns[1]]
    rest_pages = world.call(A, "ListPagesByContact", ContactId=alice,
                            NextToken=pages_first["NextToken"])["Pages"]
    assert [p["EngagementArn"] for p in rest_pages] == [arns[3], arns[5]]
    # A token of a list whose engagement went: the engagement is not found, cleanly.
    assert not_found(world, A, "ListPagesByEngagement", EngagementId=arns[0],
                     NextToken=engagements_first["NextToken"])


def test_a_retention_of_zero_keeps_every_engagement(world: World) -> None:
    world.runtime.settings = dataclasses.replace(world.runtime.settings,
                                                 engagement_retention_days=0)
    alice = world.person(A, "alice")
    for _ in range(3):
        world.engage(A, alice, stop=True)
    before = world.counts()
    world.clock.advance(1000 * DAY)
    assert prune_engagements(world.runtime) == 0
    keep_house(world.runtime)
    assert world.counts()["engagements"] == before["engagements"] == 3
    assert world.counts()["pages"] == before["pages"]


def test_each_transaction_deletes_a_bounded_batch(world: World, monkeypatch: Any) -> None:
    alice = world.person(A, "alice")
    for _ in range(6):
        world.engage(A, alice, stop=True)
    world.engage(A, alice)
    sizes: list[tuple[int, int]] = []
    delete = housekeeping._delete_engagements

    def counted(conn: Any, candidates: list[int]) -> int:
        deleted = delete(conn, candidates)
        sizes.append((len(candidates), deleted))
        return deleted

    monkeypatch.setattr(housekeeping, "_delete_engagements", counted)
    world.clock.advance(31 * DAY)
    assert prune_engagements(world.runtime, batch=4) == 6
    assert sizes == [(4, 4), (2, 2)]


def test_housekeeping_rounds_include_the_history(world: World) -> None:
    alice = world.person(A, "alice")
    old = world.engage(A, alice, stop=True)
    world.engage(A, alice)
    world.runtime.settings = dataclasses.replace(world.runtime.settings,
                                                 override_retention_days=1)
    rotation = rotation_with_overrides(world, A, alice, [(START, START + 3600)])
    world.clock.advance(31 * DAY)
    keep_house(world.runtime)
    assert world.rows_of(old)["engagements"] == 0
    assert overrides(world, A, rotation) == []


# -- rotation overrides ------------------------------------------------------------------------


def rotation_with_overrides(world: World, account: str, contact: str,
                            windows: list[tuple[float, float]]) -> str:
    rotation = world.call(account, "CreateRotation", Name="primary", ContactIds=[contact],
                          StartTime=START - 7 * DAY, TimeZoneId="UTC", Recurrence={
                              "NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
                              "DailySettings": [{"HourOfDay": 9, "MinuteOfHour": 0}]},
                          )["RotationArn"]
    for start, end in windows:
        world.call(account, "CreateRotationOverride", RotationId=rotation,
                   NewContactIds=[contact], StartTime=start, EndTime=end)
    return rotation


def overrides(world: World, account: str, rotation: str) -> list[tuple[float, float]]:
    listed = world.call(account, "ListRotationOverrides", RotationId=rotation,
                        StartTime=START - 400 * DAY, EndTime=START + 400 * DAY)
    return [(o["StartTime"], o["EndTime"]) for o in listed["RotationOverrides"]]


@pytest.mark.parametrize("batch", [1000, 2])
def test_overrides_go_once_they_ended_longer_ago_than_the_retention(
        world: World, batch: int) -> None:
    world.runtime.settings = dataclasses.replace(world.runtime.settings,
                                                 override_retention_days=10)
    alice, bob = world.person(A, "alice"), world.person(B, "bob")
    hour = 3600.0
    ended = [(START + n * hour, START + (n + 1) * hour) for n in range(3)]
    later = (START + 5 * DAY, START + 6 * DAY)                  # ends six days in
    future = (START + 30 * DAY, START + 31 * DAY)
    rotation = rotation_with_overrides(world, A, alice, [future, *ended, later])
    other = rotation_with_overrides(world, B, bob, [ended[0]])
    ids = {o["RotationOverrideId"] for o in world.call(
        A, "ListRotationOverrides", RotationId=rotation, StartTime=START,
        EndTime=START + 2 * hour)["RotationOverrides"]}
    assert len(ids) == 2

    world.clock.advance(10 * DAY)                           # exactly 10 days after the first
    assert prune_overrides(world.runtime, batch=batch) == 0
    world.clock.advance(3 * hour + 1)
    assert prune_overrides(world.runtime, batch=batch) == 4      # three of A's, one of B's
    assert overrides(world, A, rotation) == [later, future]
    assert overrides(world, B, other) == []
    for override_id in ids:
        assert not_found(world, A, "GetRotationOverride", RotationId=rotation,
                         RotationOverrideId=override_id)
    assert world.counts()["override_members"] == 2
    world.clock.advance(60 * DAY)
    assert prune_overrides(world.runtime, batch=batch) == 2
    assert world.counts()["override_members"] == 0
    # The rotations themselves stay.
    assert world.call(A, "GetRotation", RotationId=rotation)["Name"] == "primary"


def test_a_retention_of_zero_keeps_every_override(world: World) -> None:
    alice = world.person(A, "alice")
    rotation = rotation_with_overrides(world, A, alice, [(START, START + 3600)])
    world.clock.advance(1000 * DAY)
    assert prune_overrides(world.runtime) == 0
    keep_house(world.runtime)
    assert overrides(world, A, rotation) == [(START, START + 3600)]


def test_an_engagement_a_call_holds_is_left_for_the_next_round(url: str) -> None:
    """PostgreSQL: an engagement whose row a call has locked (an AcceptPage, a StopEngagement
    again) is skipped, not waited for, and goes in a later round."""
    if not url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers: no call holds a row while housekeeping runs")
    world = World(url, ManualClock(START))
    try:
        alice = world.person(A, "alice")
        held, free = (world.engage(A, alice, stop=True) for _ in range(2))
        world.engage(A, alice)
        world.clock.advance(31 * DAY)
        with world.runtime.store.engine.connect() as other:
            with other.begin():
                other.execute(sa.select(engagements.c.id).where(
                    engagements.c.engagement_id == held.split("/")[-1]).with_for_update())
                assert prune_engagements(world.runtime) == 1
            assert world.rows_of(free)["engagements"] == 0
            assert world.rows_of(held)["engagements"] == 1
        assert prune_engagements(world.runtime) == 1
        assert world.rows_of(held)["engagements"] == 0
    finally:
        world.close()


def test_the_settings_are_read_from_the_environment() -> None:
    settings = from_environ({"INCIDENT_CONTACTS_ENGAGEMENT_RETENTION_DAYS": "365",
                             "INCIDENT_CONTACTS_OVERRIDE_RETENTION_DAYS": "90.5"})
    assert (settings.engagement_retention_days, settings.override_retention_days) == (365, 90.5)
    defaults = from_environ({})
    assert (defaults.engagement_retention_days, defaults.override_retention_days) == (0, 0)
    for name in ("ENGAGEMENT", "OVERRIDE"):
        variable = f"INCIDENT_CONTACTS_{name}_RETENTION_DAYS"
        with pytest.raises(ValueError, match=f"{variable} must be at least 0"):
            from_environ({variable: "-1"})
        # NaN is no number of days: on PostgreSQL every row is older than NaN days.
        for text in ("nan", "inf"):
            with pytest.raises(ValueError, match=f"{variable} must be at least 0"):
                from_environ({variable: text})


def test_an_override_deleted_while_housekeeping_deletes_it_is_no_deadlock(
        pg_database: str) -> None:
    """PostgreSQL: DeleteRotationOverride (and DeleteRotation) lock an override before its
    contact list (the foreign key's cascade). Housekeeping takes them in the same order, so
    a call that deletes an ended override while housekeeping does waits for it instead of
    deadlocking with it. Housekeeping is held half-way (after its first statement) until the
    call waits on it."""
    import threading

    world = World(pg_database, ManualClock(START), override_days=1)
    try:
        alice = world.person(A, "alice")
        rotation_with_overrides(world, A, alice, [(START, START + 3600)])
        world.clock.advance(2 * DAY)
        engine = world.runtime.store.engine
        with engine.connect() as conn:
            override_pk = conn.execute(sa.select(rotation_overrides.c.id)).scalar_one()
        holding, waited = threading.Event(), threading.Event()
        errors: list[BaseException] = []
        first: list[str] = []

        def hold(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if threading.current_thread().name == "housekeeping" and not first and \
                    statement.lstrip().upper().startswith("DELETE"):
                first.append(statement)
                holding.set()
                waited.wait(10)

        def housekeep() -> None:
            try:
                prune_overrides(world.runtime)
            except BaseException as exc:
                errors.append(exc)

        def delete_the_override() -> None:
            try:
                with engine.connect() as conn, conn.begin():
                    conn.execute(rotation_overrides.delete()
                                 .where(rotation_overrides.c.id == override_pk))
            except BaseException as exc:
                errors.append(exc)

        sa.event.listen(engine, "after_cursor_execute", hold)
        try:
            keeper = threading.Thread(target=housekeep, name="housekeeping")
            keeper.start()
            assert holding.wait(10)
            caller = threading.Thread(target=delete_the_override)
            caller.start()
            with engine.connect() as watcher:
                for _ in range(200):                   # until the call waits for a lock
                    if watcher.execute(sa.text(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                            "current_database() AND wait_event_type = 'Lock'")).scalar():
                        break
                    threading.Event().wait(0.05)
            waited.set()
            keeper.join(30)
            caller.join(30)
        finally:
            sa.event.remove(engine, "after_cursor_execute", hold)
        assert errors == []
        assert world.counts()["rotation_overrides"] == 0
        assert world.counts()["override_members"] == 0
    finally:
        world.close()
