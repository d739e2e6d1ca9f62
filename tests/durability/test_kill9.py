"""The durability promise under ``kill -9``: what the API acknowledged survives; a code or a page
accepted for delivery is delivered after a restart, never silently dropped; it goes out twice
only when a kill caught it between its hand-off to the provider and the record of it.

A few client threads send a stream of SendActivationCode and StartEngagement calls while the
server is killed (SIGKILL) at random moments and started again, several times; mail goes to a
local SMTP server that keeps each message before it answers (so a kill can fall between the
two). A StartEngagement left unanswered by a kill is asked for again with its idempotency
token until it is answered, so the database must hold exactly the engagements answered. Once
the stream stops and the outbox drains, :func:`torture.check` holds the promise against what
the clients saw acknowledged and what the SMTP server received, and the figures are printed
(``-s`` shows them). The random choices come from a seed printed with them
(``TORTURE_SEED=<seed>`` repeats the choices; the timing of a run cannot be repeated).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from incident_contacts.engine.presence import LIVENESS_SECONDS
from tests.conftest import new_account
from tests.delivery.conftest import LOOPBACK
from tests.engagements.helpers import wait_until
from tests.support.server import ServerProcess, free_port, start_server

from . import torture

pytestmark = [pytest.mark.server, pytest.mark.slow, pytest.mark.timeout(120)]


def _mail_env(smtp: Controller) -> dict[str, str]:
    return {"INCIDENT_CONTACTS_THROTTLE_RATE": "0",
            "INCIDENT_CONTACTS_SMTP_URL": f"smtp://{LOOPBACK}:{smtp.port}",
            "INCIDENT_CONTACTS_EMAIL_FROM": "oncall@example.com"}


def _seed() -> int:
    return int(os.environ.get("TORTURE_SEED") or random.SystemRandom().randrange(2**32))


@pytest.fixture
def mailbox() -> torture.Mailbox:
    return torture.Mailbox()


@pytest.fixture
def smtp(mailbox: torture.Mailbox) -> Iterator[Controller]:
    controller = Controller(mailbox, hostname=LOOPBACK, port=free_port(),
                            server_hostname="mail.test")
    controller.start()
    yield controller
    controller.stop()


def test_sqlite_server_killed_again_and_again_loses_nothing(
        tmp_path: Path, smtp: Controller, mailbox: torture.Mailbox) -> None:
    """One server on a SQLite file, three times: run a random while under the stream, killed,
    what it held noted, started again."""
    seed = _seed()
    rng = random.Random(seed)
    database = f"sqlite:///{tmp_path / 'server.db'}"
    servers = [start_server(tmp_path, database=database, env=_mail_env(smtp))]
    db = torture.Database(database)
    began = time.monotonic()
    try:
        account = new_account()
        setup = torture.set_up(servers[0], account, persons=4, code_channels=60)
        phases = {"setup": time.monotonic() - began, "restarts": 0.0}
        stream = torture.Stream(servers, account, setup, rng)
        stream.start()
        done: list[torture.Kill] = []
        for _ in range(3):
            time.sleep(rng.uniform(0.3, 1.2))
            done.append(torture.kill([servers[0]], db, mailbox))
            phases["restarts"] += torture.revive(servers, 0)
        time.sleep(rng.uniform(0.3, 1.0))
        stream.stop()
        phases["settle"] = torture.settle(db)
        report = torture.check(db, mailbox, stream, done, servers, account, began)
        report.phases.update(phases)
        print(report.line(f"sqlite (seed {seed})"))
        assert report.engagements > 0 and report.codes > 0
    finally:
        servers[0].stop()
        db.close()


@pytest.mark.postgres
def test_two_servers_on_postgresql_killed_in_turn_and_together_lose_nothing(
        tmp_path: Path, pg_database: str, smtp: Controller, mailbox: torture.Mailbox) -> None:
    """Two servers share one database, and are killed at random moments while they hold
    claims: first one of them, which stays down until the survivor has given its claims back
    (within the survivor's liveness interval, long before the one-minute lease ends); then
    both together, so that only their restart brings their claims back. The survivor runs on
    meanwhile, paused only for the moment of the kill, so that what the dead one held can be
    read before anyone gives it back."""
    seed = _seed()
    rng = random.Random(seed)
    env = {**_mail_env(smtp), "INCIDENT_CONTACTS_DATA_KEY": torture.data_key()}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    servers: list[ServerProcess] = [start_server(tmp_path / "a", database=pg_database, env=env),
                                    start_server(tmp_path / "b", database=pg_database, env=env)]
    db = torture.Database(pg_database)
    began = time.monotonic()
    try:
        account = new_account()
        setup = torture.set_up(servers[0], account, persons=4, code_channels=60)
        phases = {"setup": time.monotonic() - began, "restarts": 0.0}
        stream = torture.Stream(servers, account, setup, rng)
        stream.start()
        done: list[torture.Kill] = []
        taken_over: float | None = None
        # One of them until a kill catches it holding claims (they are settled within
        # moments: one seen may be gone when the signal lands), then both.
        for victims in [[0]] * 4 + [[0, 1]]:
            if len(victims) == 1 and taken_over is not None:
                continue
            time.sleep(rng.uniform(0.3, 1.0))
            pid = servers[victims[0]].process.pid
            wait_until(lambda: db.claims_of(pid), timeout=20,  # noqa: B023 (called at once)
                       message="the victim holding claims", interval=0.005)
            left = tuple(s for i, s in enumerate(servers) if i not in victims)
            killed = torture.kill([servers[i] for i in victims], db, mailbox, left)
            done.append(killed)
            if left and killed.in_flight:
                # The survivor gives the dead one's claims back before it is back.
                at = time.monotonic()
                wait_until(lambda: not db.claims_of(pid),  # noqa: B023 (called at once)
                           timeout=LIVENESS_SECONDS + 10, interval=0.01,
                           message="the survivor taking the dead server's claims over")
                taken_over = time.monotonic() - at
            with ThreadPoolExecutor(2) as pool:
                phases["restarts"] += max(pool.map(lambda i: torture.revive(servers, i),
                                                   victims))
        assert taken_over is not None, "no kill caught a server holding claims"
        time.sleep(rng.uniform(0.3, 1.0))
        stream.stop()
        phases["settle"] = torture.settle(db)
        report = torture.check(db, mailbox, stream, done, servers, account, began)
        report.phases.update(phases)
        print(report.line(f"two servers on postgresql (seed {seed})")
              + f"; claims taken over {taken_over:.2f} s after the first kill")
        assert taken_over <= LIVENESS_SECONDS + 3.0, taken_over
    finally:
        for server in servers:
            server.stop()
        db.close()
