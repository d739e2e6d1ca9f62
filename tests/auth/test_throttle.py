from __future__ import annotations

import threading

import pytest

from incident_contacts.auth.throttle import Throttle, operation_class
from incident_contacts.clock import ManualClock
from incident_contacts.errors import ThrottlingException

A = "111122223333"
B = "444455556666"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_700_000_000.0)


def drain(throttle: Throttle, account: str, operation: str, n: int) -> None:
    for _ in range(n):
        throttle.acquire(account, operation)


def test_burst_then_refusal_with_a_retry_hint(clock: ManualClock) -> None:
    throttle = Throttle(rate=0.5, burst=3, clock=clock)
    drain(throttle, A, "GetContact", 3)
    with pytest.raises(ThrottlingException) as info:
        throttle.acquire(A, "GetContact")
    assert info.value.members["RetryAfterSeconds"] == 2
    assert info.value.members["ServiceCode"] == "ssm-contacts"
    assert info.value.headers() == {"Retry-After": "2"}
    assert info.value.status == 429


def test_retry_hint_is_at_least_one_second(clock: ManualClock) -> None:
    throttle = Throttle(rate=100, burst=1, clock=clock)
    throttle.acquire(A, "GetContact")
    with pytest.raises(ThrottlingException) as info:
        throttle.acquire(A, "GetContact")
    assert info.value.members["RetryAfterSeconds"] == 1


def test_retry_hint_rounds_up_the_remaining_wait(clock: ManualClock) -> None:
    throttle = Throttle(rate=0.25, burst=1, clock=clock)
    throttle.acquire(A, "UpdateContact")
    clock.advance(1.5)
    with pytest.raises(ThrottlingException) as info:
        throttle.acquire(A, "UpdateContact")
    assert info.value.members["RetryAfterSeconds"] == 3  # 2.5 s to go


def test_refill_with_the_clock(clock: ManualClock) -> None:
    throttle = Throttle(rate=2, burst=2, clock=clock)
    drain(throttle, A, "CreateContact", 2)
    with pytest.raises(ThrottlingException):
        throttle.acquire(A, "CreateContact")
    clock.advance(0.5)
    throttle.acquire(A, "CreateContact")
    with pytest.raises(ThrottlingException):
        throttle.acquire(A, "CreateContact")
    clock.advance(60)  # never beyond the burst
    drain(throttle, A, "CreateContact", 2)
    with pytest.raises(ThrottlingException):
        throttle.acquire(A, "CreateContact")


def test_refused_requests_do_not_consume(clock: ManualClock) -> None:
    throttle = Throttle(rate=1, burst=1, clock=clock)
    throttle.acquire(A, "GetContact")
    for _ in range(5):
        with pytest.raises(ThrottlingException):
            throttle.acquire(A, "GetContact")
    clock.advance(1)
    throttle.acquire(A, "GetContact")


def test_classes_are_independent(clock: ManualClock) -> None:
    throttle = Throttle(rate=1, burst=1, clock=clock)
    throttle.acquire(A, "ListContacts")
    throttle.acquire(A, "CreateContact")
    throttle.acquire(A, "StartEngagement")
    for operation in ("GetContact", "DeleteContact", "SendActivationCode"):
        with pytest.raises(ThrottlingException):
            throttle.acquire(A, operation)


def test_accounts_are_independent(clock: ManualClock) -> None:
    throttle = Throttle(rate=1, burst=2, clock=clock)
    drain(throttle, A, "GetContact", 2)
    drain(throttle, B, "GetContact", 2)
    with pytest.raises(ThrottlingException):
        throttle.acquire(A, "GetContact")


def test_rate_zero_turns_it_off(clock: ManualClock) -> None:
    throttle = Throttle(rate=0, burst=0, clock=clock)
    assert not throttle.enabled
    drain(throttle, A, "StartEngagement", 10_000)
    assert len(throttle) == 0


@pytest.mark.parametrize(
    ("operation", "cls"),
    [
        ("GetContact", "read"),
        ("ListPageReceipts", "read"),
        ("DescribeEngagement", "read"),
        ("CreateContact", "write"),
        ("AcceptPage", "write"),
        ("TagResource", "write"),
        ("SendActivationCode", "send"),
        ("StartEngagement", "send"),
    ],
)
def test_operation_classes(operation: str, cls: str) -> None:
    assert operation_class(operation) == cls


def test_bad_settings_are_refused(clock: ManualClock) -> None:
    with pytest.raises(ValueError):
        Throttle(rate=-1, burst=1, clock=clock)
    with pytest.raises(ValueError):
        Throttle(rate=1, burst=0, clock=clock)


def test_full_idle_buckets_are_dropped(clock: ManualClock) -> None:
    throttle = Throttle(rate=10, burst=5, clock=clock)
    for i in range(5000):
        throttle.acquire(f"{i:012d}", "GetContact")
        clock.advance(0.01)
    # a bucket is full again 0.1 s after its one request: only the recent ones are kept
    assert len(throttle) <= 1024
    throttle.acquire("000000000000", "GetContact")


def test_thread_safe(clock: ManualClock) -> None:
    throttle = Throttle(rate=1, burst=100, clock=clock)
    granted: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            try:
                throttle.acquire(A, "GetContact")
            except ThrottlingException:
                continue
            with lock:
                granted.append(1)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == 100
