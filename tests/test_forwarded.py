"""Which peers' ``X-Forwarded-For``/``X-Forwarded-Proto`` are believed (api.forwarded).

Real servers show that what policy conditions (``aws:SourceIp``, ``aws:SecureTransport``) and
the console's sign-in limits see follows ``INCIDENT_CONTACTS_FORWARDED_ALLOW_IPS``: by
default no process on the host can claim TLS or another address; a proxy named in the
setting can. The middleware's reading of the headers is tested in process below.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from incident_contacts.api.forwarded import ForwardedHeaders, parse_networks, wrap
from tests.support.server import ServerProcess, free_port, start_server

ACCOUNT = "111122223333"
# One user may act only over TLS, the other only from 203.0.113.0/24.
OVER_TLS = ("AKIAFORWARDTLS000001", "forwarded-tls-secret-0000000000000000000")
FROM_NET = ("AKIAFORWARDNET000001", "forwarded-net-secret-0000000000000000000")
CLIENT = "203.0.113.9"


def _credentials(folder: Path) -> Path:
    def user(key: tuple[str, str], name: str, condition: dict[str, Any]) -> str:
        policy = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "ssm-contacts:*", "Resource": "*",
            "Condition": condition}]}
        return (f'[[credentials]]\naccess_key_id = "{key[0]}"\nsecret_access_key = "{key[1]}"\n'
                f'account_id = "{ACCOUNT}"\nuser = "{name}"\n'
                f'policy = {json.dumps(json.dumps(policy))}\n')

    path = folder / "credentials.toml"
    path.write_text(user(OVER_TLS, "tls", {"Bool": {"aws:SecureTransport": "true"}})
                    + user(FROM_NET, "net", {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}))
    path.chmod(0o600)
    return path


def _sigv4_server(tmp_path: Path, *, args: list[str] | None = None,
                  env: dict[str, str] | None = None) -> ServerProcess:
    return start_server(tmp_path, args=["--auth", "sigv4", "--credentials",
                                        str(_credentials(tmp_path)), *(args or [])], env=env)


def _allowed(server: ServerProcess, key: tuple[str, str], headers: dict[str, str]) -> bool:
    """Whether ListContacts, signed by ``key`` and sent with ``headers`` added, is allowed."""
    client = boto3.client("ssm-contacts", region_name="us-east-1", endpoint_url=server.url,
                          aws_access_key_id=key[0], aws_secret_access_key=key[1],
                          config=Config(retries={"total_max_attempts": 1}))

    def add(request: Any, **_: Any) -> None:
        for name, value in headers.items():
            request.headers[name] = value

    client.meta.events.register("before-send.ssm-contacts.ListContacts", add)
    try:
        client.list_contacts()
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "AccessDeniedException", exc.response
        return False
    return True


def _failed_sign_ins(server: ServerProcess, forwarded_for: list[str]) -> list[int]:
    """The status of a failed console sign-in (a wrong secret) from each address."""
    statuses = []
    with httpx.Client(base_url=server.url, timeout=10) as browser:
        for address in forwarded_for:
            page = browser.get("/console/login").text
            token = re.search(r'name="csrf" value="([^"]+)"', page)
            assert token, page
            answer = browser.post(
                "/console/login", headers={"X-Forwarded-For": address},
                data={"csrf": token.group(1), "key": OVER_TLS[0], "secret": "wrong",
                      "region": "us-east-1"})
            statuses.append(answer.status_code)
    return statuses


CLAIMS = {"X-Forwarded-Proto": "https", "X-Forwarded-For": CLIENT}


def test_by_default_no_local_process_can_claim_tls_or_an_address(tmp_path):
    """uvicorn alone would believe these headers from 127.0.0.1, also when its own
    FORWARDED_ALLOW_IPS says so: neither is read."""
    server = _sigv4_server(tmp_path, env={"FORWARDED_ALLOW_IPS": "127.0.0.1"})
    try:
        assert not _allowed(server, OVER_TLS, CLAIMS)
        assert not _allowed(server, FROM_NET, CLAIMS)
        # Every failure counts against the connection's own address: five at the name, and
        # the sixth is held back whatever address it claims.
        assert _failed_sign_ins(server, [f"198.51.100.{n}" for n in range(1, 7)]) == \
            [401] * 5 + [429]
    finally:
        server.stop()
    warned = [line for line in server.log().splitlines() if "FORWARDED_ALLOW_IPS" in line]
    assert warned and "WARNING" in warned[0], server.log()
    assert "INCIDENT_CONTACTS_FORWARDED_ALLOW_IPS" in warned[0]


def test_a_proxy_named_in_the_option_gives_the_client_address_and_scheme(tmp_path):
    server = _sigv4_server(tmp_path, args=["--forwarded-allow-ips", "127.0.0.1"])
    try:
        assert _allowed(server, OVER_TLS, CLAIMS)
        assert _allowed(server, FROM_NET, CLAIMS)
        # Without the headers the request is what it is: plain HTTP from 127.0.0.1.
        assert not _allowed(server, OVER_TLS, {})
        assert not _allowed(server, FROM_NET, {})
        assert not _allowed(server, OVER_TLS, {"X-Forwarded-Proto": "http"})
        # The client can write its own X-Forwarded-For; the proxy appends the address it saw,
        # which is the one taken.
        assert not _allowed(server, FROM_NET, {"X-Forwarded-For": f"{CLIENT}, 198.51.100.7"})
        # Sign-in limits count the forwarded addresses: five failures from one hold it
        # back, and another address still has its own.
        assert _failed_sign_ins(server, ["198.51.100.1"] * 6 + ["198.51.100.2"]) == \
            [401] * 5 + [429, 401]
    finally:
        server.stop()
    assert "X-Forwarded-For and X-Forwarded-Proto sent by 127.0.0.1" in server.log()


def test_a_chain_of_trusted_proxies_from_the_environment(tmp_path):
    """Addresses and networks, from the environment: hops that are trusted proxies are
    skipped from the right, and the first that is not is the client."""
    server = _sigv4_server(
        tmp_path, env={"INCIDENT_CONTACTS_FORWARDED_ALLOW_IPS": "127.0.0.1, 10.0.0.0/8"})
    try:
        assert _allowed(server, FROM_NET, {"X-Forwarded-For": f"{CLIENT}, 10.1.2.3"})
        assert not _allowed(server, FROM_NET, {"X-Forwarded-For": f"{CLIENT}, 192.0.2.1"})
    finally:
        server.stop()


def test_an_empty_option_turns_off_what_the_environment_trusts(tmp_path):
    server = _sigv4_server(tmp_path, args=["--forwarded-allow-ips", ""],
                           env={"INCIDENT_CONTACTS_FORWARDED_ALLOW_IPS": "127.0.0.1"})
    try:
        assert not _allowed(server, FROM_NET, CLAIMS)
    finally:
        server.stop()


@pytest.mark.parametrize(("value", "said"), [
    ("localhost", "'localhost' is not an IP address or network (such as 127.0.0.1, ::1 or "
                  "10.0.0.0/8)"),
    ("127.0.0.1, 10.0.0.0/33", "'10.0.0.0/33' is not an IP address or network (such as "
                               "127.0.0.1, ::1 or 10.0.0.0/8)"),
    ("*, 127.0.0.1", "* (every peer) stands alone, not beside addresses"),
])
def test_a_setting_that_names_no_address_is_a_one_line_refusal(tmp_path, value, said):
    """uvicorn would keep a host name as a string no peer ever matches, silently."""
    for args, env in (
            (["--forwarded-allow-ips", value], {}),
            ([], {"INCIDENT_CONTACTS_FORWARDED_ALLOW_IPS": value})):
        result = subprocess.run(
            [sys.executable, "-m", "incident_contacts", "serve", "--port", str(free_port()),
             *args], capture_output=True, text=True, timeout=60, cwd=tmp_path,
            stdin=subprocess.DEVNULL, env={**_environ(), **env})
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip() == \
            f"incident-contacts: INCIDENT_CONTACTS_FORWARDED_ALLOW_IPS: {said}", result.stderr
        assert not list(tmp_path.glob("*.db*"))


def _environ() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "INCIDENT_CONTACTS_FORWARDED_ALLOW_IPS"}


# --- the middleware, in process ------------------------------------------------------------

def _seen(trusted: list[str], peer: tuple[str, int] | None, headers: list[tuple[str, str]],
          scheme: str = "http", kind: str = "http") -> tuple[Any, str]:
    """(client, scheme) the app behind the middleware sees."""
    seen: dict[str, Any] = {}

    async def app(scope: Any, _receive: Any, _send: Any) -> None:
        seen.update(client=scope.get("client"), scheme=scope["scheme"])

    scope = {"type": kind, "client": peer, "scheme": scheme,
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers]}
    asyncio.run(ForwardedHeaders(app, trusted)(scope, None, None))  # type: ignore[arg-type]
    return seen["client"], seen["scheme"]


PEER = ("127.0.0.1", 50000)


@pytest.mark.parametrize(("trusted", "peer", "headers", "client", "scheme"), [
    # not trusted: nothing changes
    (["10.0.0.1"], PEER, [("X-Forwarded-For", CLIENT), ("X-Forwarded-Proto", "https")],
     PEER, "http"),
    # trusted, by address, network, IPv6 and IPv4 mapped into IPv6 (a dual-stack listener)
    (["127.0.0.1"], PEER, [("X-Forwarded-For", CLIENT), ("X-Forwarded-Proto", "https")],
     (CLIENT, 0), "https"),
    (["127.0.0.0/8"], ("127.0.0.2", 1), [("X-Forwarded-For", CLIENT)], (CLIENT, 0), "http"),
    (["::1"], ("::1", 1), [("X-Forwarded-For", "2001:db8::7")], ("2001:db8::7", 0), "http"),
    (["127.0.0.1"], ("::ffff:127.0.0.1", 1), [("X-Forwarded-For", CLIENT)], (CLIENT, 0),
     "http"),
    (["*"], ("192.0.2.50", 1), [("X-Forwarded-For", CLIENT)], (CLIENT, 0), "http"),
    # ports and brackets in the chain; names written in any case
    (["127.0.0.1"], PEER, [("x-forwarded-for", "203.0.113.9:4431")], (CLIENT, 0), "http"),
    (["127.0.0.1"], PEER, [("X-Forwarded-For", "[2001:db8::7]:443")], ("2001:db8::7", 0),
     "http"),
    (["127.0.0.1"], PEER, [("X-Forwarded-Proto", "HTTPS ")], PEER, "https"),
    # the rightmost address that is not a trusted proxy; all trusted: the leftmost
    (["127.0.0.1", "10.0.0.0/8"], PEER, [("X-Forwarded-For", "192.0.2.1, 203.0.113.9, 10.0.0.3")],
     (CLIENT, 0), "http"),
    (["127.0.0.1", "10.0.0.0/8"], PEER, [("X-Forwarded-For", "10.0.0.4, 10.0.0.3")],
     ("10.0.0.4", 0), "http"),
    # two headers are one list, in order
    (["127.0.0.1"], PEER, [("X-Forwarded-For", "192.0.2.1"), ("X-Forwarded-For", CLIENT)],
     (CLIENT, 0), "http"),
    # not an address where one is needed: the peer's address stays
    (["127.0.0.1"], PEER, [("X-Forwarded-For", "unknown")], PEER, "http"),
    (["127.0.0.1"], PEER, [("X-Forwarded-For", "")], PEER, "http"),
    (["127.0.0.1", "10.0.0.0/8"], PEER, [("X-Forwarded-For", "evil, 10.0.0.3")], PEER, "http"),
    # a scheme counts only as one value, http or https
    (["127.0.0.1"], PEER, [("X-Forwarded-Proto", "https, http")], PEER, "http"),
    (["127.0.0.1"], PEER, [("X-Forwarded-Proto", "https"), ("X-Forwarded-Proto", "https")],
     PEER, "http"),
    (["127.0.0.1"], PEER, [("X-Forwarded-Proto", "ftp")], PEER, "http"),
    (["127.0.0.1"], None, [("X-Forwarded-For", CLIENT)], None, "http"),
])
def test_what_the_app_sees(trusted, peer, headers, client, scheme):
    assert _seen(trusted, peer, headers) == (client, scheme)


def test_a_proxy_ending_tls_for_a_websocket_says_wss():
    assert _seen(["127.0.0.1"], PEER, [("X-Forwarded-Proto", "https")], scheme="ws",
                 kind="websocket") == (PEER, "wss")


def test_lifespan_passes_through_and_no_setting_means_no_middleware():
    app = object()
    assert wrap(app, ()) is app and wrap(app, ("",)) is app
    assert isinstance(wrap(app, ("127.0.0.1",)), ForwardedHeaders)
    called: list[str] = []

    async def inner(scope: Any, _receive: Any, _send: Any) -> None:
        called.append(scope["type"])

    asyncio.run(ForwardedHeaders(inner, ["*"])({"type": "lifespan"}, None, None))  # type: ignore[arg-type]
    assert called == ["lifespan"]


def test_parse_networks():
    assert parse_networks([]) == ()
    assert parse_networks(["*"]) is None
    assert [str(n) for n in parse_networks(["127.0.0.1", " ::1 ", "10.1.2.3/8"]) or ()] == \
        ["127.0.0.1/32", "::1/128", "10.0.0.0/8"]
    with pytest.raises(ValueError, match="not an IP address"):
        parse_networks(["example.com"])


# --- review of the first version (each failed before its fix) --------------------------------

def test_every_peer_trusted_takes_the_address_the_peer_appended():
    """With ``*`` only the proxy can reach the port; what its client wrote in its own
    X-Forwarded-For sits left of the address the proxy appends and proves nothing (the
    first version took the leftmost entry, as uvicorn does with ``*``)."""
    assert _seen(["*"], ("192.0.2.50", 1),
                 [("X-Forwarded-For", f"198.51.100.7, 10.0.0.1, {CLIENT}")]) == \
        ((CLIENT, 0), "http")
    assert _seen(["*"], ("192.0.2.50", 1),
                 [("X-Forwarded-For", "198.51.100.7"), ("X-Forwarded-For", CLIENT)]) == \
        ((CLIENT, 0), "http")
    assert _seen(["*"], ("192.0.2.50", 1), [("X-Forwarded-For", f"{CLIENT}, junk")]) == \
        (("192.0.2.50", 1), "http")


@pytest.mark.parametrize(("entry", "client"), [
    ("fe80::1%eth0", ("fe80::1", 0)),               # a zone is the proxy's, not the client's
    ("[fe80::1%25eth0]:443", ("fe80::1", 0)),
    ("[2001:db8::7]junk", PEER),
    ("[2001:db8::7]:", PEER),
    ("[2001:db8::7]:44x", PEER),
    ("203.0.113.9:http", PEER),
    ("203.0.113.9:", PEER),
    ("0x7f.1", PEER),
    ("127.000.000.001", PEER),
    ("::ffff:203.0.113.9", (CLIENT, 0)),
])
def test_entries_are_addresses_exactly(entry, client):
    assert _seen(["127.0.0.1"], PEER, [("X-Forwarded-For", entry)]) == (client, "http")


def test_a_chain_longer_than_any_real_one_keeps_the_peer_and_is_not_cached():
    """Hops are read from the right, at most 20 of them: a header of thousands of trusted
    addresses is not parsed whole, and chains longer than a real one are not kept in the
    cache (4,096 chains of a megabyte each would be 4 GiB)."""
    middleware = ForwardedHeaders(lambda *_: None, ["10.0.0.0/8", "127.0.0.1"])
    seen: dict[str, Any] = {}

    async def app(scope: Any, _receive: Any, _send: Any) -> None:
        seen.update(client=scope["client"])

    middleware.app = app
    trusted_hops = ", ".join(f"10.0.{n // 250}.{n % 250 + 1}" for n in range(5_000))
    for chain, client in ((trusted_hops, PEER),
                          (f"{CLIENT}, " + ", ".join(["10.0.0.1"] * 19), (CLIENT, 0)),
                          (f"{CLIENT}, " + ", ".join(["10.0.0.1"] * 20), PEER),
                          (f"{CLIENT}, " + ", ".join(["10.0.0.1"] * 1_000), PEER)):
        scope = {"type": "http", "client": PEER, "scheme": "http",
                 "headers": [(b"x-forwarded-for", chain.encode())]}
        asyncio.run(middleware(scope, None, None))  # type: ignore[arg-type]
        assert seen["client"] == client, chain[:80]
    # Only the two chains of a real length are kept.
    assert middleware.client_of.cache_info().currsize == 2
