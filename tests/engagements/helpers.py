"""Builders and waits shared by the engagement tests.

In-process, the engine and delivery run before an API call (or ``clock.advance``) returns; on
a server they run a moment later, so :meth:`Paging.pages` and friends poll (bounded) there.
:meth:`Paging.quiesce` proves a negative on a server: it starts a sentinel engagement whose
only effect is a log entry, due after everything the last clock move made due; once the
entry shows, the engine has taken every earlier timer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.conftest import Backend, new_account

PHONE = "+15005550199"
VOICE_PHONE = "+15005550142"
EMAIL = "akua@example.com"


def wait_until(predicate: Callable[[], Any], *, timeout: float = 20.0,
               message: str = "the condition", interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(interval)


@dataclass
class Person:
    arn: str
    channels: list[str] = field(default_factory=list)


class Paging:
    """One test's view of a backend: a client of its own account and helpers around it."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.client = backend.client()
        self._sentinel: str | None = None
        self._sentinel_client: Any = None

    # -- building ---------------------------------------------------------------------------

    def person(self, alias: str, channels: list[tuple[str, str]] | None = None, *,
               activate: bool | list[bool] = True) -> Person:
        """A PERSONAL contact with channels ``[(type, address)]``, activated unless told."""
        arn = self.client.create_contact(Alias=alias, Type="PERSONAL",
                                         Plan={"Stages": []})["ContactArn"]
        person = Person(arn)
        wanted = channels if channels is not None else [("SMS", PHONE)]
        flags = activate if isinstance(activate, list) else [activate] * len(wanted)
        for index, ((kind, address), active) in enumerate(zip(wanted, flags, strict=True)):
            channel = self.client.create_contact_channel(
                ContactId=arn, Name=f"{kind.lower()} {index}", Type=kind,
                DeliveryAddress={"SimpleAddress": address}, DeferActivation=not active,
            )["ContactChannelArn"]
            if active:
                [message] = self.backend.messages(channel)
                self.client.activate_contact_channel(ContactChannelId=channel,
                                                     ActivationCode=message["ActivationCode"])
            person.channels.append(channel)
        return person

    def plan(self, person: Person, stages: list[tuple[int, list[str]]],
             retry: int = 0) -> None:
        """``stages``: ``[(minutes, [channel ARNs])]``."""
        self.client.update_contact(ContactId=person.arn, Plan={"Stages": [
            {"DurationInMinutes": minutes,
             "Targets": [{"ChannelTargetInfo": {"ContactChannelId": channel,
                                                "RetryIntervalInMinutes": retry}}
                         for channel in channels]}
            for minutes, channels in stages
        ]})

    def escalation(self, alias: str, stages: list[tuple[int, list[tuple[str, bool]]]]) -> str:
        """``stages``: ``[(minutes, [(contact ARN, essential)])]``."""
        arn: str = self.client.create_contact(Alias=alias, Type="ESCALATION", Plan={"Stages": [
            {"DurationInMinutes": minutes,
             "Targets": [{"ContactTargetInfo": {"ContactId": contact, "IsEssential": essential}}
                         for contact, essential in targets]}
            for minutes, targets in stages
        ]})["ContactArn"]
        return arn

    def engage(self, contact: str, **extra: Any) -> str:
        params = {"Sender": "tester", "Subject": "Database down", "Content": "Primary is down",
                  **extra}
        arn: str = self.client.start_engagement(ContactId=contact, **params)["EngagementArn"]
        return arn

    # -- reading ----------------------------------------------------------------------------

    def list_pages(self, engagement: str) -> list[dict[str, Any]]:
        pages: list[dict[str, Any]] = []
        for response in self.client.get_paginator("list_pages_by_engagement").paginate(
                EngagementId=engagement):
            pages.extend(response["Pages"])
        return pages

    def pages(self, engagement: str, count: int, *, sent: bool = True) -> list[dict[str, Any]]:
        """The engagement's pages once there are ``count`` (and all are SENT); fails when
        there are more."""
        def ready() -> list[dict[str, Any]] | None:
            pages = self.list_pages(engagement)
            assert len(pages) <= count, f"{len(pages)} pages, expected {count}"
            if len(pages) == count and (not sent or all("SentTime" in p for p in pages)):
                return pages
            return None

        if count:
            wait_until(ready, message=f"{count} pages")
        self.quiesce()
        pages = ready()
        assert pages is not None, f"the pages changed: {self.list_pages(engagement)}"
        return pages

    def page_messages(self, engagement: str) -> dict[str, dict[str, Any]]:
        """The messages of an engagement's pages, by page ARN."""
        arns = {p["PageArn"] for p in self.list_pages(engagement)}
        return {m["PageArn"]: m for m in self.backend.messages()
                if m.get("PageArn") in arns}

    def receipts(self, page: str) -> list[dict[str, Any]]:
        receipts: list[dict[str, Any]] = self.client.list_page_receipts(PageId=page)["Receipts"]
        return receipts

    def receipt_types(self, page: str) -> list[str]:
        return [r["ReceiptType"] for r in self.receipts(page)]

    def wait_receipts(self, page: str, types: list[str]) -> list[dict[str, Any]]:
        def ready() -> list[dict[str, Any]] | None:
            receipts = self.receipts(page)
            return receipts if [r["ReceiptType"] for r in receipts] == types else None
        found: list[dict[str, Any]] = wait_until(ready, message=f"receipts {types}")
        return found

    def events(self, engagement: str) -> list[dict[str, Any]]:
        if self.backend.server is None:
            events: list[dict[str, Any]] = self.backend.mock.engagement_events(engagement)
            return events
        response = httpx.get(f"{self.backend.server.url}/_aws/ssm-contacts/engagements/events",
                             params={"EngagementArn": engagement}, timeout=10)
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()["events"]
        return result

    def wait_events(self, engagement: str, kind: str, count: int = 1) -> list[dict[str, Any]]:
        def ready() -> list[dict[str, Any]] | None:
            found = [e for e in self.events(engagement) if e["Type"] == kind]
            return found if len(found) >= count else None
        found: list[dict[str, Any]] = wait_until(ready, message=f"{count} {kind} events")
        return found

    # -- time -------------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        self.backend.advance(seconds)

    def quiesce(self) -> None:
        """Return once the engine has taken every timer that is due now (see the module)."""
        if self.backend.server is None:
            return
        if self._sentinel is None:
            # In an account of its own, so that it shows in none of the test's listings.
            client = self.backend.client(account=new_account())
            contact = client.create_contact(Alias="sentinel", Type="PERSONAL",
                                            Plan={"Stages": []})["ContactArn"]
            channel = client.create_contact_channel(
                ContactId=contact, Name="never activated", Type="EMAIL",
                DeliveryAddress={"SimpleAddress": "sentinel@example.com"},
                DeferActivation=True)["ContactChannelArn"]
            client.update_contact(ContactId=contact, Plan={"Stages": [{
                "DurationInMinutes": 1,
                "Targets": [{"ChannelTargetInfo": {"ContactChannelId": channel}}]}]})
            self._sentinel = contact
            self._sentinel_client = client
        engagement = self._sentinel_client.start_engagement(
            ContactId=self._sentinel, Sender="sentinel", Subject="-", Content="-",
        )["EngagementArn"]
        self.wait_events(engagement, "CHANNEL_SKIPPED")


__all__ = ["EMAIL", "PHONE", "VOICE_PHONE", "Paging", "Person", "wait_until"]
