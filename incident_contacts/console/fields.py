"""Reading a submitted form: what every action builder shares.

An action builder turns a form into an :class:`Action` (one API operation, its parameters,
what to say when it succeeds, where to go then), or raises :class:`FormError` when the form
cannot become a request at all. Anything that can become a request goes to the API, which
checks it as it checks any client's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

WHOLE = re.compile(r"[0-9]{1,4}")
"""A whole number as a form sends it: ASCII digits only (``"²".isdigit()`` is true)."""


class FormError(Exception):
    """A form that cannot become a request; the message says what to change."""


@dataclass(frozen=True)
class Action:
    operation: str
    params: dict[str, Any]
    done: str
    # The page to show after success, from the operation's answer; None: the page the form
    # was sent from.
    then: Callable[[dict[str, Any]], str] | None = None


@dataclass(frozen=True)
class Failed:
    """A form the console could not turn into a change: the page it came from is shown again
    with its input and this message beside it."""

    action: str
    form: dict[str, str]
    message: str

    def is_for(self, action: str, arn: str | None = None, key: str | None = None) -> bool:
        """Whether the form that failed is this one (of this action, for this resource, for
        this tag key): a page may hold one form of an action per channel, page or tag."""
        return (action == self.action
                and (arn is None or self.form.get("arn") == arn)
                and (key is None or self.form.get("key") == key))


FAILED = "incident_contacts.console.failed"
"""The request scope's key for the :class:`Failed` form a page is shown again for."""


def failed_form(request: Request) -> Failed | None:
    """The form that failed, when this page is shown again for it."""
    failed = request.scope.get(FAILED)
    return failed if isinstance(failed, Failed) else None


def text(form: Mapping[str, str], name: str) -> str | None:
    """A text field, trimmed; None when blank, so the API sees the member absent."""
    value = form.get(name, "").strip()
    return value or None


_REFUSED_FIELD = re.compile(r"at '(?:[^']*\.)?([A-Za-z]+)(?:\[[0-9]+\])?' failed to satisfy "
                            r"constraint: Member must (satisfy regular expression|have value)")
_IN_WORDS = {
    ("Alias", "satisfy regular expression"):
        "an alias holds only lower-case letters, digits, _ and -",
    ("DisplayName", "satisfy regular expression"):
        "a name holds only letters, digits, spaces, _ . and - (no emoji or other symbols)",
    ("Name", "satisfy regular expression"):
        "a name holds only letters, digits, spaces, _ . and - (no emoji or other symbols)",
    ("HourOfDay", "have value"): "a time of day is 00:00 to 23:59",
    ("MinuteOfHour", "have value"): "a time of day is 00:00 to 23:59",
}


def in_words(code: str, message: str) -> str:
    """An API error as a form shows it: as the API says it, then, for a refusal whose
    constraint is a regular expression or a range a person cannot be expected to read, what
    it asks in words."""
    hints = dict.fromkeys(_IN_WORDS[key] for key in (
        (match.group(1), match.group(2)) for match in _REFUSED_FIELD.finditer(message))
        if key in _IN_WORDS)
    said = f"{code}: {message}"
    return said if not hints else f"{said} In words: {'; '.join(hints)}."


def confirmed(form: Mapping[str, str], what: str, done: str = "deleted") -> None:
    """Refuse a form whose confirmation box (``confirm=yes``) is not ticked: what cannot be
    undone (a deletion, a stop) asks for it, as a browser without the box's ``required``
    (or a stray Enter) would otherwise send it at once."""
    if form.get("confirm") != "yes":
        raise FormError(f"Tick the box to confirm that the {what} is to be {done}.")


def whole(value: str, what: str) -> int:
    if not WHOLE.fullmatch(value):
        raise FormError(f"{what} is a whole number of minutes.")
    return int(value)


def count(form: Mapping[str, str], name: str, what: str) -> int:
    """A whole number field; 1 when blank."""
    value = form.get(name, "").strip() or "1"
    if not WHOLE.fullmatch(value):
        raise FormError(f"{what} is a whole number.")
    return int(value)


__all__ = ["FAILED", "WHOLE", "Action", "Failed", "FormError", "confirmed", "count", "failed_form",
           "text", "whole"]
