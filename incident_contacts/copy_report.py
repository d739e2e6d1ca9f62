"""What ``incident-contacts copy`` tells its user (:mod:`incident_contacts.copying`): one outcome
per item, the summary, and why a run stopped early; and which errors stop a run.

An error that concerns one item (the target refuses a contact as invalid, a name is taken)
fails that item alone and the copy goes on. An error that every later call would meet stops
the run: a side that cannot be reached or times out, that refuses the credentials, that
throttles after the client's retries, that answers "unavailable" (502, 503, 504), or that
fails three calls in a row with another server error (one 500 may be about the item, three
are about the server). The summary of what was done is given either way.

Failure reasons never show a delivery address: every reason goes through :meth:`Report.scrub`,
which takes out the addresses the copy has read and the values an error message quotes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

RERUN_SAFE = ("what is listed above was done; running the command again is safe: it matches "
              "what exists on the target rather than duplicating it, and goes on from there")
DRY_RUN_STOPPED = "a dry run writes nothing: run it again once the cause is gone"

#: Errors every later call would meet too.
_THROTTLED = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException",
                        "RequestLimitExceeded", "SlowDown"})
_REFUSED = frozenset({"UnrecognizedClientException", "InvalidSignatureException",
                      "MissingAuthenticationTokenException", "IncompleteSignatureException",
                      "ExpiredTokenException", "ExpiredToken", "InvalidClientTokenId",
                      "SignatureDoesNotMatch", "AuthFailure"})
_UNAVAILABLE = frozenset({502, 503, 504})
SERVER_ERRORS_IN_A_ROW = 3


class RunStopped(Exception):
    """An error after which the run cannot go on; ``reason`` says why (addresses taken out)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.recorded = False       # the item under way has been reported failed with it


@dataclass
class Outcome:
    kind: str            # contact, channel, rotation, override, plan, policy, activation
    name: str
    status: str          # created, updated, matched, skipped, failed (dry run: "would ...")
    reason: str = ""
    differs: list[str] = field(default_factory=list)   # of a matched or updated item

    def line(self) -> str:
        text = f"{self.status:<12} {self.kind:<9} {self.name}"
        details = []
        if self.differs:
            prefix = "" if self.status in ("updated", "would update") else "differs: "
            details.append(prefix + ", ".join(self.differs))
        if self.reason:
            details.append(self.reason)
        return f"{text}: {'; '.join(details)}" if details else text


# A quoted value ends at the quote before " at '<path>'" (an address may hold an apostrophe).
_QUOTED_VALUE = re.compile(r"Value '.*?'(?= at ')|Value '[^']*'")
# A URL's user and password run to the last "@" of its authority: one written unencoded
# may hold "@", quotes or spaces of its own.
_URL_USER = re.compile(r"(?<=//)[^/?#\r\n]*@")


@dataclass
class Report:
    dry_run: bool = False
    update: bool = False
    outcomes: list[Outcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stopped: str = ""                                   # why the run stopped early, if it did
    addresses: set[str] = field(default_factory=set, repr=False)

    def add(self, kind: str, name: str, status: str, reason: str = "") -> Outcome:
        outcome = Outcome(kind, name, status, self.scrub(reason))
        self.outcomes.append(outcome)
        return outcome

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    def differing(self) -> int:
        return sum(1 for o in self.outcomes if o.status == "matched" and o.differs)

    @property
    def ok(self) -> bool:
        return self.count("failed") == 0 and not self.stopped

    def summary(self) -> str:
        done = ["created", "updated"] if self.update else ["created"]
        statuses = [f"would {s[:-1]}" for s in done] if self.dry_run else done
        parts = [f"{status} {self.count(status)}" for status in statuses]
        differ = self.differing()
        parts.append(f"matched {self.count('matched')}"
                     + (f" ({differ} differ, left as they are)" if differ else ""))
        parts += [f"{status} {self.count(status)}" for status in ("skipped", "failed")]
        return ", ".join(parts)

    def stop_lines(self) -> list[str]:
        """What a run that stopped early says before its summary."""
        if not self.stopped:
            return []
        return [f"stopped early: {self.stopped}", DRY_RUN_STOPPED if self.dry_run else RERUN_SAFE]

    def scrub(self, text: str) -> str:
        """``text`` without the addresses the copy has read, whole or cut short (a validation
        message quotes a value's start only, so quoted values go too), nor a user and
        password written into a URL."""
        for address in sorted(self.addresses, key=len, reverse=True):
            text = text.replace(address, "(address)")
        text = _QUOTED_VALUE.sub("Value (hidden)", text)
        return _URL_USER.sub("(hidden)@", text)


def error_text(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".rstrip(": ")


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


@dataclass
class Side:
    """One side's boto3 client (``name``: source or target), its errors sorted into those that
    fail an item (raised as they are) and those that stop the run (:class:`RunStopped`)."""

    client: Any
    name: str
    report: Report
    server_errors: int = 0          # answered one after another, none since succeeded

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        with self._sorted():
            result: dict[str, Any] = getattr(self.client, operation)(**params)
        return result

    def pages(self, operation: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
        with self._sorted():
            pages = iter(self.client.get_paginator(operation).paginate(**params))
        while True:
            with self._sorted():
                page = next(pages, None)
            if page is None:
                return
            yield from page.get(key, [])

    @contextmanager
    def _sorted(self) -> Iterator[None]:
        try:
            yield
        except ParamValidationError:
            raise                   # the client's own check of one item's parameters
        except BotoCoreError as exc:
            raise self._stop(f"could not be called ({exc})") from exc
        except ClientError as exc:
            code, status = error_code(exc), _status(exc)
            if code in _THROTTLED or status == 429:
                raise self._stop(f"kept throttling after the retries ({error_text(exc)}); "
                                 "wait a while before running again") from exc
            if code in _REFUSED:
                raise self._stop(f"refused the credentials ({error_text(exc)})") from exc
            if status in _UNAVAILABLE:
                raise self._stop(f"is unavailable (HTTP {status}, {error_text(exc)})") from exc
            if status >= 500:
                self.server_errors += 1
                if self.server_errors >= SERVER_ERRORS_IN_A_ROW:
                    raise self._stop(f"failed {self.server_errors} calls in a row "
                                     f"({error_text(exc)})") from exc
            else:
                self.server_errors = 0
            raise
        else:
            self.server_errors = 0

    def _stop(self, why: str) -> RunStopped:
        return RunStopped(self.report.scrub(f"the {self.name} {why}"))


__all__ = ["DRY_RUN_STOPPED", "RERUN_SAFE", "SERVER_ERRORS_IN_A_ROW", "Outcome", "Report",
           "RunStopped", "Side", "error_code", "error_text"]
