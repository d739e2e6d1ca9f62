"""The one-time scrub of delivery addresses from error texts that releases before 48f81bd
stored in plain (engine.legacy_texts). The legacy texts below are shaped as those releases
wrote them: Twilio's ``Twilio <status>: <message> (code <n>)`` and smtplib's ``recipient
<address> refused: <code> <text>`` (delivery/twilio.py and delivery/smtp.py at 2552398),
stored in ``outbox.last_error``, ``delivery_attempts.detail`` and the ERROR receipt's info."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from incident_contacts import crypto
from incident_contacts.clock import ManualClock
from incident_contacts.engine import legacy_texts
from incident_contacts.engine.housekeeping import keep_house
from incident_contacts.engine.legacy_texts import (
    PLACEHOLDER,
    scrub_legacy_error_texts,
    scrub_text,
)
from incident_contacts.store.schema.delivery import delivery_attempts, outbox
from incident_contacts.store.schema.engagements import page_receipts
from incident_contacts.store.schema.maintenance import maintenance_done
from tests.engine.test_delivery import START
from tests.engine.test_housekeeping_history import PHONE, A, World

EMAIL = "Bob.Jones@Example.com"

TWILIO = f"Twilio 400: The 'To' number {PHONE} is not a valid phone number. (code 21211)"
TWILIO_BARE = f"Twilio 400: 21614 '{PHONE[1:]}' is not a mobile number (code 21614)"
SMTP = ("recipient bob.jones@example.com refused: 550 5.1.1 <BOB.JONES@EXAMPLE.COM>: "
        "Recipient address rejected")
CLEAN = ("SMTP connection failed: [Errno 111] Connection refused",
         "Twilio 429: Too Many Requests (code 20429)",
         "no transport is configured for EMAIL",
         "gave up after 8 attempts: Twilio 503: Service Unavailable (code 20503)")


@pytest.mark.parametrize(("text", "addresses", "expected"), [
    (TWILIO, [PHONE], "Twilio 400: The 'To' number <delivery address> is not a valid phone "
                      "number. (code 21211)"),
    (TWILIO_BARE, [PHONE], "Twilio 400: 21614 '<delivery address>' is not a mobile number "
                           "(code 21614)"),
    (SMTP, [EMAIL], "recipient <delivery address> refused: 550 5.1.1 <<delivery address>>: "
                    "Recipient address rejected"),
    # not the row's own address, or the row's address did not open: by their shape
    (TWILIO, [], "Twilio 400: The 'To' number <delivery address> is not a valid phone "
                 "number. (code 21211)"),
    (TWILIO_BARE, [None], "Twilio 400: 21614 '<delivery address>' is not a mobile number "
                          "(code 21614)"),
    (SMTP, [], "recipient <delivery address> refused: 550 5.1.1 <<delivery address>>: "
               "Recipient address rejected"),
    ("mailbox ünïcode@exämple.org full; root@localhost", [],
     "mailbox <delivery address> full; <delivery address>"),
    ("call to +1 (500) 555-0199 failed", [], "call to <delivery address> failed"),
    ("Twilio request failed: ReadTimeout('https://api.example/x?To=%2B15005550199')",
     [PHONE], "Twilio request failed: ReadTimeout('https://api.example/x?To=<delivery "
              "address>')"),
    *[(clean, [PHONE, EMAIL], clean) for clean in CLEAN],
    # what the delivery worker writes since 48f81bd stays as it is
    (f"The 'To' number {PLACEHOLDER} is unreachable", [PHONE],
     f"The 'To' number {PLACEHOLDER} is unreachable"),
])
def test_addresses_and_what_looks_like_one_are_replaced(
        text: str, addresses: list[str | None], expected: str) -> None:
    assert scrub_text(text, addresses) == expected
    assert scrub_text(expected, addresses) == expected


@pytest.mark.parametrize("text", [
    "a" * 200_000,                  # a provider's answer of any length is scrubbed
    "1" * 200_000,
    "a." * 100_000,
    ("x" * 64 + "@_") * 3_000,
], ids=["letters", "digits", "dotted", "at-signs"])
def test_a_long_text_is_scrubbed_in_time_that_grows_with_its_length(text: str) -> None:
    import time

    started = time.perf_counter()
    scrub_text(text, [PHONE])
    # Time squared in its length took minutes for these; linear takes a fraction of a second.
    assert time.perf_counter() - started < 5


def test_an_address_with_a_local_part_longer_than_any_is_still_cut_off() -> None:
    scrubbed = scrub_text("to " + "x" * 100 + "@example.com", [])
    assert scrubbed.endswith(PLACEHOLDER) and "example.com" not in scrubbed


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[World]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'legacy.db'}"
    else:
        url = str(request.getfixturevalue("pg_database"))
    made = World(url, ManualClock(START))
    try:
        yield made
    finally:
        made.close()


def texts(world: World) -> dict[str, list[tuple[Any, ...]]]:
    with world.runtime.store.transaction(write=False) as conn:
        return {
            "outbox": [tuple(r) for r in conn.execute(
                sa.select(outbox.c.purpose, outbox.c.status, outbox.c.last_error)
                .order_by(outbox.c.id))],
            "attempts": [tuple(r) for r in conn.execute(
                sa.select(delivery_attempts.c.outcome, delivery_attempts.c.detail)
                .order_by(delivery_attempts.c.id))],
            "receipts": [tuple(r) for r in conn.execute(
                sa.select(page_receipts.c.receipt_type, page_receipts.c.info)
                .order_by(page_receipts.c.id))],
        }


def write_legacy(world: World) -> None:
    """Put back what releases before 48f81bd stored: the provider's own words."""
    with world.runtime.store.transaction() as conn:
        conn.execute(outbox.update().where(outbox.c.purpose == "PAGE",
                                           outbox.c.status == "FAILED")
                     .values(last_error=TWILIO))
        conn.execute(outbox.update().where(outbox.c.purpose == "ACTIVATION",
                                           outbox.c.channel_type == "EMAIL")
                     .values(last_error=SMTP))
        conn.execute(delivery_attempts.update().where(delivery_attempts.c.outcome == "FAILED")
                     .values(detail=TWILIO_BARE))
        conn.execute(page_receipts.update().where(page_receipts.c.receipt_type == "ERROR")
                     .values(info=TWILIO))


def test_legacy_texts_are_scrubbed_once(world: World) -> None:
    alice = world.person(A, "alice")
    bob = world.call(A, "CreateContact", Alias="bob", Type="PERSONAL",
                     Plan={"Stages": []})["ContactArn"]
    world.call(A, "CreateContactChannel", ContactId=bob, Name="mail", Type="EMAIL",
               DeliveryAddress={"SimpleAddress": EMAIL})       # no EMAIL transport: FAILED
    world.memory.fail_next(1, reason="Twilio 400: unreachable (code 30003)", retryable=False)
    world.engage(A, alice, stop=True)                        # an ERROR receipt
    world.engage(A, alice)                                   # sent
    write_legacy(world)
    with world.runtime.store.transaction() as conn:
        # A SENT attempt's detail is the provider's id, an SMTP Message-ID perhaps: kept.
        conn.execute(delivery_attempts.update().where(delivery_attempts.c.outcome == "SENT")
                     .values(detail="<170000000123.4.5@mail.example.com>"))
    before = texts(world)
    assert ("PAGE", "FAILED", TWILIO) in before["outbox"]
    assert ("ACTIVATION", "FAILED", SMTP) in before["outbox"]
    assert ("FAILED", TWILIO_BARE) in before["attempts"]
    assert ("ERROR", TWILIO) in before["receipts"]
    sent = [row for row in before["attempts"] if row[0] == "SENT"]
    assert sent and all(row[1] for row in sent)           # the provider's message ids

    scrubbed = {TWILIO: scrub_text(TWILIO), TWILIO_BARE: scrub_text(TWILIO_BARE),
                SMTP: scrub_text(SMTP)}
    legacy = sum(value in scrubbed for rows in before.values() for row in rows for value in row)
    assert legacy == 5          # two messages, two attempts, a receipt
    assert scrub_legacy_error_texts(world.runtime, batch=2) == legacy
    after = texts(world)
    assert PHONE[1:] not in str(after) and "jones" not in str(after).lower()
    for name, rows in before.items():
        assert after[name] == [tuple(scrubbed.get(v, v) for v in row) for row in rows], name

    # Done once, for every server of the database: a text written now is not looked at.
    with world.runtime.store.transaction(write=False) as conn:
        assert legacy_texts.done(conn)
        assert conn.execute(sa.select(maintenance_done.c.done_at)).scalar_one() == START
    write_legacy(world)
    assert scrub_legacy_error_texts(world.runtime) == 0
    keep_house(world.runtime)
    assert texts(world) == before


def test_a_scrubbed_receipt_info_stays_within_the_wires_limit(world: World) -> None:
    """Older releases cut an ERROR receipt's info to ReceiptInfo's 2,048 characters; the
    placeholder is longer than a phone number, so the scrubbed text is cut to fit again."""
    alice = world.person(A, "alice")
    world.memory.fail_next(1, reason="Twilio 400: unreachable (code 30003)", retryable=False)
    engagement = world.engage(A, alice, stop=True)
    legacy = (f"Twilio 400: {PHONE} {PHONE} " + "x" * 2048)[:2048]
    with world.runtime.store.transaction() as conn:
        conn.execute(page_receipts.update().where(page_receipts.c.receipt_type == "ERROR")
                     .values(info=legacy))
    assert scrub_legacy_error_texts(world.runtime) == 1
    [page] = world.call(A, "ListPagesByEngagement", EngagementId=engagement)["Pages"]
    [error] = [r for r in world.call(A, "ListPageReceipts", PageId=page["PageArn"])["Receipts"]
               if r["ReceiptType"] == "ERROR"]
    assert error["ReceiptInfo"].startswith(f"Twilio 400: {PLACEHOLDER} {PLACEHOLDER} xxx")
    assert len(error["ReceiptInfo"]) == 2048


def test_texts_whose_address_does_not_open_are_scrubbed_by_shape(world: World) -> None:
    """A row sealed under a key this server no longer holds: its address cannot be opened,
    and what looks like an address goes all the same."""
    alice = world.person(A, "alice")
    world.memory.fail_next(1, reason="Twilio 400: unreachable (code 30003)", retryable=False)
    world.engage(A, alice, stop=True)
    write_legacy(world)
    other = crypto.KeyRing(crypto.new_key())
    with world.runtime.store.transaction() as conn:
        for message_id in conn.execute(sa.select(outbox.c.message_id)).scalars().all():
            conn.execute(outbox.update().where(outbox.c.message_id == message_id).values(
                address=other.seal(PHONE, aad=f"outbox:{message_id}:address")))
    assert scrub_legacy_error_texts(world.runtime) == 3
    after = texts(world)
    assert PHONE[1:] not in str(after)
    assert ("PAGE", "FAILED", scrub_text(TWILIO)) in after["outbox"]
