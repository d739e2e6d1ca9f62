"""The engine's promises under failure and load: a server killed with SIGKILL in the middle
of an escalation resumes without a lost or duplicated page, and two servers on one
PostgreSQL database share the work, each page written and sent exactly once."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
import sqlalchemy as sa
from botocore.config import Config

from incident_contacts.store.db import normalise_url
from incident_contacts.store.schema.delivery import outbox
from incident_contacts.store.schema.engagements import engagements, page_receipts, pages
from tests.conftest import Backend
from tests.support.server import restart, start_server

from .helpers import Paging, wait_until

QUIET = {"INCIDENT_CONTACTS_THROTTLE_RATE": "0"}


class Database:
    """Read the server's database directly, to count what the API cannot show."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(normalise_url(url))

    def scalar(self, query: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()

    def rows(self, query: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(query).all())

    def close(self) -> None:
        self.engine.dispose()


def count(table: sa.Table, *where: Any) -> Any:
    return sa.select(sa.func.count()).select_from(table).where(*where)


def people(paging: Paging, how_many: int, stages: int) -> list[str]:
    """PERSONAL contacts, each with one activated SMS channel paged in every stage."""
    arns = []
    for index in range(how_many):
        person = paging.person(f"p{index}", [("SMS", f"+1500555{index:04d}")])
        paging.plan(person, [(5, person.channels)] * stages)
        arns.append(person.arn)
    return arns


def wide(backend: Backend, account: str) -> Any:
    """A client with a connection for each of the 16 threads."""
    return boto3.client("ssm-contacts", region_name="us-east-1",
                        endpoint_url=backend.endpoint_url, aws_access_key_id=account,
                        aws_secret_access_key="secret",
                        config=Config(retries={"total_max_attempts": 1}, max_pool_connections=16))


def start_all(clients: list[Any], contacts: list[str], total: int) -> list[str]:
    """``total`` engagements at once from 16 threads, spread over the clients."""
    def one(index: int) -> str:
        arn: str = clients[index % len(clients)].start_engagement(
            ContactId=contacts[index % len(contacts)], Sender="load", Subject="s",
            Content="c")["EngagementArn"]
        return arn

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(one, range(total)))


def exactly_once(db: Database, expected_pages: int) -> None:
    """Every page has one message in the outbox, SENT, and one SENT receipt; nothing more."""
    page_messages = count(outbox, outbox.c.purpose == "PAGE")
    sent = count(outbox, outbox.c.purpose == "PAGE", outbox.c.status == "SENT")
    wait_until(lambda: db.scalar(sent) == expected_pages, timeout=90,
               message=f"{expected_pages} page messages SENT")
    assert db.scalar(count(pages)) == expected_pages
    assert db.scalar(page_messages) == expected_pages
    per_page = sa.select(outbox.c.page_arn).where(outbox.c.purpose == "PAGE").group_by(
        outbox.c.page_arn).having(sa.func.count() > 1)
    assert db.rows(per_page) == []
    receipts = sa.select(page_receipts.c.page_pk).where(
        page_receipts.c.receipt_type == "SENT").group_by(page_receipts.c.page_pk).having(
        sa.func.count() != 1)
    assert db.rows(receipts) == []
    assert db.scalar(count(page_receipts, page_receipts.c.receipt_type == "SENT")) \
        == expected_pages


def data_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'server.db'}"
    url: str = request.getfixturevalue("pg_database")
    return url


def test_kill_9_mid_escalation_resumes_each_page_exactly_once(tmp_path: Path,
                                                              database: str) -> None:
    server = start_server(tmp_path, database=database,
                          env={**QUIET, "INCIDENT_CONTACTS_DATA_KEY": data_key()})
    db = Database(database)
    try:
        paging = Paging(Backend("server", server=server))
        contacts = people(paging, 10, stages=3)
        total = 120
        started = start_all([wide(paging.backend, paging.backend.account)], contacts, total)
        exactly_once(db, total)
        offset = 0.0                            # how far the server's clock was moved
        for stage in (2, 3):
            before = total * (stage - 1)
            server.advance(5 * 60)
            offset += 5 * 60
            # SIGKILL once the engine has committed part of the stage's work.
            wait_until(lambda floor=before: db.scalar(count(pages)) > floor, timeout=30,
                       message="the stage under way", interval=0.002)
            server.kill()
            killed_at = db.scalar(count(pages))
            server = restart(server)
            # A restarted server's clock is the wall clock again: move it as far as the
            # killed one had been, and past the delivery claims it held (60 s leases).
            offset += 90
            server.advance(offset)
            exactly_once(db, total * stage)
            assert before < killed_at < total * stage, "the kill came after the stage"
        per_engagement = sa.select(pages.c.engagement_pk, sa.func.count()).group_by(
            pages.c.engagement_pk)
        assert sorted(n for _pk, n in db.rows(per_engagement)) == [3] * total
        stages = sa.select(pages.c.engagement_pk, pages.c.stage).group_by(
            pages.c.engagement_pk, pages.c.stage).having(sa.func.count() != 1)
        assert db.rows(stages) == []
        assert db.scalar(count(engagements)) == total and len(set(started)) == total
    finally:
        server.stop()
        db.close()


def test_two_servers_on_one_postgresql_share_the_work(tmp_path: Path,
                                                      pg_database: str) -> None:
    env = {**QUIET, "INCIDENT_CONTACTS_DATA_KEY": data_key()}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = start_server(tmp_path / "a", database=pg_database, env=env)
    second = start_server(tmp_path / "b", database=pg_database, env=env)
    db = Database(pg_database)
    try:
        paging = Paging(Backend("server-postgresql", server=first))
        contacts = people(paging, 10, stages=1)
        account = paging.backend.account
        clients = [wide(paging.backend, account),
                   wide(Backend("server-postgresql", server=second), account)]
        total = 200
        started = start_all(clients, contacts, total)
        assert len(set(started)) == total
        exactly_once(db, total)
        per_engagement = sa.select(pages.c.engagement_pk).group_by(
            pages.c.engagement_pk).having(sa.func.count() != 1)
        assert db.rows(per_engagement) == []
        workers = db.rows(sa.select(pages.c.worker, sa.func.count()).group_by(pages.c.worker))
        assert len(workers) == 2, f"one process did all the work: {workers}"
        processes = {worker.split(":")[1] for worker, _n in workers}
        assert processes == {str(first.process.pid), str(second.process.pid)}
    finally:
        first.stop()
        second.stop()
        db.close()


def test_a_worker_process_runs_the_engine_for_an_api_without_workers(
        tmp_path: Path, pg_database: str) -> None:
    env = {**QUIET, "INCIDENT_CONTACTS_DATA_KEY": data_key()}
    api = start_server(tmp_path, database=pg_database,
                       env={**env, "INCIDENT_CONTACTS_WORKERS": "false"})
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "incident_contacts", "worker", "--database", pg_database],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env}, cwd=tmp_path)
    db = Database(pg_database)
    try:
        paging = Paging(Backend("server-postgresql", server=api))
        contacts = people(paging, 2, stages=1)      # the activation codes go out too
        started = start_all([paging.client], contacts, 10)
        exactly_once(db, len(started))
        workers = db.rows(sa.select(pages.c.worker).distinct())
        assert [w.split(":")[1] for (w,) in workers] == [str(worker.pid)]
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(15) == 0, (tmp_path / "worker.log").read_text()
        log.close()
        api.stop()
        db.close()
