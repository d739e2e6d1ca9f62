"""Limits on failed console sign-ins (``console.sign_ins``): per user name and client address,
per address and per name, kept in the database so that several server processes count the
same failures; successes never count, and the answers never tell which names exist."""

from __future__ import annotations

import base64
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from incident_contacts.auth.credentials import CredentialStore
from incident_contacts.clock import ManualClock
from incident_contacts.console import sign_ins
from incident_contacts.engine.housekeeping import keep_house, prune_sign_in_limits
from incident_contacts.store.schema.console import console_sign_in_limits as limits_table
from tests.console.test_console import (
    ACCOUNT,
    ADMIN_KEY,
    ADMIN_SECRET,
    READER_KEY,
    READER_SECRET,
    REGION,
    csrf,
    login,
    sign_in,
    sigv4_app,
)
from tests.engine.test_delivery import START, data_key, make_runtime
from tests.support.server import start_server

UNKNOWN_KEY = "AKIANOSUCHKEY0000001"


@pytest.fixture
def app(tmp_path):
    return sigv4_app(tmp_path)


def browser(app, address: str = "192.0.2.10") -> TestClient:
    return TestClient(app, client=(address, 40000))


def guess(client: TestClient, key: str = ADMIN_KEY, secret: str = "guess") -> httpx.Response:
    return login(client, key=key, secret=secret, region=REGION)


def refusal(answer: httpx.Response) -> str:
    """What a refused attempt says (the page without its per-session token)."""
    assert answer.status_code == 429, answer.text
    assert "incident_contacts_console" not in answer.headers.get("set-cookie", "")
    return re.sub(r'name="csrf" value="[^"]+"', "", answer.text)


def rows(app) -> list[dict]:
    return rows_of(app.runtime)


def rows_of(runtime) -> list[dict]:
    with runtime.store.transaction(write=False) as conn:
        return [dict(row) for row in conn.execute(sa.text(
            "SELECT * FROM console_sign_in_limits")).mappings()]


def test_five_failures_at_a_name_from_an_address_then_one_a_minute(app):
    """Even the right secret is refused past the limit (else the answers past it would tell
    which guess is right); others behind the same address sign in meanwhile."""
    with browser(app) as client, browser(app) as colleague:
        for _ in range(5):
            assert guess(client).status_code == 401
        refused = guess(client, secret=ADMIN_SECRET)
        assert "Too many failed attempts to sign in: try again in 60 seconds." in \
            refusal(refused)
        assert refused.headers["retry-after"] == "60"
        sign_in(colleague, key=READER_KEY, secret=READER_SECRET, region=REGION)
        app.runtime.clock.advance(59)
        assert "try again in 1 second." in refusal(guess(client))
        app.runtime.clock.advance(1)                    # one attempt a minute
        assert guess(client).status_code == 401
        refusal(guess(client, secret=ADMIN_SECRET))
        app.runtime.clock.advance(60)
        sign_in(client, key=ADMIN_KEY, secret=ADMIN_SECRET, region=REGION)


def test_successes_never_count_nor_renew_the_failures_left(app):
    """Twenty people behind one address sign in one after another without waiting; a right
    key does not renew the failures left, so one valid key buys a guesser nothing."""
    with browser(app) as client:
        for _ in range(20):
            client.cookies.clear()              # each from a browser of their own
            sign_in(client, key=ADMIN_KEY, secret=ADMIN_SECRET, region=REGION)
        for _ in range(4):
            assert guess(client).status_code == 401
        sign_in(client, key=ADMIN_KEY, secret=ADMIN_SECRET, region=REGION)
        assert guess(client).status_code == 401
        refusal(guess(client, secret=ADMIN_SECRET))
        app.runtime.clock.advance(60)           # one attempt again
        sign_in(client, key=ADMIN_KEY, secret=ADMIN_SECRET, region=REGION)
        sign_in(client, key=ADMIN_KEY, secret=ADMIN_SECRET, region=REGION)
        assert guess(client).status_code == 401
        refusal(guess(client, secret=ADMIN_SECRET))


def test_an_address_trying_many_names_is_limited(app):
    """Spraying: thirty failures across names from one address, then one every 20 seconds;
    another address is not held up, nor is the address's own name limit used up."""
    with browser(app) as sprayer, browser(app, "198.51.100.7") as elsewhere:
        for n in range(30):
            assert guess(sprayer, key=f"AKIASPRAY{n:011d}").status_code == 401
        refusal(guess(sprayer, key="AKIASPRAY99999999999"))
        refusal(guess(sprayer, key=ADMIN_KEY, secret=ADMIN_SECRET))
        sign_in(elsewhere, key=ADMIN_KEY, secret=ADMIN_SECRET, region=REGION)
        app.runtime.clock.advance(20)
        assert guess(sprayer, key="AKIASPRAY99999999999").status_code == 401
        assert "try again in 20 seconds" in refusal(guess(sprayer, key="AKIASPRAY99999999998"))


def test_a_name_guessed_from_many_addresses_is_limited(app):
    """Distributed guessing at one name: twenty failures from any addresses, then one a
    minute, for every address; other names are not held up."""
    clients = [browser(app, f"203.0.113.{n}") for n in range(6)]
    with clients[0], clients[1], clients[2], clients[3], clients[4], clients[5]:
        for n in range(20):
            assert guess(clients[n % 4]).status_code == 401    # five from each of four
        fresh = clients[4]
        refusal(guess(fresh, secret=ADMIN_SECRET))
        sign_in(fresh, key=READER_KEY, secret=READER_SECRET, region=REGION)
        app.runtime.clock.advance(60)
        sign_in(clients[5], key=ADMIN_KEY, secret=ADMIN_SECRET, region=REGION)


def test_an_ipv6_host_is_limited_by_its_network(app):
    """A host on IPv6 has a /64 to choose its address from: the limits count the network."""
    with browser(app, "2001:db8:1:2::1") as first, browser(app, "2001:db8:1:3::1") as other:
        for n in range(5):
            with browser(app, f"2001:db8:1:2::{n + 10:x}") as client:
                assert guess(client).status_code == 401
        refusal(guess(first))
        assert guess(other).status_code == 401
    assert sign_ins.network("::ffff:192.0.2.1") == "192.0.2.1"
    assert sign_ins.network("2001:db8::1") == "2001:db8::/64"
    assert sign_ins.network("testclient") == "testclient"


def test_the_limits_say_nothing_of_which_names_exist(app):
    """A name that does not exist is counted and refused exactly as one that does: the same
    answers, the same page, the same wait."""
    answers = {}
    for key in (ADMIN_KEY, UNKNOWN_KEY):
        with browser(app, "192.0.2.99" if key == ADMIN_KEY else "192.0.2.98") as client:
            statuses = [guess(client, key=key).status_code for _ in range(6)]
            answers[key] = (statuses, refusal(guess(client, key=key)))
    assert answers[ADMIN_KEY] == answers[UNKNOWN_KEY]
    assert answers[ADMIN_KEY][0] == [401] * 5 + [429]


def test_the_database_holds_keyed_hashes_and_housekeeping_forgets_them(app):
    with browser(app) as client:
        assert guess(client).status_code == 401
        kept = rows(app)
        assert len(kept) == 3          # the pair, the address, the name
        assert all(re.fullmatch(r"[0-9a-f]{64}", row["key_hash"]) for row in kept)
        text = repr(kept)
        assert ADMIN_KEY not in text and "192.0.2.10" not in text
        # A success leaves nothing counted, but rows until housekeeping, and one more: the
        # name is known at this address (for 30 days).
        sign_in(client, key=ADMIN_KEY, secret=ADMIN_SECRET, region=REGION)
        assert len(rows(app)) == 4
        app.runtime.clock.advance(19)
        keep_house(app.runtime)
        assert len(rows(app)) == 4     # the failure is not forgotten yet
        app.runtime.clock.advance(1)   # by the address's limit, after 20 seconds
        keep_house(app.runtime)
        assert len(rows(app)) == 3
        app.runtime.clock.advance(40)  # by the pair's and the name's, after a minute
        keep_house(app.runtime)
        assert len(rows(app)) == 1
        app.runtime.clock.advance(sign_ins.KNOWN_FOR)
        keep_house(app.runtime)
        assert rows(app) == []
        # A row deleted is the same as none: the limits start again from nothing.
        for _ in range(5):
            assert guess(client).status_code == 401
        refusal(guess(client))


def test_concurrent_wrong_guesses_cannot_exceed_the_attempts(app, monkeypatch):
    """Thirty guesses sent at once at one name from one address, each on an event loop of its
    own: the credentials are looked at for five of them only (each attempt is counted before
    its answer is known), and those five were all in flight together."""
    looked_at: list[str] = []
    together = threading.Barrier(5, timeout=10)     # the five are in flight at the same time
    lookup = CredentialStore.get

    def slow_get(store: CredentialStore, access_key_id: str):
        looked_at.append(access_key_id)
        together.wait()
        return lookup(store, access_key_id)

    with TestClient(app):                       # the application's lifespan
        browsers = [browser(app) for _ in range(30)]     # each request: its own loop
        tokens = [csrf(client.get("/console/login").text) for client in browsers]
        monkeypatch.setattr(CredentialStore, "get", slow_get)
        start = threading.Barrier(30, timeout=10)
        answers: list[int] = []

        def attempt(client: TestClient, token: str) -> None:
            start.wait()
            answers.append(client.post("/console/login", data={
                "csrf": token, "key": ADMIN_KEY, "secret": "guess", "region": REGION},
                follow_redirects=False).status_code)

        threads = [threading.Thread(target=attempt, args=pair)
                   for pair in zip(browsers, tokens, strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(looked_at) == 5
        assert sorted(answers) == [401] * 5 + [429] * 25
        monkeypatch.undo()
        refusal(guess(browsers[0], secret=ADMIN_SECRET))


# -- several server processes on one database -------------------------------------------------


def _server_login(base: str, account: str) -> int:
    with httpx.Client(base_url=base) as client:
        token = csrf(client.get("/console/login").text)
        return client.post("/console/login", data={"csrf": token, "account": account,
                                                   "region": REGION}).status_code


def _two_servers_share_the_limits(tmp_path, database: str) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    key = {"INCIDENT_CONTACTS_DATA_KEY": base64.b64encode(os.urandom(32)).decode()}
    first = start_server(tmp_path / "a", database=database, env=key)
    try:
        second = start_server(tmp_path / "b", database=database, env=key)
        try:
            servers = [first.url, second.url]
            # Five failures at one name, some on each server: the sixth is refused on both.
            assert [_server_login(servers[n % 2], "1") for n in range(5)] == [401] * 5
            assert [_server_login(url, "1") for url in servers] == [429, 429]
            # Thirty wrong guesses at another name, sent at once to both: five are answered.
            with ThreadPoolExecutor(30) as pool:
                answers = list(pool.map(lambda n: _server_login(servers[n % 2], "22"),
                                        range(30)))
            assert sorted(answers) == [401] * 5 + [429] * 25
            # Someone else behind the same address signs in on either.
            assert [_server_login(url, ACCOUNT) for url in servers] == [303, 303]   # signed in
        finally:
            second.stop()
    finally:
        first.stop()


def test_two_server_processes_on_one_sqlite_file_share_the_limits(tmp_path):
    _two_servers_share_the_limits(tmp_path, f"sqlite:///{tmp_path / 'shared.db'}")


def test_two_server_processes_on_postgresql_share_the_limits(tmp_path, pg_database):
    _two_servers_share_the_limits(tmp_path, pg_database)


def test_housekeeping_never_waits_for_a_sign_in_on_postgresql(pg_database):
    """Housekeeping deleting forgotten rows while a sign-in holds one of them: it leaves that
    row and ends (it used to wait for it, holding the others it had locked, and the sign-in
    then waiting for one of those was ended by PostgreSQL as a deadlock: a 500)."""
    clock = ManualClock(START)
    runtime = make_runtime(pg_database, clock=clock, key=data_key())
    counted = sign_ins.SignInLimits(runtime)
    keys = {limit.scope: key for limit, key in counted._keys("192.0.2.10", ADMIN_KEY)}
    with runtime.store.transaction() as conn:
        for scope in ("name", "address", "pair"):   # forgotten long ago
            conn.execute(limits_table.insert().values(key_hash=keys[scope],
                                                      clear_at=START - 1000))
    now = clock.now()
    pruned: list[int] = []
    with runtime.store.engine.connect() as conn, conn.begin():
        assert counted._take(conn, sign_ins.PAIR, keys["pair"], now) == 0
        housekeeping = threading.Thread(
            target=lambda: pruned.append(prune_sign_in_limits(runtime)))
        housekeeping.start()
        housekeeping.join(10)
        assert not housekeeping.is_alive(), "housekeeping waited for the sign-in's row"
        assert pruned == [2]
        assert counted._take(conn, sign_ins.ADDRESS, keys["address"], now) == 0
        assert counted._take(conn, sign_ins.NAME, keys["name"], now) == 0
    assert sorted(row["clear_at"] for row in rows_of(runtime)) == [now + 20, now + 60, now + 60]


def test_housekeeping_deletes_in_batches(app):
    with browser(app) as client:
        for number in range(5):
            assert guess(client, key=f"AKIANOSUCHKEY{number:07}").status_code == 401
    assert len(rows(app)) == 11     # a pair and a name each, and the address
    app.runtime.clock.advance(100)  # the address's five failures, 20 seconds each
    assert prune_sign_in_limits(app.runtime, batch=3) == 11
    assert rows(app) == []


def test_an_attempt_past_a_limit_is_refused_without_a_write(app, monkeypatch):
    """Attempts past a limit (what a flood of them mostly is) only read: each one written
    would hold the database's write lock, ahead of the API's writes, for anyone who asks."""
    store = app.runtime.store
    opened: list[bool] = []
    transaction = store.transaction

    def counted(*, write: bool = True):
        opened.append(write)
        return transaction(write=write)

    with browser(app) as client:
        for _ in range(5):
            assert guess(client).status_code == 401
        monkeypatch.setattr(store, "transaction", counted)
        for _ in range(3):
            refusal(guess(client, secret=ADMIN_SECRET))
        assert opened and True not in opened
        monkeypatch.undo()
        app.runtime.clock.advance(60)                   # the next is counted as before
        assert guess(client).status_code == 401
        refusal(guess(client))


def test_a_name_kept_out_from_elsewhere_signs_in_where_it_did_before(app):
    """Guessers at a name from many addresses use up its limit and keep at it; its owner
    still signs in from an address (its /64) where the name signed in before (for 30 days),
    while the name stays limited everywhere else; a guesser at the owner's address still
    meets the limit of that address and name."""
    guessers = [browser(app, f"203.0.113.{n}") for n in range(4)]
    with browser(app, "198.51.100.20") as owner, browser(app, "198.51.100.21") as travelling, \
            guessers[0], guessers[1], guessers[2], guessers[3]:
        sign_in(owner, key=ADMIN_KEY, secret=ADMIN_SECRET, region=REGION)
        for n in range(20):
            assert guess(guessers[n % 4]).status_code == 401
        for _ in range(3):                          # the guessers keep the name used up
            app.runtime.clock.advance(60)
            assert guess(guessers[0]).status_code == 401
            refusal(guess(guessers[1]))
        refusal(guess(travelling, secret=ADMIN_SECRET))
        owner.cookies.clear()
        sign_in(owner, key=ADMIN_KEY, secret=ADMIN_SECRET, region=REGION)
        for _ in range(5):
            assert guess(owner).status_code == 401
        refusal(guess(owner, secret=ADMIN_SECRET))
        app.runtime.clock.advance(sign_ins.KNOWN_FOR + 60)
        for n in range(20):                         # 30 days on, no longer known there
            assert guess(guessers[n % 4]).status_code == 401
        refusal(guess(owner, secret=ADMIN_SECRET))
