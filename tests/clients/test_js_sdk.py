"""The AWS SDK for JavaScript v3 against a real server (``tests/js/contacts.mjs``): create, read
and list a contact and a channel, with the SDK's paginator, and errors as the SDK reads them.

The package is installed by ``npm install --prefix tests/js`` (CI does it); without node or
the package the test is skipped locally and fails in CI.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.clients.helpers import aws_env, missing
from tests.conftest import new_account
from tests.support.server import ServerProcess

pytestmark = pytest.mark.server

JS = Path(__file__).resolve().parent.parent / "js"


def test_contacts_and_channels(sqlite_server: ServerProcess) -> None:
    node = shutil.which("node")
    if node is None:
        missing("node is not installed")
    if not (JS / "node_modules" / "@aws-sdk" / "client-ssm-contacts").is_dir():
        missing(f"@aws-sdk/client-ssm-contacts is not installed (npm install --prefix {JS})")
    account = new_account()
    done = subprocess.run([node, "contacts.mjs", sqlite_server.url], cwd=JS,
                          env=aws_env(account), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])

    base = f"arn:aws:ssm-contacts:us-east-1:{account}"
    assert result["created"] == [f"{base}:contact/js-{name}"
                                 for name in ("akua", "bongani", "chidi")]
    assert result["contact"] == {"ContactArn": f"{base}:contact/js-akua", "Alias": "js-akua",
                                 "DisplayName": "Person akua", "Type": "PERSONAL",
                                 "Plan": {"Stages": []}}
    assert result["pages"] == [["js-akua", "js-bongani"], ["js-chidi"]]

    channel = result["channel"]
    assert channel["ContactChannelArn"].startswith(f"{base}:contact-channel/js-akua/")
    assert channel == {"ContactArn": f"{base}:contact/js-akua",
                       "ContactChannelArn": channel["ContactChannelArn"], "Name": "work mail",
                       "Type": "EMAIL", "DeliveryAddress": {"SimpleAddress": "akua@example.com"},
                       "ActivationStatus": "NOT_ACTIVATED"}
    assert result["listedChannels"] == [channel["ContactChannelArn"]]

    not_found = result["notFound"]
    assert (not_found["name"], not_found["status"], not_found["resourceType"]) == (
        "ResourceNotFoundException", 404, "CONTACT")
    assert not_found["requestId"]
    invalid = result["invalid"]
    assert (invalid["name"], invalid["status"], invalid["reason"]) == (
        "ValidationException", 400, "FIELD_VALIDATION_FAILED")
    assert [f["Name"] for f in invalid["fields"]] == ["Alias"]
