"""Twilio's ``ValidityPeriod`` on an activation SMS: the seconds its code has left, within the
range Twilio documents (1 to 36,000); no such parameter on calls or on messages that do not
say how long they live."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from incident_contacts.delivery import OutgoingMessage, TwilioTransport
from incident_contacts.delivery.twilio import validity_period

from .conftest import FakeTwilio

TO = "+15005550199"
FROM = "+15005550006"


@pytest.fixture
def transport(fake_twilio: FakeTwilio) -> Iterator[TwilioTransport]:
    with httpx.Client(trust_env=False, timeout=10) as client:
        yield TwilioTransport(fake_twilio.account_sid, fake_twilio.auth_token, FROM,
                              base_url=fake_twilio.base_url, client=client)


def activation(channel_type: str = "SMS", expires_in: float | None = 899.7) -> OutgoingMessage:
    return OutgoingMessage("msg-1", channel_type, TO, None,
                           "Your Incident Manager activation code is 004211.",
                           purpose="ACTIVATION", expires_in=expires_in)


@pytest.mark.parametrize(("expires_in", "sent"), [
    (899.7, "899"),            # whole seconds, never past the code's expiry
    (0.2, "1"),                # Twilio's least
    (3 * 86400.0, "36000"),    # Twilio's most (ten hours)
])
def test_an_activation_sms_lives_as_long_as_its_code(
        fake_twilio: FakeTwilio, transport: TwilioTransport, expires_in: float,
        sent: str) -> None:
    transport.send(activation(expires_in=expires_in))

    [request] = fake_twilio.requests
    assert request["form"] == {"To": TO, "From": FROM, "ValidityPeriod": sent,
                               "Body": "Your Incident Manager activation code is 004211."}


@pytest.mark.parametrize("expires_in", [None, float("nan")])
def test_a_message_that_does_not_say_keeps_twilios_default(
        fake_twilio: FakeTwilio, transport: TwilioTransport, expires_in: float | None) -> None:
    transport.send(replace(activation(expires_in=expires_in), purpose="PAGE"))

    [request] = fake_twilio.requests
    assert "ValidityPeriod" not in request["form"]


def test_a_call_takes_no_validity_period(fake_twilio: FakeTwilio,
                                        transport: TwilioTransport) -> None:
    transport.send(activation("VOICE"))

    [request] = fake_twilio.requests
    assert set(request["form"]) == {"To", "From", "Twiml"}


def test_the_range_is_twilios() -> None:
    assert validity_period(activation(expires_in=36_000.9)) == 36_000
    assert validity_period(activation(expires_in=-5.0)) == 1
    assert validity_period(activation(expires_in=None)) is None


def test_the_fake_refuses_what_twilio_refuses(fake_twilio: FakeTwilio) -> None:
    """So the tests above would notice a period Twilio would not take."""
    url = f"{fake_twilio.base_url}/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages.json"
    auth = (fake_twilio.account_sid, fake_twilio.auth_token)
    for value in ("0", "36001", "1.5", ""):
        answer = httpx.post(url, data={"To": TO, "From": FROM, "Body": "x",
                                       "ValidityPeriod": value}, auth=auth, trust_env=False)
        assert (answer.status_code, answer.json()["code"]) == (400, 21624), value
    for value in ("1", "36000"):
        answer = httpx.post(url, data={"To": TO, "From": FROM, "Body": "x",
                                       "ValidityPeriod": value}, auth=auth, trust_env=False)
        assert answer.status_code == 201, value
