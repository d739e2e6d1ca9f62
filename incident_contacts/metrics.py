"""Prometheus metrics: what a team running its own paging watches.

``GET /metrics`` (``INCIDENT_CONTACTS_METRICS``, on by default) answers in Prometheus' text
format from a registry of this server's own, so two servers in one process (tests) never mix
their figures. Nothing in it names an account, a contact or an address.

Counted as they happen, in this process:

* ``incident_contacts_requests_total{operation, outcome}``: API calls answered; ``outcome`` is
  ``OK`` or the error code (``ValidationException``, ``ThrottlingException`` ...). A target
  that names no operation of the service counts under ``operation="(unknown)"``.
* ``incident_contacts_request_duration_seconds{operation}``: a histogram of the time the
  pipeline took to answer (authentication to the encoded response, without the HTTP server).
* ``incident_contacts_delivery_attempts_total{channel_type, outcome}``: hand-overs to a
  transport by this process's delivery worker; ``outcome`` is ``SENT``, ``RETRY`` or
  ``FAILED``.

Read from the database at each scrape (so with PostgreSQL every instance reports the shared
figures):

* ``incident_contacts_outbox_pending{channel_type}`` and
  ``incident_contacts_outbox_failed{channel_type}``: messages waiting for delivery, and given
  up on;
* ``incident_contacts_outbox_oldest_pending_seconds``: how long the oldest waiting message
  has waited (0 when none): the figure to alert on when delivery is stuck;
* ``incident_contacts_engine_timers`` and ``incident_contacts_engine_overdue_seconds``: engine
  steps scheduled, and how late the most overdue one is.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from incident_contacts.store.prepared import Prepared
from incident_contacts.store.schema.delivery import outbox
from incident_contacts.store.schema.engagements import engine_timers

if TYPE_CHECKING:
    from incident_contacts.runtime import Runtime

UNKNOWN_OPERATION = "(unknown)"
# An API call takes from well under a millisecond (SQLite) to seconds (a stalled database).
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_BUCKET_NAMES = tuple(repr(bound) for bound in _BUCKETS)

# Both read through indexes: the outbox by status (ix_outbox_due), the timers whole (a table
# that holds only what is scheduled).
_OUTBOX_BY_STATUS = Prepared(
    sa.select(outbox.c.channel_type, sa.func.count().label("messages"),
              sa.func.min(outbox.c.created_at).label("oldest"))
    .where(outbox.c.status == sa.bindparam("status"))
    .group_by(outbox.c.channel_type))
_TIMERS = Prepared(sa.select(sa.func.count().label("timers"),
                             sa.func.min(engine_timers.c.due_at).label("earliest")))

CHANNEL_TYPES = ("SMS", "VOICE", "EMAIL")


class Metrics:
    """The server's metrics; :meth:`observe_request` runs on every API call."""

    def __init__(self, runtime: Runtime) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._calls = _Calls()
        self.registry.register(self._calls)
        self._attempts = Counter(
            "incident_contacts_delivery_attempts", "Delivery attempts of this process, by "
            "channel type and outcome (SENT, RETRY, FAILED; FAILED also counts messages "
            "failed unsent: a code that expired or stopped working, a page cancelled).",
            ["channel_type", "outcome"], registry=self.registry)
        self.registry.register(_StoreCollector(runtime))
        self.observe_request = self._calls.add

    def observe_delivery(self, channel_type: str, outcome: str) -> None:
        self._attempts.labels(channel_type, outcome).inc()

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format (reads the database: call off the loop)."""
        return generate_latest(self.registry)


class _Calls(Collector):
    """Counts and durations of API calls, kept as plain numbers under one lock and made into
    Prometheus families at each scrape. (prometheus_client's Counter and Histogram take a
    lock per value and per observation; on every call that cost several microseconds more
    inside the server, a tenth of a write's budget against the benchmark floor.)"""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # per operation: a count per bucket (the last one past every bound), then the sum
        self._durations: dict[str, list[float]] = {}
        # per (operation, outcome): its operation's row of durations and its count (a list of
        # one), so that a call looks up one key
        self._counted: dict[tuple[str, str], tuple[list[float], list[int]]] = {}

    def add(self, operation: str, outcome: str, seconds: float) -> None:
        bucket = bisect.bisect_left(_BUCKETS, seconds)
        key = (operation, outcome)
        with self._lock:
            counted = self._counted.get(key)
            if counted is None:
                row = self._durations.get(operation)
                if row is None:
                    row = self._durations[operation] = [0.0] * (len(_BUCKETS) + 2)
                counted = self._counted[key] = (row, [0])
            row, count = counted
            count[0] += 1
            row[bucket] += 1
            row[-1] += seconds

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            outcomes = sorted((key, count[0]) for key, (_, count) in self._counted.items())
            durations = sorted((operation, list(row)) for operation, row in
                               self._durations.items())
        calls = CounterMetricFamily(
            "incident_contacts_requests",
            "API calls answered, by operation and outcome (OK or the error code).",
            labels=["operation", "outcome"])
        for (operation, outcome), count in outcomes:
            calls.add_metric([operation, outcome], count)
        yield calls
        histogram = HistogramMetricFamily(
            "incident_contacts_request_duration_seconds",
            "Time to answer an API call, without the HTTP server.", labels=["operation"])
        for operation, row in durations:
            cumulative, buckets = 0.0, []
            for bound, observed in zip((*_BUCKET_NAMES, "+Inf"), row[:-1], strict=True):
                cumulative += observed
                buckets.append((bound, cumulative))
            histogram.add_metric([operation], buckets, sum_value=row[-1])
        yield histogram


class _StoreCollector(Collector):
    """The figures read from the database at each scrape."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def describe(self) -> list[Metric]:
        return []   # the families are made at each collect; none is known before

    def collect(self) -> Iterator[Metric]:
        now = self.runtime.clock.now()
        with self.runtime.store.transaction(write=False) as conn:
            pending = _OUTBOX_BY_STATUS.all(conn, {"status": "PENDING"})
            failed = _OUTBOX_BY_STATUS.all(conn, {"status": "FAILED"})
            timers = _TIMERS.first(conn, {})
        yield _by_channel_type("incident_contacts_outbox_pending",
                               "Messages waiting for delivery.", pending)
        yield _by_channel_type("incident_contacts_outbox_failed",
                               "Messages delivery gave up on.", failed)
        oldest = min((row.oldest for row in pending), default=None)
        yield GaugeMetricFamily(
            "incident_contacts_outbox_oldest_pending_seconds",
            "How long the oldest message waiting for delivery has waited (0: none waits).",
            value=0.0 if oldest is None else max(0.0, now - float(oldest)))
        yield GaugeMetricFamily("incident_contacts_engine_timers",
                                "Engagement engine steps scheduled.", value=timers.timers)
        earliest = timers.earliest
        yield GaugeMetricFamily(
            "incident_contacts_engine_overdue_seconds",
            "How late the most overdue engine step is (0: none is overdue).",
            value=0.0 if earliest is None else max(0.0, now - float(earliest)))


def _by_channel_type(name: str, documentation: str, rows: list[Any]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=["channel_type"])
    counts = {row.channel_type: row.messages for row in rows}
    for channel_type in sorted({*CHANNEL_TYPES, *counts}):
        family.add_metric([channel_type], counts.get(channel_type, 0))
    return family


__all__ = ["UNKNOWN_OPERATION", "Metrics"]
