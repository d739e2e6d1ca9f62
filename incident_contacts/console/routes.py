"""The console's pages and actions.

Signing in
    With ``--auth off`` (development) the console asks for an account id, as the development
    mode takes the account from the access key id. With ``--auth sigv4`` it asks for an access
    key id and its secret from the credentials file, compared in constant time. The session
    is kept on the server (``console_sessions``): the cookie, signed with a server secret
    (Starlette's ``SessionMiddleware``), limited to ``/console``, ``SameSite=Strict``, carries
    a random token whose keyed hash names the record. Signing out deletes the record, so a
    copied cookie stops working; a record lasts eight hours from signing in. With access
    keys the cookie also holds a keyed hash of the secret, never the secret: a key removed
    from or changed in the credentials file ends its sessions at the next request.
    Failed sign-ins are limited per user name and client address, per address and per
    name, in the database, so that every server process counts the same failures
    (``console.sign_ins``); one that succeeds uses up nothing, and people who share an
    address are not kept waiting by each other's mistakes.

Reading and acting
    Every page calls API operations through ``Dispatcher.call`` as the signed-in principal,
    so the authorization, validation, account and region are those of the API, and an
    operation the principal may not call shows the API's AccessDeniedException. Each form
    that changes something, and the sign-in form, carries a per-session token (compared in
    constant time), on top of the ``SameSite`` cookie. A page is acknowledged with the
    accept code it carried (AcceptPage with ENFORCE), as from the phone. Contacts, their
    channels and plans, rotations and overrides are created, changed and deleted the same
    way (``console.forms``), as are tags and contact policies; a rotation form can show the
    shifts it would give before it is saved (ListPreviewRotationShifts). The delivery page,
    which has no API operation, is shown to principals who may read every channel of the
    account (``GetContactChannel`` on ``contact-channel/*``); it never shows activation or
    accept codes, nor message bodies.

Forms that fail
    A form the console cannot turn into a request, or that the API refuses, changes nothing
    and is not redirected: the page it came from is rendered again (``Console.again``) with
    the input as typed and the error beside the form (and at the top). A form sent after the
    session ended leads, once signed in again, back to the page it came from; without a
    session only the form's first ``PEEK`` bytes are read, to find that page.

Going back
    A form carries the address of its page (``back``: :func:`_here`, with its resource,
    filters and list position, at most ``BACK_LIMIT`` characters), so after it is sent, or
    shown again, the page is where it was: the same page of an engagement's pages, the same
    filtered page of a list. Where a form or the sign-in page leads is only ever a page of
    :data:`PAGE_PATHS` (:func:`_local`), never another site nor a form's action; a ``back``
    that is not one leads to the page of the form's resource, else the overview.

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

import datetime
import functools
import hmac
import json
import logging
import re
import secrets
import zoneinfo
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

import anyio
import jinja2
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from incident_contacts import crypto
from incident_contacts.api.bodies import UNREAD, read_at_most
from incident_contacts.api.dispatch import Dispatcher
from incident_contacts.api.security import PrincipalCaller
from incident_contacts.auth.credentials import CredentialStore, Principal
from incident_contacts.auth.principals import identity_allows
from incident_contacts.console import engine_log, forms, rotation_pages
from incident_contacts.console.fields import FAILED, Failed, failed_form, in_words
from incident_contacts.console.rotation_forms import NEW_ROTATION, rotation_page
from incident_contacts.console.sign_ins import SignInLimits, SignInRefused
from incident_contacts.errors import (
    DataEncryptionException,
    ServiceError,
    ValidationException,
)
from incident_contacts.runtime import Runtime
from incident_contacts.service import arns, engagements
from incident_contacts.service.context import Caller
from incident_contacts.store.schema.console import console_sessions
from incident_contacts.store.schema.delivery import outbox

log = logging.getLogger(__name__)
_T = TypeVar("_T")
HERE = Path(__file__).parent
SESSION_SECONDS = 8 * 3600
MAX_FORM = 16 * 1024
LARGE_FORM = 4 * 1024 * 1024    # a contact policy: 395,000 characters, percent-encoded
OUTBOX_ROWS = 200
RECORDED_PREFIX = "dev-"        # the provider message ids of RecordingTransport
# Their whole form, ``dev-`` and a uuid's 32 hex digits: a real provider may name its own
# messages ``dev-...`` too (a webhook receiver answers with any id it likes), and a message it
# sent is not "recorded, not sent".
RECORDED_ID = re.compile(re.escape(RECORDED_PREFIX) + "[0-9a-f]{32}")
LISTED = 100                    # items a list page shows
PAGES_SHOWN = 25                # pages of an engagement shown at once (each costs API calls)
TRAIL = 50                      # earlier pages a list remembers for its "Previous page" link
OPTIONS = 500                   # contacts or rotations a form offers to choose from
BACK_LIMIT = 4096               # characters of a form's "back" address (its list position)
PEEK = 16 * 1024                # bytes of a form read without a session, to find its "back"
_ACCOUNT_ID = frozenset("0123456789")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
_ROW_ID = re.compile(r"[0-9]{1,18}")
PAGE_PATHS = frozenset({"/console/", "/console/contacts", "/console/contact",
                        "/console/engagements", "/console/engagement", "/console/rotations",
                        "/console/rotation", "/console/delivery"})
"""The console's pages (GET): the only places a form or a sign-in goes back to."""
PLACE = ("arn", "prefix", "incident", "name", "next", "prev", "before")
"""Query fields that say what a page shows: its resource, filters and list position."""
_QUERY = re.compile(r"[A-Za-z0-9._~%!$&'()*+,;=:@/?-]*")

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


class Console:
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

    # -- sessions ----------------------------------------------------------------------------

    def _seal(self, principal: Principal) -> str:
        return crypto.keyed_hash(self.runtime.secret("console"), "session",
                                 principal.access_key_id, principal.secret_access_key)

    async def caller(self, request: Request) -> Caller | None:
        """Who the session speaks for, checked again on every request: its record on the
        server (gone once signed out, or after ``SESSION_SECONDS``), and with access keys
        the key, unchanged in the credentials file."""
        session = request.session
        token = session.get("token")
        record = await self._run(self._session, token) if isinstance(token, str) else None
        if record is None:
            session.clear()
            return None
        if self.credentials is None:
            return Caller(record.account, record.region)
        principal = self.credentials.get(record.access_key_id or "")
        if principal is None or not crypto.hashes_equal(self._seal(principal),
                                                        str(session.get("seal", ""))):
            await self._run(self._end_session, token)
            session.clear()
            return None
        return PrincipalCaller(principal.account_id, record.region, principal.arn,
                               principal=principal)

    def _token_hash(self, token: str) -> str:
        return crypto.keyed_hash(self.runtime.secret("console"), "session-token", token)

    def _session(self, token: str) -> Any:
        with self.runtime.store.transaction(write=False) as conn:
            return conn.execute(sa.select(console_sessions).where(
                console_sessions.c.token_hash == self._token_hash(token),
                console_sessions.c.expires_at > self.runtime.clock.now())).first()

    def _new_session(self, account: str, region: str, access_key_id: str | None) -> str:
        """A session's record, and its token for the cookie; expired records go on the way."""
        token = secrets.token_urlsafe(32)
        now = self.runtime.clock.now()
        with self.runtime.store.transaction() as conn:
            conn.execute(console_sessions.delete().where(console_sessions.c.expires_at <= now))
            conn.execute(console_sessions.insert().values(
                token_hash=self._token_hash(token), account=account, region=region,
                access_key_id=access_key_id, created_at=now, expires_at=now + SESSION_SECONDS))
        return token

    def _end_session(self, token: str) -> None:
        with self.runtime.store.transaction() as conn:
            conn.execute(console_sessions.delete().where(
                console_sessions.c.token_hash == self._token_hash(token)))

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

    # -- signing in and out -----------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        if request.method == "GET":
            # The sign-in form carries a token too, so another site cannot sign a browser in
            # to an account of its choosing.
            request.session.setdefault("csrf", secrets.token_urlsafe(32))
            return self.render(request, "login.html", region=self.runtime.settings.default_region,
                               then=request.query_params.get("then", ""),
                               unsent=bool(request.query_params.get("unsent")))
        form = await self.checked_form(request)
        if form is None:
            return self.render(request, "error.html", status=403,
                               code="InvalidFormToken",
                               message="The sign-in form has expired or did not come from this "
                                       "console. Open the sign-in page again.")
        region = form.get("region", "").strip() or self.runtime.settings.default_region
        # The client address is the connection's or, behind a proxy the server trusts
        # (INCIDENT_CONTACTS_FORWARDED_ALLOW_IPS), the address the proxy forwarded. Every
        # attempt is counted before its credentials are looked at, so attempts sent together
        # cannot learn more answers than the limits hold; one that succeeds is given back
        # below. The name is counted as typed, whether or not it exists.
        address = request.client.host if request.client else "-"
        name = form.get("account" if self.credentials is None else "key", "").strip()
        try:
            attempt = await self._run(self.sign_ins.take, address, name)
        except SignInRefused as exc:
            # Refused whatever the credentials: answering a right one here would tell an
            # attacker past the limit which of their guesses is right.
            return self.render(request, "login.html", status=429, region=region,
                               then=form.get("then", ""),
                               error=f"Too many failed attempts to sign in: try again in "
                                     f"{exc.retry_after} second"
                                     f"{'' if exc.retry_after == 1 else 's'}.",
                               headers={"Retry-After": str(exc.retry_after)})
        error = None
        account = ""
        principal: Principal | None = None
        if not _REGION.fullmatch(region):
            error = "That is not a region name."
        elif self.credentials is None:
            account = form.get("account", "").strip()
            if len(account) != 12 or not set(account) <= _ACCOUNT_ID:
                error = "An account id is 12 digits."
        else:
            principal = self.credentials.get(form.get("key", "").strip())
            given = form.get("secret", "")
            expected = principal.secret_access_key if principal is not None else "-"
            if principal is None or not hmac.compare_digest(
                    expected.encode("utf-8"), given.encode("utf-8", "replace")):
                error = "The access key id or the secret access key is not valid."
        if error is not None:
            return self.render(request, "login.html", status=401, error=error, region=region,
                               then=form.get("then", ""))
        # Only failures count: responders behind one address (a NAT, a proxy) sign in one
        # after another without waiting. A success gives back just the attempt it took and
        # does not forget the failures before it, or one valid key would renew a guesser's.
        await self._run(self.sign_ins.give_back, attempt)
        if principal is None:
            await self._start(request, account, region)
        else:
            await self._start(request, principal.account_id, region,
                              principal.access_key_id, seal=self._seal(principal))
        return RedirectResponse(_local(form.get("then", "")), status_code=303)

    async def _start(self, request: Request, account: str, region: str,
                     access_key_id: str | None = None, **values: str) -> None:
        """A new session: its record, its token and a new form token in the cookie."""
        token = await self._run(self._new_session, account, region, access_key_id)
        request.session.clear()
        request.session.update(values, token=token, csrf=secrets.token_urlsafe(32))

    async def logout(self, request: Request) -> Response:
        """Signing out ends the session on the server: a copy of the cookie stops working."""
        if await self.checked_form(request) is not None:
            token = request.session.get("token")
            if isinstance(token, str):
                await self._run(self._end_session, token)
            request.session.clear()
        return RedirectResponse("/console/login", status_code=303)

    def expired(self, request: Request, caller: Caller) -> Response:
        return self.render(request, "error.html", status=403, caller=caller,
                           code="InvalidFormToken",
                           message="The form has expired or did not come from this "
                                   "console. Reload the page and try again.")

    async def checked_form(self, request: Request,
                            limit: int = MAX_FORM) -> dict[str, str] | None:
        """The form of a POST that carries this session's token, else None."""
        form = await _form(request, limit)
        expected = str(request.session.get("csrf", ""))
        given = form.get("csrf", "")
        if not expected or not hmac.compare_digest(expected.encode(),
                                                   given.encode("utf-8", "replace")):
            return None
        return form

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
        for row in rows:
            # Sent by the development outbox's transport: recorded, delivered to no one.
            row["recorded"] = RECORDED_ID.fullmatch(
                str(row.pop("provider_message_id") or "")) is not None
        return self.render(request, "delivery.html", caller=caller,
                           inspection=self.runtime.settings.inspection_enabled,
                           messages=rows[:OUTBOX_ROWS], limit=OUTBOX_ROWS, older=older,
                           oldest=rows[OUTBOX_ROWS - 1]["id"] if len(rows) > OUTBOX_ROWS
                           else None)

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


def _channel_owners(events: list[dict[str, Any]]) -> list[str]:
    """The contacts whose channels the log names, so that it can name them."""
    owners = []
    for event in events:
        parsed = arns.parse(str(event.get("ContactChannelArn") or ""))
        if parsed is not None and parsed.kind == "contact-channel" and parsed.parts:
            owners.append(arns.contact_arn(parsed.region, parsed.account, parsed.parts[0]))
    return owners


def _local(address: str, fallback: str = "/console/") -> str:
    """``address`` when it is a page of this console (a path of :data:`PAGE_PATHS`, with a
    query), else ``fallback``: where to go next is never another site, nor an address that
    only answers POST (a form's action, 405 to a browser sent there). A query of anything but
    URL characters is written again from its fields (what a page reads of it is the same)."""
    path, mark, query = address.partition("?")
    if path not in PAGE_PATHS:
        return fallback
    if not _QUERY.fullmatch(query):
        query = urlencode(parse_qsl(query, keep_blank_values=True))
    return path + (mark if query else "") + query


def _here(request: Request) -> str:
    """This page's address with what places it (:data:`PLACE`: its resource, filters, list
    position), for its forms to come back to; the oldest "Previous page" tokens are left out
    while it is longer than ``BACK_LIMIT``, so every form stays well within ``MAX_FORM``
    (and within what is read of a form sent after the session ended)."""
    fields = [(name, value) for name, value in request.query_params.multi_items()
              if name in PLACE]
    while True:
        query = urlencode(fields)
        address = request.url.path + ("?" + query if query else "")
        if len(address) <= BACK_LIMIT:
            return _local(address)
        at = next((at for at, (name, _) in enumerate(fields) if name == "prev"), None)
        if at is None:
            return _local(request.url.path)
        del fields[at]


def _resource_page(arn: str) -> str:
    """The page of the resource a form names (``arn``); the overview when it has none."""
    parsed = arns.parse(arn) if arn else None
    if parsed is None or not parsed.parts:
        return "/console/"
    if parsed.kind in ("contact", "contact-channel"):
        return forms.contact_page(arns.contact_arn(parsed.region, parsed.account,
                                                   parsed.parts[0]))
    if parsed.kind == "engagement":
        return forms.engagement_page(arn)
    if parsed.kind == "rotation":
        return rotation_page(arn)
    return "/console/"


async def _form(request: Request, limit: int = MAX_FORM) -> dict[str, str]:
    """A urlencoded form (the only kind these pages send), at most ``limit`` bytes."""
    body = await read_at_most(request, limit)
    if body is None:
        return {}
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


async def _peek(request: Request, limit: int = PEEK) -> dict[str, str]:
    """The fields within the first ``limit`` bytes of a urlencoded form (a field cut short
    is left out); the rest of the body is never read. For a form sent without a session,
    whose ``back`` field comes before what may be large (a policy's text)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) >= limit:
            del body[max(body.rfind(b"&", 0, limit), 0):]
            request.scope[UNREAD] = True
            break
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


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
