"""Fixtures of the delivery tests: a manual clock at START, a runtime on an in-memory database
with it, and a transport that records (and fails when told to). A module's own fixture of
the same name wins over these."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from incident_contacts.clock import ManualClock
from incident_contacts.delivery import MemoryTransport
from incident_contacts.runtime import Runtime
from tests.engine.test_delivery import START, make_runtime


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def runtime(clock: ManualClock) -> Iterator[Runtime]:
    runtime = make_runtime(clock=clock)
    yield runtime
    runtime.close()


@pytest.fixture
def memory() -> MemoryTransport:
    return MemoryTransport()
