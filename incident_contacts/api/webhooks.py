"""Acknowledging pages from the phone: Twilio-compatible webhooks (spec §6.3: "voice — press
1; SMS — reply with the code").

``POST /_aws/ssm-contacts/webhooks/twilio/sms``
    An incoming SMS (Twilio's messaging webhook: ``From``, ``Body``, ...). A reply from the
    number of an SMS channel that holds the accept code of one of its unread pages marks that
    page READ, exactly as AcceptPage READ does. The answer is TwiML that tells the sender.

``POST /_aws/ssm-contacts/webhooks/twilio/voice``
    The result of a ``<Gather>`` during a page's call (``CallSid``, ``Digits``). ``1`` marks
    the page that call carried READ.

Every request must carry a valid ``X-Twilio-Signature``, computed with
``INCIDENT_CONTACTS_TWILIO_AUTH_TOKEN`` over the URL Twilio was given: the configured
``INCIDENT_CONTACTS_PUBLIC_URL`` followed by the path (and query), or, without it, the URL
the request arrived at. A missing or wrong signature is refused with 403 before anything is
read; without an auth token the webhooks answer 404.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

import anyio
import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from incident_contacts.crypto import hashes_equal
from incident_contacts.delivery.twilio import validate_twilio_signature
from incident_contacts.runtime import Runtime
from incident_contacts.service.engagements import locked
from incident_contacts.service.pages import accept, accept_code_hash, channel_arn_of
from incident_contacts.store.schema.core import channels, contacts
from incident_contacts.store.schema.engagements import pages

log = logging.getLogger(__name__)

SMS_PATH = "/_aws/ssm-contacts/webhooks/twilio/sms"
VOICE_PATH = "/_aws/ssm-contacts/webhooks/twilio/voice"
_CODE = re.compile(r"(?<!\d)\d{6}(?!\d)")
_RECENT_PAGES = 50
"""How many of a number's latest unread pages an SMS reply is matched against."""


def _twiml(verb: str, words: str) -> Response:
    body = f'<?xml version="1.0" encoding="UTF-8"?><Response><{verb}>{escape(words)}' \
           f"</{verb}></Response>"
    return Response(body, media_type="text/xml")


class TwilioWebhooks:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def routes(self) -> list[Route]:
        return [
            Route(SMS_PATH, self.sms, methods=["POST"]),
            Route(VOICE_PATH, self.voice, methods=["POST"]),
        ]

    async def _verified(self, request: Request) -> dict[str, str] | Response:
        token = self.runtime.settings.twilio_auth_token
        if not token:
            return Response("Twilio webhooks are not configured.", status_code=404)
        body = (await request.body()).decode("utf-8", errors="replace")
        params = dict(parse_qsl(body, keep_blank_values=True))
        public = self.runtime.settings.public_url
        if public:
            query = request.url.query
            url = public.rstrip("/") + request.url.path + (f"?{query}" if query else "")
        else:
            url = str(request.url)
        signature = request.headers.get("x-twilio-signature", "")
        if not signature or not validate_twilio_signature(token, url, params, signature):
            log.warning("refused a Twilio webhook with a missing or wrong signature")
            return Response("The request signature is not valid.", status_code=403)
        return params

    async def sms(self, request: Request) -> Response:
        params = await self._verified(request)
        if isinstance(params, Response):
            return params
        codes = _CODE.findall(params.get("Body", ""))
        sender = params.get("From", "")
        if not codes or not sender:
            return _twiml("Message", "To acknowledge a page, reply with its 6-digit code.")
        found = await anyio.to_thread.run_sync(self._acknowledge_sms, sender, codes)
        if not found:
            return _twiml("Message", "No open page has that code.")
        return _twiml("Message", "Page acknowledged.")

    def _acknowledge_sms(self, sender: str, codes: list[str]) -> bool:
        runtime = self.runtime
        index = runtime.blind_index("channel-address", sender)
        with runtime.store.transaction() as conn:
            numbers = conn.execute(
                sa.select(channels.c.channel_id, channels.c.account, channels.c.region,
                          contacts.c.alias)
                .join(contacts, contacts.c.id == channels.c.contact_pk)
                .where(channels.c.address_index == index, channels.c.type == "SMS")
            ).all()
            for number in numbers:
                candidates = conn.execute(
                    sa.select(pages).where(
                        pages.c.account == number.account, pages.c.region == number.region,
                        pages.c.contact_alias == number.alias,
                        pages.c.channel_id == number.channel_id,
                        pages.c.read_time.is_(None),
                    ).order_by(pages.c.id.desc()).limit(_RECENT_PAGES)
                ).all()
                for page in candidates:
                    for code in codes:
                        if hashes_equal(accept_code_hash(runtime, page.page_id, code),
                                        page.accept_code_hash):
                            return self._read(conn, page, note=code, info=None)
        return False

    async def voice(self, request: Request) -> Response:
        params = await self._verified(request)
        if isinstance(params, Response):
            return params
        call = params.get("CallSid", "")
        if params.get("Digits") != "1" or not call:
            return _twiml("Say", "The page was not acknowledged. Press 1 to acknowledge.")
        found = await anyio.to_thread.run_sync(self._acknowledge_call, call)
        return _twiml("Say", "Page acknowledged. Goodbye." if found
                      else "This call's page could not be found.")

    def _acknowledge_call(self, call: str) -> bool:
        with self.runtime.store.transaction() as conn:
            page = conn.execute(
                sa.select(pages).where(pages.c.provider_message_id == call,
                                       pages.c.channel_type == "VOICE")
            ).first()
            if page is None:
                return False
            if page.read_time is None:
                return self._read(conn, page, note=None, info="Pressed 1 during the call")
        return True

    def _read(self, conn: Any, page: Any, *, note: str | None, info: str | None) -> bool:
        """Acknowledge ``page`` unless that happened meanwhile; False when its engagement is
        gone (deleted by history retention since the page was found)."""
        engagement = locked(conn, page.engagement_pk)
        # Read again under the lock: an AcceptPage or another reply may have come first.
        fresh = None if engagement is None else \
            conn.execute(sa.select(pages).where(pages.c.id == page.id)).first()
        if fresh is None:
            return False
        if fresh.read_time is None:
            accept(conn, self.runtime, engagement, fresh, "READ", at=self.runtime.clock.now(),
                   channel_arn=channel_arn_of(fresh), note=note, info=info)
        return True


def routes(runtime: Runtime) -> list[Route]:
    """The webhook routes, mounted whatever the inspection setting (they are not inspection:
    they are how people acknowledge)."""
    return TwilioWebhooks(runtime).routes()


__all__ = ["SMS_PATH", "VOICE_PATH", "TwilioWebhooks", "routes"]
