"""``serve --tls-cert --tls-key``: HTTPS served by the server itself.

A self-signed certificate for 127.0.0.1 is made per test module; clients trust it explicitly.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.certs import pem_key, self_signed
from tests.support.server import ServerProcess, free_port, start_server, trusting

ACCOUNT = "111122223333"
KEY_ID, SECRET = "AKIDTLSTEST000000001", "tls-test-secret-key-0000000000000000000"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A certificate for 127.0.0.1, its key, a key of another pair, and the key encrypted."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = self_signed("incident-contacts test")
    files = {"cert": folder / "cert.pem", "key": folder / "key.pem",
             "other_key": folder / "other.pem", "encrypted_key": folder / "encrypted.pem"}
    files["cert"].write_bytes(cert)
    files["key"].write_bytes(pem_key(key))
    files["other_key"].write_bytes(pem_key(ec.generate_private_key(ec.SECP256R1())))
    files["encrypted_key"].write_bytes(pem_key(key, b"a passphrase"))
    for path in files.values():
        path.chmod(0o600)
    return files


def _client(server: ServerProcess, verify: Path, key: str = ACCOUNT,
            secret: str = "secret") -> Any:
    return boto3.client("ssm-contacts", region_name="us-east-1", endpoint_url=server.url,
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        verify=str(verify), config=Config(retries={"total_max_attempts": 1}))


def _secure_only_credentials(folder: Path) -> Path:
    """A credentials file whose one user may do anything, but only over TLS."""
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "ssm-contacts:*", "Resource": "*",
        "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]}
    credentials = folder / "credentials.toml"
    credentials.write_text(
        f'[[credentials]]\naccess_key_id = "{KEY_ID}"\nsecret_access_key = "{SECRET}"\n'
        f'account_id = "{ACCOUNT}"\nuser = "alice"\npolicy = {json.dumps(json.dumps(policy))}\n')
    credentials.chmod(0o600)
    return credentials


def test_https_from_options_serves_the_api_and_refuses_plain_http(tmp_path, tls_files):
    server = start_server(tmp_path, args=["--tls-cert", str(tls_files["cert"]),
                                          "--tls-key", str(tls_files["key"])],
                          https_trusting=tls_files["cert"])
    try:
        client = _client(server, tls_files["cert"])
        arn = client.create_contact(Alias="over-tls", Type="PERSONAL",
                                    Plan={"Stages": []})["ContactArn"]
        assert client.get_contact(ContactId=arn)["Alias"] == "over-tls"
        # The same port does not answer plain HTTP, and a client that does not trust the
        # certificate is refused by its own check.
        with pytest.raises(httpx.TransportError):
            httpx.get(server.url.replace("https://", "http://") + "/_aws/ssm-contacts/health",
                      timeout=5)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.url}/_aws/ssm-contacts/health", timeout=5)
        # Only Python's default suites are offered: not the SHA-1 ones uvicorn's default
        # cipher string adds.
        legacy = trusting(tls_files["cert"])
        legacy.maximum_version = ssl.TLSVersion.TLSv1_2
        legacy.set_ciphers("ECDHE-ECDSA-AES128-SHA")
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.url}/_aws/ssm-contacts/health", verify=legacy, timeout=5)
        modern = trusting(tls_files["cert"])
        modern.maximum_version = ssl.TLSVersion.TLSv1_2
        assert httpx.get(f"{server.url}/_aws/ssm-contacts/health", verify=modern,
                         timeout=5).status_code == 200
    finally:
        server.stop()
    assert f"on {server.url}" in server.log()


def test_https_from_the_environment_marks_requests_secure(tmp_path, tls_files):
    """Under SigV4, a policy that allows only requests over TLS (``aws:SecureTransport``)
    allows them when the server itself serves HTTPS; the console's cookie is ``Secure``."""
    credentials = _secure_only_credentials(tmp_path)
    server = start_server(tmp_path, args=["--auth", "sigv4", "--credentials", str(credentials)],
                          env={"INCIDENT_CONTACTS_TLS_CERT": str(tls_files["cert"]),
                               "INCIDENT_CONTACTS_TLS_KEY": str(tls_files["key"])},
                          https_trusting=tls_files["cert"])
    try:
        client = _client(server, tls_files["cert"], KEY_ID, SECRET)
        assert client.list_contacts()["Contacts"] == []
        login = httpx.get(f"{server.url}/console/login", verify=trusting(tls_files["cert"]))
        assert login.status_code == 200
        cookie = login.headers["set-cookie"].lower()
        assert "incident_contacts_console=" in cookie and "secure" in cookie
    finally:
        server.stop()


def test_plain_http_does_not_satisfy_a_secure_transport_policy(tmp_path):
    """The other half of the test above: the same policy over plain HTTP is a denial."""
    credentials = _secure_only_credentials(tmp_path)
    server = start_server(tmp_path, args=["--auth", "sigv4", "--credentials", str(credentials)])
    try:
        client = boto3.client("ssm-contacts", region_name="us-east-1", endpoint_url=server.url,
                              aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
                              config=Config(retries={"total_max_attempts": 1}))
        with pytest.raises(ClientError) as caught:
            client.list_contacts()
        assert caught.value.response["Error"]["Code"] == "AccessDeniedException"
        login = httpx.get(f"{server.url}/console/login")
        assert "secure" not in login.headers["set-cookie"].lower()
    finally:
        server.stop()


@pytest.mark.parametrize(("which", "said"), [
    ({"--tls-cert": "cert"}, "INCIDENT_CONTACTS_TLS_CERT needs INCIDENT_CONTACTS_TLS_KEY"),
    ({"--tls-key": "key"}, "INCIDENT_CONTACTS_TLS_KEY needs INCIDENT_CONTACTS_TLS_CERT"),
    ({"--tls-cert": "cert", "--tls-key": "other_key"}, "TLS certificate"),
    ({"--tls-cert": "cert", "--tls-key": "encrypted_key"}, "TLS certificate"),
    ({"--tls-cert": "missing", "--tls-key": "key"}, "No such file"),
    ({"--tls-cert": "key", "--tls-key": "key"}, "TLS certificate"),
])
def test_tls_files_that_cannot_work_are_one_line_refusals(tmp_path, tls_files, which, said):
    """Half a pair, a key of another certificate, an encrypted key (no prompt for its
    passphrase), a missing file, a key given as the certificate: refused at once, in one
    line, before a database is made."""
    args: list[str] = []
    for option, name in which.items():
        args += [option, str(tls_files.get(name, tmp_path / "missing.pem"))]
    result = subprocess.run(
        [sys.executable, "-m", "incident_contacts", "serve", "--port", str(free_port()), *args],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert result.returncode == 2, result.stderr
    assert said in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not list(tmp_path.glob("*.db*"))
