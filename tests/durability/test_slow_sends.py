"""A send that outlasts its claim (a provider that answers slowly, an SMTP server that tarpits:
each step within the transport's timeout, the whole longer than a claim): its worker keeps the
claim alive while the send is under way, so no other worker takes the message for abandoned
and sends it a second time. A send that never ends is not kept forever: past
``delivery.MAX_SEND_SECONDS`` its claim is left to run out."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from incident_contacts.clock import ManualClock
from incident_contacts.delivery import DeliveryResult, MemoryTransport, OutgoingMessage
from incident_contacts.engine import delivery
from incident_contacts.engine.leases import CLAIM_SECONDS
from incident_contacts.runtime import Runtime
from tests.engagements.helpers import wait_until
from tests.engine.test_delivery import START, enqueue, make_runtime, message_row, transports_of


class SlowProvider:
    """Takes a message, then answers only when told."""

    def __init__(self) -> None:
        self.taken: list[str] = []
        self.inside = threading.Event()
        self.answer = threading.Event()

    def send(self, message: OutgoingMessage) -> DeliveryResult:
        self.taken.append(message.message_id)
        self.inside.set()
        assert self.answer.wait(30), "the test never let the provider answer"
        return DeliveryResult(provider_message_id="slow-1")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def runtime(tmp_path: Path, clock: ManualClock) -> Iterator[Runtime]:
    # A file: the two workers below run on two threads.
    runtime = make_runtime(f"sqlite:///{tmp_path / 'slow.db'}", clock=clock)
    yield runtime
    runtime.close()


def _sending(runtime: Runtime, provider: SlowProvider, in_hand: delivery.InHand
             ) -> threading.Thread:
    thread = threading.Thread(target=delivery.deliver_due, daemon=True, kwargs={
        "runtime": runtime, "transports": transports_of(provider), "worker_id": "slow",
        "in_hand": in_hand})
    thread.start()
    assert provider.inside.wait(10)
    return thread


def test_a_send_longer_than_its_claim_is_not_taken_by_another_worker(
        runtime: Runtime, clock: ManualClock) -> None:
    [message_id] = enqueue(runtime)
    provider, other = SlowProvider(), MemoryTransport()
    in_hand = delivery.InHand()
    thread = _sending(runtime, provider, in_hand)

    for _ in range(4):            # two claims' worth, the keeper renewing as it does
        clock.advance(CLAIM_SECONDS / 2)
        assert delivery.renew_claim(runtime, "slow", in_hand)
        assert delivery.deliver_due(runtime, transports_of(other), "other") == 0
    provider.answer.set()
    thread.join(10)

    assert provider.taken == [message_id] and other.sent == []
    row = message_row(runtime, message_id)
    assert (row.status, row.attempts, row.claimed_by) == ("SENT", 1, None)
    assert not delivery.renew_claim(runtime, "slow", in_hand)     # nothing in hand now


def test_a_send_that_never_ends_is_not_kept_forever(
        runtime: Runtime, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    [message_id] = enqueue(runtime)
    provider, other = SlowProvider(), MemoryTransport()
    in_hand = delivery.InHand()
    thread = _sending(runtime, provider, in_hand)
    try:
        monkeypatch.setattr(delivery, "MAX_SEND_SECONDS", 0.0)
        assert not delivery.renew_claim(runtime, "slow", in_hand)
        clock.advance(CLAIM_SECONDS + 1)
        assert delivery.deliver_due(runtime, transports_of(other), "other") == 1
        assert [m.message_id for m in other.sent] == [message_id]
    finally:
        provider.answer.set()
        thread.join(10)


def test_the_workers_lease_keeper_renews_the_claim_of_a_slow_send(
        runtime: Runtime, clock: ManualClock) -> None:
    [message_id] = enqueue(runtime)
    provider, other = SlowProvider(), MemoryTransport()
    worker = delivery.DeliveryWorker(runtime, transports_of(provider), worker_id="slow",
                                     renew_every=0.02)
    worker.start()
    try:
        assert provider.inside.wait(10)
        clock.advance(CLAIM_SECONDS + 1)       # the first claim has run out
        renewed = START + 2 * CLAIM_SECONDS + 1
        wait_until(lambda: message_row(runtime, message_id).claimed_until >= renewed,
                   timeout=10, message="the claim renewed", interval=0.01)
        assert delivery.deliver_due(runtime, transports_of(other), "other") == 0
        provider.answer.set()
        wait_until(lambda: message_row(runtime, message_id).status == "SENT", timeout=10,
                   message="the slow send recorded")
    finally:
        provider.answer.set()
        worker.stop()
    assert provider.taken == [message_id] and other.sent == []
