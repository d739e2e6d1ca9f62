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
read; without an auth token the webhooks answer 404. A body over ``MAX_BODY`` is refused with
413 unread: nothing about it is trusted yet (Twilio's forms are a few KiB).

SMS replies through AWS (End User Messaging two-way SMS, by an SNS topic) come to
``POST /_aws/ssm-contacts/webhooks/sns/sms`` (``api.sns_webhook``); both share how a reply
acknowledges (``api.replies``).
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

import anyio
import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from incident_contacts.api import replies
from incident_contacts.api.bodies import read_at_most
from incident_contacts.api.sns_webhook import SNS_SMS_PATH, SnsInboundSms
from incident_contacts.delivery.twilio import validate_twilio_signature
from incident_contacts.runtime import Runtime
from incident_contacts.store.schema.engagements import pages

log = logging.getLogger(__name__)

SMS_PATH = "/_aws/ssm-contacts/webhooks/twilio/sms"
VOICE_PATH = "/_aws/ssm-contacts/webhooks/twilio/voice"
MAX_BODY = 64 * 1024
"""The most of a webhook's body read before its signature is checked (an SMS of 1,600
characters, percent-encoded, with Twilio's other fields and ten media URLs, is well within)."""


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
        raw = await read_at_most(request, MAX_BODY)
        if raw is None:
            return Response("The request is too large.", status_code=413)
        params = dict(parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True))
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
        codes = replies.codes_in(params.get("Body", ""))
        sender = params.get("From", "")
        if not codes or not sender:
            return _twiml("Message", "To acknowledge a page, reply with its 6-digit code.")
        found = await anyio.to_thread.run_sync(replies.acknowledge_sms, self.runtime, sender,
                                               codes)
        if not found:
            return _twiml("Message", "No open page has that code.")
        return _twiml("Message", "Page acknowledged.")

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
                return replies.read(self.runtime, conn, page, note=None,
                                    info="Pressed 1 during the call")
        return True


def routes(runtime: Runtime) -> list[Route]:
    """The webhook routes, mounted whatever the inspection setting (they are not inspection:
    they are how people acknowledge): Twilio's, and SNS's (``api.sns_webhook``).

    In-process, ``settings.extra`` may give the SNS endpoint the functions it reaches SNS
    with: ``"sns_certificate_fetcher"`` (URL -> PEM bytes) and ``"sns_subscribe_visitor"``
    (URL -> HTTP status), called only with URLs that passed the checks on SNS's host. The
    environment cannot set them.
    """
    extra = runtime.settings.extra
    sns = SnsInboundSms(runtime, fetch=extra.get("sns_certificate_fetcher"),
                        visit_url=extra.get("sns_subscribe_visitor"))
    return TwilioWebhooks(runtime).routes() + sns.routes()


__all__ = ["MAX_BODY", "SMS_PATH", "SNS_SMS_PATH", "VOICE_PATH", "TwilioWebhooks", "routes"]
