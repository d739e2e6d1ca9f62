"""An engagement's log in words, for its console page.

Besides its pages, the engine records in the engagement's log what it did that sent nothing
or stopped something: an on-call schedule with nobody on call, a person whose plan has no
stages, a channel skipped because it is not activated, an acknowledgement, the stop (with its
reason). The inspection endpoint (``/_aws/ssm-contacts/engagements/events``) shows the log as
data; without it on the page, an engagement that paged nobody looked as if its pages were
still to come. The page is shown only to a principal allowed DescribeEngagement on the
engagement, the permission the inspection endpoint asks for the same log.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

SHOWN = 50
"""The newest log lines an engagement's page shows (retried pages may add many)."""


@dataclass(frozen=True)
class LogLine:
    at: float
    text: str


def _stage(event: Mapping[str, Any]) -> str:
    stage = event.get("Stage")
    return f" (stage {stage + 1})" if isinstance(stage, int) else ""


def _last(event: Mapping[str, Any], short: Callable[[Any], str]) -> str:
    path = event.get("Resolution") or []
    return short(path[-1].get("ContactArn")) if path else "a contact"


def _skipped_channel(reason: Any) -> str:
    return ("it is not activated (activate it with a code on its contact's page)"
            if reason == "NOT_ACTIVATED" else "it no longer exists")


def describe(event: Mapping[str, Any], short: Callable[[Any], str],
             channel: Callable[[Any], str]) -> str:
    """One event of the log (``engagements.list_events``) in a sentence. ``short`` names a
    contact or page by its ARN, ``channel`` a channel."""
    kind = event.get("Type")
    if kind == "NOBODY_ON_CALL":
        return (f"Nobody was on call in {_last(event, short)}{_stage(event)}: no page was "
                "sent through it. Its rotations' pages show who is on call when.")
    if kind == "NO_STAGES":
        return (f"{_last(event, short)} has no stages in their engagement plan, so no page "
                "was sent to them: add a stage with their channels on their page.")
    if kind == "CHANNEL_SKIPPED":
        return (f"The channel {channel(event.get('ContactChannelArn'))} was skipped"
                f"{_stage(event)}: {_skipped_channel(event.get('Reason'))}.")
    if kind == "CONTACT_SKIPPED":
        why = ("an escalation plan cannot engage another escalation plan"
               if event.get("Reason") == "NOT_ENGAGEABLE" else "it no longer exists")
        return f"The contact {short(event.get('ContactArn'))} was skipped{_stage(event)}: {why}."
    if kind == "RETRY_SKIPPED":
        state = ("is not activated" if event.get("Reason") == "NOT_ACTIVATED"
                 else "no longer exists")
        return f"The page {short(event.get('PageArn'))} was not sent again: its channel {state}."
    if kind == "PAGE_RETRIED":
        return f"The page {short(event.get('PageArn'))} was sent again (its retry interval)."
    if kind == "ACKNOWLEDGED":
        stopped = event.get("StoppedPlans") or 0
        return (f"{_last(event, short)} acknowledged a page"
                + (f"; {stopped} of their plans stopped paging." if stopped != 1
                   else "; their plan stopped paging them."))
    if kind == "ESCALATION_STOPPED":
        return ("An essential contact acknowledged: the escalation plan's later stages will "
                "not page.")
    if kind == "ENGAGEMENT_STOPPED":
        reason = event.get("Reason")
        unread = event.get("UnreadPages") or 0
        return ("The engagement was stopped" + (f" ({reason})" if reason else "")
                + (f"; {unread} pages were not acknowledged." if unread else "."))
    if kind == "STEP_FAILED":
        return ("A step of the engine failed again and again and was given up: the server's "
                "log says why.")
    return str(kind)


def log_lines(events: list[dict[str, Any]], short: Callable[[Any], str],
              channel: Callable[[Any], str]) -> tuple[list[LogLine], int]:
    """The newest ``SHOWN`` events in words, oldest first, and how many older ones are left
    out."""
    shown = events[-SHOWN:]
    return ([LogLine(float(e.get("Time") or 0), describe(e, short, channel)) for e in shown],
            len(events) - len(shown))


__all__ = ["SHOWN", "LogLine", "describe", "log_lines"]
