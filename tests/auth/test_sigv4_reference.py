"""Our SigV4 computation against botocore's signer, the reference, on many random requests.

``auth.sigv4`` builds the canonical request and the signature itself (botocore's objects are
too slow for every request); these tests hold it to what botocore computes for the same
request: the canonical request string, the signature of requests botocore signed, and the
reading of ``Authorization`` headers by the fast path and by the general parser.
"""

from __future__ import annotations

import datetime
import hashlib
import random
import string
from typing import Any
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from incident_contacts.auth import sigv4, sigv4_canonical, sigv4_header
from incident_contacts.auth.credentials import CredentialStore, Principal
from incident_contacts.errors import IncompleteSignatureException, InvalidSignatureException

CASES = 400
KEY_ID = "AKIAREFERENCE0000001"
SECRET = "reference-secret/+=key"
PRINCIPAL = Principal(KEY_ID, SECRET, "111122223333", "reference")
STORE = CredentialStore([PRINCIPAL])

HEADER_NAMES = [
    "Content-Type", "X-Amz-Target", "X-Amz-Meta-Note", "X-Custom", "Accept", "Content-Length",
    "User-Agent", "Expect", "X-Amzn-Trace-Id", "Connection", "amz-sdk-request", "Host",
]
PATHS = [
    "/", "/a/b", "/a/../b/./c", "/x%20y", "/sp ace", "/?b=2&a=1", "/p?x=1&x=0&y", "/?a=%2F&=v",
    "relative/path", "//double//slash/", "/caf\u00e9", "/t~il-de_.", "/a/b/?q=1#fragment",
]
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2", "cn-north-1", "us-gov-west-1", "x"]
METHODS = ["POST", "GET", "PUT", "DELETE", "patch"]


def _value(rng: random.Random) -> str:
    alphabet = string.ascii_letters + string.digits + "  \t,;:=/+-_.\"'\u00e9\u00a0"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))


def _random_headers(rng: random.Random) -> list[tuple[str, str]]:
    """Header pairs as received: names in any case, values with stray whitespace, and now
    and then a repeated name or no ``Host``."""
    names = rng.sample(HEADER_NAMES, rng.randint(1, len(HEADER_NAMES)))
    pairs = []
    for name in names:
        shown = rng.choice([name, name.lower(), name.upper()])
        pairs.append((shown, rng.choice(["", " ", "\t"]) + _value(rng) + rng.choice(["", " "])))
        if rng.random() < 0.15:
            pairs.append((name.lower(), _value(rng)))
    return pairs


def _botocore_canonical(method: str, path_qs: str, headers: dict[str, str],
                        signed: tuple[str, ...], body: bytes) -> str:
    """botocore's canonical request for what was received: the request carries the signed
    headers there are, its URL the path as received, its body the bytes received."""
    url = "http://localhost" + (path_qs if path_qs.startswith("/") else "/" + path_qs)
    request = AWSRequest(method=method, url=url, data=body,
                         headers={name: headers[name] for name in signed if name in headers})
    request.context["timestamp"] = "20240101T000000Z"
    return str(SigV4Auth(Credentials(KEY_ID, SECRET), sigv4.SERVICE, "us-east-1")
               .canonical_request(request))


@pytest.mark.parametrize("seed", range(4))
def test_canonical_request_is_botocores(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(CASES // 4):
        method = rng.choice(METHODS)
        path_qs = rng.choice(PATHS)
        headers = sigv4.normalise_headers(_random_headers(rng))
        present = list(headers)
        signed = rng.sample(present, rng.randint(0, len(present)))
        signed += ["host", *rng.sample(["x-absent", "user-agent", "x-custom"], rng.randint(0, 2))]
        rng.shuffle(signed)
        body = rng.randbytes(rng.randint(0, 64))
        ours = sigv4.canonical_request(method, path_qs, headers, tuple(signed),
                                       hashlib.sha256(body).hexdigest())
        assert ours == _botocore_canonical(method, path_qs, headers, tuple(signed), body), (
            method, path_qs, headers, signed)


def _sign(rng: random.Random, at: datetime.datetime) -> tuple[str, str, dict[str, str], bytes,
                                                                str]:
    """A request signed by botocore's ``add_auth``: method, path, headers, body, region."""
    method = rng.choice(METHODS[:4])
    path_qs = rng.choice([p for p in PATHS if p.startswith("/") and "#" not in p])
    region = rng.choice(REGIONS)
    host = rng.choice(["localhost:4575", "127.0.0.1:8080", "contacts.example"])
    headers: dict[str, str] = {}
    for name, _ in _random_headers(rng):
        if name.lower() != "host" and name.lower() not in map(str.lower, headers):
            headers[name] = _value(rng).strip() or "v"
    body = rng.randbytes(rng.randint(0, 200))
    request = AWSRequest(method=method, url=f"http://{host}{path_qs}", data=body,
                         headers=headers)
    with mock.patch("botocore.auth.get_current_datetime", return_value=at):
        SigV4Auth(Credentials(KEY_ID, SECRET), sigv4.SERVICE, region).add_auth(request)
    return method, path_qs, {"Host": host, **dict(request.headers.items())}, body, region


@pytest.mark.parametrize("seed", range(4))
def test_requests_botocore_signed_verify_and_changed_ones_do_not(seed: int) -> None:
    rng = random.Random(1000 + seed)
    for case in range(CASES // 4):
        at = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(
            days=rng.randint(0, 3), seconds=rng.randint(0, 86399))
        now = at.timestamp() + rng.randint(-600, 600)
        method, path_qs, headers, body, region = _sign(rng, at)
        verified = sigv4.verify(method, path_qs, headers, body, now, STORE)
        assert verified == sigv4.VerifiedRequest(PRINCIPAL, region, sigv4.SERVICE), case
        # as the server hands them over: lower-case names, each once, values as they came
        received = {name.lower(): f" {value}\t" for name, value in headers.items()}
        assert sigv4.verify_received(method, path_qs, received, body, now, STORE) == (
            PRINCIPAL, region)
        # the same request, changed in one signed part, is refused
        changed: list[tuple[str, str, dict[str, Any], bytes]] = [
            (method, path_qs, headers, body + b"!"),
            (method, path_qs + ("&" if "?" in path_qs else "?") + "z=1", headers, body),
            ("HEAD", path_qs, headers, body),
            (method, path_qs, {**headers, "Host": "elsewhere:1"}, body),
        ]
        for name in ("X-Amz-Target", "Content-Type", "X-Custom"):
            if name in headers:
                changed.append((method, path_qs, {**headers, name: headers[name] + "x"}, body))
        for m, p, h, b in changed:
            with pytest.raises(InvalidSignatureException):
                sigv4.verify(m, p, h, b, now, STORE)
            with pytest.raises(InvalidSignatureException):
                sigv4.verify_received(m, p, {k.lower(): v for k, v in h.items()}, b, now, STORE)


def test_a_signature_of_another_secret_or_scope_is_refused() -> None:
    rng = random.Random(7)
    at = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    method, path_qs, headers, body, region = _sign(rng, at)
    assert sigv4.verify(method, path_qs, headers, body, at.timestamp(), STORE)
    # the signing key is cached per secret and scope: neither a new secret for the same key
    # id nor another region may reuse it
    rotated = CredentialStore([Principal(KEY_ID, SECRET + "2", "111122223333", "reference")])
    with pytest.raises(InvalidSignatureException):
        sigv4.verify(method, path_qs, headers, body, at.timestamp(), rotated)
    other = "eu-central-1" if region != "eu-central-1" else "us-east-1"
    moved = {**headers,
             "Authorization": headers["Authorization"].replace(f"/{region}/", f"/{other}/")}
    with pytest.raises(InvalidSignatureException):
        sigv4.verify(method, path_qs, moved, body, at.timestamp(), STORE)


def test_the_signing_key_is_botocores() -> None:
    request = AWSRequest(method="POST", url="http://localhost/")
    request.context["timestamp"] = "20240229T120000Z"
    signer = SigV4Auth(Credentials(KEY_ID, SECRET), sigv4.SERVICE, "eu-west-1")
    key = sigv4_canonical._signing_key(SECRET, "20240229", "eu-west-1", sigv4.SERVICE)
    import hmac
    assert hmac.new(key, b"text", hashlib.sha256).hexdigest() == signer.signature(
        "text", request)


def _authorization(rng: random.Random) -> str:
    """An Authorization header as SDKs send it, or mangled in one of many ways."""
    if rng.random() < 0.3:
        return (f"{sigv4.ALGORITHM} Credential={KEY_ID}/20240101/us-east-1/ssm-contacts/"
                f"aws4_request, SignedHeaders=content-type;host;x-amz-date, "
                f"Signature={rng.randbytes(32).hex()}")
    credential = rng.choice([
        f"{KEY_ID}/20240101/us-east-1/ssm-contacts/aws4_request",
        f"{KEY_ID}/20240101/us-east-1/ssm-contacts",
        "a=b/20240101/eu-west-1/ssm-contacts/aws4_request",
        "",
    ])
    signed = rng.choice(["content-type;host;x-amz-date", "Host", "host;;x", ""])
    signature = rng.choice(["ab" * 32, "", "sig=with=equals", "x y"])
    fields = [f"Credential={credential}", f"SignedHeaders={signed}", f"Signature={signature}"]
    if rng.random() < 0.2:
        rng.shuffle(fields)
    if rng.random() < 0.1:
        fields.append(f"Signature={'cd' * 32}")
    if rng.random() < 0.1:
        fields[rng.randrange(len(fields))] = "Oops"
    separator = rng.choice([", ", ",", " , ", ",\t", ",,"])
    algorithm = rng.choice([sigv4.ALGORITHM, sigv4.ALGORITHM, "AWS4-HMAC-SHA512", ""])
    return rng.choice(["", " "]) + algorithm + rng.choice([" ", "  "]) + separator.join(
        fields) + rng.choice(["", " ", ","])


def test_fast_reading_of_authorization_is_the_general_one() -> None:
    rng = random.Random(11)
    fast_path_used = 0
    for _ in range(2000):
        header = _authorization(rng)
        has_date = rng.random() < 0.9
        try:
            general: Any = sigv4_header._components_in_general(header, has_date)
        except IncompleteSignatureException as exc:
            general = exc.message
        try:
            fast: Any = sigv4_header._components(header, has_date)
        except IncompleteSignatureException as exc:
            fast = exc.message
        assert fast == general, header
        well_formed = sigv4_header._WELL_FORMED.fullmatch(header.strip()) is not None
        fast_path_used += has_date and well_formed
    assert fast_path_used > 500


def test_repeated_names_in_any_case_are_joined() -> None:
    pairs = [("X-A", " 1 "), ("x-a", "2"), ("Host", "h"), ("X-B", "b ")]
    assert sigv4.normalise_headers(pairs) == {"x-a": "1,2", "host": "h", "x-b": "b"}
    assert sigv4.normalise_headers({"X-A": "1", "x-a": "2"}) == {"x-a": "1,2"}
    assert sigv4.normalise_headers({"X-A": " 1 "}) == {"x-a": "1"}
