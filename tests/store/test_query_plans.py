"""The plans SQLite takes for statements whose cost must not grow with the data: a plan that
scans every waiting message, or a channel's whole history, passes every functional test."""

from __future__ import annotations

import sqlalchemy as sa

from incident_contacts.service import activation, pages
from incident_contacts.store.prepared import Prepared
from incident_contacts.store.schema import metadata


def _plan(statement: Prepared) -> str:
    engine = sa.create_engine("sqlite://")
    metadata.create_all(engine)
    compiled = str(statement.statement.compile(dialect=engine.dialect))
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + compiled,
                                    ("x",) * compiled.count("?")).fetchall()
    engine.dispose()
    return " | ".join(row[-1] for row in rows)


def test_cancelling_a_channels_waiting_messages_reads_only_those() -> None:
    """A new activation code and an acknowledgement cancel the channel's waiting messages
    through the partial index of them: not every PENDING row (thousands while a provider is
    down), nor every message the channel ever had."""
    for statement in (activation._CANCEL_MESSAGES, pages._CANCEL_PENDING):
        assert "USING INDEX ix_outbox_pending_channel" in _plan(statement)
