"""What the Terraform AWS provider does with ssm-contacts, replayed against every backend.

Each test walks the steps of one of the provider's acceptance tests (the configurations of
``internal/service/ssmcontacts/*_test.go`` and ``testdata/``) through
:mod:`tests.clients.terraform_replay`: apply, refresh (the plan after it must be empty, so a
refreshed attribute that differs from the configuration fails), import by ARN with the
same state, out-of-band deletion read as gone, and destroy in Terraform's order.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.clients.terraform_replay import (
    Channel,
    Contact,
    Plan,
    Rotation,
    Tags,
    drift,
    error_code,
    rfc3339,
)
from tests.conftest import Backend

CONTACT_KEYS = ["alias", "type", "display_name", "tags", "tags_all"]
CHANNEL_KEYS = ["contact_id", "name", "type", "delivery_address", "activation_status"]


def in_two_days() -> str:
    """``time.Now().UTC().AddDate(0, 0, 2).Format(time.RFC3339)``."""
    return rfc3339(datetime.now(UTC) + timedelta(days=2))


def r_name() -> str:
    """``sdkacctest.RandomWithPrefix("tf-acc-test")``."""
    return f"tf-acc-test-{uuid.uuid4().int % 10**19}"


class World:
    """One provider configuration (optionally with ``default_tags``) on one backend."""

    def __init__(self, backend: Backend, default_tags: dict[str, str] | None = None,
                 region: str = "us-east-1") -> None:
        self.client = backend.client(region=region)
        self.tags = Tags(self.client, default_tags)
        self.contact = Contact(self.client, self.tags)
        self.channel = Channel(self.client)
        self.plan = Plan(self.client)
        self.rotation = Rotation(self.client, self.tags)


def apply_contact(world: World, config: dict[str, Any]) -> dict[str, Any]:
    state = world.contact.create(config)
    assert drift(Contact.expected(config, world.tags), state, CONTACT_KEYS) == {}
    assert state["id"] == state["arn"]
    return state


def assert_import_verifies(resource: Any, state: dict[str, Any], keys: list[str]) -> None:
    """ImportStateVerify: reading by the ARN alone gives the same attributes."""
    imported = resource.read(state["id"])
    assert imported is not None
    assert {k: imported[k] for k in keys} == {k: state[k] for k in keys}


def gone_code(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    return error_code(caught.value)


# -- aws_ssmcontacts_contact ----------------------------------------------------------------


def test_contact_basic_import_display_name_and_destroy(backend: Backend) -> None:
    world = World(backend)
    alias = r_name()
    config: dict[str, Any] = {"alias": alias, "type": "PERSONAL"}
    state = apply_contact(world, config)
    assert state["arn"].endswith(f":contact/{alias}")
    assert state["display_name"] == ""
    assert_import_verifies(world.contact, state, ["arn", *CONTACT_KEYS])

    # A plan set by aws_ssmcontacts_plan must survive a display_name change: UpdateContact
    # carries DisplayName only.
    plan_state = world.plan.create({"contact_id": state["arn"],
                                    "stage": [{"duration_in_minutes": 1}]})
    for name in ("Akua Mensah", "Kofi Boateng", ""):
        config = {**config, "display_name": name}
        state = world.contact.update(state, config)
        assert drift(Contact.expected(config, world.tags), state, CONTACT_KEYS) == {}
        assert drift(Plan.expected({"contact_id": state["arn"],
                                    "stage": [{"duration_in_minutes": 1}]}),
                     world.plan.read(plan_state["id"]), ["contact_id", "stage"]) == {}

    world.plan.delete(plan_state)
    world.contact.delete(state)
    assert gone_code(lambda: world.client.get_contact(ContactId=state["id"])) == \
        "ResourceNotFoundException"
    world.contact.delete(state)  # a second destroy tolerates ResourceNotFound


def test_contact_type_and_alias_changes_replace_with_the_same_alias(backend: Backend) -> None:
    """type and alias are ForceNew: destroy, then create. The new contact may reuse the
    alias at once (testAccContact_updateType)."""
    world = World(backend)
    alias = r_name()
    state = apply_contact(world, {"alias": alias, "type": "PERSONAL"})
    world.contact.delete(state)
    state = apply_contact(world, {"alias": alias, "type": "ESCALATION"})
    assert state["type"] == "ESCALATION"
    assert_import_verifies(world.contact, state, ["arn", *CONTACT_KEYS])
    other = apply_contact(world, {"alias": r_name(), "type": "ESCALATION"})
    world.contact.delete(state)
    assert world.contact.read(other["id"]) is not None


def test_disappeared_resources_read_as_gone(backend: Backend) -> None:
    """Deleted behind Terraform's back, every resource refreshes as removed (only a
    ResourceNotFoundException does that), and its destroy still succeeds."""
    world = World(backend)
    outsider = backend.client()
    contact = apply_contact(world, {"alias": r_name(), "type": "PERSONAL"})
    channel = world.channel.create({"contact_id": contact["arn"], "name": r_name(),
                                    "type": "EMAIL", "address": "test@example.com"})
    start = in_two_days()
    rotation = world.rotation.create(daily_rotation(r_name(), [contact["arn"]],
                                                    start_time=start))
    assert drift(rotation, world.rotation.read(rotation["id"]), ROTATION_KEYS) == {}

    outsider.delete_rotation(RotationId=rotation["id"])
    assert world.rotation.read(rotation["id"]) is None
    world.rotation.delete(rotation)

    outsider.delete_contact_channel(ContactChannelId=channel["id"])
    assert world.channel.read(channel["id"]) is None
    world.channel.delete(channel)

    plan = world.plan.create({"contact_id": contact["arn"],
                              "stage": [{"duration_in_minutes": 1}]})
    # testAccPlan_disappears: the plan "disappears" as an empty plan, not as a missing contact
    world.plan.delete(plan)
    refreshed = world.plan.read(plan["id"])
    assert refreshed is not None and refreshed["stage"] == []

    outsider.delete_contact(ContactId=contact["id"])
    assert world.contact.read(contact["id"]) is None
    assert world.plan.read(plan["id"]) is None
    world.contact.delete(contact)
    for call in (lambda: world.client.get_contact(ContactId=contact["id"]),
                 lambda: world.client.get_contact_channel(ContactChannelId=channel["id"]),
                 lambda: world.client.get_rotation(RotationId=rotation["id"])):
        assert gone_code(call) == "ResourceNotFoundException"


def test_contact_data_source_and_tags_with_default_tags(backend: Backend) -> None:
    """Contact/tags_defaults and data.tags: default tags merged into CreateContact's Tags,
    read back through ListTagsForResource, updated by UntagResource then TagResource."""
    world = World(backend, default_tags={"providerkey1": "providervalue1",
                                         "overlapkey1": "providervalue1"})
    config: dict[str, Any] = {"alias": r_name(), "type": "PERSONAL",
                              "tags": {"key1": "value1", "overlapkey1": "resourcevalue1"}}
    state = apply_contact(world, config)
    assert state["tags_all"] == {"providerkey1": "providervalue1", "key1": "value1",
                                 "overlapkey1": "resourcevalue1"}
    assert_import_verifies(world.contact, state, ["arn", *CONTACT_KEYS])
    data = world.contact.data_source(state["arn"])
    assert data["tags"] == state["tags_all"]

    for tags in ({"key1": "value1updated", "key2": "value2"}, {"key2": "value2"}, None):
        config = {**config, "tags": tags}
        state = world.contact.update(state, config)
        assert drift(Contact.expected(config, world.tags), state, CONTACT_KEYS) == {}
    assert state["tags_all"] == {"providerkey1": "providervalue1",
                                 "overlapkey1": "providervalue1"}
    world.contact.delete(state)


# -- aws_ssmcontacts_contact_channel ----------------------------------------------------------


@pytest.mark.parametrize(("kind", "address"), [
    ("EMAIL", "test@example.com"), ("SMS", "+12065550100"), ("VOICE", "+12065550199"),
])
def test_channel_deferred_activation_import_and_updates(backend: Backend, kind: str,
                                                        address: str) -> None:
    world = World(backend)
    name = r_name()
    contact = apply_contact(world, {"alias": f"test-contact-for-{name}", "type": "PERSONAL"})
    config = {"contact_id": contact["arn"], "name": name, "type": kind, "address": address}
    state = world.channel.create(config)
    assert drift(Channel.expected(config), state, CHANNEL_KEYS) == {}
    assert f":contact-channel/test-contact-for-{name}/" in state["arn"]
    assert backend.messages(state["arn"]) == []  # DeferActivation: no code was sent
    assert_import_verifies(world.channel, state, ["arn", *CHANNEL_KEYS])
    assert world.channel.data_source(state["arn"]) == {**state, "id": state["arn"]}

    config = {**config, "name": r_name()}  # Name alone: nothing else moves, no code
    state = world.channel.update(state, config)
    assert drift(Channel.expected(config), state, CHANNEL_KEYS) == {}
    assert backend.messages(state["arn"]) == []

    if kind == "EMAIL":  # testAccContactChannel_deliveryAddress
        config = {**config, "address": "other@example.com"}
        state = world.channel.update(state, config)
        assert drift(Channel.expected(config), state, CHANNEL_KEYS) == {}
        assert_import_verifies(world.channel, state, ["arn", *CHANNEL_KEYS])

    world.channel.delete(state)
    assert world.channel.read(state["id"]) is None
    world.channel.delete(state)
    world.contact.delete(contact)


def test_channel_moves_to_another_contact_by_replacement(backend: Backend) -> None:
    """contact_id is ForceNew (testAccContactChannel_contactID): delete, create on the other
    contact; contact_id reads back as the ARN the configuration gave."""
    world = World(backend)
    name = r_name()
    one = apply_contact(world, {"alias": f"test-contact-one-for-{name}", "type": "PERSONAL"})
    two = apply_contact(world, {"alias": f"test-contact-two-for-{name}", "type": "PERSONAL"})
    config = {"contact_id": one["arn"], "name": name, "type": "EMAIL",
              "address": "test@example.com"}
    state = world.channel.create(config)
    world.channel.delete(state)
    config = {**config, "contact_id": two["arn"]}
    state = world.channel.create(config)
    assert drift(Channel.expected(config), state, CHANNEL_KEYS) == {}
    assert_import_verifies(world.channel, state, ["arn", *CHANNEL_KEYS])


def test_resources_in_another_region(backend: Backend) -> None:
    """ContactChannel/region_override: the resource's region signs the calls; ARNs and reads
    stay in that region, and the default region does not see them."""
    world = World(backend, region="us-west-2")
    contact = apply_contact(world, {"alias": r_name(), "type": "PERSONAL"})
    assert ":us-west-2:" in contact["arn"]
    state = world.channel.create({"contact_id": contact["arn"], "name": r_name(),
                                  "type": "EMAIL", "address": "test@example.com"})
    assert ":us-west-2:" in state["arn"]
    assert_import_verifies(world.channel, state, ["arn", *CHANNEL_KEYS])
    home = World(backend)
    assert home.channel.read(state["arn"]) is None


# -- aws_ssmcontacts_plan ------------------------------------------------------------------------


def plan_base(world: World, name: str) -> dict[str, dict[str, Any]]:
    """testAccPlanConfig_base: two PERSONAL contacts and an ESCALATION one."""
    return {
        "one": apply_contact(world, {"alias": f"test-contact-one-for-{name}",
                                     "type": "PERSONAL"}),
        "two": apply_contact(world, {"alias": f"test-contact-two-for-{name}",
                                     "type": "PERSONAL"}),
        "escalation": apply_contact(world, {"alias": f"test-escalation-plan-for-{name}",
                                            "type": "ESCALATION"}),
    }


def apply_plan(world: World, state: dict[str, Any] | None,
               config: dict[str, Any]) -> dict[str, Any]:
    new = world.plan.create(config) if state is None else world.plan.update(state, config)
    assert drift(Plan.expected(config), new, ["contact_id", "stage"]) == {}
    assert_import_verifies(world.plan, new, ["contact_id", "stage"])
    return new


def test_plan_stages_update_and_destroy(backend: Backend) -> None:
    """testAccPlan_updateStages / _updateDurationInMinutes / _updateContactId."""
    world = World(backend)
    base = plan_base(world, r_name())
    one = base["one"]["arn"]
    state = None
    for stages in ([{"duration_in_minutes": 1}],
                   [{"duration_in_minutes": 1}, {"duration_in_minutes": 2}],
                   [{"duration_in_minutes": 1}],
                   [{"duration_in_minutes": 2}]):
        state = apply_plan(world, state, {"contact_id": one, "stage": stages})
        assert all(stage["target"] == [] for stage in state["stage"])
    assert state is not None
    # contact_id is ForceNew: the old contact's plan is emptied, the new one's is set.
    world.plan.delete(state)
    moved = apply_plan(world, None, {"contact_id": base["two"]["arn"],
                                     "stage": [{"duration_in_minutes": 1}]})
    assert world.client.get_contact(ContactId=one)["Plan"]["Stages"] == []
    world.plan.delete(moved)
    assert world.client.get_contact(ContactId=moved["id"])["Plan"]["Stages"] == []
    data = world.plan.data_source(one)
    assert data["stage"] == []


def test_plan_contact_and_channel_targets(backend: Backend) -> None:
    """testAccPlan_updateTargets / _updateContactTargetInfo / _updateChannelTargetInfo:
    is_essential false stays false, stages of duration 0, channel targets (not activated)
    with their retry intervals, all read back in order."""
    world = World(backend)
    base = plan_base(world, r_name())
    one, two = base["one"]["arn"], base["two"]["arn"]

    def contact_target(contact: str, essential: bool) -> dict[str, Any]:
        return {"contact_target_info": {"is_essential": essential, "contact_id": contact}}

    state = None
    for targets in ([contact_target(one, False)],
                    [contact_target(one, False), contact_target(two, True)],
                    [contact_target(one, False)],
                    [contact_target(two, True)]):
        state = apply_plan(world, state, {"contact_id": base["escalation"]["arn"],
                                          "stage": [{"duration_in_minutes": 0,
                                                     "target": targets}]})
    assert state is not None
    assert state["stage"][0]["target"] == [contact_target(two, True)]
    assert world.plan.data_source(base["escalation"]["arn"])["stage"] == state["stage"]

    channels = [world.channel.create({"contact_id": one, "name": f"Test Contact Channel {n}",
                                      "type": "EMAIL", "address": f"user{n}@example.com"})
                for n in (1, 2)]
    assert {c["activation_status"] for c in channels} == {"NOT_ACTIVATED"}
    personal = None
    for channel, retry in ((channels[0], 3), (channels[1], 5)):
        personal = apply_plan(world, personal, {"contact_id": one, "stage": [{
            "duration_in_minutes": 1,
            "target": [{"channel_target_info": {"contact_channel_id": channel["arn"],
                                                "retry_interval_in_minutes": retry}}]}]})
    # retry_interval_in_minutes unset: the provider sends 0 and must read 0 back.
    personal = apply_plan(world, personal, {"contact_id": one, "stage": [{
        "duration_in_minutes": 1,
        "target": [{"channel_target_info": {"contact_channel_id": channels[0]["arn"]}}]}]})

    # Destroy order: the plans, then the channels, then the contacts.
    world.plan.delete(personal)
    world.plan.delete(state)
    for channel in channels:
        world.channel.delete(channel)
    for contact in base.values():
        world.contact.delete(contact)
    for contact in base.values():
        assert world.contact.read(contact["id"]) is None


# -- aws_ssmcontacts_rotation ------------------------------------------------------------------

ROTATION_KEYS = ["arn", "name", "contact_ids", "start_time", "time_zone_id", "recurrence",
                 "tags", "tags_all"]


def hand_off(hour: int, minute: int) -> dict[str, int]:
    return {"hour_of_day": hour, "minute_of_hour": minute}


def daily_rotation(name: str, contact_ids: list[str], multiplier: int = 1,
                   zone: str = "Australia/Sydney", **extra: Any) -> dict[str, Any]:
    """testAccRotationConfig_basic (testdata/Rotation/basic)."""
    return {"contact_ids": contact_ids, "name": name, "time_zone_id": zone,
            "recurrence": {"number_of_on_calls": 1, "recurrence_multiplier": multiplier,
                           "daily_settings": [hand_off(1, 0)]}, **extra}


def coverage(day: str, start: tuple[int, int], end: tuple[int, int]) -> dict[str, Any]:
    return {"map_block_key": day,
            "coverage_times": [{"start": hand_off(*start), "end": hand_off(*end)}]}


RECURRENCES: list[dict[str, Any]] = [
    {"daily_settings": [hand_off(1, 0)]},
    {"monthly_settings": [{"day_of_month": 20, "hand_off_time": hand_off(8, 0)}]},
    {"monthly_settings": [{"day_of_month": 20, "hand_off_time": hand_off(8, 0)},
                          {"day_of_month": 13, "hand_off_time": hand_off(12, 34)},
                          {"day_of_month": 1, "hand_off_time": hand_off(4, 58)}]},
    {"weekly_settings": [{"day_of_week": "MON", "hand_off_time": hand_off(10, 30)}]},
    {"weekly_settings": [{"day_of_week": "WED", "hand_off_time": hand_off(4, 25)},
                         {"day_of_week": "FRI", "hand_off_time": hand_off(15, 57)}]},
    {"daily_settings": [hand_off(9, 0)],
     "shift_coverages": [coverage("MON", (8, 0), (17, 0))]},
    {"daily_settings": [hand_off(9, 0)],
     "shift_coverages": [coverage(day, (1, 0), (23, 0)) for day in ("MON", "WED", "FRI")]},
    {"weekly_settings": [{"day_of_week": "MON", "hand_off_time": hand_off(4, 25)},
                         {"day_of_week": "WED", "hand_off_time": hand_off(7, 34)},
                         {"day_of_week": "FRI", "hand_off_time": hand_off(15, 57)}],
     "shift_coverages": [coverage(day, (1, 0), (23, 0)) for day in ("MON", "WED", "FRI")]},
]


def rotation_contacts(world: World, name: str, count: int) -> list[str]:
    """testAccRotationConfig_base: ``count`` PERSONAL contacts named ``<rName>-<index>``."""
    return [apply_contact(world, {"alias": f"{name}-{i}", "type": "PERSONAL"})["arn"]
            for i in range(count)]


def refresh_rotation(world: World, state: dict[str, Any]) -> None:
    refreshed = world.rotation.read(state["id"])
    assert drift(state, refreshed, ROTATION_KEYS) == {}
    assert_import_verifies(world.rotation, state, ROTATION_KEYS)


def test_rotation_every_recurrence_kind_without_drift(backend: Backend) -> None:
    """testAccRotation_recurrence and the data source tests: each recurrence applied in turn
    to one rotation; Daily/Weekly/MonthlySettings come back in the order sent (unused ones
    as the empty lists Terraform sent), ShiftCoverages with Start and End in every window."""
    world = World(backend)
    name = r_name()
    contacts = rotation_contacts(world, name, 1)
    start = in_two_days()
    config = daily_rotation(name, contacts, start_time=start)
    state = world.rotation.create(config)
    refresh_rotation(world, state)
    for recurrence in RECURRENCES:
        config = {**config, "recurrence": {"number_of_on_calls": 1,
                                           "recurrence_multiplier": 1, **recurrence}}
        state = world.rotation.update(state, config)
        refresh_rotation(world, state)
        assert world.rotation.data_source(state["arn"]) == world.rotation.read(state["id"])
    world.rotation.delete(state)
    assert world.rotation.read(state["id"]) is None


def test_rotation_start_time_contacts_and_required_fields(backend: Backend) -> None:
    """testAccRotation_startTime / _contactIds / _updateRequiredFields: StartTime comes back
    as the same second (RFC 3339, UTC); ContactIds in order; zone and multiplier updated in
    place without touching the rest."""
    world = World(backend)
    name = r_name()
    contacts = rotation_contacts(world, name, 3)
    now = datetime.now(UTC).replace(microsecond=0)
    config = daily_rotation(name, contacts[:2], start_time=rfc3339(now + timedelta(days=2)),
                            tags={"key1": "tag1", "key2": "tag2"})
    state = world.rotation.create(config)
    refresh_rotation(world, state)
    for change in ({"start_time": rfc3339(now + timedelta(days=20 * 365 + 70))},
                   {"contact_ids": contacts},
                   {"time_zone_id": "America/Los_Angeles"},
                   {"recurrence": {**config["recurrence"], "recurrence_multiplier": 2}}):
        config = {**config, **change}
        state = world.rotation.update(state, config)
        refresh_rotation(world, state)
    assert state["contact_ids"] == contacts
    # Destroy order: the rotation before its members; the other way round is refused.
    with pytest.raises(ClientError) as caught:
        world.client.delete_contact(ContactId=contacts[0])
    assert error_code(caught.value) == "ConflictException"
    world.rotation.delete(state)
    for arn in contacts:
        world.contact.delete({"id": arn})
        assert world.contact.read(arn) is None


def test_rotation_tags_with_default_tags(backend: Backend) -> None:
    """Rotation/tags and tags_defaults: tags_all on create, refresh, tag changes."""
    world = World(backend, default_tags={"providerkey1": "providervalue1"})
    name = r_name()
    start = in_two_days()
    config = daily_rotation(name, rotation_contacts(world, name, 1), start_time=start,
                            tags={"key1": "value1"})
    state = world.rotation.create(config)
    refresh_rotation(world, state)
    for tags in ({"key1": "value1", "key2": "value2"}, {"key1": "value1updated"}, None):
        config = {**config, "tags": tags}
        state = world.rotation.update(state, config)
        refresh_rotation(world, state)
    assert state["tags_all"] == {"providerkey1": "providervalue1"}


def test_rotation_without_start_time_reads_no_start_time(backend: Backend) -> None:
    """GetRotation leaves StartTime out for a rotation created without one: the provider
    reads it into start_time, which the configuration leaves unset, so a start answered
    would change every plan after apply (testdata/Rotation/basic, identity tests)."""
    world = World(backend)
    name = r_name()
    state = world.rotation.create(daily_rotation(name, rotation_contacts(world, name, 1)))
    refreshed = world.rotation.read(state["id"])
    assert refreshed is not None
    assert refreshed["start_time"] is None


# -- everything together ---------------------------------------------------------------------


def test_whole_configuration_applies_refreshes_and_destroys_in_order(backend: Backend) -> None:
    """The example configurations together: contacts, an escalation plan, deferred channels,
    an engagement plan with channel targets, a tagged rotation; refresh is empty; destroy
    runs in reverse dependency order and every CheckDestroy reads ResourceNotFound."""
    world = World(backend, default_tags={"team": "platform"})
    name = r_name()
    base = plan_base(world, name)
    one, two = base["one"]["arn"], base["two"]["arn"]
    channels = [world.channel.create({"contact_id": one, "name": f"Test Contact Channel {n}",
                                      "type": kind, "address": address})
                for n, (kind, address) in enumerate((("EMAIL", "test@example.com"),
                                                     ("SMS", "+12065550100")), start=1)]
    engagement = apply_plan(world, None, {"contact_id": one, "stage": [
        {"duration_in_minutes": 1, "target": [
            {"channel_target_info": {"contact_channel_id": c["arn"],
                                     "retry_interval_in_minutes": 3}} for c in channels]},
        {"duration_in_minutes": 5, "target": []}]})
    escalation = apply_plan(world, None, {"contact_id": base["escalation"]["arn"], "stage": [
        {"duration_in_minutes": 0, "target": [
            {"contact_target_info": {"is_essential": False, "contact_id": one}},
            {"contact_target_info": {"is_essential": True, "contact_id": two}}]}]})
    start = in_two_days()
    rotation = world.rotation.create({**daily_rotation(name, [one, two], start_time=start),
                                      "recurrence": {"number_of_on_calls": 1,
                                                     "recurrence_multiplier": 1,
                                                     **RECURRENCES[-1]},
                                      "tags": {"key1": "tag1"}})

    # The plan after apply: nothing changes anywhere.
    refresh_rotation(world, rotation)
    for contact in base.values():
        expected = Contact.expected({"alias": contact["alias"], "type": contact["type"]},
                                    world.tags)
        assert drift(expected, world.contact.read(contact["id"]), CONTACT_KEYS) == {}
    for channel in channels:
        assert drift(channel, world.channel.read(channel["id"]), CHANNEL_KEYS) == {}
    for plan in (engagement, escalation):
        assert drift(plan, world.plan.read(plan["id"]), ["contact_id", "stage"]) == {}

    # terraform destroy: dependents first.
    world.rotation.delete(rotation)
    world.plan.delete(escalation)
    world.plan.delete(engagement)
    for channel in channels:
        world.channel.delete(channel)
    for contact in base.values():
        world.contact.delete(contact)
    checks = [partial(world.client.get_rotation, RotationId=rotation["id"])]
    checks += [partial(world.client.get_contact_channel, ContactChannelId=c["id"])
               for c in channels]
    checks += [partial(world.client.get_contact, ContactId=c["id"]) for c in base.values()]
    assert {gone_code(check) for check in checks} == {"ResourceNotFoundException"}
    assert world.client.list_contacts()["Contacts"] == []
    assert world.client.list_rotations()["Rotations"] == []


def test_empty_hand_off_lists_count_as_not_given(backend: Backend) -> None:
    """What the rotation resource sends for unused list blocks (``[]``) is accepted wherever
    a RecurrenceSettings goes, kept as sent, and means what leaving them out means; with
    every list empty there is still no hand-off, which stays a ValidationException."""
    client = backend.client()
    daily = {"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
             "DailySettings": [{"HourOfDay": 9, "MinuteOfHour": 0}]}
    padded = {**daily, "WeeklySettings": [], "MonthlySettings": []}
    window = {"StartTime": datetime(2030, 1, 1, tzinfo=UTC),
              "EndTime": datetime(2030, 1, 8, tzinfo=UTC)}
    preview = {"Members": ["akua", "kofi"], "TimeZoneId": "Africa/Accra",
               "RotationStartTime": datetime(2029, 12, 31, tzinfo=UTC), **window}
    plain = client.list_preview_rotation_shifts(Recurrence=daily, **preview)["RotationShifts"]
    assert len(plain) == 8  # hand-offs at 09:00: 31 Dec-1 Jan through 7-8 Jan
    assert client.list_preview_rotation_shifts(Recurrence=padded,
                                               **preview)["RotationShifts"] == plain

    member = client.create_contact(Alias=r_name(), Plan={"Stages": []},
                                   Type="PERSONAL")["ContactArn"]
    arn = client.create_rotation(Name=r_name(), ContactIds=[member], Recurrence=padded,
                                 TimeZoneId="Africa/Accra",
                                 StartTime=preview["RotationStartTime"])["RotationArn"]
    assert client.get_rotation(RotationId=arn)["Recurrence"] == padded
    assert len(client.list_rotation_shifts(RotationId=arn, **window)["RotationShifts"]) == 8

    empty = {**padded, "DailySettings": []}
    for call in (lambda: client.update_rotation(RotationId=arn, Recurrence=empty),
                 lambda: client.list_preview_rotation_shifts(Recurrence=empty, **preview)):
        with pytest.raises(ClientError) as caught:
            call()
        assert error_code(caught.value) == "ValidationException"
    assert client.get_rotation(RotationId=arn)["Recurrence"] == padded
