"""The development mode's caller: account and region from the Authorization header."""

from __future__ import annotations

import pytest

from incident_contacts.protocol import identity
from incident_contacts.protocol.identity import credential_scope, development_caller

SIGNED = ("AWS4-HMAC-SHA256 Credential={key}/20261127/{region}/ssm-contacts/aws4_request, "
          "SignedHeaders=host;x-amz-date;x-amz-target, Signature={signature}")


@pytest.mark.parametrize("signature", ["0" * 64, "f" * 64])
def test_the_scope_is_read_whatever_the_signature(signature):
    header = SIGNED.format(key="111122223333", region="eu-west-1", signature=signature)
    assert credential_scope({"authorization": header}) == ("111122223333", "eu-west-1")
    caller = development_caller({"authorization": header}, "000000000000", "us-east-1")
    assert (caller.account, caller.region) == ("111122223333", "eu-west-1")


def test_a_key_that_is_not_an_account_gets_the_default_account():
    header = SIGNED.format(key="AKIDEXAMPLE", region="ap-south-1", signature="a" * 64)
    caller = development_caller({"authorization": header}, "000000000000", "us-east-1")
    assert (caller.account, caller.region) == ("000000000000", "ap-south-1")


@pytest.mark.parametrize("header", [
    "", "Bearer token", "AWS4-HMAC-SHA256 Credential=", "AWS4-HMAC-SHA256 Credential=AKID",
    "AWS4-HMAC-SHA256 Credential=AKID/20261127, SignedHeaders=host",
])
def test_no_scope_gives_the_defaults(header):
    assert credential_scope({"authorization": header}) is None
    caller = development_caller({"authorization": header}, "000000000000", "us-east-1")
    assert (caller.account, caller.region) == ("000000000000", "us-east-1")


def test_a_scope_of_megabytes_is_read_but_not_kept():
    """The readings are cached (1,024 of them); one of a key of megabytes would stay."""
    header = SIGNED.format(key="A" * 1_000_000, region="eu-west-1", signature="0" * 64)
    identity._scope.cache_clear()
    caller = development_caller({"authorization": header}, "000000000000", "us-east-1")
    assert (caller.account, caller.region) == ("000000000000", "eu-west-1")
    assert identity._scope.cache_info().currsize == 0
