from __future__ import annotations

import datetime
import hashlib
import re
import time
from typing import Any

import boto3
import pytest

from incident_contacts.auth import sigv4, sigv4_canonical, sigv4_header
from incident_contacts.auth.sigv4 import VerifiedRequest, scope_of, verify
from incident_contacts.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

from .helpers import ALICE, BOB, STORE, T0, T0_EPOCH, sign

BODY = b'{"ContactId": "arn:aws:ssm-contacts:us-east-1:111122223333:contact/akuam"}'
MISMATCH = "The request signature we calculated does not match the signature you provided."


def check(headers: Any, body: bytes = BODY, now: float = T0_EPOCH) -> VerifiedRequest:
    return verify("POST", "/", headers, body, now, STORE)


def test_right_secret_is_accepted() -> None:
    verified = check(sign(BODY, region="eu-west-1"))
    assert verified == VerifiedRequest(ALICE, "eu-west-1", "ssm-contacts")


def test_each_key_verifies_with_its_own_secret() -> None:
    headers = sign(BODY, key=BOB.access_key_id, secret=BOB.secret_access_key)
    assert check(headers).principal is BOB


def test_wrong_secret_is_an_invalid_signature() -> None:
    with pytest.raises(InvalidSignatureException) as info:
        check(sign(BODY, secret="not-alice-secret"))
    assert info.value.message.startswith(MISMATCH)
    assert info.value.status == 403
    assert "The String-to-Sign should have been" in info.value.message


def test_unknown_key_is_an_unrecognized_client() -> None:
    with pytest.raises(UnrecognizedClientException) as info:
        check(sign(BODY, key="AKIAUNKNOWN000000000"))
    assert info.value.message == "The security token included in the request is invalid."
    assert info.value.status == 403


def test_tampered_body_is_an_invalid_signature() -> None:
    with pytest.raises(InvalidSignatureException, match=re.escape(MISMATCH)):
        check(sign(BODY), body=BODY.replace(b"akuam", b"akuan"))


def test_tampered_signed_header_is_an_invalid_signature() -> None:
    headers = sign(BODY)
    headers["X-Amz-Target"] = "SSMContacts.DeleteContact"
    with pytest.raises(InvalidSignatureException):
        check(headers)


def test_tampered_host_is_an_invalid_signature() -> None:
    headers = sign(BODY)
    headers["Host"] = "elsewhere:4575"
    with pytest.raises(InvalidSignatureException):
        check(headers)


def test_content_sha256_must_match_the_body() -> None:
    good = hashlib.sha256(BODY).hexdigest()
    headers = sign(BODY, headers={"X-Amz-Content-SHA256": good})
    assert check(headers).principal is ALICE
    # botocore trusts the header instead of hashing: a body swapped with it stays signed
    other = BODY.replace(b"akuam", b"akuan")
    with pytest.raises(InvalidSignatureException, match="x-amz-content-sha256"):
        check(headers, body=other)
    unsigned = sign(BODY, headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    with pytest.raises(InvalidSignatureException, match="x-amz-content-sha256"):
        check(unsigned)


def test_date_twenty_minutes_old_is_expired() -> None:
    with pytest.raises(InvalidSignatureException, match=r"^Signature expired: 20240101T000000Z "):
        check(sign(BODY), now=T0_EPOCH + 20 * 60)


def test_expired_message_reads_like_aws() -> None:
    with pytest.raises(InvalidSignatureException) as info:
        check(sign(BODY), now=T0_EPOCH + 30 * 60)
    assert info.value.message == (
        "Signature expired: 20240101T000000Z is now earlier than 20240101T001500Z "
        "(20240101T003000Z - 15 min.)"
    )


def test_date_twenty_minutes_ahead_is_not_yet_current() -> None:
    with pytest.raises(InvalidSignatureException) as info:
        check(sign(BODY), now=T0_EPOCH - 20 * 60)
    assert info.value.message == (
        "Signature not yet current: 20240101T000000Z is still later than 20231231T235500Z "
        "(20231231T234000Z + 15 min.)"
    )


@pytest.mark.parametrize("offset", [-15 * 60, -60, 0, 60, 15 * 60])
def test_dates_within_fifteen_minutes_either_way_are_accepted(offset: int) -> None:
    assert check(sign(BODY), now=T0_EPOCH + offset).principal is ALICE


def test_missing_authorization_is_a_missing_token() -> None:
    headers = sign(BODY)
    del headers["Authorization"]
    with pytest.raises(MissingAuthenticationTokenException) as info:
        check(headers)
    assert info.value.message == "Missing Authentication Token"
    assert info.value.status == 403


def test_garbage_authorization_is_an_incomplete_signature() -> None:
    headers = {**sign(BODY), "Authorization": "garbage"}
    with pytest.raises(IncompleteSignatureException) as info:
        check(headers)
    assert info.value.message == (
        "Authorization header requires 'Credential' parameter. "
        "Authorization header requires 'Signature' parameter. "
        "Authorization header requires 'SignedHeaders' parameter. Authorization=garbage"
    )
    assert info.value.status == 400


def _replace_auth(headers: dict[str, str], old: str, new: str) -> dict[str, str]:
    assert old in headers["Authorization"]
    return {**headers, "Authorization": headers["Authorization"].replace(old, new)}


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512", "requires 'Credential' parameter"),
        (", Signature=", ", Sig=", "requires 'Signature' parameter"),
        ("SignedHeaders=", "Signed=", "requires 'SignedHeaders' parameter"),
        ("Credential=", "Cred=", "requires 'Credential' parameter"),
        ("Credential=", "Credential ", "not a valid key=value pair (missing equal-sign)"),
        ("/ssm-contacts/", "/ssm/", "scoped to correct service: 'ssm-contacts'"),
        ("/aws4_request", "/aws4_reqest", "valid terminator: 'aws4_request', not 'aws4_reqest'"),
        ("/us-east-1/", "/US EAST/", "scoped to a valid region"),
        ("/us-east-1/", "/", "exactly 5 slash-delimited elements"),
        ("/20240101/", "/20240102/", "Date in Credential scope does not match"),
        ("SignedHeaders=content-type;host;", "SignedHeaders=content-type;",
         "'Host' or ':authority' must be a 'SignedHeader'"),
    ],
)
def test_malformed_authorization_is_an_incomplete_signature(
    old: str, new: str, message: str
) -> None:
    headers = _replace_auth(sign(BODY), old, new)
    with pytest.raises(IncompleteSignatureException, match=re.escape(message)):
        check(headers)


def test_missing_amz_date_is_an_incomplete_signature() -> None:
    headers = sign(BODY)
    del headers["X-Amz-Date"]
    with pytest.raises(IncompleteSignatureException, match="'X-Amz-Date'"):
        check(headers)


@pytest.mark.parametrize("date", ["2024-01-01T00:00:00Z", "20241301T000000Z", "yesterday"])
def test_bad_amz_date_is_an_incomplete_signature(date: str) -> None:
    with pytest.raises(IncompleteSignatureException, match="ISO-8601 'basic format'"):
        check({**sign(BODY), "X-Amz-Date": date})


@pytest.mark.parametrize("signature", ["0" * 64, "abc", "é" * 64, "A" * 64])
def test_malformed_or_wrong_signature_values_are_invalid(signature: str) -> None:
    headers = sign(BODY)
    given = headers["Authorization"].rsplit("=", 1)[1]
    with pytest.raises(InvalidSignatureException):
        check(_replace_auth(headers, given, signature))


def test_an_authorization_header_of_megabytes_is_refused_before_it_is_kept() -> None:
    """The readings of ``Authorization`` headers are cached (1,024 of them): one of a
    well-formed shape and any length would stay in memory, megabytes at a time."""
    long_key = "AKIA" + "X" * 1_000_000
    headers = _replace_auth(sign(BODY), ALICE.access_key_id, long_key)
    sigv4_header._scope.cache_clear()
    sigv4_header._client_scope.cache_clear()
    sigv4_header._unsigned_part.cache_clear()
    sigv4._CLIENTS.clear()
    with pytest.raises(IncompleteSignatureException,
                       match=f"longer than {sigv4.MAX_AUTHORIZATION} characters"):
        check(headers)
    assert sigv4_header._scope.cache_info().currsize == 0
    assert sigv4_header._client_scope.cache_info().currsize == 0
    assert sigv4_header._unsigned_part.cache_info().currsize == 0
    assert not sigv4._CLIENTS
    assert check(sign(BODY)).principal is ALICE


def test_a_path_of_megabytes_verifies_but_is_not_kept() -> None:
    path = "/?q=" + "a" * 1_000_000
    headers = sign(BODY, path=path)
    sigv4_canonical._plan.cache_clear()
    sigv4_canonical._canonical_target.cache_clear()
    sigv4_canonical._layout.cache_clear()
    # twice: the second time from the reading of its Authorization header the first one kept
    for _ in range(2):
        assert verify("POST", path, headers, BODY, T0_EPOCH, STORE).principal is ALICE
    assert sigv4_canonical._plan.cache_info().currsize == 0
    assert sigv4_canonical._canonical_target.cache_info().currsize == 0
    assert sigv4_canonical._layout.cache_info().currsize == 0
    assert all(len(client._layout.path_qs) <= 4096 for client in sigv4._CLIENTS.values())


def test_unsigned_extra_headers_are_ignored() -> None:
    headers = sign(BODY)
    headers |= {
        "User-Agent": "Boto3/1.43 md/Botocore#1.43",
        "amz-sdk-invocation-id": "7e1a3f0a-0000-4000-8000-000000000000",
        "amz-sdk-request": "attempt=1; max=3",
        "Content-Length": str(len(BODY)),
        "X-Forwarded-For": "203.0.113.7",
    }
    assert check(headers).principal is ALICE


def test_header_names_are_case_insensitive_and_may_be_a_list_of_pairs() -> None:
    pairs = [(name.lower(), value) for name, value in sign(BODY).items()]
    assert check(pairs).principal is ALICE
    upper = {name.upper(): value for name, value in sign(BODY).items()}
    assert check(upper).principal is ALICE


def test_repeated_headers_are_joined_as_sigv4_signs_them() -> None:
    headers = sign(BODY, headers={"X-Amz-Meta-Note": "a,b"})
    pairs = [(k, v) for k, v in headers.items() if k != "X-Amz-Meta-Note"]
    pairs += [("x-amz-meta-note", "a"), ("X-Amz-Meta-Note", " b ")]
    assert check(pairs).principal is ALICE


def test_query_string_is_part_of_the_signature() -> None:
    headers = sign(BODY)
    with pytest.raises(InvalidSignatureException):
        verify("POST", "/?x=1", headers, BODY, T0_EPOCH, STORE)


def test_other_methods_are_signed_too() -> None:
    with pytest.raises(InvalidSignatureException):
        verify("PUT", "/", sign(BODY), BODY, T0_EPOCH, STORE)


class _Captured(Exception):
    def __init__(self, request: Any) -> None:
        super().__init__("captured")
        self.request = request


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_real_boto3_client_request_verifies(scheme: str) -> None:
    client = boto3.client(
        "ssm-contacts",
        region_name="ap-southeast-2",
        endpoint_url=f"{scheme}://contacts.example:8443",
        aws_access_key_id=ALICE.access_key_id,
        aws_secret_access_key=ALICE.secret_access_key,
    )

    def capture(request: Any, **kwargs: Any) -> None:
        raise _Captured(request)

    client.meta.events.register("before-send.ssm-contacts", capture)
    with pytest.raises(_Captured) as info:
        client.create_contact(Alias="akuam", Type="PERSONAL", Plan={"Stages": []})
    request = info.value.request
    # on the wire every header is text; botocore keeps some as bytes until it sends them
    headers = [("Host", "contacts.example:8443")] + [
        (k, v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()
    ]
    body = request.body if isinstance(request.body, bytes) else request.body.encode()
    verified = verify(request.method, "/", headers, body, time.time(), STORE)
    assert verified == VerifiedRequest(ALICE, "ap-southeast-2", "ssm-contacts")
    with pytest.raises(InvalidSignatureException):
        verify(request.method, "/", headers, body + b" ", time.time(), STORE)


def test_scope_of_reads_the_credential_scope_without_verifying() -> None:
    headers = sign(BODY, key="123456789012", secret="anything", region="eu-central-1")
    assert scope_of(headers) == ("123456789012", "eu-central-1")
    assert scope_of(_replace_auth(headers, "Signature=", "Sig=")) == (
        "123456789012",
        "eu-central-1",
    )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "garbage"},
        {"Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1"},
        {"Authorization": "AWS4-HMAC-SHA256 Credential=/20240101/us-east-1/ssm-contacts/x"},
    ],
)
def test_scope_of_is_none_without_a_well_formed_scope(headers: dict[str, str]) -> None:
    assert scope_of(headers) is None


def test_helper_signs_at_the_fixed_time() -> None:
    assert sign(BODY)["X-Amz-Date"] == "20240101T000000Z"
    assert datetime.datetime.fromtimestamp(T0_EPOCH, datetime.UTC) == T0
