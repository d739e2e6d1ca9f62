"""The development authenticator (``--auth off``, the mock) keeps one caller per credential
scope: the same answers as reading the scope on every request, refusals included."""

from __future__ import annotations

import orjson
import pytest

from incident_contacts.api import dispatch
from incident_contacts.clock import ManualClock
from incident_contacts.config import Settings
from incident_contacts.server import build_dispatcher, build_runtime


def _header(key: str, region: str, signature: str = "0" * 64) -> str:
    return (f"AWS4-HMAC-SHA256 Credential={key}/20260101/{region}/ssm-contacts/aws4_request, "
            f"SignedHeaders=host;x-amz-date, Signature={signature}")


@pytest.fixture
def served():
    runtime = build_runtime(Settings(database="sqlite://", throttle_rate=0.0), ManualClock())
    yield build_dispatcher(runtime)
    runtime.close()


def _call(dispatcher, authorization: str | None, operation: str, body: dict) -> tuple[int, dict]:
    headers = {"x-amz-target": f"SSMContacts.{operation}"}
    if authorization is not None:
        headers["authorization"] = authorization
    response = dispatcher.handle("POST", "/", headers, orjson.dumps(body))
    return response.status, orjson.loads(response.body)


def test_each_scope_names_its_own_caller(served) -> None:
    for signature in ("1" * 64, "2" * 64):     # a new signature: the same caller
        status, created = _call(served, _header("111122223333", "eu-west-1", signature),
                                "CreateContact", {"Alias": f"a{signature[0]}", "Type": "PERSONAL",
                                                  "Plan": {"Stages": []}})
        assert status == 200
        assert created["ContactArn"].startswith(
            "arn:aws:ssm-contacts:eu-west-1:111122223333:contact/")
    listed = {
        (key, region): _call(served, _header(key, region), "ListContacts", {})[1]["Contacts"]
        for key, region in [("111122223333", "eu-west-1"), ("111122223333", "us-east-1"),
                            ("444455556666", "eu-west-1"), ("notdigits", "eu-west-1")]}
    assert [c["Alias"] for c in listed["111122223333", "eu-west-1"]] == ["a1", "a2"]
    assert listed["111122223333", "us-east-1"] == []
    assert listed["444455556666", "eu-west-1"] == []
    assert listed["notdigits", "eu-west-1"] == []   # the default account
    # No Authorization header at all: the default account and region.
    status, created = _call(served, None, "CreateContact",
                            {"Alias": "plain", "Type": "PERSONAL", "Plan": {"Stages": []}})
    assert status == 200 and ":us-east-1:000000000000:" in created["ContactArn"]
    assert [c["Alias"] for c in _call(served, _header("notdigits", "us-east-1"),
                                      "ListContacts", {})[1]["Contacts"]] == ["plain"]


def test_a_region_aws_would_not_spell_is_refused_every_time(served) -> None:
    for _ in range(3):
        status, body = _call(served, _header("111122223333", "Not_A_Region"), "ListContacts", {})
        assert status == 400 and body["__type"] == "IncompleteSignatureException"
    long_region = "r" * 300                      # a scope too long to be kept: read each time
    for _ in range(2):
        status, body = _call(served, _header("111122223333", long_region), "ListContacts", {})
        assert body["__type"] == "IncompleteSignatureException"


def test_the_kept_callers_are_bounded(served, monkeypatch) -> None:
    monkeypatch.setattr(dispatch, "MAX_DEVELOPMENT_CALLERS", 4)
    for number in range(10):
        status, _ = _call(served, _header(f"{number:012d}", "eu-west-1"), "ListContacts", {})
        assert status == 200
    assert len(served.authenticate._callers) <= 4
