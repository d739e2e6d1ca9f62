"""The reading ``verify_received`` keeps per ``Authorization`` header (``sigv4._Client``)
against the general reading, on requests mutated every which way.

Once a client's header has verified, its next requests are read from what was kept (the
checked scope, the canonical layout of its path, its principal and HMAC state for the
latest date). That reading must accept exactly what the general one accepts, and whatever it
does not accept must get the general reading's refusal. The requests here are signed by a
signer of the test's own that signs whatever it is given (scopes of any shape, dates with
spaces, headers absent, values to fold), so that acceptances, not only signature
mismatches, are compared.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import random
from collections.abc import Callable
from typing import Any

import pytest

from incident_contacts.auth import sigv4
from incident_contacts.auth.credentials import CredentialStore, Principal
from incident_contacts.errors import ServiceError

ALICE = Principal("AKIAFASTPATHALICE001", "alice-fast-secret", "111122223333", "alice")
BOB = Principal("AKIAFASTPATHBOB00002", "bob-fast-secret", "444455556666", "bob")
STORE = CredentialStore([ALICE, BOB])
ROTATED = CredentialStore([Principal(ALICE.access_key_id, "rotated", "111122223333", "alice")])
T0 = datetime.datetime(2024, 3, 1, 12, 0, tzinfo=datetime.UTC)
BODY = b'{"ContactChannelId": "arn:aws:ssm-contacts:us-east-1:111122223333:contact-channel/a/b"}'


def _amz(at: datetime.datetime) -> str:
    return at.strftime("%Y%m%dT%H%M%SZ")


def _signature(secret: str, scope: str, amz_date: str, canonical: str) -> str:
    key = ("AWS4" + secret).encode()
    for part in scope.split("/"):
        key = hmac.digest(key, part.encode(), "sha256")
    to_sign = "\n".join([sigv4.ALGORITHM, amz_date.strip(), scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    return hmac.new(key, to_sign.encode(), "sha256").hexdigest()


class Request:
    """A request as the server hands it to ``verify_received``, with what it was signed as."""

    def __init__(self, rng: random.Random) -> None:
        self.method = "POST"
        self.path = "/"
        self.body = BODY
        self.principal = rng.choice([ALICE, BOB])
        self.key_id = self.principal.access_key_id
        self.secret = self.principal.secret_access_key
        self.region = rng.choice(["us-east-1", "eu-west-1", "ap-southeast-2"])
        at = T0 + datetime.timedelta(seconds=rng.randint(0, 3600))
        self.headers = {
            "host": rng.choice(["localhost:4575", "127.0.0.1:8080", "contacts.example"]),
            "content-type": "application/x-amz-json-1.1",
            "x-amz-target": "SSMContacts.GetContactChannel",
            "x-amz-date": _amz(at),
            "content-length": str(len(BODY)),
        }
        if rng.random() < 0.3:
            self.headers["x-amz-user-agent"] = "aws-sdk-js/3.0 os/linux lang/js"
        if rng.random() < 0.2:
            self.headers["x-amz-content-sha256"] = hashlib.sha256(BODY).hexdigest()
        self.signed = sorted(name for name in self.headers if name != "content-length")
        self.scope_date = self.headers["x-amz-date"][:8]
        self.service = sigv4.SERVICE
        self.terminator = "aws4_request"
        self.now = at.timestamp() + rng.randint(-600, 600)
        self.sign()

    def scope(self) -> str:
        return f"{self.scope_date}/{self.region}/{self.service}/{self.terminator}"

    def sign(self) -> None:
        """Sign what the request now is (botocore's canonical form of it)."""
        present = {name: value for name, value in self.headers.items()
                   if name != "authorization"}
        canonical = sigv4.canonical_request(self.method, self.path, present,
                                            [name.lower() for name in self.signed],
                                            hashlib.sha256(self.body).hexdigest())
        signature = _signature(self.secret, self.scope(), self.headers.get("x-amz-date", ""),
                               canonical)
        self.headers["authorization"] = (
            f"{sigv4.ALGORITHM} Credential={self.key_id}/{self.scope()}, "
            f"SignedHeaders={';'.join(self.signed)}, Signature={signature}")

    def copy(self) -> Request:
        other = object.__new__(Request)
        other.__dict__.update(self.__dict__, headers=dict(self.headers), signed=list(self.signed))
        return other


def _outcome(verifier: Callable[..., tuple[Principal, str]], request: Request,
             credentials: CredentialStore) -> Any:
    try:
        return verifier(request.method, request.path, dict(request.headers), request.body,
                        request.now, credentials)
    except ServiceError as exc:
        return type(exc).__name__, exc.status, exc.message


def _date(request: Request) -> str:
    return request.headers.get("x-amz-date", "20240301T120000Z")


def _next_day(request: Request) -> None:
    """X-Amz-Date a day later, and the clock with it (the scope keeps its day)."""
    request.headers["x-amz-date"] = "20240302" + _date(request)[8:]
    request.now += 24 * 3600


def _set_signature(request: Request, signature: str) -> None:
    header = request.headers["authorization"]
    request.headers["authorization"] = header[:header.rindex("=") + 1] + signature


def _as_received(rng: random.Random, headers: dict[str, str]) -> list[tuple[str, str]]:
    """Header pairs as a client may send them: names in any case, and now and then a value
    sent as two headers of one name (which SigV4 joins with a comma) or a header sent twice."""
    pairs: list[tuple[str, str]] = []
    for name, value in headers.items():
        shown = rng.choice([name, name.upper(), name.title()])
        if "," in value and rng.random() < 0.5:
            first, _, rest = value.partition(",")
            pairs += [(shown, first), (name, rest)]
        elif rng.random() < 0.05:
            pairs += [(shown, value), (name, value)]
        else:
            pairs.append((shown, value))
    rng.shuffle(pairs)
    return pairs


def _verify_pairs(pairs: list[tuple[str, str]]) -> Callable[..., tuple[Principal, str]]:
    def verifying(method: str, path: str, _headers: dict[str, str], body: bytes, now: float,
                  credentials: CredentialStore) -> tuple[Principal, str]:
        verified = sigv4.verify(method, path, pairs, body, now, credentials)
        return verified.principal, verified.region
    return verifying


def _in_general(headers: dict[str, str]) -> Callable[..., tuple[Principal, str]]:
    def verifying(method: str, path: str, _headers: dict[str, str], body: bytes, now: float,
                  credentials: CredentialStore) -> tuple[Principal, str]:
        return sigv4._verify_in_general(method, path, headers, body, now, credentials)
    return verifying


# Each changes the request in one way; those marked True sign it again afterwards (so it
# may verify), the others leave the earlier signature on a changed request.
MUTATIONS: list[tuple[str, bool, Callable[[Request, random.Random], object]]] = [
    ("body", False, lambda r, g: setattr(r, "body", r.body + b" ")),
    ("body, signed", True, lambda r, g: setattr(r, "body", r.body + b" ")),
    ("query", False, lambda r, g: setattr(r, "path", "/?x=1")),
    ("query, signed", True,
     lambda r, g: setattr(r, "path", g.choice(["/?b=2&a=1", "/?x", "/a b"]))),
    ("method", False, lambda r, g: setattr(r, "method", "PUT")),
    ("method, signed", True, lambda r, g: setattr(r, "method", "PUT")),
    ("target", False, lambda r, g: r.headers.update({"x-amz-target": "SSMContacts.DeleteContact"})),
    ("host", False, lambda r, g: r.headers.update({"host": "elsewhere:1"})),
    ("unsigned header", False, lambda r, g: r.headers.update({"x-forwarded-for": "203.0.113.7"})),
    ("user-agent", False, lambda r, g: r.headers.update({"user-agent": "Boto3/1.40 md/x"})),
    ("spaces around a signed value", True,
     lambda r, g: r.headers.update({"content-type": " application/x-amz-json-1.1\t"})),
    ("spaces around a signed value, unsigned", False,
     lambda r, g: r.headers.update({"content-type": "  application/x-amz-json-1.1 "})),
    ("words to fold", True,
     lambda r, g: r.headers.update({"x-amz-target": "SSMContacts.GetContactChannel  \t x"})),
    ("words to fold, unsigned", False,
     lambda r, g: r.headers.update({"x-amz-target": "SSMContacts.GetContactChannel \t"})),
    ("control character", True, lambda r, g: r.headers.update({"content-type": "a\x01b"})),
    ("non-ASCII value", True, lambda r, g: r.headers.update({"content-type": "caf\u00e9"})),
    ("joined duplicate", False,
     lambda r, g: r.headers.update({"x-amz-target": r.headers["x-amz-target"] + ",x"})),
    ("joined duplicate, signed", True,
     lambda r, g: r.headers.update({"x-amz-target": r.headers["x-amz-target"] + ",x"})),
    ("host absent", False, lambda r, g: r.headers.pop("host", None)),
    ("host absent, signed", True, lambda r, g: r.headers.pop("host", None)),
    ("signed header absent", False, lambda r, g: r.headers.pop("content-type", None)),
    ("signed header absent, signed", True, lambda r, g: r.headers.pop("content-type", None)),
    ("another second", False, lambda r, g: r.headers.update(
        {"x-amz-date": _date(r)[:13] + f"{g.randint(0, 59):02d}Z"})),
    ("another second, signed", True, lambda r, g: r.headers.update(
        {"x-amz-date": _date(r)[:13] + f"{g.randint(0, 59):02d}Z"})),
    ("another day, signed", True, lambda r, g: _next_day(r)),
    ("date with spaces, signed", True,
     lambda r, g: r.headers.update({"x-amz-date": " " + _date(r) + " "})),
    ("date malformed, signed", True,
     lambda r, g: r.headers.update({"x-amz-date": g.choice(
         ["20240301T1200Z", "20241301T120000Z", "2024-03-01T12:00:00Z", ""])})),
    ("date absent", False, lambda r, g: r.headers.pop("x-amz-date", None)),
    ("scope date short, signed", True, lambda r, g: setattr(r, "scope_date", "2024")),
    ("scope date long, signed", True, lambda r, g: setattr(r, "scope_date", "2024030112")),
    ("skew", False, lambda r, g: setattr(r, "now", r.now + g.choice([-1, 1]) * 16 * 60)),
    ("content sha wrong", True,
     lambda r, g: r.headers.update({"x-amz-content-sha256": "0" * 64})),
    ("content sha spaced", True, lambda r, g: r.headers.update(
        {"x-amz-content-sha256": " " + hashlib.sha256(r.body).hexdigest() + " "})),
    ("signature upper case", False,
     lambda r, g: _set_signature(r, r.headers["authorization"][-64:].upper())),
    ("signature not text", False, lambda r, g: _set_signature(r, "\u00e9" * 64)),
    ("signature with a comma", False,
     lambda r, g: _set_signature(r, "a" * 40 + ", Signature=" + "b" * 12)),
    ("signature short", False,
     lambda r, g: _set_signature(r, r.headers["authorization"][-63:])),
    ("signature long", False,
     lambda r, g: _set_signature(r, r.headers["authorization"][-64:] + "0")),
    ("authorization spaced", False, lambda r, g: r.headers.update(
        {"authorization": g.choice([" ", "\t"]) + r.headers["authorization"] + " "})),
    ("authorization trailing space", False, lambda r, g: r.headers.update(
        {"authorization": r.headers["authorization"] + " "})),
    ("unknown key, signed", True, lambda r, g: setattr(r, "key_id", "AKIAUNKNOWN000000000")),
    ("another secret, signed", True, lambda r, g: setattr(r, "secret", "not-the-secret")),
    ("signed names in another case, signed", True,
     lambda r, g: setattr(r, "signed", [name.upper() for name in r.signed])),
    ("region, signed", True, lambda r, g: setattr(r, "region", "US EAST")),
    ("service, signed", True, lambda r, g: setattr(r, "service", "ssm")),
]


@pytest.mark.parametrize("seed", range(4))
def test_the_kept_reading_accepts_and_refuses_as_the_general_one(
        seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    counted = {"read": 0, "accepted": 0}
    accepts = sigv4._Client.accepts

    def counting(self: sigv4._Client, *args: Any) -> Any:
        counted["read"] += 1
        verified = accepts(self, *args)
        counted["accepted"] += verified is not None
        return verified

    monkeypatch.setattr(sigv4._Client, "accepts", counting)
    outcomes: set[str] = set()
    for case in range(300):
        base = Request(rng)
        # the first request of a client is read in general, and its reading kept; the second
        # from that reading, which then holds its date and canonical request too
        for _ in range(2):
            assert _outcome(sigv4.verify_received, base, STORE) == (base.principal, base.region)
        assert base.headers["authorization"][:-64] in sigv4._CLIENTS
        request = base.copy()
        names = []
        for name, resign, mutate in rng.sample(MUTATIONS, rng.choice([1, 1, 2, 3])):
            names.append(name)
            mutate(request, rng)
            if resign:
                request.sign()
        credentials = rng.choice([STORE, STORE, STORE, ROTATED])
        general = _outcome(sigv4._verify_in_general, request, credentials)
        kept = _outcome(sigv4.verify_received, request, credentials)
        assert kept == general, (case, names, request.headers)
        outcomes.add(general[0] if isinstance(general[0], str) else "accepted")
        # and again, now that the kept reading may hold this request's date and layout
        assert _outcome(sigv4.verify_received, request, credentials) == general
        # as received by verify(): names in any case, a header now and then sent twice
        pairs = _as_received(rng, request.headers)
        in_general = _in_general(sigv4.normalise_headers(pairs))
        assert _outcome(_verify_pairs(pairs), request, credentials) == _outcome(
            in_general, request, credentials), (case, names, pairs)
    assert outcomes >= {"accepted", "InvalidSignatureException", "IncompleteSignatureException",
                        "UnrecognizedClientException"}
    assert counted["read"] > 300
    assert counted["accepted"] > 50


def test_a_request_changed_after_its_client_was_read_is_refused() -> None:
    """Once a client's reading holds the canonical request of its headers' values, the same
    values with another path, method or body are still refused."""
    request = Request(random.Random(5))
    for _ in range(2):
        assert sigv4.verify_received(request.method, request.path, request.headers,
                                     request.body, request.now, STORE)
    for method, path in [("POST", "/?Action=DeleteContact"), ("PUT", "/"), ("POST", "/x")]:
        with pytest.raises(ServiceError, match="does not match"):
            sigv4.verify_received(method, path, request.headers, request.body, request.now,
                                  STORE)
    for name, value in [("x-amz-target", "SSMContacts.DeleteContact"), ("host", "other:1")]:
        changed = {**request.headers, name: value}
        with pytest.raises(ServiceError) as info:
            sigv4.verify_received(request.method, request.path, changed, request.body,
                                  request.now, STORE)
        assert info.value.status == 403
        assert info.value.message.startswith(
            "The request signature we calculated does not match")
    with pytest.raises(ServiceError, match="does not match"):
        sigv4.verify_received(request.method, request.path, request.headers,
                              request.body + b"x", request.now, STORE)


def test_a_scope_dated_otherwise_than_x_amz_date_is_refused_after_its_client_was_read() -> None:
    """A scope dated ``2024`` is not the day ``20240301``: refused whether or not a reading of
    the same client's header was kept before."""
    request = Request(random.Random(6))
    sigv4.verify_received(request.method, request.path, request.headers, request.body,
                          request.now, STORE)
    request.scope_date = request.scope_date[:4]
    request.sign()
    for _ in range(2):  # the first request reads it in general, the second from the kept
        with pytest.raises(ServiceError, match="Date in Credential scope does not match"):
            sigv4.verify_received(request.method, request.path, request.headers,
                                  request.body, request.now, STORE)


def test_another_store_with_the_same_key_id_does_not_reuse_the_kept_secret() -> None:
    request = Request(random.Random(7))
    request.principal, request.key_id = ALICE, ALICE.access_key_id
    request.secret = ALICE.secret_access_key
    request.sign()
    assert sigv4.verify_received(request.method, request.path, request.headers, request.body,
                                 request.now, STORE)[0] is ALICE
    with pytest.raises(ServiceError, match="does not match"):
        sigv4.verify_received(request.method, request.path, request.headers, request.body,
                              request.now, ROTATED)
    with pytest.raises(ServiceError, match="security token included in the request is invalid"):
        sigv4.verify_received(request.method, request.path, request.headers, request.body,
                              request.now, CredentialStore([BOB]))


def test_kept_readings_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sigv4, "MAX_CLIENTS", 8)
    sigv4._CLIENTS.clear()
    rng = random.Random(8)
    for _ in range(30):
        request = Request(rng)
        sigv4.verify_received(request.method, request.path, request.headers, request.body,
                              request.now, STORE)
        assert len(sigv4._CLIENTS) <= 8
