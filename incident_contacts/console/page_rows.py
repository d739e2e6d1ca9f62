"""An engagement's pages and log lines as its page shows them."""

from __future__ import annotations

from typing import Any

from incident_contacts.console.view import _short
from incident_contacts.service import arns


class PageRow:
    """A page as the engagement's page shows it: the channel it went to (from its SENT or
    ERROR receipt), what became of it in words, its receipts and the contacts it came
    through (ListPageResolutions: the engaged contact down to the person)."""

    def __init__(self, page: dict[str, Any], receipts: list[dict[str, Any]] | str,
                 path: list[dict[str, Any]], channels: dict[str, str]) -> None:
        self.page = page
        self.receipts = receipts            # the API's refusal, when it is a string
        self.path = [_short(step.get("ContactArn")) for step in path]
        # The stage of the engaged plan that led here: on the step it reached (a person, or
        # an on-call schedule with the person after it).
        stage = next((step["StageIndex"] for step in path
                      if isinstance(step.get("StageIndex"), int)), None)
        self.stage = stage + 1 if stage is not None else None
        listed = receipts if isinstance(receipts, list) else []
        channel = next((r["ContactChannelArn"] for r in listed if r.get("ContactChannelArn")),
                       None)
        self.channel = (channels.get(channel) or _short(channel)) if channel else ""
        self.channels = channels
        self.status = self._status(listed)

    def _status(self, receipts: list[dict[str, Any]]) -> str:
        kinds = [r["ReceiptType"] for r in receipts]
        if self.page.get("ReadTime") is not None:
            return "Read: acknowledged"
        if isinstance(self.receipts, str):          # only the page's own times are known
            return ("Delivered, not acknowledged" if self.page.get("DeliveryTime") is not None
                    else "Not acknowledged")
        errors = [at for at, kind in enumerate(kinds) if kind == "ERROR"]
        if errors and "SENT" not in kinds[errors[-1]:]:
            reason = receipts[errors[-1]].get("ReceiptInfo") or "the delivery failed"
            return f"Not delivered: {reason}"
        if "STOP" in kinds:
            return "Stopped before it was acknowledged"
        if self.page.get("DeliveryTime") is not None:
            return "Delivered, not acknowledged"
        if "SENT" in kinds:
            return "Sent, not acknowledged"
        return "Waiting to be sent"

    def channel_of(self, receipt: dict[str, Any]) -> str:
        arn = receipt.get("ContactChannelArn")
        return (self.channels.get(arn) or _short(arn)) if arn else ""


def _channel_owners(events: list[dict[str, Any]]) -> list[str]:
    """The contacts whose channels the log names, so that it can name them."""
    owners = []
    for event in events:
        parsed = arns.parse(str(event.get("ContactChannelArn") or ""))
        if parsed is not None and parsed.kind == "contact-channel" and parsed.parts:
            owners.append(arns.contact_arn(parsed.region, parsed.account, parsed.parts[0]))
    return owners


__all__ = ["PageRow"]
