"""Every rule of decisions §1, in-process and against servers on SQLite and PostgreSQL, with the
clock moved by the tests (never slept on)."""

from __future__ import annotations

import re
import uuid

import pytest
from botocore.exceptions import ClientError

from incident_contacts.service.activation import QUOTA_CODE
from tests.activation.helpers import (
    EMAIL,
    OTHER_PHONE,
    PHONE,
    activation_messages,
    assert_wrong_code,
    codes,
    fresh_code,
    latest_code,
    new_channel,
    new_contact,
    other_code,
    status,
    wait_delivered,
)
from tests.conftest import Backend


def test_create_sends_a_six_digit_code_unless_deferred(backend: Backend) -> None:
    client = backend.client()
    sent = new_channel(client, type="EMAIL", address=EMAIL)
    deferred = new_channel(client, defer=True)

    [message] = activation_messages(backend, sent)
    assert re.fullmatch(r"[0-9]{6}", message["ActivationCode"])
    assert message["ContactChannelArn"] == sent
    assert message["ChannelType"] == "EMAIL"
    assert message["DeliveryAddress"] == EMAIL
    assert message["Subject"] == "Your Incident Manager activation code"
    assert (f"Your Incident Manager activation code is {message['ActivationCode']}. "
            "It expires in 15 minutes.") in message["Body"]
    assert backend.messages(deferred) == []
    assert status(client, sent) == status(client, deferred) == "NOT_ACTIVATED"


def test_the_message_is_delivered(backend: Backend) -> None:
    client = backend.client()
    arn = new_channel(client)
    if backend.kind == "inprocess":
        # In-process, delivery completes before the API call returns.
        assert [m["DeliveryStatus"] for m in backend.messages(arn)] == ["SENT"]
    else:
        wait_delivered(backend, arn, count=1)


def test_the_right_code_activates(backend: Backend) -> None:
    client = backend.client()
    arn = new_channel(client, type="VOICE")
    client.activate_contact_channel(ContactChannelId=arn, ActivationCode=latest_code(backend, arn))
    assert status(client, arn) == "ACTIVATED"
    [item] = client.list_contact_channels(
        ContactId=client.get_contact_channel(ContactChannelId=arn)["ContactArn"]
    )["ContactChannels"]
    assert item["ActivationStatus"] == "ACTIVATED"


def test_a_wrong_code_is_a_validation_error_and_changes_nothing(backend: Backend) -> None:
    client = backend.client()
    arn = new_channel(client)
    code = latest_code(backend, arn)

    assert_wrong_code(client, arn, other_code(code))
    assert_wrong_code(client, arn, code + "0")          # longer, still digits: just wrong

    assert status(client, arn) == "NOT_ACTIVATED"
    client.activate_contact_channel(ContactChannelId=arn, ActivationCode=code)
    assert status(client, arn) == "ACTIVATED"


def test_activating_again_with_the_same_code_succeeds(backend: Backend) -> None:
    """A retry of the call that activated the channel (its answer lost) succeeds, until the
    code would have expired; any other code is still wrong."""
    client = backend.client()
    arn = new_channel(client)
    code = latest_code(backend, arn)
    client.activate_contact_channel(ContactChannelId=arn, ActivationCode=code)
    client.activate_contact_channel(ContactChannelId=arn, ActivationCode=code)
    assert status(client, arn) == "ACTIVATED"
    assert_wrong_code(client, arn, other_code(code))
    backend.advance(15 * 60)
    assert_wrong_code(client, arn, code)
    assert status(client, arn) == "ACTIVATED"


def test_a_used_code_does_not_work_twice(backend: Backend) -> None:
    client = backend.client()
    arn = new_channel(client)
    code = latest_code(backend, arn)
    client.activate_contact_channel(ContactChannelId=arn, ActivationCode=code)
    client.deactivate_contact_channel(ContactChannelId=arn)
    assert_wrong_code(client, arn, code)


def test_a_code_expires_after_15_minutes(backend: Backend) -> None:
    client = backend.client()
    contact = new_contact(client)
    early = new_channel(client, contact=contact, address=PHONE)
    late = new_channel(client, contact=contact, address=OTHER_PHONE)

    backend.advance(15 * 60 - 5)
    client.activate_contact_channel(ContactChannelId=early,
                                    ActivationCode=latest_code(backend, early))
    backend.advance(10)
    assert_wrong_code(client, late, latest_code(backend, late))
    assert status(client, late) == "NOT_ACTIVATED"

    new = fresh_code(client, backend, late, avoid=[])
    client.activate_contact_channel(ContactChannelId=late, ActivationCode=new)
    assert status(client, late) == "ACTIVATED"


def _assert_quota_exceeded(client: object, arn: str) -> None:
    with pytest.raises(ClientError) as caught:
        client.send_activation_code(ContactChannelId=arn)  # type: ignore[attr-defined]
    response = caught.value.response
    assert response["Error"]["Code"] == "ServiceQuotaExceededException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 402
    assert response["QuotaCode"] == QUOTA_CODE
    assert response["ServiceCode"] == "ssm-contacts"
    assert response["ResourceId"] == arn
    assert response["ResourceType"] == "CONTACT_CHANNEL"


def test_at_most_five_codes_per_rolling_hour(backend: Backend) -> None:
    client = backend.client()
    arn = new_channel(client, defer=True)

    for _ in range(3):
        client.send_activation_code(ContactChannelId=arn)
    backend.advance(30 * 60)
    for _ in range(2):
        client.send_activation_code(ContactChannelId=arn)
    _assert_quota_exceeded(client, arn)
    assert len(codes(backend, arn)) == 5           # the refused call sent nothing

    backend.advance(30 * 60 + 1)                   # the first three leave the window
    for _ in range(3):
        client.send_activation_code(ContactChannelId=arn)
    _assert_quota_exceeded(client, arn)

    backend.advance(60 * 60 + 1)
    client.send_activation_code(ContactChannelId=arn)
    assert len(codes(backend, arn)) == 9
    client.activate_contact_channel(ContactChannelId=arn, ActivationCode=latest_code(backend, arn))
    assert status(client, arn) == "ACTIVATED"


def test_a_refused_send_leaves_the_current_code_working(backend: Backend) -> None:
    client = backend.client()
    arn = new_channel(client)                      # the code on create counts too
    for _ in range(4):
        client.send_activation_code(ContactChannelId=arn)
    _assert_quota_exceeded(client, arn)
    client.activate_contact_channel(ContactChannelId=arn, ActivationCode=latest_code(backend, arn))
    assert status(client, arn) == "ACTIVATED"


def test_five_wrong_tries_void_the_code(backend: Backend) -> None:
    client = backend.client()
    arn = new_channel(client)
    code = latest_code(backend, arn)
    for step in range(1, 6):
        assert_wrong_code(client, arn, other_code(code, step))

    assert_wrong_code(client, arn, code)           # the right code, too late
    assert status(client, arn) == "NOT_ACTIVATED"

    new = fresh_code(client, backend, arn, avoid=[])
    client.activate_contact_channel(ContactChannelId=arn, ActivationCode=new)
    assert status(client, arn) == "ACTIVATED"


def test_four_wrong_tries_leave_the_code_working(backend: Backend) -> None:
    client = backend.client()
    arn = new_channel(client)
    code = latest_code(backend, arn)
    for step in range(1, 5):
        assert_wrong_code(client, arn, other_code(code, step))
    client.activate_contact_channel(ContactChannelId=arn, ActivationCode=code)
    assert status(client, arn) == "ACTIVATED"


def test_a_new_code_voids_the_earlier_ones(backend: Backend) -> None:
    client = backend.client()
    arn = new_channel(client)
    first = latest_code(backend, arn)
    second = fresh_code(client, backend, arn, avoid=[first])
    third = fresh_code(client, backend, arn, avoid=[first, second])

    assert_wrong_code(client, arn, first)
    assert_wrong_code(client, arn, second)
    client.activate_contact_channel(ContactChannelId=arn, ActivationCode=third)
    assert status(client, arn) == "ACTIVATED"


def test_deactivate_resets_the_status_and_voids_codes(backend: Backend) -> None:
    client = backend.client()
    arn = new_channel(client)
    client.activate_contact_channel(ContactChannelId=arn, ActivationCode=latest_code(backend, arn))
    pending = fresh_code(client, backend, arn, avoid=codes(backend, arn)[:1])

    client.deactivate_contact_channel(ContactChannelId=arn)

    assert status(client, arn) == "NOT_ACTIVATED"
    assert_wrong_code(client, arn, pending)
    new = fresh_code(client, backend, arn, avoid=[pending])
    client.activate_contact_channel(ContactChannelId=arn, ActivationCode=new)
    assert status(client, arn) == "ACTIVATED"


def test_an_address_change_resets_the_status_and_sends_to_the_new_address(
        backend: Backend) -> None:
    client = backend.client()
    arn = new_channel(client, type="EMAIL", address=EMAIL)
    client.activate_contact_channel(ContactChannelId=arn, ActivationCode=latest_code(backend, arn))

    client.update_contact_channel(ContactChannelId=arn,
                                  DeliveryAddress={"SimpleAddress": "kofi@example.com"})

    assert status(client, arn) == "NOT_ACTIVATED"
    messages = activation_messages(backend, arn)
    assert [m["DeliveryAddress"] for m in messages] == [EMAIL, "kofi@example.com"]
    client.activate_contact_channel(ContactChannelId=arn,
                                    ActivationCode=messages[-1]["ActivationCode"])
    assert status(client, arn) == "ACTIVATED"


def test_a_code_sent_to_the_old_address_stops_working(backend: Backend) -> None:
    client = backend.client()
    arn = new_channel(client)                      # never activated
    old = latest_code(backend, arn)

    client.update_contact_channel(ContactChannelId=arn,
                                  DeliveryAddress={"SimpleAddress": OTHER_PHONE})

    [_, to_new] = activation_messages(backend, arn)
    assert to_new["DeliveryAddress"] == OTHER_PHONE
    if to_new["ActivationCode"] == old:
        pytest.skip("the same 6-digit code came up twice")
    assert_wrong_code(client, arn, old)
    client.activate_contact_channel(ContactChannelId=arn, ActivationCode=to_new["ActivationCode"])


def test_an_address_change_past_the_quota_sends_nothing_but_voids_old_codes(
        backend: Backend) -> None:
    client = backend.client()
    arn = new_channel(client)
    for _ in range(4):
        client.send_activation_code(ContactChannelId=arn)
    old = latest_code(backend, arn)

    client.update_contact_channel(ContactChannelId=arn,
                                  DeliveryAddress={"SimpleAddress": OTHER_PHONE})

    assert status(client, arn) == "NOT_ACTIVATED"
    assert len(codes(backend, arn)) == 5
    assert_wrong_code(client, arn, old)
    backend.advance(3601)
    client.send_activation_code(ContactChannelId=arn)
    last = activation_messages(backend, arn)[-1]
    assert last["DeliveryAddress"] == OTHER_PHONE
    client.activate_contact_channel(ContactChannelId=arn, ActivationCode=last["ActivationCode"])


def test_a_name_change_or_the_same_address_touches_nothing(backend: Backend) -> None:
    client = backend.client()
    arn = new_channel(client)
    client.activate_contact_channel(ContactChannelId=arn, ActivationCode=latest_code(backend, arn))

    client.update_contact_channel(ContactChannelId=arn, Name="work phone")
    client.update_contact_channel(ContactChannelId=arn, DeliveryAddress={"SimpleAddress": PHONE})
    client.update_contact_channel(ContactChannelId=arn, Name="phone",
                                  DeliveryAddress={"SimpleAddress": PHONE})

    assert status(client, arn) == "ACTIVATED"
    assert len(backend.messages(arn)) == 1
    assert client.get_contact_channel(ContactChannelId=arn)["Name"] == "phone"


def test_an_idempotent_create_sends_one_code(backend: Backend) -> None:
    client = backend.client()
    contact = new_contact(client)
    token = str(uuid.uuid4())
    params = {"ContactId": contact, "Name": "phone", "Type": "SMS",
              "DeliveryAddress": {"SimpleAddress": PHONE}, "IdempotencyToken": token}

    first = client.create_contact_channel(**params)["ContactChannelArn"]
    second = client.create_contact_channel(**params)["ContactChannelArn"]

    assert first == second
    assert len(backend.messages(first)) == 1


def test_an_activated_channel_can_be_sent_a_code_and_stays_activated(backend: Backend) -> None:
    client = backend.client()
    arn = new_channel(client)
    client.activate_contact_channel(ContactChannelId=arn, ActivationCode=latest_code(backend, arn))

    client.send_activation_code(ContactChannelId=arn)

    assert status(client, arn) == "ACTIVATED"
    assert len(codes(backend, arn)) == 2
    client.activate_contact_channel(ContactChannelId=arn, ActivationCode=latest_code(backend, arn))
    assert status(client, arn) == "ACTIVATED"


def test_unknown_channels_are_not_found(backend: Backend) -> None:
    client = backend.client()
    contact = new_contact(client)
    missing = contact.replace(":contact/", ":contact-channel/") + "/" + str(uuid.uuid4())
    for call, extra in ((client.send_activation_code, {}),
                        (client.activate_contact_channel, {"ActivationCode": "123456"})):
        with pytest.raises(ClientError) as caught:
            call(ContactChannelId=missing, **extra)
        assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"
        assert caught.value.response["ResourceType"] == "CONTACT_CHANNEL"
