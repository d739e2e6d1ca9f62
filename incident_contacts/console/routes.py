"""The console's pages and actions. Signing in is :mod:`.sessions`, where forms go back to
:mod:`.addresses`, what every page shares :mod:`.view`, rotations :mod:`.rotation_pages`.

Reading and acting
    Every page calls API operations through ``Dispatcher.call`` as the signed-in principal,
    so the authorization, validation, account and region are those of the API, and an
    operation the principal may not call shows the API's AccessDeniedException. Each form
    that changes something, and the sign-in form, carries a per-session token (compared in
    constant time), on top of the ``SameSite`` cookie. A page is acknowledged with the
    accept code it carried (AcceptPage with ENFORCE), as from the phone, while its
    engagement is open: once stopped, its pages offer no form and a form sent anyway is
    refused (the API would record the READ, to no effect). Contacts, their
    channels and plans, rotations and overrides are created, changed and deleted the same
    way (``console.forms``), as are tags and contact policies; a rotation form can show the
    shifts it would give before it is saved (ListPreviewRotationShifts). The delivery page,
    which has no API operation, is shown to principals who may read every channel of the
    account (``GetContactChannel`` on ``contact-channel/*``); it never shows activation or
    accept codes, nor message bodies. It names each channel ("alias: name") with one
    ListContactChannels per contact of the messages shown, for at most ``NAMED_CONTACTS``
    contacts; other channels, and those the principal may not list, show their ARN's end.

Forms that fail
    A form the console cannot turn into a request, or that the API refuses, changes nothing
    and is not redirected: the page it came from is rendered again (``Console.again``) with
    the input as typed and the error beside the form (and at the top). A form sent after the
    session ended leads, once signed in again, back to the page it came from; without a
    session only the form's first ``PEEK`` bytes are read, to find that page.

Lists
    Lists page forward with the API's tokens; each link carries the tokens of the pages
    before it (``prev``), so a list also has "Previous page" and "First page" links. Contacts
    filter by alias prefix, engagements by incident, rotations by name prefix. An
    engagement's pages are shown ``PAGES_SHOWN`` at a time, with their channel, status in
    words, receipts and the contacts they came through (ListPageReceipts,
    ListPageResolutions: the API has no call for many pages at once, so a view costs at most
    three calls a page shown, and fewer when the engaged contact is the person paged).

No page uses JavaScript; responses forbid framing and any script (a strict
Content-Security-Policy).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from incident_contacts.api.dispatch import Dispatcher
from incident_contacts.auth.credentials import CredentialStore
from incident_contacts.auth.principals import identity_allows
from incident_contacts.console import engine_log, forms, rotation_pages
from incident_contacts.console.addresses import BACK_LIMIT as BACK_LIMIT
from incident_contacts.console.addresses import MAX_FORM as MAX_FORM
from incident_contacts.console.addresses import PAGE_PATHS as PAGE_PATHS
from incident_contacts.console.addresses import PEEK as PEEK
from incident_contacts.console.addresses import _here, _local, _peek, _resource_page
from incident_contacts.console.fields import FAILED, Failed, failed_form, in_words
from incident_contacts.console.page_rows import PageRow as PageRow
from incident_contacts.console.page_rows import _channel_owners
from incident_contacts.console.rotation_forms import NEW_ROTATION
from incident_contacts.console.sessions import SESSION_SECONDS, Sessions
from incident_contacts.console.view import _HEADERS, HERE
from incident_contacts.console.view import _short as _short
from incident_contacts.errors import (
    DataEncryptionException,
    ServiceError,
    ValidationException,
)
from incident_contacts.runtime import Runtime
from incident_contacts.service import arns, engagements
from incident_contacts.service.context import Caller
from incident_contacts.store.schema.delivery import outbox

log = logging.getLogger(__name__)
LARGE_FORM = 4 * 1024 * 1024    # a contact policy: 395,000 characters, percent-encoded
OUTBOX_ROWS = 200
NAMED_CONTACTS = 50             # contacts whose channels the delivery page names (a call each)
RECORDED_PREFIX = "dev-"        # the provider message ids of RecordingTransport
# Their whole form, ``dev-`` and a uuid's 32 hex digits: a real provider may name its own
# messages ``dev-...`` too (a webhook receiver answers with any id it likes), and a message it
# sent is not "recorded, not sent".
RECORDED_ID = re.compile(re.escape(RECORDED_PREFIX) + "[0-9a-f]{32}")
LISTED = 100                    # items a list page shows
PAGES_SHOWN = 25                # pages of an engagement shown at once (each costs API calls)
TRAIL = 50                      # earlier pages a list remembers for its "Previous page" link
OPTIONS = 500                   # contacts or rotations a form offers to choose from
STOPPED = ("This engagement has stopped: its pages are no longer acknowledged, as an "
           "acknowledgement would change nothing.")
_ROW_ID = re.compile(r"[0-9]{1,18}")


@dataclass(frozen=True)
class Pager:
    """Links to the next, previous and first pages of a list whose API pages forward only:
    each link carries the tokens of the pages before it (``prev``, "" for the first page),
    so "Previous page" is one of them. Keyset tokens keep a page's place however many
    items are added before it."""

    next: str | None
    previous: str | None
    first: str | None
    number: int | None          # None when the trail was cut short


def _pager(request: Request, path: str, token: str | None,
           filters: dict[str, str] | None = None) -> Pager:
    """The pager of a list page shown with the query's ``next`` token, whose following page
    has ``token``."""
    query = request.query_params
    current = query.get("next") or ""
    trail = query.getlist("prev")[-TRAIL:]
    kept = {name: value for name, value in (filters or {}).items() if value}

    def link(next_token: str, before: list[str]) -> str:
        params: list[tuple[str, str]] = list(kept.items())
        if next_token:
            params.append(("next", next_token))
            params += [("prev", t) for t in before[-TRAIL:]]
        return path + ("?" + urlencode(params) if params else "")

    following = link(token, [*trail, current]) if token else None
    previous = first = None
    if current:
        first = link("", [])
        previous = link(trail[-1], trail[:-1]) if trail else None
    cut = bool(current) and (not trail or trail[0] != "")
    return Pager(following, previous, first, None if cut else len(trail) + 1)


class Console(Sessions):
    """The pages (other than signing in) and the forms' actions."""

    # -- pages --------------------------------------------------------------------------------

    async def overview(self, request: Request, caller: Caller) -> Response:
        """Open engagements, contacts and rotations; a part the principal may not list says
        so instead of failing the page."""
        parts: dict[str, dict[str, Any] | str] = {}
        for operation in ("ListEngagements", "ListContacts", "ListRotations"):
            try:
                parts[operation] = await self.call(caller, operation, MaxResults=100)
            except ServiceError as exc:
                parts[operation] = f"{exc.code}: {exc.message}"
        return self.render(request, "overview.html", caller=caller, parts=parts)

    async def contacts(self, request: Request, caller: Caller) -> Response:
        # Aliases are lower case: "Ama" finds ama.
        return await self._listing(request, caller, "ListContacts", "Contacts",
                                   {"prefix": ("AliasPrefix", str.lower)},
                                   rotations=await self._options(caller, "ListRotations"))

    async def contact(self, request: Request, caller: Caller) -> Response:
        arn = request.query_params.get("arn", "")
        contact = await self.call(caller, "GetContact", ContactId=arn)
        channels: list[dict[str, Any]] | str
        try:
            channels = (await self.call(caller, "ListContactChannels", ContactId=arn,
                                        MaxResults=100))["ContactChannels"]
        except ServiceError as exc:  # a principal may see a contact and not its addresses
            channels = f"{exc.code}: {exc.message}"
        # What the plan editor offers: the contact's channels, the account's contacts that
        # an escalation plan may engage, or its rotations.
        options: list[tuple[str, str]] = []
        # Beyond forms.BOXED_OPTIONS, the page lists them once (value typed, words shown).
        choices: list[tuple[str, str]] = []
        if contact["Type"] == "PERSONAL" and not isinstance(channels, str):
            options = [(ch["ContactChannelArn"], f"{ch['Name']} ({ch['Type']})")
                       for ch in channels]
            choices = options
        elif contact["Type"] == "ESCALATION":
            engaged = [c for c in await self._options(caller, "ListContacts")
                       if c["Type"] != "ESCALATION" and c["ContactArn"] != contact["ContactArn"]]
            options = [(c["ContactArn"], c["Alias"]) for c in engaged]
            # An alias names a contact of the caller's account; one shared from another
            # account is chosen by its ARN.
            choices = [(c["Alias"] if c["ContactArn"] == arns.contact_arn(
                            caller.region, caller.account, c["Alias"]) else c["ContactArn"],
                        c.get("DisplayName") or c["Alias"]) for c in engaged]
        # A plan form that failed is shown as it was sent, to be corrected.
        failed = failed_form(request)
        kept = (failed.form if failed is not None
                and failed.is_for("update-plan", contact["ContactArn"]) else None)
        rotations = []
        if contact["Type"] == "ONCALL_SCHEDULE":
            chosen = contact["Plan"].get("RotationIds") or []
            if kept is not None:
                chosen = forms.rotations_of(kept)
            listed = {r["RotationArn"]: r["Name"]
                      for r in await self._options(caller, "ListRotations")}
            rotations = [(r, listed.get(r) or forms.short(r), True) for r in chosen]
            rotations += [(r, name, False) for r, name in listed.items() if r not in chosen]
        stages = (forms.plan_rows(contact, options) if kept is None
                  else forms.kept_rows(kept, contact["Type"], options))
        return self.render(request, "contact.html", caller=caller, contact=contact,
                           channels=channels, stages=stages, rotations=rotations,
                           labels=dict(options),
                           choices=[] if forms.boxed(options) else choices,
                           tags=await self.section(caller, "ListTagsForResource",
                                                   ResourceARN=contact["ContactArn"]),
                           policy=await self.section(caller, "GetContactPolicy",
                                                     ContactArn=contact["ContactArn"]))

    async def _options(self, caller: Caller, operation: str) -> list[dict[str, Any]]:
        """Up to ``OPTIONS`` items of a List operation, for a form to choose from; none when
        the principal may not list them (the API then refuses the form's choices too)."""
        member = operation.removeprefix("List")
        items: list[dict[str, Any]] = []
        token = None
        try:
            while len(items) < OPTIONS:
                page = await self.call(caller, operation, MaxResults=100, NextToken=token)
                items += page[member]
                token = page.get("NextToken")
                if token is None:
                    break
        except ServiceError:
            return []
        return items[:OPTIONS]

    async def _listing(self, request: Request, caller: Caller, operation: str,
                       member: str,
                       filters: dict[str, tuple[str, Callable[[str], str]]] | None = None,
                       **values: Any) -> Response:
        """One page of a List operation, in the template named after its member, with links
        to the next, previous and first pages. ``filters`` maps a query field to the
        operation's member it fills (and how the typed value is read); a filter or page
        token the API refuses is shown beside the filter, with the filter as typed."""
        query = request.query_params
        typed = {name: query.get(name, "").strip() for name in filters or {}}
        params = {member_name: read(typed[name]) if typed[name] else None
                  for name, (member_name, read) in (filters or {}).items()}
        error = None
        try:
            page = await self.call(caller, operation, MaxResults=LISTED,
                                   NextToken=query.get("next") or None, **params)
        except ValidationException as exc:
            page, error = {}, f"{exc.code}: {exc.message}"
        name = member.lower()
        return self.render(request, f"{name}.html", status=400 if error else 200,
                           caller=caller, filters=typed, filter_error=error,
                           paging=_pager(request, f"/console/{name}", page.get("NextToken"),
                                        typed),
                           **{name: page.get(member, [])}, **values)

    async def engagements(self, request: Request, caller: Caller) -> Response:
        return await self._listing(request, caller, "ListEngagements", "Engagements",
                                   {"incident": ("IncidentId", str)})

    async def engagement(self, request: Request, caller: Caller) -> Response:
        """An engagement and its pages, ``PAGES_SHOWN`` at a time: for each, whom it reached
        through which contacts, on which channel, when it was sent, delivered and read, and
        its receipts (a failed delivery with its reason).

        The API has no call for many pages' receipts, so each page shown costs one
        ListPageReceipts, and one ListPageResolutions unless it went to the engaged contact
        itself (a person: there is no path to show); channel names cost one
        ListContactChannels per person whose receipts name a channel."""
        arn = request.query_params.get("arn", "")
        engagement = await self.call(caller, "DescribeEngagement", EngagementId=arn)
        listed = await self.call(caller, "ListPagesByEngagement", EngagementId=arn,
                                 MaxResults=PAGES_SHOWN,
                                 NextToken=request.query_params.get("next") or None)
        shown: list[tuple[dict[str, Any], list[dict[str, Any]] | str, list[dict[str, Any]]]] = []
        for page in listed["Pages"]:
            receipts = await self.section(caller, "ListPageReceipts", PageId=page["PageArn"],
                                          MaxResults=100)
            path: dict[str, Any] | str = {"PageResolutions": []}
            if page["ContactArn"] != engagement["ContactArn"]:
                path = await self.section(caller, "ListPageResolutions",
                                          PageId=page["PageArn"])
            shown.append((page, receipts if isinstance(receipts, str)
                          else receipts["Receipts"],
                          [] if isinstance(path, str) else path["PageResolutions"]))
        events = await self._run(self._events, caller, engagement["EngagementArn"])
        named = dict.fromkeys(page["ContactArn"] for page, receipts, _ in shown
                              if not isinstance(receipts, str)
                              and any(r.get("ContactChannelArn") for r in receipts))
        # Only the lines shown name channels: a long log (retries add many) costs no more.
        named.update(dict.fromkeys(_channel_owners(events[-engine_log.SHOWN:])))
        channels: dict[str, str] = {}
        for contact in named:
            found = await self.section(caller, "ListContactChannels", ContactId=contact,
                                       MaxResults=100)
            if not isinstance(found, str):      # else: shown by the end of its ARN
                channels.update((ch["ContactChannelArn"], f"{ch['Name']} ({ch['Type']})")
                                for ch in found["ContactChannels"])
        pages = [PageRow(page, receipts, path, channels) for page, receipts, path in shown]
        log_shown, log_left = engine_log.log_lines(
            events, _short, lambda arn: channels.get(arn) or _short(arn))
        return self.render(request, "engagement.html", caller=caller, engagement=engagement,
                           pages=pages, paging=_pager(request, "/console/engagement",
                                                     listed.get("NextToken"), {"arn": arn}),
                           log=log_shown, log_left=log_left)

    def _events(self, caller: Caller, arn: str) -> list[dict[str, Any]]:
        """The engagement's log (:mod:`incident_contacts.console.engine_log`); read once
        DescribeEngagement has let the caller see the engagement."""
        with self.runtime.store.transaction(write=False) as conn:
            return engagements.list_events(conn, self.runtime, arn,
                                           place=(caller.account, caller.region)) or []

    async def rotations(self, request: Request, caller: Caller) -> Response:
        failed = failed_form(request)
        form = (failed.form if failed is not None and failed.action == "create-rotation"
                else NEW_ROTATION)
        return await self._listing(request, caller, "ListRotations", "Rotations",
                                   {"name": ("RotationNamePrefix", str)},
                                   f={**form, "back": _here(request)})

    async def delivery(self, request: Request, caller: Caller) -> Response:
        if not self._may_read_every_channel(caller):
            return self.render(request, "error.html", status=403, caller=caller,
                               code="AccessDeniedException",
                               message="Delivery status shows every channel's address: it "
                                       "needs ssm-contacts:GetContactChannel on every channel "
                                       "of the account.")
        before = request.query_params.get("before", "")
        older = int(before) if _ROW_ID.fullmatch(before) else None
        rows = await self._run(self._messages, caller, older)
        names = await self._channel_names(caller, [row["channel_arn"]
                                                   for row in rows[:OUTBOX_ROWS]])
        for row in rows:
            # Sent by the development outbox's transport: recorded, delivered to no one.
            row["recorded"] = RECORDED_ID.fullmatch(
                str(row.pop("provider_message_id") or "")) is not None
            row["channel"] = names.get(row["channel_arn"]) or _short(row["channel_arn"])
        return self.render(request, "delivery.html", caller=caller,
                           inspection=self.runtime.settings.inspection_enabled,
                           messages=rows[:OUTBOX_ROWS], limit=OUTBOX_ROWS, older=older,
                           oldest=rows[OUTBOX_ROWS - 1]["id"] if len(rows) > OUTBOX_ROWS
                           else None)

    async def _channel_names(self, caller: Caller, channels: list[str]) -> dict[str, str]:
        """Channel ARNs to "alias: name", for the channels of the first ``NAMED_CONTACTS``
        contacts they belong to: one ListContactChannels a contact, not one call a row. A
        channel that is gone, or whose contact the principal may not list, is left out (the
        page shows its ARN)."""
        owners: dict[str, str] = {}
        for channel in channels:
            parsed = arns.parse(str(channel or ""))
            if parsed is not None and parsed.kind == "contact-channel" and parsed.parts:
                owners.setdefault(arns.contact_arn(parsed.region, parsed.account,
                                                   parsed.parts[0]), parsed.parts[0])
        names: dict[str, str] = {}
        for contact, alias in list(owners.items())[:NAMED_CONTACTS]:
            found = await self.section(caller, "ListContactChannels", ContactId=contact,
                                       MaxResults=100)
            if not isinstance(found, str):
                names.update((ch["ContactChannelArn"], f"{alias}: {ch['Name']}")
                             for ch in found["ContactChannels"])
        return names

    def _may_read_every_channel(self, caller: Caller) -> bool:
        every = arns.build(caller.region, caller.account, "contact-channel", "*")
        return identity_allows(caller, "GetContactChannel", every, self.runtime.clock.now())

    def _messages(self, caller: Caller, before: int | None) -> list[dict[str, Any]]:
        """The newest messages of the caller's account and region (older than the message
        ``before``, when given), without codes or text; one more than a page shows, to
        tell whether there are older ones."""
        query = (sa.select(outbox.c.id, outbox.c.message_id, outbox.c.channel_arn,
                           outbox.c.channel_type, outbox.c.purpose, outbox.c.page_arn,
                           outbox.c.created_at, outbox.c.status, outbox.c.attempts,
                           outbox.c.next_attempt_at, outbox.c.sent_at, outbox.c.last_error,
                           outbox.c.provider_message_id)
                 .where(outbox.c.account == caller.account, outbox.c.region == caller.region)
                 .order_by(outbox.c.id.desc()).limit(OUTBOX_ROWS + 1))
        if before is not None:
            query = query.where(outbox.c.id < before)
        with self.runtime.store.transaction(write=False) as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    # -- actions -----------------------------------------------------------------------------

    async def act(self, request: Request, caller: Caller) -> Response:
        """``POST /console/act/<action>``: one API operation from a form, then back (or, when
        it fails, the form's page again with its input)."""
        name = request.path_params["action"]
        form = await self.checked_form(
            request, LARGE_FORM if name in forms.LARGE_FORMS else MAX_FORM)
        if form is None:
            return self.expired(request, caller)
        build = forms.ACTIONS.get(name)
        if build is None:
            return self.render(request, "error.html", status=404, caller=caller,
                               code="NotFound", message="There is no such action.")
        # Back to the page the form came from, at the same place in its list; a "back" that
        # is not a page (a form's own action, another site) goes to the form's resource.
        back = _local(form.get("back", ""), _resource_page(form.get("arn", "")))
        try:
            action = build(form, caller)
            if name == "acknowledge":
                await self._not_stopped(caller, form.get("arn", ""))
            answer = await self.call(caller, action.operation, **action.params)
        except forms.FormError as exc:
            return await self.again(request, caller, back, Failed(name, form, str(exc)))
        except ServiceError as exc:
            return await self.again(request, caller, back,
                                    Failed(name, form, in_words(exc.code, exc.message)))
        request.session["flash"] = ["done", action.done]
        if action.then is not None:
            back = _local(action.then(answer))
        return RedirectResponse(back, status_code=303)

    async def _not_stopped(self, caller: Caller, page_arn: str) -> None:
        """Refuse to acknowledge a page of a stopped engagement: the API would record the
        READ, but it pages no one and stops nothing any more. When the page or its engagement
        cannot be read, AcceptPage itself answers."""
        try:
            page = await self.call(caller, "DescribePage", PageId=page_arn)
            engagement = await self.call(caller, "DescribeEngagement",
                                         EngagementId=page["EngagementArn"])
        except ServiceError:
            return
        if engagement.get("StopTime") is not None:
            raise forms.FormError(STOPPED)

    async def again(self, request: Request, caller: Caller, back: str,
                    failed: Failed) -> Response:
        """The page a form came from, shown again (not redirected to) with the form's input
        and its error beside it, so nothing typed is lost; the error is at the top too. When
        that page cannot be shown (it names what the form just failed to find), the error
        goes to the overview. ``back`` is a page (:func:`_local`); it keeps its query (the
        list position and filters), so the page comes back as it was."""
        path, _, query = back.partition("?")
        page = self.pages.get(path.removeprefix("/console"))
        request.session["flash"] = ["error", failed.message]
        if page is not None:
            scope = {**request.scope, "method": "GET", "path": path,
                     "raw_path": path.encode("utf-8"),
                     "query_string": query.encode("utf-8"), FAILED: failed}
            try:
                return await page(Request(scope, request.receive), caller)
            except ServiceError:
                pass
        return RedirectResponse("/console/", status_code=303)


_FORM_HOMES = {"stop": "/console/engagements", "acknowledge": "/console/engagements",
               **dict.fromkeys(("create-rotation", "update-rotation", "delete-rotation",
                                "create-override", "delete-override"), "/console/rotations")}
"""Where a form's address leads when it is opened rather than sent (below); other forms'
lead to the contacts."""


async def _form_address(request: Request) -> Response:
    """``GET`` on a form's address (``/console/act/<action>``, ``/console/preview/<action>``).
    A form that failed is shown again at its own address, so that is what the address bar
    holds: opened again (a restored tab, Enter in the address bar) it leads to the form's
    list rather than a bare 405."""
    name = request.path_params["action"]
    if name not in forms.ACTIONS:
        return _not_found(request)
    return RedirectResponse(_FORM_HOMES.get(name, "/console/contacts"), status_code=303)


def _not_found(request: Request) -> Response:
    body = ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>Not found · incident-contacts console</title>"
            "<link rel=\"stylesheet\" href=\"/console/static/console.css\"></head>"
            "<body><main id=\"main\"><h1>Not found</h1><p>The console has no such page."
            "</p><p><a href=\"/console/\">Go to the overview</a></p></main></body></html>")
    return HTMLResponse(body, status_code=404, headers=_HEADERS)


async def _nowhere(request: Request) -> Response:
    return _not_found(request)


def _signed_in(console: Console,
               page: Callable[[Request, Caller], Awaitable[Response]]) -> Callable[
                   [Request], Awaitable[Response]]:
    """A page for signed-in callers; an API error becomes an error page with its status."""

    async def endpoint(request: Request) -> Response:
        caller = await console.caller(request)
        if caller is None:
            if request.method in ("GET", "HEAD"):
                query = {"then": _here(request)}       # the page, at its place in its list
            else:
                # A form sent after the session ended: back, once signed in, to the page it
                # came from (its address cannot be asked for with GET), saying it was not sent.
                # Only its first bytes are read: without a session nothing else is.
                form = await _peek(request)
                then = _local(form.get("back", ""), _resource_page(form.get("arn", "")))
                query = {"then": then, "unsent": "1"}
            return RedirectResponse("/console/login?" + urlencode(query), status_code=303)
        try:
            return await page(request, caller)
        except ServiceError as exc:
            return console.render(request, "error.html", status=exc.status, caller=caller,
                                  code=exc.code, message=exc.message)

    return endpoint


def build_console(runtime: Runtime, dispatcher: Dispatcher,
                  credentials: CredentialStore | None) -> Starlette:
    """The console as an ASGI app, to mount at ``/console``. Without its session secret (a
    database sealed under another data key) it answers 503, as the API answers
    DataEncryptionException, rather than keep the server from starting."""
    try:
        session_secret = runtime.secret("console")
    except DataEncryptionException as exc:
        log.error("the console is unavailable: its session secret does not open with the "
                  "configured data keys")
        message = exc.message

        async def unavailable(_request: Request) -> Response:
            return Response(message, status_code=503, media_type="text/plain")

        return Starlette(routes=[Route("/{path:path}", unavailable, methods=["GET", "POST"])])
    console = Console(runtime, dispatcher, credentials)
    pages: list[tuple[str, Callable[[Request, Caller], Awaitable[Response]]]] = [
        ("/", console.overview), ("/contacts", console.contacts), ("/contact", console.contact),
        ("/engagements", console.engagements), ("/engagement", console.engagement),
        ("/rotations", console.rotations),
        ("/rotation", functools.partial(rotation_pages.rotation, console)),
        ("/delivery", console.delivery),
    ]
    console.pages.update(pages)
    routes: list[Any] = [Route(path, _signed_in(console, page)) for path, page in pages]
    routes += [
        Route("/login", console.login, methods=["GET", "POST"]),
        Route("/logout", console.logout, methods=["POST"]),
        Route("/act/{action}", _signed_in(console, console.act), methods=["POST"]),
        Route("/preview/{action}",
              _signed_in(console, functools.partial(rotation_pages.preview, console)),
              methods=["POST"]),
        Route("/act/{action}", _form_address, methods=["GET"]),
        Route("/preview/{action}", _form_address, methods=["GET"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        Route("/{path:path}", _nowhere, methods=["GET", "POST"]),
    ]
    settings = runtime.settings
    # Reached over HTTPS when the public URL says so, or, without one, when the server
    # itself serves TLS.
    secure = (settings.public_url.startswith("https://") if settings.public_url
              else settings.tls_cert is not None)
    session = Middleware(
        SessionMiddleware, secret_key=session_secret.hex(),
        session_cookie="incident_contacts_console", max_age=SESSION_SECONDS,
        path="/console", same_site="strict", https_only=secure)
    return Starlette(routes=routes, middleware=[session])


__all__ = ["Console", "build_console"]
