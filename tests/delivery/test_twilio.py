from __future__ import annotations

import base64
import hashlib
import hmac
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from urllib.parse import parse_qs

import httpx
import pytest

from incident_contacts.delivery import (
    OutgoingMessage,
    PermanentDeliveryError,
    RetryableDeliveryError,
    TwilioTransport,
    activation_text,
    compute_twilio_signature,
    validate_twilio_signature,
)
from incident_contacts.delivery.twilio import KEY_PRESS_OFFER, TWIML_MAX_LENGTH, voice_twiml

from .conftest import LOOPBACK, FakeTwilio

FROM = "+15005550006"
TO = "+15005550199"


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    # trust_env=False: a proxy configured in the environment must not catch loopback traffic.
    with httpx.Client(trust_env=False, timeout=5.0) as client:
        yield client


@pytest.fixture
def transport(fake_twilio: FakeTwilio, client: httpx.Client) -> TwilioTransport:
    return TwilioTransport(
        fake_twilio.account_sid, fake_twilio.auth_token, FROM, fake_twilio.base_url, client
    )


def sms(body: str = "hello") -> OutgoingMessage:
    return OutgoingMessage("msg-1", "SMS", TO, None, body)


def voice_activation(code: str = "123456") -> OutgoingMessage:
    _, body, speech = activation_text("VOICE", code, 15)
    return OutgoingMessage("msg-2", "VOICE", TO, None, body, speech)


def says(twiml: str) -> list[str]:
    root = ET.fromstring(twiml)
    assert root.tag == "Response"
    return [element.text or "" for element in root if element.tag == "Say"]


# --- against a real local HTTP server ----------------------------------------------------------


def test_sms_is_posted_to_messages(fake_twilio: FakeTwilio, transport: TwilioTransport) -> None:
    _, body, _ = activation_text("SMS", "004211", 15)

    result = transport.send(OutgoingMessage("msg-1", "SMS", TO, None, body))

    [request] = fake_twilio.requests
    assert request["path"] == f"/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages.json"
    assert request["content_type"] == "application/x-www-form-urlencoded"
    credentials = f"{fake_twilio.account_sid}:{fake_twilio.auth_token}".encode()
    assert request["authorization"] == "Basic " + base64.b64encode(credentials).decode()
    assert request["form"] == {"To": TO, "From": FROM, "Body": body}
    assert "004211" in request["form"]["Body"]
    assert result.provider_message_id.startswith("SM")


def test_call_speaks_the_digits_twice(fake_twilio: FakeTwilio, transport: TwilioTransport) -> None:
    result = transport.send(voice_activation("123456"))

    [request] = fake_twilio.requests
    assert request["path"] == f"/2010-04-01/Accounts/{fake_twilio.account_sid}/Calls.json"
    form = request["form"]
    assert set(form) == {"To", "From", "Twiml"}
    assert (form["To"], form["From"]) == (TO, FROM)
    twiml = form["Twiml"]
    assert twiml.count("1, 2, 3, 4, 5, 6") == 2
    assert "<Pause/>" in twiml
    assert (
        says(twiml)
        == ["Your Incident Manager activation code is 1, 2, 3, 4, 5, 6. It expires in 15 minutes."]
        * 2
    )
    assert result.provider_message_id.startswith("CA")


def test_call_without_speech_says_the_body(
    fake_twilio: FakeTwilio, transport: TwilioTransport
) -> None:
    transport.send(OutgoingMessage("m", "VOICE", TO, None, "Database down. Press 1."))
    assert says(fake_twilio.requests[0]["form"]["Twiml"]) == ["Database down. Press 1."] * 2


ACTION = "https://pager.example.com/_aws/ssm-contacts/webhooks/twilio/voice"


@pytest.fixture
def listening(fake_twilio: FakeTwilio, client: httpx.Client) -> TwilioTransport:
    """A transport whose calls listen for a key, posted to ``ACTION``."""
    return TwilioTransport(fake_twilio.account_sid, fake_twilio.auth_token, FROM,
                           fake_twilio.base_url, client, voice_action_url=ACTION)


def test_call_gathers_a_key_press_when_the_server_is_reachable(
    fake_twilio: FakeTwilio, listening: TwilioTransport
) -> None:
    listening.send(OutgoingMessage("m", "VOICE", TO, None, "Database down.", "Press 1."))
    twiml = fake_twilio.requests[0]["form"]["Twiml"]
    root = ET.fromstring(twiml)
    gather = root.find("Gather")
    assert gather is not None
    assert gather.attrib == {"numDigits": "1", "method": "POST", "action": ACTION}
    assert [say.text for say in gather.iter("Say")] == ["Press 1."] * 2


def test_a_page_call_offers_the_key_press_only_when_it_listens(
    fake_twilio: FakeTwilio, listening: TwilioTransport, transport: TwilioTransport
) -> None:
    words = "Database down. Acknowledge with code 1, 2."
    page = OutgoingMessage("m", "VOICE", TO, None, words, purpose="PAGE")
    code = OutgoingMessage("m", "VOICE", TO, None, words, purpose="ACTIVATION")
    listening.send(page)
    listening.send(code)
    transport.send(page)
    offered, activation, unheard = (
        [say.text for say in ET.fromstring(request["form"]["Twiml"]).iter("Say")]
        for request in fake_twilio.requests
    )
    assert offered == [words, KEY_PRESS_OFFER] * 2
    assert activation == [words] * 2
    assert unheard == [words] * 2


def test_a_long_page_is_cut_before_its_key_press_offer(
    fake_twilio: FakeTwilio, listening: TwilioTransport
) -> None:
    listening.send(OutgoingMessage("m", "VOICE", TO, None, "a & b " * 1000, purpose="PAGE"))
    twiml = fake_twilio.requests[0]["form"]["Twiml"]
    assert len(twiml) <= TWIML_MAX_LENGTH
    said = [say.text or "" for say in ET.fromstring(twiml).iter("Say")]
    assert said[1] == said[3] == KEY_PRESS_OFFER
    assert said[0] == said[2] and said[0].startswith("a & b a & b")


def test_wrong_credentials_are_permanent(fake_twilio: FakeTwilio, client: httpx.Client) -> None:
    transport = TwilioTransport(
        fake_twilio.account_sid, "wrong", FROM, fake_twilio.base_url, client
    )
    with pytest.raises(PermanentDeliveryError, match="401"):
        transport.send(sms())


def test_server_error_is_retryable(fake_twilio: FakeTwilio, transport: TwilioTransport) -> None:
    fake_twilio.respond_next(500, {"code": 20500, "message": "Internal Server Error"})
    with pytest.raises(RetryableDeliveryError) as caught:
        transport.send(sms())
    assert caught.value.retryable is True
    assert "500" in caught.value.reason
    # and the retry goes through
    assert transport.send(sms()).provider_message_id.startswith("SM")


def test_bad_request_is_permanent(fake_twilio: FakeTwilio, transport: TwilioTransport) -> None:
    fake_twilio.respond_next(
        400, {"code": 21211, "message": "The 'To' number is not a valid phone number."}
    )
    with pytest.raises(PermanentDeliveryError) as caught:
        transport.send(sms())
    assert caught.value.retryable is False
    assert "400" in caught.value.reason
    assert "21211" in caught.value.reason
    assert "not a valid phone number" in caught.value.reason


def test_throttling_is_retryable_with_a_hint(
    fake_twilio: FakeTwilio, transport: TwilioTransport
) -> None:
    fake_twilio.respond_next(
        429, {"code": 20429, "message": "Too Many Requests"}, {"Retry-After": "7"}
    )
    with pytest.raises(RetryableDeliveryError) as caught:
        transport.send(sms())
    assert caught.value.retry_after == 7.0


def test_closed_port_is_retryable(closed_port: int, client: httpx.Client) -> None:
    transport = TwilioTransport("AC1", "t", FROM, f"http://{LOOPBACK}:{closed_port}", client)
    with pytest.raises(RetryableDeliveryError):
        transport.send(sms())


# --- with httpx.MockTransport ------------------------------------------------------------------


def mock_transport(handler: httpx.MockTransport) -> TwilioTransport:
    return TwilioTransport(
        "AC123", "secret", FROM, "https://twilio.test/", httpx.Client(transport=handler)
    )


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(400, False), (401, False), (404, False), (429, True), (500, True), (503, True)],
)
def test_status_classification(status: int, retryable: bool) -> None:
    transport = mock_transport(httpx.MockTransport(lambda request: httpx.Response(status)))
    with pytest.raises((PermanentDeliveryError, RetryableDeliveryError)) as caught:
        transport.send(sms())
    assert caught.value.retryable is retryable


def test_timeout_is_retryable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(RetryableDeliveryError):
        mock_transport(httpx.MockTransport(handler)).send(sms())


def test_success_without_sid_is_permanent() -> None:
    transport = mock_transport(
        httpx.MockTransport(lambda request: httpx.Response(200, text="<html>proxy</html>"))
    )
    with pytest.raises(PermanentDeliveryError, match="without a sid"):
        transport.send(sms())


def test_request_shape_with_mock_transport() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"sid": "SMabc"})

    result = mock_transport(httpx.MockTransport(handler)).send(sms("a&b=c"))

    [request] = seen
    assert str(request.url) == "https://twilio.test/2010-04-01/Accounts/AC123/Messages.json"
    assert request.method == "POST"
    assert parse_qs(request.content.decode()) == {"To": [TO], "From": [FROM], "Body": ["a&b=c"]}
    assert result.provider_message_id == "SMabc"


def test_email_is_refused() -> None:
    transport = mock_transport(httpx.MockTransport(lambda request: httpx.Response(201)))
    with pytest.raises(PermanentDeliveryError):
        transport.send(OutgoingMessage("m", "EMAIL", "a@example.com", "s", "b"))


def test_owned_client_is_closed() -> None:
    with TwilioTransport("AC1", "t", FROM) as transport:
        pass
    assert transport._client.is_closed


def test_base_url_must_be_http() -> None:
    with pytest.raises(ValueError):
        TwilioTransport("AC1", "t", FROM, base_url="ftp://twilio.test")


# --- TwiML -------------------------------------------------------------------------------------


def test_twiml_escapes_xml() -> None:
    speech = 'Disk <90%> & "cache" \x07down'
    twiml = voice_twiml(speech)
    assert says(twiml) == ['Disk <90%> & "cache" down'] * 2
    assert "<90%>" not in twiml


def test_twiml_fits_twilios_limit() -> None:
    twiml = voice_twiml("&" * 5000)
    assert len(twiml) <= TWIML_MAX_LENGTH
    first, second = says(twiml)
    assert first == second and set(first) == {"&"}


# --- signatures --------------------------------------------------------------------------------

# Twilio's published example: token, URL, parameters and the signature its helper computes.
TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_signature_matches_twilios_example() -> None:
    assert compute_twilio_signature(TOKEN, URL, PARAMS) == SIGNATURE
    assert validate_twilio_signature(TOKEN, URL, PARAMS, SIGNATURE)


def test_parameter_order_does_not_matter() -> None:
    reordered = dict(reversed(list(PARAMS.items())))
    assert list(reordered) != list(PARAMS)
    assert validate_twilio_signature(TOKEN, URL, reordered, SIGNATURE)


@pytest.mark.parametrize(
    ("token", "url", "params", "signature"),
    [
        ("wrong", URL, PARAMS, SIGNATURE),
        (TOKEN, URL + "&baz=3", PARAMS, SIGNATURE),
        (TOKEN, URL, {**PARAMS, "Digits": "9999"}, SIGNATURE),
        (TOKEN, URL, {**PARAMS, "Extra": ""}, SIGNATURE),
        (TOKEN, URL, PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8"),
        (TOKEN, URL, PARAMS, ""),
        (TOKEN, URL, PARAMS, "ünïcode"),
    ],
    ids=["token", "url", "value", "extra-param", "truncated", "empty", "non-ascii"],
)
def test_forged_signatures_fail(
    token: str, url: str, params: dict[str, str], signature: str
) -> None:
    assert not validate_twilio_signature(token, url, params, signature)


def _sign(payload: str) -> str:
    return base64.b64encode(
        hmac.new(TOKEN.encode(), payload.encode(), hashlib.sha1).digest()
    ).decode()


def test_params_are_signed_sorted_by_name() -> None:
    params = {"To": "+15005550199", "Body": "ok"}
    assert validate_twilio_signature(TOKEN, URL, params, _sign(URL + "Bodyok" + "To+15005550199"))
    assert not validate_twilio_signature(
        TOKEN, URL, params, _sign(URL + "To+15005550199" + "Bodyok")
    )


def test_default_port_may_be_added_or_removed() -> None:
    # Twilio's helpers accept the URL with the scheme's default port added or removed.
    with_port = compute_twilio_signature(TOKEN, "https://mycompany.com:443/myapp.php", PARAMS)
    assert validate_twilio_signature(TOKEN, "https://mycompany.com/myapp.php", PARAMS, with_port)
    without = compute_twilio_signature(TOKEN, "http://mycompany.com/hook", PARAMS)
    assert validate_twilio_signature(TOKEN, "http://mycompany.com:80/hook", PARAMS, without)
    # a non-default port is part of what was signed
    other = compute_twilio_signature(TOKEN, "https://mycompany.com:8443/hook", PARAMS)
    assert not validate_twilio_signature(TOKEN, "https://mycompany.com/hook", PARAMS, other)
