"""The inspection endpoints with ``--auth sigv4 --inspection``: each decides under the signer's
identity policy as the API would, what changes everyone's view needs full access, and the
clock only moves by finite, bounded amounts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.security.support import (
    ADMIN,
    BOB,
    BREADER,
    READER,
    User,
    channel,
    client,
    personal,
    policy,
    signed_inspection,
    start_sigv4,
    statement,
)
from tests.support.server import ServerProcess

pytestmark = pytest.mark.server

B = BOB.account
CHANNEL_READER = User("AKIACHANREADERBBBBBB", "chanreader-secret", B, "chanreader", policy(
    statement("Allow", ["ssm-contacts:GetContactChannel", "ssm-contacts:DescribeEngagement"]),
))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_sigv4(tmp_path_factory.mktemp("inspection"), args=["--inspection"],
                         users=(ADMIN, READER, BOB, BREADER, CHANNEL_READER))
    yield server
    server.stop()


def call(server: ServerProcess, user: User, method: str, path: str, **more):
    return signed_inspection(server, method, path, key=user.key, secret=user.secret, **more)


def test_reading_messages_needs_what_reading_every_channel_needs(server: ServerProcess) -> None:
    bob = client(server, BOB)
    phone = channel(bob, personal(bob, "kofi"), "+15005550100")
    refused = call(server, BREADER, "GET", "messages")
    assert refused.status_code == 403
    assert refused.json()["__type"] == "AccessDeniedException"
    assert "ssm-contacts:GetContactChannel" in refused.json()["Message"]
    allowed = call(server, CHANNEL_READER, "GET", "messages",
                   query={"ContactChannelArn": phone})
    assert allowed.status_code == 200
    assert [m["DeliveryAddress"] for m in allowed.json()["messages"]] == ["+15005550100"]


def test_emptying_the_outbox_and_moving_the_clock_need_full_access(
        server: ServerProcess) -> None:
    bob = client(server, BOB)
    channel(bob, personal(bob, "ama"), "+15005550101")
    for user in (BREADER, CHANNEL_READER):
        emptied = call(server, user, "DELETE", "messages")
        assert emptied.status_code == 403 and "full access" in emptied.json()["Message"]
        moved = call(server, user, "POST", "clock", body=b'{"AdvanceSeconds": 60}')
        assert moved.status_code == 403 and "full access" in moved.json()["Message"]
    assert call(server, CHANNEL_READER, "GET", "messages").json()["messages"]
    assert call(server, BREADER, "GET", "clock").status_code == 200   # reading it is harmless
    assert call(server, BOB, "DELETE", "messages").status_code == 200
    assert call(server, CHANNEL_READER, "GET", "messages").json()["messages"] == []


def test_engagement_events_need_describe_engagement(server: ServerProcess) -> None:
    bob = client(server, BOB)
    contact = personal(bob, "efua")
    engagement = bob.start_engagement(ContactId=contact, Sender="s", Subject="x",
                                      Content="y")["EngagementArn"]
    query = {"EngagementArn": engagement}
    assert call(server, BREADER, "GET", "engagements/events", query=query).status_code == 403
    assert call(server, CHANNEL_READER, "GET", "engagements/events",
                query=query).status_code == 200


@pytest.mark.parametrize("body", [b'{"AdvanceSeconds": 1e300}', b'{"AdvanceSeconds": "nan"}',
                                  b'{"AdvanceSeconds": "inf"}', b'{"AdvanceSeconds": -1}',
                                  b'{"AdvanceSeconds": 315576001}', b"[]", b"nonsense"])
def test_the_clock_moves_by_bounded_finite_amounts(server: ServerProcess, body: bytes) -> None:
    before = call(server, ADMIN, "GET", "clock").json()["Now"]
    refused = call(server, ADMIN, "POST", "clock", body=body)
    assert refused.status_code == 400, refused.text
    after = call(server, ADMIN, "GET", "clock").json()["Now"]
    assert 0 <= after - before < 60
    assert "Contacts" in client(server, ADMIN).list_contacts()


def test_the_clock_stops_a_hundred_years_ahead(tmp_path) -> None:
    server = start_sigv4(tmp_path, args=["--inspection"], users=(ADMIN,))
    try:
        ten_years = b'{"AdvanceSeconds": 315576000}'
        for _ in range(9):
            assert call(server, ADMIN, "POST", "clock", body=ten_years).status_code == 200
        refused = call(server, ADMIN, "POST", "clock", body=b'{"AdvanceSeconds": 315576001}')
        assert refused.status_code == 400
        beyond = call(server, ADMIN, "POST", "clock", body=ten_years + b" ")
        assert beyond.status_code == 200     # exactly a hundred years is allowed
        assert call(server, ADMIN, "POST", "clock",
                    body=b'{"AdvanceSeconds": 1}').status_code == 400
        # Signatures are still checked against the real time, which the clients sign with.
        assert call(server, ADMIN, "GET", "clock").status_code == 200
        assert "Contacts" in client(server, ADMIN).list_contacts()
    finally:
        server.stop()


def test_inspection_sees_only_the_signed_region(server: ServerProcess) -> None:
    """A request signed for one region sees that region's messages and engagements only, as
    the API does: its policy was decided for that region."""
    bob_us, bob_eu = client(server, BOB), client(server, BOB, region="eu-west-1")
    here = channel(bob_us, personal(bob_us, "yaw"), "+15005550110")
    there = channel(bob_eu, personal(bob_eu, "yaw"), "+15005550111")
    engagement = bob_eu.start_engagement(ContactId=there.rsplit("/", 1)[0].replace(
        "contact-channel", "contact"), Sender="s", Subject="x", Content="y")["EngagementArn"]
    listed = call(server, CHANNEL_READER, "GET", "messages").json()["messages"]
    arns = {m["ContactChannelArn"] for m in listed}
    assert here in arns and there not in arns
    from_eu = signed_inspection(server, "GET", "messages", key=CHANNEL_READER.key,
                                secret=CHANNEL_READER.secret, region="eu-west-1")
    assert {m["ContactChannelArn"] for m in from_eu.json()["messages"]} == {there}
    query = {"EngagementArn": engagement}
    assert call(server, CHANNEL_READER, "GET", "engagements/events",
                query=query).status_code == 404
    assert signed_inspection(server, "GET", "engagements/events", key=CHANNEL_READER.key,
                             secret=CHANNEL_READER.secret, query=query,
                             region="eu-west-1").status_code == 200
