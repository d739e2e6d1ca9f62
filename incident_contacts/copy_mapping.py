"""Mapping what a copy refers to (``incident-contacts copy``, :mod:`incident_contacts.copying`):
the source's ARNs to the target's, in escalation plans and in contact policies.

A copied item keeps its references to what was copied with it (the target's ARN takes the place
of the source's), keeps references to other accounts, regions and partitions as they are, and
drops references to what no longer exists on the source. A reference to an item of the source
that was not copied makes the item holding it fail (:class:`NotCopied`): copying it would point
at nothing, or at the source. In a contact policy, an ARN of the source's account and region
that was not copied is re-homed to the target's (:meth:`ArnMap.map_resource`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class NotCopied(Exception):
    """An item that cannot be copied; its reason goes into the report."""


def arn_home(arn: str) -> tuple[str, str, str]:
    """(partition, region, account) of an ARN."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return ("", "", "")
    return (parts[1], parts[3], parts[4])


def _channel_owner(arn: str) -> str:
    """The contact ARN of a contact channel's ARN (``.../contact-channel/<alias>/<id>``)."""
    head, _, resource = arn.partition(":contact-channel/")
    return f"{head}:contact/{resource.split('/')[0]}" if resource else ""


def plan_empty(plan: dict[str, Any] | None) -> bool:
    return not (plan or {}).get("Stages") and not (plan or {}).get("RotationIds")


def same_plan(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    def shape(plan: dict[str, Any]) -> Any:
        return {"Stages": plan.get("Stages") or [], "RotationIds": plan.get("RotationIds") or []}
    return bool(shape(current) == shape(wanted))


def _plain(value: Any) -> Any:
    """A value as compared: members that are absent, None, or empty lists or maps left out."""
    if isinstance(value, dict):
        kept = {k: _plain(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, [], {})}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def same_recurrence(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return bool(_plain(current) == _plain(wanted))


def missing_tags(source: list[dict[str, str]],
                 target: list[dict[str, str]]) -> list[dict[str, str]]:
    """The source's tags that the target lacks or holds with another value. Tags the target
    has and the source has not are not a difference: a copy never takes anything away."""
    theirs = {t["Key"]: t.get("Value") for t in target}
    return [t for t in source if t["Key"] not in theirs or theirs[t["Key"]] != t.get("Value")]


@dataclass
class ArnMap:
    """The source's ARNs and what they became on the target, as a copy goes."""

    home: tuple[str, str, str] = ("", "", "")          # the source's partition/region/account
    arns: dict[str, str] = field(default_factory=dict)  # source ARN -> target ARN
    known: set[str] = field(default_factory=set)        # every source ARN of this account
    target_home: tuple[str, str, str] | None = None
    unlisted: set[str] = field(default_factory=set)     # contacts whose channels are unknown

    def learn_target(self, arn: str) -> None:
        if self.target_home is None and not arn.startswith("("):
            self.target_home = arn_home(arn)

    def foreign(self, arn: str) -> bool:
        """An ARN of another account, region or partition than the source's own."""
        return arn_home(arn) != self.home

    def map_arn(self, arn: str, notes: list[str]) -> str | None:
        """The target's ARN for ``arn``; None to drop a reference to nothing."""
        if arn in self.arns:
            return self.arns[arn]
        if _channel_owner(arn) in self.unlisted:
            raise NotCopied(f"{arn}: the channels of its contact could not be read")
        if self.foreign(arn):
            notes.append(f"{arn} is of another account or region: kept as it is")
            return arn
        if arn in self.known:
            raise NotCopied(f"{arn} was not copied")
        notes.append(f"{arn} no longer exists on the source: dropped")
        return None

    def map_plan(self, plan: dict[str, Any], notes: list[str]) -> dict[str, Any]:
        if plan.get("RotationIds"):
            rotations = [self.map_arn(arn, notes) for arn in plan["RotationIds"]]
            return {"RotationIds": [arn for arn in rotations if arn is not None]}
        stages = []
        for stage in plan.get("Stages", []):
            targets = []
            for target in stage.get("Targets", []):
                if "ChannelTargetInfo" in target:
                    info = dict(target["ChannelTargetInfo"])
                    mapped = self.map_arn(info["ContactChannelId"], notes)
                    if mapped is not None:
                        targets.append({"ChannelTargetInfo": {**info,
                                                              "ContactChannelId": mapped}})
                elif "ContactTargetInfo" in target:
                    info = dict(target["ContactTargetInfo"])
                    mapped = self.map_arn(info["ContactId"], notes)
                    if mapped is not None:
                        targets.append({"ContactTargetInfo": {**info, "ContactId": mapped}})
            stages.append({"DurationInMinutes": stage["DurationInMinutes"], "Targets": targets})
        return {"Stages": stages}

    def map_resource(self, notes: list[str]) -> Callable[[str], str]:
        def mapped(arn: str) -> str:
            if arn in self.arns:
                return self.arns[arn]
            partition, region, account = arn_home(arn)
            if (partition, region, account) == self.home and self.target_home is None:
                # a dry run to an empty target: its account is not known yet
                notes.append(f"{arn} would be re-homed to the target's account and region")
                return arn
            if (partition, region, account) == self.home and self.target_home is not None:
                new = ":".join(["arn", self.target_home[0], arn.split(":")[2],
                                self.target_home[1], self.target_home[2],
                                arn.split(":", 5)[5]])
                notes.append(f"{arn} re-homed to {new}")
                return new
            if arn != "*":
                notes.append(f"{arn} kept as it is")
            return arn
        return mapped


def map_policy(text: str, mapped: Callable[[str], str]) -> str:
    """The policy with each ``Resource``/``NotResource`` ARN passed through ``mapped``.

    Principals and conditions are kept as they are: they name accounts and people, not the
    copied resources."""
    document = json.loads(text)
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    for statement in statements if isinstance(statements, list) else [statements]:
        if not isinstance(statement, dict):
            continue
        for key in ("Resource", "NotResource"):
            value = statement.get(key)
            if isinstance(value, str):
                statement[key] = mapped(value)
            elif isinstance(value, list):
                statement[key] = [mapped(v) if isinstance(v, str) else v for v in value]
    return json.dumps(document)


__all__ = ["ArnMap", "NotCopied", "arn_home", "map_policy", "missing_tags", "plan_empty",
           "same_plan", "same_recurrence"]
