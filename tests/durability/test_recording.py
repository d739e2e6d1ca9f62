"""Messages handed to a provider whose outcome the database refused to record (a lost
connection, a database restarting): the worker tries again, so that they are not sent a
second time when their claims run out; when the database stays away longer than its patience,
the claims decide and nothing is lost."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from incident_contacts.clock import ManualClock
from incident_contacts.delivery import MemoryTransport
from incident_contacts.engine import delivery
from incident_contacts.engine.leases import CLAIM_SECONDS
from incident_contacts.runtime import Runtime
from tests.engine.test_delivery import (
    attempt_rows,
    enqueue,
    message_row,
    transports_of,
)


def _refusing(monkeypatch: pytest.MonkeyPatch, times: int) -> list[int]:
    """The database refuses the next ``times`` records of attempts (the transaction that
    settles the rows then rolls back whole); returns the count of refusals so far."""
    refused = [0]
    real = delivery._RECORD_ATTEMPT.execute_many

    def execute_many(conn: Connection, rows: Any) -> None:
        if refused[0] < times:
            refused[0] += 1
            raise sa.exc.OperationalError("INSERT INTO delivery_attempts", {},
                                          Exception("server closed the connection"))
        real(conn, rows)

    monkeypatch.setattr(delivery._RECORD_ATTEMPT, "execute_many", execute_many)
    return refused


def test_an_outcome_refused_for_a_moment_is_recorded_and_not_sent_again(
        runtime: Runtime, memory: MemoryTransport, clock: ManualClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    ids = enqueue(runtime, 3)
    refused = _refusing(monkeypatch, 2)
    with contextlib.suppress(sa.exc.OperationalError):     # as the worker's loop: logged
        delivery.deliver_due(runtime, transports_of(memory), "w1")
    clock.advance(CLAIM_SECONDS + 1)                        # any claim left has run out
    delivery.deliver_due(runtime, transports_of(memory), "w2")

    assert refused == [2]
    assert sorted(m.message_id for m in memory.sent) == sorted(ids)      # once each
    assert {message_row(runtime, i).status for i in ids} == {"SENT"}
    assert [[(a.outcome, a.worker) for a in attempt_rows(runtime, i)] for i in ids] \
        == [[("SENT", "w1")]] * 3


def test_a_database_away_longer_than_the_patience_leaves_the_rows_to_their_claims(
        runtime: Runtime, memory: MemoryTransport, clock: ManualClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery, "RECORD_PATIENCE", 0.2)
    ids = enqueue(runtime, 2)
    _refusing(monkeypatch, 1000)
    with pytest.raises(sa.exc.OperationalError):
        delivery.deliver_due(runtime, transports_of(memory), "w1")
    monkeypatch.undo()

    assert delivery.deliver_due(runtime, transports_of(memory), "w2") == 0   # claims live
    clock.advance(CLAIM_SECONDS + 1)
    assert delivery.deliver_due(runtime, transports_of(memory), "w2") == 2
    # At least once: sent again, since nobody could record the first sends.
    assert sorted(m.message_id for m in memory.sent) == sorted(ids * 2)
    assert {message_row(runtime, i).status for i in ids} == {"SENT"}
