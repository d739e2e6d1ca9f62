"""The ssm-contacts calls the Terraform AWS provider makes, replayed with boto3.

Terraform cannot run here (no provider registry), so each class below does what one resource
or data source of ``hashicorp/terraform-provider-aws`` (``internal/service/ssmcontacts``)
does: the same calls in the same order with the same members, and the same reading of the
answers into Terraform state. A test then checks what the provider relies on: that a
refresh right after an apply gives back the configuration (any difference would be planned
as a change: "drift"), that an import reads the same state, and that a resource deleted
behind Terraform's back reads as gone.

State is kept as plain dicts in Terraform's attribute names. For the SDKv2 resources
(contact, channel, plan) an unset string is ``""`` and an unset number ``0``, as SDKv2
stores them; for the framework resource (rotation) an unset attribute is ``None`` and a list
block with no blocks is ``[]``.
"""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

State = dict[str, Any]
_tokens = itertools.count(1)


def unique_id() -> str:
    """What ``id.UniqueId()`` gives: Terraform's prefix, a UTC timestamp and a counter."""
    return "terraform-" + time.strftime("%Y%m%d%H%M%S", time.gmtime()) + f"{next(_tokens):08x}"


def error_code(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


def not_found(exc: ClientError) -> bool:
    """The only error the provider maps to "gone": a ``ResourceNotFoundException``
    (``errors.As(err, &types.ResourceNotFoundException{})`` on the error code)."""
    return error_code(exc) == "ResourceNotFoundException"


def rfc3339(moment: datetime) -> str:
    """``time.Time.Format(time.RFC3339)`` of a UTC time: seconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Tags:
    """Transparent tagging (``tags_gen.go``): tags_all = provider default tags + resource
    tags, sent on create; read back with ListTagsForResource (``aws:`` keys ignored); an
    update untags the removed keys first, then tags the new and changed ones."""

    def __init__(self, client: Any, default_tags: dict[str, str] | None = None) -> None:
        self.client = client
        self.default_tags = dict(default_tags or {})

    def all(self, tags: dict[str, str] | None) -> dict[str, str]:
        return {**self.default_tags, **(tags or {})}

    def wire(self, tags: dict[str, str] | None) -> list[dict[str, str]] | None:
        merged = self.all(tags)
        return [{"Key": k, "Value": v} for k, v in merged.items()] or None

    def read(self, arn: str) -> dict[str, str]:
        listed = self.client.list_tags_for_resource(ResourceARN=arn)["Tags"]
        return {t["Key"]: t["Value"] for t in listed if not t["Key"].startswith("aws:")}

    def update(self, arn: str, old: dict[str, str] | None, new: dict[str, str] | None) -> None:
        before, after = self.all(old), self.all(new)
        removed = [k for k in before if k not in after]
        if removed:
            self.client.untag_resource(ResourceARN=arn, TagKeys=removed)
        changed = {k: v for k, v in after.items() if before.get(k) != v}
        if changed:
            self.client.tag_resource(
                ResourceARN=arn, Tags=[{"Key": k, "Value": v} for k, v in changed.items()]
            )

    def split(self, tags_all: dict[str, str]) -> dict[str, str]:
        """``tags`` as refresh computes it: tags_all without the provider's defaults (a key
        whose value differs from the default stays)."""
        return {k: v for k, v in tags_all.items() if self.default_tags.get(k) != v}


class Contact:
    """``aws_ssmcontacts_contact`` (SDKv2, contact.go, helper.go)."""

    def __init__(self, client: Any, tags: Tags) -> None:
        self.client = client
        self.tags = tags
        self.calls: list[str] = []

    @staticmethod
    def expected(config: State, tags: Tags) -> State:
        tags_all = tags.all(config.get("tags"))
        return {"alias": config["alias"], "type": config["type"],
                "display_name": config.get("display_name", ""),
                "tags": tags.split(tags_all), "tags_all": tags_all}

    def create(self, config: State) -> State:
        params: dict[str, Any] = {
            "Alias": config["alias"],
            "DisplayName": config.get("display_name", ""),  # always sent, "" when unset
            "Plan": {"Stages": []},
            "Type": config["type"],
        }
        wire = self.tags.wire(config.get("tags"))
        if wire:
            params["Tags"] = wire
        arn = self.client.create_contact(**params)["ContactArn"]
        state = self.read(arn, new=True)
        assert state is not None
        return state

    def read(self, resource_id: str, *, new: bool = False) -> State | None:
        try:
            out = self.client.get_contact(ContactId=resource_id)
        except ClientError as exc:
            if not new and not_found(exc):
                return None
            raise
        tags_all = self.tags.read(resource_id)
        return {
            "id": resource_id, "arn": out["ContactArn"], "alias": out["Alias"],
            "type": out["Type"], "display_name": out.get("DisplayName", ""),
            "tags": self.tags.split(tags_all), "tags_all": tags_all,
        }

    def update(self, state: State, config: State) -> State:
        if config.get("display_name", "") != state["display_name"]:
            self.client.update_contact(ContactId=state["id"],
                                       DisplayName=config.get("display_name", ""))
        self.tags.update(state["id"], state["tags"], config.get("tags"))
        refreshed = self.read(state["id"])
        assert refreshed is not None
        return refreshed

    def delete(self, state: State) -> None:
        try:
            self.client.delete_contact(ContactId=state["id"])
        except ClientError as exc:
            if not not_found(exc):
                raise

    def data_source(self, arn: str) -> State:
        """``data "aws_ssmcontacts_contact"``: GetContact, then ListTagsForResource."""
        out = self.client.get_contact(ContactId=arn)
        return {"arn": out["ContactArn"], "alias": out["Alias"], "type": out["Type"],
                "display_name": out.get("DisplayName", ""), "tags": self.tags.read(arn)}


class Channel:
    """``aws_ssmcontacts_contact_channel`` (SDKv2, contact_channel.go, flex.go)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    @staticmethod
    def expected(config: State) -> State:
        return {"contact_id": config["contact_id"], "name": config["name"],
                "type": config["type"], "delivery_address": config["address"],
                "activation_status": "NOT_ACTIVATED"}

    def create(self, config: State) -> State:
        arn = self.client.create_contact_channel(
            ContactId=config["contact_id"],
            DeferActivation=True,  # always: Terraform never sends a code on create
            DeliveryAddress={"SimpleAddress": config["address"]},
            Name=config["name"],
            Type=config["type"],
        )["ContactChannelArn"]
        state = self.read(arn, new=True)
        assert state is not None
        return state

    def read(self, resource_id: str, *, new: bool = False) -> State | None:
        try:
            out = self.client.get_contact_channel(ContactChannelId=resource_id)
        except ClientError as exc:
            if not new and not_found(exc):
                return None
            raise
        return {
            "id": resource_id, "arn": out["ContactChannelArn"], "contact_id": out["ContactArn"],
            "name": out["Name"], "type": out["Type"],
            "delivery_address": out["DeliveryAddress"].get("SimpleAddress", ""),
            "activation_status": out.get("ActivationStatus", ""),
        }

    def update(self, state: State, config: State) -> State:
        params: dict[str, Any] = {}
        if config["address"] != state["delivery_address"]:
            params["DeliveryAddress"] = {"SimpleAddress": config["address"]}
        if config["name"] != state["name"]:
            params["Name"] = config["name"]
        if not params:
            return state
        self.client.update_contact_channel(ContactChannelId=state["id"], **params)
        refreshed = self.read(state["id"])
        assert refreshed is not None
        return refreshed

    def delete(self, state: State) -> None:
        try:
            self.client.delete_contact_channel(ContactChannelId=state["id"])
        except ClientError as exc:
            if not not_found(exc):
                raise

    def data_source(self, arn: str) -> State:
        state = self.read(arn, new=True)
        assert state is not None
        return state


def _expand_stages(stages: list[State]) -> list[dict[str, Any]]:
    """flex.go ``expandStages``: every stage has ``Targets`` (``[]`` when it has none); a
    channel target always carries ``RetryIntervalInMinutes`` (0 when unset, SDKv2's zero)
    and a contact target always ``IsEssential``."""
    out: list[dict[str, Any]] = []
    for stage in stages:
        targets: list[dict[str, Any]] = []
        for target in stage.get("target", []):
            if "channel_target_info" in target:
                info = target["channel_target_info"]
                targets.append({"ChannelTargetInfo": {
                    "ContactChannelId": info["contact_channel_id"],
                    "RetryIntervalInMinutes": info.get("retry_interval_in_minutes", 0)}})
            else:
                info = target["contact_target_info"]
                entry: dict[str, Any] = {"IsEssential": info["is_essential"]}
                if info.get("contact_id"):
                    entry["ContactId"] = info["contact_id"]
                targets.append({"ContactTargetInfo": entry})
        out.append({"DurationInMinutes": stage["duration_in_minutes"], "Targets": targets})
    return out


def _flatten_stages(stages: list[dict[str, Any]]) -> list[State]:
    """flex.go ``flattenStages``, with SDKv2's zero values filled in (an absent number reads
    as 0, an absent bool as false) so that states compare as Terraform compares them."""
    out: list[State] = []
    for stage in stages:
        targets: list[State] = []
        for target in stage.get("Targets") or []:
            if "ChannelTargetInfo" in target:
                info = target["ChannelTargetInfo"]
                targets.append({"channel_target_info": {
                    "contact_channel_id": info.get("ContactChannelId", ""),
                    "retry_interval_in_minutes": info.get("RetryIntervalInMinutes", 0)}})
            if "ContactTargetInfo" in target:
                info = target["ContactTargetInfo"]
                targets.append({"contact_target_info": {
                    "is_essential": info.get("IsEssential", False),
                    "contact_id": info.get("ContactId", "")}})
        out.append({"duration_in_minutes": stage.get("DurationInMinutes", 0), "target": targets})
    return out


class Plan:
    """``aws_ssmcontacts_plan`` (SDKv2, plan.go): UpdateContact on the contact it names."""

    def __init__(self, client: Any) -> None:
        self.client = client

    @staticmethod
    def expected(config: State) -> State:
        return {"contact_id": config["contact_id"],
                "stage": _flatten_stages(_expand_stages(config["stage"]))}

    def create(self, config: State) -> State:
        self.client.update_contact(ContactId=config["contact_id"],
                                   Plan={"Stages": _expand_stages(config["stage"])})
        state = self.read(config["contact_id"], new=True)
        assert state is not None
        return state

    def read(self, resource_id: str, *, new: bool = False) -> State | None:
        try:
            out = self.client.get_contact(ContactId=resource_id)
        except ClientError as exc:
            if not new and not_found(exc):
                return None
            raise
        return {"id": resource_id, "contact_id": out["ContactArn"],
                "stage": _flatten_stages(out["Plan"]["Stages"])}

    def update(self, state: State, config: State) -> State:
        if self.expected(config)["stage"] != state["stage"]:
            self.client.update_contact(ContactId=state["id"],
                                       Plan={"Stages": _expand_stages(config["stage"])})
        refreshed = self.read(state["id"])
        assert refreshed is not None
        return refreshed

    def delete(self, state: State) -> None:
        # Not tolerant of ResourceNotFound: plan.go returns any error of this call.
        self.client.update_contact(ContactId=state["id"], Plan={"Stages": []})

    def data_source(self, contact_id: str) -> State:
        state = self.read(contact_id, new=True)
        assert state is not None
        return state


def _hand_off(block: State) -> dict[str, int]:
    return {"HourOfDay": block["hour_of_day"], "MinuteOfHour": block["minute_of_hour"]}


def _hand_off_block(wire: dict[str, Any]) -> State:
    return {"hour_of_day": wire["HourOfDay"], "minute_of_hour": wire["MinuteOfHour"]}


class Rotation:
    """``aws_ssmcontacts_rotation`` (plugin framework, rotation.go, planmodifiers.go).

    Create sets the state from the plan without reading; refresh reads GetRotation. A list
    block with no blocks is an empty list in the plan, and AutoFlex expands it to an empty,
    non-nil slice, so Daily/Weekly/MonthlySettings are always sent, unused ones as ``[]``;
    ShiftCoverages is sent only when it has entries. ``StartTime`` is sent only when set."""

    def __init__(self, client: Any, tags: Tags) -> None:
        self.client = client
        self.tags = tags

    @staticmethod
    def recurrence_state(config: State) -> State:
        rec = config["recurrence"]
        return {
            "number_of_on_calls": rec["number_of_on_calls"],
            "recurrence_multiplier": rec["recurrence_multiplier"],
            "daily_settings": list(rec.get("daily_settings", [])),
            "weekly_settings": list(rec.get("weekly_settings", [])),
            "monthly_settings": list(rec.get("monthly_settings", [])),
            "shift_coverages": sorted(rec.get("shift_coverages", []),
                                      key=lambda c: c["map_block_key"]) or None,
        }

    def expected(self, config: State, arn: str) -> State:
        tags_all = self.tags.all(config.get("tags"))
        return {"id": arn, "arn": arn, "name": config["name"],
                "contact_ids": list(config["contact_ids"]),
                "start_time": config.get("start_time"),
                "time_zone_id": config["time_zone_id"],
                "recurrence": self.recurrence_state(config),
                "tags": self.tags.split(tags_all), "tags_all": tags_all}

    @staticmethod
    def _recurrence(config: State) -> dict[str, Any]:
        rec = config["recurrence"]
        wire: dict[str, Any] = {
            "NumberOfOnCalls": rec["number_of_on_calls"],
            "RecurrenceMultiplier": rec["recurrence_multiplier"],
            "DailySettings": [_hand_off(b) for b in rec.get("daily_settings", [])],
            "MonthlySettings": [{"DayOfMonth": b["day_of_month"],
                                 "HandOffTime": _hand_off(b["hand_off_time"])}
                                for b in rec.get("monthly_settings", [])],
            "WeeklySettings": [{"DayOfWeek": b["day_of_week"],
                                "HandOffTime": _hand_off(b["hand_off_time"])}
                               for b in rec.get("weekly_settings", [])],
        }
        coverages = rec.get("shift_coverages", [])
        if coverages:
            wire["ShiftCoverages"] = {
                c["map_block_key"]: [{"Start": _hand_off(t["start"]), "End": _hand_off(t["end"])}
                                     for t in c["coverage_times"]]
                for c in coverages
            }
        return wire

    def create(self, config: State) -> State:
        params: dict[str, Any] = {
            "IdempotencyToken": unique_id(),
            "ContactIds": list(config["contact_ids"]),
            "Name": config["name"],
            "Recurrence": self._recurrence(config),
            "TimeZoneId": config["time_zone_id"],
        }
        if config.get("start_time"):
            params["StartTime"] = parse_rfc3339(config["start_time"])
        wire = self.tags.wire(config.get("tags"))
        if wire:
            params["Tags"] = wire
        arn = self.client.create_rotation(**params)["RotationArn"]
        return self.expected(config, arn)  # state = plan; no read after create

    def read(self, resource_id: str) -> State | None:
        try:
            out = self.client.get_rotation(RotationId=resource_id)
        except ClientError as exc:
            if not_found(exc):
                return None
            raise
        rec = out["Recurrence"]
        coverages = []
        for day, windows in (rec.get("ShiftCoverages") or {}).items():
            # The provider dereferences Start and End of every window: both must be there.
            coverages.append({"map_block_key": day, "coverage_times": [
                {"start": _hand_off_block(w["Start"]), "end": _hand_off_block(w["End"])}
                for w in windows]})
        start = out.get("StartTime")
        tags_all = self.tags.read(resource_id)
        return {
            "id": resource_id, "arn": out["RotationArn"], "name": out["Name"],
            "contact_ids": list(out["ContactIds"]),
            "start_time": rfc3339(start) if start is not None else None,
            "time_zone_id": out["TimeZoneId"],
            "recurrence": {
                "number_of_on_calls": rec["NumberOfOnCalls"],
                "recurrence_multiplier": rec["RecurrenceMultiplier"],
                # An absent list flattens to null; only an answered list is a list.
                "daily_settings": None if rec.get("DailySettings") is None else [
                    _hand_off_block(h) for h in rec["DailySettings"]],
                "weekly_settings": None if rec.get("WeeklySettings") is None else [
                    {"day_of_week": w["DayOfWeek"],
                     "hand_off_time": _hand_off_block(w["HandOffTime"])}
                    for w in rec["WeeklySettings"]],
                "monthly_settings": None if rec.get("MonthlySettings") is None else [
                    {"day_of_month": m["DayOfMonth"],
                     "hand_off_time": _hand_off_block(m["HandOffTime"])}
                    for m in rec["MonthlySettings"]],
                # The plan modifier compares shift coverages sorted by day.
                "shift_coverages": sorted(coverages, key=lambda c: c["map_block_key"]) or None,
            },
            "tags": self.tags.split(tags_all), "tags_all": tags_all,
        }

    def update(self, state: State, config: State) -> State:
        planned = self.expected(config, state["id"])
        if any(planned[k] != state[k]
               for k in ("recurrence", "contact_ids", "start_time", "time_zone_id")):
            params: dict[str, Any] = {
                "RotationId": state["id"],
                "Recurrence": self._recurrence(config),
                "ContactIds": list(config["contact_ids"]),
                "TimeZoneId": config["time_zone_id"],
            }
            if config.get("start_time"):
                params["StartTime"] = parse_rfc3339(config["start_time"])
            self.client.update_rotation(**params)
        self.tags.update(state["id"], state["tags"], config.get("tags"))
        return planned  # state = plan

    def delete(self, state: State) -> None:
        try:
            self.client.delete_rotation(RotationId=state["id"])
        except ClientError as exc:
            if not not_found(exc):
                raise

    def data_source(self, arn: str) -> State:
        state = self.read(arn)
        assert state is not None
        return state


def drift(expected: State, refreshed: State | None, keys: list[str] | None = None) -> State:
    """The attributes a plan after refresh would change: every key of ``expected`` (or
    ``keys``) whose refreshed value differs, as ``{key: (configured, refreshed)}``. A
    resource that reads as gone is one entry: ``{"<gone>": ...}``."""
    if refreshed is None:
        return {"<gone>": (expected, None)}
    wanted = keys if keys is not None else list(expected)
    return {k: (expected[k], refreshed.get(k)) for k in wanted if expected[k] != refreshed.get(k)}


def same_instant(a: str | None, b: str | None) -> bool:
    """RFC 3339 semantic equality (``timetypes.RFC3339``): the same instant."""
    if a is None or b is None:
        return a is b
    return parse_rfc3339(a) == parse_rfc3339(b)
