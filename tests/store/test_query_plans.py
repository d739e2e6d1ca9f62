"""The plans SQLite takes for statements whose cost must not grow with the data: a plan that
scans every waiting message, or a channel's whole history, passes every functional test."""

from __future__ import annotations

import re

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


def _pg_generic_plan(url: str, statement: Prepared, values: dict[str, object]) -> str:
    """The plan PostgreSQL keeps for ``statement`` once prepared (psycopg prepares a statement
    on the server after a few executions, and PostgreSQL may then plan it once for any
    parameters: a generic plan), on an outbox with a backlog and a history, analysed."""
    engine = sa.create_engine(url)
    metadata.create_all(engine)
    compiled = statement.statement.compile(dialect=engine.dialect)
    names: list[str] = []

    def numbered(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    text = re.sub(r"%\((\w+)\)s", numbered, str(compiled))
    given = {**compiled.params, **values}
    with engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE outbox CASCADE")
        conn.exec_driver_sql(
            "INSERT INTO outbox (message_id, account, region, channel_arn, channel_type, "
            "purpose, page_arn, address, body, created_at, status, attempts, next_attempt_at) "
            "SELECT 'm' || g, '111122223333', 'us-east-1', "
            "'arn:aws:ssm-contacts:us-east-1:111122223333:contact-channel/c' || mod(g, 500) "
            "|| '/x', 'EMAIL', 'PAGE', NULL, 'a', 'b', 1.0, "
            "CASE WHEN mod(g, 7) = 0 THEN 'PENDING' ELSE 'SENT' END, 1, g "
            "FROM generate_series(1, 30000) g")
        conn.exec_driver_sql("ANALYZE outbox")
        conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
        conn.exec_driver_sql(f"PREPARE cancel AS {text}")
        arguments = ", ".join(
            "'" + str(given[name]).replace("'", "''") + "'" if isinstance(given[name], str)
            else repr(given[name]) for name in names)
        rows = conn.exec_driver_sql(f"EXPLAIN EXECUTE cancel({arguments})").all()
        conn.exec_driver_sql("DEALLOCATE cancel")
    engine.dispose()
    return " | ".join(row[0] for row in rows)


def test_postgresql_keeps_the_partial_index_in_a_generic_plan(pg_database: str) -> None:
    """The status is written in the statement, not bound: a generic plan, made before any
    parameter is known, may only take a partial index whose condition the statement itself
    states."""
    channel = "arn:aws:ssm-contacts:us-east-1:111122223333:contact-channel/c7/x"
    values: dict[str, object] = {"channel_arn": channel, "reason": "r", "at": 5.0,
                                 "page_arn": "arn:aws:ssm-contacts:us-east-1:111122223333:"
                                             "page/c/p"}
    for statement in (activation._CANCEL_MESSAGES, pages._CANCEL_PENDING):
        plan = _pg_generic_plan(pg_database, statement, values)
        assert "ix_outbox_pending_channel" in plan, plan
