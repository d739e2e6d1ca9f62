"""SMS and voice calls through a Twilio-compatible REST API, plus Twilio's webhook signatures.

``base_url`` makes any Twilio-compatible provider or a local fake usable
(``INCIDENT_CONTACTS_TWILIO_BASE_URL``, decisions §4). Twilio documents no idempotency key for
creating messages or calls, so a send retried after a lost response may be delivered twice.

An SMS that says how long it is worth delivering (``OutgoingMessage.expires_in``: an
activation code's remaining life) carries Twilio's ``ValidityPeriod``: the whole seconds left,
within the range Twilio documents for it (1 to 36,000 seconds), after which Twilio drops the
message from its queue instead of sending it (error 30036). Calls have no such parameter.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
from collections.abc import Mapping
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit
from xml.sax.saxutils import escape

import httpx

from .base import (
    SMS,
    VOICE,
    DeliveryError,
    DeliveryResult,
    OutgoingMessage,
    PermanentDeliveryError,
    RetryableDeliveryError,
    retry_after_seconds,
)
from .text import xml_allowed

__all__ = [
    "DEFAULT_TWILIO_BASE_URL",
    "KEY_PRESS_OFFER",
    "TwilioTransport",
    "compute_twilio_signature",
    "validate_twilio_signature",
    "validity_period",
    "voice_twiml",
]

DEFAULT_TWILIO_BASE_URL = "https://api.twilio.com"
TWIML_MAX_LENGTH = 4000
"""Twilio's limit on the ``Twiml`` parameter of a call."""
KEY_PRESS_OFFER = "Or press 1 now to acknowledge."
"""Said after a page's words on a call that listens for a key (``voice_action_url``)."""

_DEFAULT_PORTS = {"https": 443, "http": 80}
VALIDITY_PERIOD_RANGE = (1, 36_000)
"""The seconds Twilio takes as a message's ``ValidityPeriod`` (its errors 21624/90007)."""


def validity_period(message: OutgoingMessage) -> int | None:
    """The ``ValidityPeriod`` of ``message``: the whole seconds it is still worth delivering,
    within Twilio's range; None (Twilio's default) when it does not say."""
    if message.expires_in is None or math.isnan(message.expires_in):
        return None
    least, most = VALIDITY_PERIOD_RANGE
    return math.floor(min(max(message.expires_in, least), most))


class TwilioTransport:
    """Sends SMS (``Messages.json``) and VOICE (``Calls.json`` with inline TwiML) messages.

    HTTP 4xx answers other than 429 raise :class:`PermanentDeliveryError`; 429, 5xx and
    connection failures raise :class:`RetryableDeliveryError`. The result carries Twilio's
    ``sid``. A client passed in stays open; one created here is closed by :meth:`close`.
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        base_url: str = DEFAULT_TWILIO_BASE_URL,
        client: httpx.Client | None = None,
        *,
        timeout: float = 10.0,
        voice_action_url: str | None = None,
    ) -> None:
        if urlsplit(base_url).scheme not in ("http", "https"):
            raise ValueError(f"Twilio base URL must be http:// or https://, not {base_url!r}")
        self.account_sid = account_sid
        self.from_number = from_number
        self.voice_action_url = voice_action_url
        self.base_url = base_url.rstrip("/")
        self._auth = httpx.BasicAuth(account_sid, auth_token)
        self._owns_client = client is None
        self._client = client if client is not None else httpx.Client(timeout=timeout)
        self._account_url = f"{self.base_url}/2010-04-01/Accounts/{quote(account_sid, safe='')}"

    def send(self, message: OutgoingMessage) -> DeliveryResult:
        if message.channel_type == SMS:
            url = f"{self._account_url}/Messages.json"
            form = {"To": message.address, "From": self.from_number, "Body": message.body}
            validity = validity_period(message)
            if validity is not None:
                form["ValidityPeriod"] = str(validity)
        elif message.channel_type == VOICE:
            url = f"{self._account_url}/Calls.json"
            speech = message.speech if message.speech is not None else message.body
            offer = KEY_PRESS_OFFER if message.purpose == "PAGE" else None
            form = {"To": message.address, "From": self.from_number, "Twiml": voice_twiml(
                speech, action_url=self.voice_action_url, offer=offer)}
        else:
            raise PermanentDeliveryError(
                f"TwilioTransport cannot send {message.channel_type} messages"
            )
        try:
            response = self._client.post(
                url, data=form, auth=self._auth, headers={"Accept": "application/json"}
            )
        except httpx.HTTPError as exc:
            raise RetryableDeliveryError(f"Twilio request failed: {exc!r}") from exc
        if response.is_success:
            sid = _json(response).get("sid")
            if not isinstance(sid, str) or not sid:
                raise PermanentDeliveryError(
                    f"Twilio answered {response.status_code} without a sid"
                )
            return DeliveryResult(provider_message_id=sid)
        raise _http_error(response)

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> TwilioTransport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


_QUOTE = {'"': "&quot;"}


def voice_twiml(speech: str, *, max_length: int = TWIML_MAX_LENGTH,
                action_url: str | None = None, offer: str | None = None) -> str:
    """TwiML that says ``speech``, pauses, and says it once more; cut to fit ``max_length``.

    With ``action_url`` the words are said inside a one-digit ``<Gather>``, so a key pressed
    during the call is posted there (our voice webhook acknowledges a page on "1"), and
    ``offer`` (the words asking for the key) is said after each reading; the speech is cut
    before the offer is.
    """
    text = xml_allowed(speech)
    said = "<Say>{0}</Say><Pause/><Say>{0}</Say>"
    if action_url is not None:
        if offer:
            offered = f"<Say>{escape(xml_allowed(offer))}</Say>"
            offered = offered.replace("{", "{{").replace("}", "}}")
            said = f"<Say>{{0}}</Say>{offered}<Pause/><Say>{{0}}</Say>{offered}"
        gather = (f'<Gather numDigits="1" method="POST" action="{escape(action_url, _QUOTE)}">'
                  .replace("{", "{{").replace("}", "}}"))
        said = f"{gather}{said}</Gather>"
    template = f"<Response>{said}</Response>"
    budget = max(0, (max_length - len(template.format(""))) // 2)
    if len(escape(text)) > budget:
        # The longest prefix that fits once escaped, so no escape sequence is cut in two.
        low, high = 0, len(text)
        while low < high:
            middle = (low + high + 1) // 2
            if len(escape(text[:middle])) <= budget:
                low = middle
            else:
                high = middle - 1
        text = text[:low]
    return template.format(escape(text))


def compute_twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """Twilio's ``X-Twilio-Signature``: base64 HMAC-SHA1, keyed with the auth token, of the full
    URL followed by each POST parameter's name and value, sorted by name."""
    payload = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def validate_twilio_signature(
    auth_token: str, url: str, params: Mapping[str, str], signature: str
) -> bool:
    """Check an ``X-Twilio-Signature`` header in constant time.

    As Twilio's own helpers do, the URL also counts with its scheme's default port added or
    removed, since proxies differ in whether they pass it on. JSON-body (``bodySHA256``)
    webhooks are not covered.
    """
    given = signature.strip().encode()
    valid = False
    for candidate in _url_variants(url):
        expected = compute_twilio_signature(auth_token, candidate, params).encode()
        valid |= hmac.compare_digest(expected, given)
    return valid


def _url_variants(url: str) -> list[str]:
    parts = urlsplit(url)
    default = _DEFAULT_PORTS.get(parts.scheme)
    try:
        port = parts.port
    except ValueError:
        return [url]
    if default is None:
        return [url]
    userinfo, at, hostport = parts.netloc.rpartition("@")
    host = hostport if port is None else hostport.rpartition(":")[0]
    if port is None:
        other = f"{host}:{default}"
    elif port == default:
        other = host
    else:
        return [url]
    return [url, urlunsplit(parts._replace(netloc=f"{userinfo}{at}{other}"))]


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _http_error(response: httpx.Response) -> DeliveryError:
    status = response.status_code
    data = _json(response)
    detail = data.get("message") or response.text[:200] or response.reason_phrase
    code = data.get("code")
    reason = f"Twilio {status}: {detail}" + (f" (code {code})" if code is not None else "")
    if status == 429 or status >= 500:
        return RetryableDeliveryError(
            reason, retry_after=retry_after_seconds(response.headers.get("Retry-After")))
    return PermanentDeliveryError(reason)
