"""The client's address and scheme as a trusted reverse proxy forwards them.

A proxy in front of the server (nginx, a load balancer) connects from its own address, over
plain HTTP when it ends TLS; it tells the server the client's address in ``X-Forwarded-For``
and the scheme it was reached by in ``X-Forwarded-Proto``. Anyone can send those headers, so
they are believed only from the peers ``INCIDENT_CONTACTS_FORWARDED_ALLOW_IPS`` names (by
default none; uvicorn's own handling, which believes any process on the host, is off). What
they say becomes the ASGI scope's ``client`` and ``scheme``, which everything downstream
reads: ``aws:SourceIp`` and ``aws:SecureTransport`` in policy conditions, the console's
sign-in limits per address, the URL a Twilio signature covers.

``X-Forwarded-For`` is read from the right, as proxies append to it: the first address that
is not a trusted proxy is the client's (every address left of it came from the client and
proves nothing); when all are trusted, the leftmost. With ``*`` (every peer trusted) no
entry can be told from one a client wrote, so the client is the rightmost entry, the one
the peer appended: a chain of proxies is named by their addresses or networks instead. At
most :data:`MOST_HOPS` entries are read from the right; a value that is not an address
where one is needed, or a chain of trusted proxies longer than that, leaves the request
with its peer's address. Entries are exact: an address, ``v4:port``, ``[v6]`` or
``[v6]:port`` (a port of digits); an IPv6 zone (``%eth0``) is the proxy's and is dropped.
``X-Forwarded-Proto`` counts only
as one value, ``http`` or ``https``; a list (proxies that append disagree on its order) is
ignored, and the request keeps the scheme it came with.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

ANY = "*"
MOST_HOPS = 20
"""Entries of ``X-Forwarded-For`` read from the right: no real chain of proxies is longer, and
a header of thousands of entries is not parsed whole."""
_CACHED_CHAIN = 256
"""Longer chains are worked out each time, not kept: the cache holds 4,096 chains."""


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...] | None:
    """The networks of the setting's entries (an address is a network of one); None for
    ``*``, every peer. ``ValueError`` naming the first entry that is neither."""
    items = [entry.strip() for entry in entries if entry.strip()]
    if ANY in items:
        if len(items) > 1:
            raise ValueError("* (every peer) stands alone, not beside addresses")
        return None
    networks: list[Network] = []
    for item in items:
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item[:100]!r} is not an IP address or network (such as "
                             "127.0.0.1, ::1 or 10.0.0.0/8)") from None
    return tuple(networks)


def _address(text: str) -> Address | None:
    """An address as ``X-Forwarded-For`` or a peer gives it: bare, ``v4:port``,
    ``[v6]`` or ``[v6]:port`` (a port of ASCII digits; anything else after it is not an
    address); an IPv4 address mapped into IPv6 as the IPv4 one; without an IPv6 zone."""
    text = text.strip()
    port: str | None = None
    if text.startswith("["):
        text, closed, rest = text[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            return None
        port = rest[1:] if rest else None
    elif text.count(":") == 1:
        text, _, port = text.partition(":")
    if port is not None and not (port.isascii() and port.isdigit()):
        return None
    try:
        found = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(found, ipaddress.IPv6Address):
        if found.ipv4_mapped is not None:
            return found.ipv4_mapped
        if found.scope_id is not None:
            return ipaddress.IPv6Address(found.packed)   # the zone is the proxy's own
    return found


class ForwardedHeaders:
    """ASGI middleware: ``client`` and ``scheme`` from a trusted proxy's headers."""

    def __init__(self, app: ASGIApp, trusted: Iterable[str]) -> None:
        self.app = app
        self.networks = parse_networks(trusted)
        # A proxy sends the same few peers and chains again and again: parsing addresses
        # costs more than the rest of the middleware.
        self.trusts = functools.lru_cache(maxsize=1024)(self._trusts)
        self.client_of = functools.lru_cache(maxsize=4096)(self._client_of)

    def _trusts(self, host: str) -> bool:
        address = _address(host)
        if address is None:
            return False
        return self.networks is None or any(address in net for net in self.networks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            peer = scope.get("client")
            if peer and self.trusts(peer[0]):
                self._apply(scope)
        await self.app(scope, receive, send)

    def _apply(self, scope: Scope) -> None:
        protos: list[bytes] = []
        chain: list[bytes] = []
        for name, value in scope["headers"]:
            if name == b"x-forwarded-proto":
                protos.append(value)
            elif name == b"x-forwarded-for":
                chain.append(value)
        if len(protos) == 1:
            proto = protos[0].decode("latin-1").strip().lower()
            if proto in ("http", "https"):
                scope["scheme"] = proto if scope["type"] == "http" else \
                    proto.replace("http", "ws")
        if chain:
            joined = b",".join(chain).decode("latin-1")
            client = (self.client_of(joined) if len(joined) <= _CACHED_CHAIN
                      else self._client_of(joined))
            if client is not None:
                scope["client"] = (client, 0)

    def _client_of(self, chain: str) -> str | None:
        # At most MOST_HOPS + 1 parts: a longer chain's leftmost part is the rest, unread.
        hops = chain.rsplit(",", MOST_HOPS)
        if self.networks is None:
            last = _address(hops[-1])
            return None if last is None else str(last)
        for hop in reversed(hops[-MOST_HOPS:]):
            address = _address(hop)
            if address is None:
                return None
            if not self.trusts(str(address)):
                return str(address)
        if len(hops) > MOST_HOPS:
            return None
        return str(_address(hops[0]))


def wrap(app: Any, trusted: Iterable[str]) -> Any:
    """``app`` behind :class:`ForwardedHeaders` when some peer is trusted; else ``app``."""
    entries = [entry for entry in trusted if entry.strip()]
    return ForwardedHeaders(app, entries) if entries else app


__all__ = ["ForwardedHeaders", "parse_networks", "wrap"]
