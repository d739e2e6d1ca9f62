"""``--auth sigv4`` on a real server, seen through boto3: each refusal parses as its code."""

from __future__ import annotations

import datetime
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.security.support import (
    ADMIN,
    BOB,
    NO_RETRIES,
    A,
    B,
    User,
    client,
    contact_arn,
    error,
    personal,
)
from tests.support.server import ServerProcess, free_port

pytestmark = pytest.mark.server

MISMATCH = "The request signature we calculated does not match the signature you provided."


def _at(offset: datetime.timedelta) -> Any:
    """Sign as if the client's clock were ``offset`` away from now."""
    then = datetime.datetime.now(datetime.UTC) + offset
    return mock.patch("botocore.auth.get_current_datetime", return_value=then)


def test_right_secret_is_served_as_the_keys_user(sigv4_server: ServerProcess) -> None:
    arn = personal(client(sigv4_server, ADMIN), "auth-right")
    assert arn == contact_arn(A, "auth-right")
    contact = client(sigv4_server, ADMIN).get_contact(ContactId=arn)
    assert contact["Alias"] == "auth-right"


def test_the_account_is_the_keys_account(sigv4_server: ServerProcess) -> None:
    arn = personal(client(sigv4_server, BOB), "auth-bob")
    assert arn == contact_arn(B, "auth-bob")


def test_the_region_is_the_signed_region(sigv4_server: ServerProcess) -> None:
    west = client(sigv4_server, ADMIN, region="eu-west-1")
    arn = personal(west, "auth-west")
    assert arn == contact_arn(A, "auth-west", region="eu-west-1")
    aliases = {c["Alias"] for c in client(sigv4_server, ADMIN).list_contacts()["Contacts"]}
    assert "auth-west" not in aliases


def test_wrong_secret(sigv4_server: ServerProcess) -> None:
    wrong = User(ADMIN.key, "not-the-secret", A, "admin")
    with pytest.raises(ClientError) as info:
        client(sigv4_server, wrong).list_contacts()
    code, status, message = error(info)
    assert (code, status) == ("InvalidSignatureException", 403)
    assert message.startswith(MISMATCH)


def test_unknown_key(sigv4_server: ServerProcess) -> None:
    stranger = User("AKIANOBODYKNOWSTHIS0", "whatever", A, "nobody")
    with pytest.raises(ClientError) as info:
        client(sigv4_server, stranger).list_contacts()
    assert error(info) == ("UnrecognizedClientException", 403,
                           "The security token included in the request is invalid.")


def test_tampered_body(sigv4_server: ServerProcess) -> None:
    admin = client(sigv4_server, ADMIN)

    def tamper(request: Any, **_kwargs: Any) -> None:
        # Same length, so only the signature can tell.
        request.body = request.body.replace(b"auth-tamper1", b"auth-tamper2")

    admin.meta.events.register("before-send.ssm-contacts.CreateContact", tamper)
    with pytest.raises(ClientError) as info:
        admin.create_contact(Alias="auth-tamper1", Type="PERSONAL", Plan={"Stages": []})
    code, status, message = error(info)
    assert (code, status) == ("InvalidSignatureException", 403)
    assert message.startswith(MISMATCH)
    # Refused before anything ran: neither contact exists.
    aliases = {c["Alias"] for c in client(sigv4_server, ADMIN).list_contacts()["Contacts"]}
    assert not aliases & {"auth-tamper1", "auth-tamper2"}


def test_a_date_twenty_minutes_old(sigv4_server: ServerProcess) -> None:
    admin = client(sigv4_server, ADMIN)
    with _at(-datetime.timedelta(minutes=20)), pytest.raises(ClientError) as info:
        admin.list_contacts()
    code, status, message = error(info)
    assert (code, status) == ("InvalidSignatureException", 403)
    assert re.fullmatch(r"Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z "
                        r"\(\d{8}T\d{6}Z - 15 min\.\)", message), message


def test_a_date_twenty_minutes_ahead(sigv4_server: ServerProcess) -> None:
    admin = client(sigv4_server, ADMIN)
    with _at(datetime.timedelta(minutes=20)), pytest.raises(ClientError) as info:
        admin.list_contacts()
    code, status, message = error(info)
    assert (code, status) == ("InvalidSignatureException", 403)
    assert message.startswith("Signature not yet current:")


def test_a_date_within_fifteen_minutes_is_accepted(sigv4_server: ServerProcess) -> None:
    admin = client(sigv4_server, ADMIN)
    with _at(-datetime.timedelta(minutes=14)):
        assert admin.list_contacts()["Contacts"] is not None
    with _at(datetime.timedelta(minutes=14)):
        assert admin.list_contacts()["Contacts"] is not None


def test_missing_authorization_header(sigv4_server: ServerProcess) -> None:
    unsigned = client(sigv4_server, ADMIN,
                      config=NO_RETRIES.merge(Config(signature_version=UNSIGNED)))
    with pytest.raises(ClientError) as info:
        unsigned.create_contact(Alias="auth-unsigned", Type="PERSONAL", Plan={"Stages": []})
    assert error(info) == ("MissingAuthenticationTokenException", 403,
                           "Missing Authentication Token")
    aliases = {c["Alias"] for c in client(sigv4_server, ADMIN).list_contacts()["Contacts"]}
    assert "auth-unsigned" not in aliases


def test_incomplete_signature(sigv4_server: ServerProcess) -> None:
    admin = client(sigv4_server, ADMIN)

    def truncate(request: Any, **_kwargs: Any) -> None:
        header = request.headers["Authorization"]
        header = header.decode() if isinstance(header, bytes) else header
        request.headers["Authorization"] = header.split(",")[0]   # Credential=... only

    admin.meta.events.register("before-send.ssm-contacts.ListContacts", truncate)
    with pytest.raises(ClientError) as info:
        admin.list_contacts()
    code, status, message = error(info)
    assert (code, status) == ("IncompleteSignatureException", 400)
    assert "Authorization header requires 'Signature' parameter." in message


def test_a_signed_header_changed_in_transit(sigv4_server: ServerProcess) -> None:
    admin = client(sigv4_server, ADMIN)

    def retarget(request: Any, **_kwargs: Any) -> None:
        request.headers["X-Amz-Target"] = "SSMContacts.ListContacts"

    arn = personal(admin, "auth-retarget")
    admin.meta.events.register("before-send.ssm-contacts.DeleteContact", retarget)
    with pytest.raises(ClientError) as info:
        admin.delete_contact(ContactId=arn)
    assert error(info)[:2] == ("InvalidSignatureException", 403)


def test_inspection_is_off_by_default_with_sigv4(sigv4_server: ServerProcess) -> None:
    base = f"{sigv4_server.url}/_aws/ssm-contacts"
    assert httpx.get(f"{base}/health", timeout=10).status_code == 200
    assert httpx.get(f"{base}/messages", timeout=10).status_code == 404
    assert httpx.post(f"{base}/clock", json={"AdvanceSeconds": 1}, timeout=10).status_code == 404


@pytest.mark.parametrize(("args", "message"), [
    (["--auth", "sigv4"], "--auth sigv4 needs a credentials file: --credentials FILE"),
    (["--auth", "sigv4", "--credentials", "missing.toml"],
     "cannot read the credentials file missing.toml"),
    (["--auth", "sigv4", "--credentials", "bad.toml"],
     "bad.toml: credentials[0] (access_key_id 'AKIA1'): missing keys: account_id"),
])
def test_sigv4_refuses_to_start_without_usable_credentials(
        tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "bad.toml").write_text(
        '[[credentials]]\naccess_key_id = "AKIA1"\nsecret_access_key = "s"\nuser = "u"\n')
    (tmp_path / "bad.toml").chmod(0o600)     # only its contents are wrong
    done = subprocess.run(
        [sys.executable, "-m", "incident_contacts", "serve", "--port", str(free_port()),
         "--database", f"sqlite:///{tmp_path / 'x.db'}", *args],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
    )
    assert done.returncode == 2
    assert message in done.stderr
