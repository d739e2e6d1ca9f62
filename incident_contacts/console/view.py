"""What every console page shares: the templates and their filters, the security headers,
and calling the API as the signed-in principal."""

from __future__ import annotations

import datetime
import json
import zoneinfo
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from incident_contacts.api.dispatch import Dispatcher
from incident_contacts.auth.credentials import CredentialStore
from incident_contacts.console import forms
from incident_contacts.console.addresses import _here
from incident_contacts.console.fields import Failed, failed_form, in_words
from incident_contacts.console.sign_ins import SignInLimits
from incident_contacts.errors import ServiceError
from incident_contacts.runtime import Runtime
from incident_contacts.service.context import Caller

_T = TypeVar("_T")
HERE = Path(__file__).parent

_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _when(value: Any) -> str:
    """Epoch seconds as a UTC time; nothing for a member that is absent."""
    if not isinstance(value, int | float):
        return ""
    moment = datetime.datetime.fromtimestamp(value, datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _zoned(value: Any, zone: str) -> str:
    """Epoch seconds as a time in ``zone`` (a rotation's); nothing for an absent member."""
    if not isinstance(value, int | float):
        return ""
    try:
        where = zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return _when(value)
    return datetime.datetime.fromtimestamp(value, where).strftime("%a %Y-%m-%d %H:%M %Z")


@jinja2.pass_context
def _kept(context: Any, action: str, name: str, default: Any = "",
          arn: str | None = None, key: str | None = None) -> Any:
    """A field's value as the failed form sent it, when that form is this one; else
    ``default`` (what the page shows when nothing failed)."""
    failed = context.get("failed")
    if isinstance(failed, Failed) and failed.is_for(action, arn, key):
        return failed.form.get(name, "")
    return default


@jinja2.pass_context
def _failed_for(context: Any, action: str, arn: str | None = None,
                key: str | None = None) -> str:
    """The message of the failed form when it is this one, else nothing."""
    failed = context.get("failed")
    if isinstance(failed, Failed) and failed.is_for(action, arn, key):
        return failed.message
    return ""


def _pretty(policy: Any) -> str:
    """A policy document indented to be read; as it is when it is not JSON."""
    try:
        return json.dumps(json.loads(policy), indent=2)
    except (TypeError, ValueError):
        return str(policy)


def _short(arn: Any) -> str:
    """The part of an ARN a person recognises; nothing for a member that is absent."""
    return forms.short(arn) if isinstance(arn, str) and arn else ""


class ConsoleBase:
    """The console's state, its templates, and its calls to the API."""

    def __init__(self, runtime: Runtime, dispatcher: Dispatcher,
                 credentials: CredentialStore | None) -> None:
        self.runtime = runtime
        self.dispatcher = dispatcher
        self.credentials = credentials
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
            trim_blocks=True, lstrip_blocks=True,
            undefined=jinja2.ChainableUndefined)  # absent members are absent, as on the wire
        self.templates.filters["when"] = _when
        self.templates.filters["short"] = _short
        self.templates.filters["local"] = _zoned
        self.templates.filters["pretty"] = _pretty
        self.templates.globals["kept"] = _kept
        self.templates.globals["failed_for"] = _failed_for
        self.pages: dict[str, Callable[[Request, Caller], Awaitable[Response]]] = {}
        self.sign_ins = SignInLimits(runtime)

    def render(self, request: Request, template: str, status: int = 200,
               **values: Any) -> HTMLResponse:
        session = request.session
        headers = {**_HEADERS, **values.pop("headers", {})}
        body = self.templates.get_template(template).render(
            caller=values.pop("caller", None), csrf=session.get("csrf", ""),
            flash=session.pop("flash", None), auth=self.runtime.settings.auth,
            failed=failed_form(request), here=_here(request), **values)
        return HTMLResponse(body, status_code=status, headers=headers)

    async def call(self, caller: Caller, operation: str, **params: Any) -> dict[str, Any]:
        """An API operation as ``caller``; like API requests, on the event loop on SQLite and
        in a thread on PostgreSQL."""
        return await self._run(self.dispatcher.call, caller, operation, params)

    async def section(self, caller: Caller, operation: str,
                      **params: Any) -> dict[str, Any] | str:
        """An operation for one part of a page: refused, its error is shown in that part
        instead of failing the page."""
        try:
            return await self.call(caller, operation, **params)
        except ServiceError as exc:
            return in_words(exc.code, exc.message)

    async def _run(self, function: Callable[..., _T], *args: Any) -> _T:
        if self.runtime.store.sqlite:
            return function(*args)
        return await anyio.to_thread.run_sync(function, *args)


__all__ = ["HERE", "ConsoleBase"]
