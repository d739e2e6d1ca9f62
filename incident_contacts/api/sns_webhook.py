"""Acknowledging pages by SMS reply through AWS: an HTTPS subscription of an Amazon SNS topic.

``POST /_aws/ssm-contacts/webhooks/sns/sms``
    AWS End User Messaging SMS delivers what people text to a two-way number to an SNS topic
    (the number's ``TwoWayChannelArn``); subscribed to that topic, this endpoint gets each as
    a ``Notification`` whose ``Message`` is the inbound SMS as JSON (``originationNumber``,
    ``destinationNumber``, ``messageBody``, ``inboundMessageId``, ...). A reply from the
    number of an SMS channel that holds the accept code of one of its unread pages marks that
    page READ, exactly as the Twilio SMS webhook does (``api.replies``).

Only the topics named in ``INCIDENT_CONTACTS_SNS_INBOUND_TOPICS`` are heard; without it the
endpoint answers 404. A message of another topic is refused with 403 before its signature is
checked; one whose signature does not verify, or that is more than an hour old, with 403
(``auth.sns_messages``). A ``SubscriptionConfirmation`` of an accepted topic, once verified,
is confirmed by visiting its ``SubscribeURL`` (on SNS's own host only); an
``UnsubscribeConfirmation`` is logged. A notification that is not an inbound SMS, or holds no
code, changes nothing and is answered 200, so SNS does not send it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from incident_contacts.api import replies
from incident_contacts.api.bodies import read_at_most
from incident_contacts.auth.sns_messages import (
    SIGNED_FIELDS,
    CertificateFetcher,
    CertificateUnavailable,
    SnsMessageError,
    SnsMessageVerifier,
    check_subscribe_url,
    fetch_certificate,
)
from incident_contacts.runtime import Runtime

__all__ = ["SNS_SMS_PATH", "SnsInboundSms", "visit"]

log = logging.getLogger(__name__)

SNS_SMS_PATH = "/_aws/ssm-contacts/webhooks/sns/sms"
TOPICS_VARIABLE = "INCIDENT_CONTACTS_SNS_INBOUND_TOPICS"
MAX_BODY = 512 * 1024
"""SNS messages are at most 256 KiB; their envelope adds a few hundred bytes."""

Visitor = Callable[[str], int]
"""``visit(url) -> HTTP status``: a GET of a SubscribeURL."""


def visit(url: str, *, timeout: float = 10.0) -> int:
    """GET ``url`` over HTTPS (TLS checked, no redirects); its HTTP status."""
    return httpx.get(url, timeout=timeout, follow_redirects=False).status_code


def _text(words: str, status: int = 200) -> Response:
    return Response(words, status_code=status, media_type="text/plain")


class SnsInboundSms:
    """The endpoint. ``fetch`` gets signing certificates and ``visit`` confirms
    subscriptions (both over HTTPS to SNS by default; tests give their own)."""

    def __init__(self, runtime: Runtime, *, fetch: CertificateFetcher | None = None,
                 visit_url: Visitor | None = None) -> None:
        self.runtime = runtime
        self.topics = frozenset(runtime.settings.sns_inbound_topics)
        self.verifier = SnsMessageVerifier(fetch or fetch_certificate)
        self.visit = visit_url or visit

    def routes(self) -> list[Route]:
        return [Route(SNS_SMS_PATH, self.sms, methods=["POST"])]

    async def sms(self, request: Request) -> Response:
        if not self.topics:
            return _text("SNS webhooks are not configured.", 404)
        message = await self._message(request)
        if isinstance(message, Response):
            return message
        topic = message.get("TopicArn")
        if topic not in self.topics:
            log.warning("refused an SNS message of a topic not in %s", TOPICS_VARIABLE)
            return _text("The topic is not accepted here.", 403)
        try:
            await anyio.to_thread.run_sync(self.verifier.verify, message)
        except SnsMessageError as exc:
            log.warning("refused an SNS message of %s: %s", topic, exc)
            return _text("The message signature is not valid.", 403)
        except CertificateUnavailable as exc:
            log.warning("could not check an SNS message of %s: %s", topic, exc)
            return _text("The signing certificate is not available; try again.", 503)
        kind = message["Type"]
        if kind == "SubscriptionConfirmation":
            return await self._confirm(message)
        if kind == "UnsubscribeConfirmation":
            log.warning("this endpoint was unsubscribed from %s: SMS replies through it stop",
                        topic)
            return _text("Noted.")
        return await self._reply(message)

    async def _message(self, request: Request) -> dict[str, Any] | Response:
        """The posted message, parsed; or the answer to a body that is not one."""
        body = await read_at_most(request, MAX_BODY)
        if body is None:
            return _text("The message is too large.", 413)
        try:
            message = orjson.loads(body)
        except orjson.JSONDecodeError:
            message = None
        if not isinstance(message, dict) or not isinstance(message.get("Type"), str) or \
                message["Type"] not in SIGNED_FIELDS or \
                not isinstance(message.get("TopicArn", ""), str):
            return _text("The body is not an SNS message.", 400)
        # SNS repeats the type and the topic in headers: they must say the same.
        kind = request.headers.get("x-amz-sns-message-type", message["Type"])
        topic = request.headers.get("x-amz-sns-topic-arn", message.get("TopicArn"))
        if kind != message["Type"] or topic != message.get("TopicArn"):
            return _text("The headers do not match the message.", 400)
        return message

    async def _confirm(self, message: dict[str, Any]) -> Response:
        topic = message["TopicArn"]
        try:
            url = check_subscribe_url(message.get("SubscribeURL"), topic)
        except SnsMessageError as exc:
            log.warning("did not confirm the subscription to %s: %s", topic, exc)
            return _text("The SubscribeURL is not SNS's.", 403)
        try:
            status = await anyio.to_thread.run_sync(self.visit, url)
        except httpx.HTTPError as exc:
            log.warning("could not confirm the subscription to %s: %s", topic,
                        type(exc).__name__)
            return _text("The subscription could not be confirmed.", 502)
        if not 200 <= status < 300:
            log.warning("SNS answered HTTP %d to the confirmation of %s", status, topic)
            return _text("The subscription could not be confirmed.", 502)
        log.info("confirmed the subscription to %s", topic)
        return _text("Subscription confirmed.")

    async def _reply(self, message: dict[str, Any]) -> Response:
        try:
            sms = orjson.loads(message["Message"])
        except orjson.JSONDecodeError:
            sms = None
        sender = sms.get("originationNumber") if isinstance(sms, dict) else None
        body = sms.get("messageBody") if isinstance(sms, dict) else None
        if not isinstance(sender, str) or not isinstance(body, str):
            log.warning("an SNS notification of %s (%s) is not an inbound SMS",
                        message["TopicArn"], message["MessageId"])
            return _text("Not an inbound SMS; nothing done.")
        codes = replies.codes_in(body)
        if not codes or not sender:
            return _text("No code in the message; nothing done.")
        found = await anyio.to_thread.run_sync(replies.acknowledge_sms, self.runtime, sender,
                                               codes)
        log.info("SMS reply %.100s through SNS: %s", sms.get("inboundMessageId", "-"),
                 "page acknowledged" if found else "no open page has its code")
        return _text("Page acknowledged." if found else "No open page has that code.")
