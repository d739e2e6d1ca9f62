"""Signing in and out, and the sessions behind them.

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
"""

from __future__ import annotations

import hmac
import re
import secrets
from typing import Any

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from incident_contacts import crypto
from incident_contacts.api.security import PrincipalCaller
from incident_contacts.auth.credentials import Principal
from incident_contacts.console.addresses import MAX_FORM, _form, _local
from incident_contacts.console.sign_ins import SignInRefused
from incident_contacts.console.view import ConsoleBase
from incident_contacts.service.context import Caller
from incident_contacts.store.schema.console import console_sessions

SESSION_SECONDS = 8 * 3600
_ACCOUNT_ID = frozenset("0123456789")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")


class Sessions(ConsoleBase):
    """Who a request speaks for, and the sign-in and sign-out pages."""

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


__all__ = ["SESSION_SECONDS", "Sessions"]
