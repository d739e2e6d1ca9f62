"""Shared test data: two users in two accounts, and a SigV4 signer with a fixed clock."""

from __future__ import annotations

import datetime
from unittest import mock

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from incident_contacts.auth.credentials import CredentialStore, Principal
from incident_contacts.auth.policy import Policy

ALICE = Principal("AKIAEXAMPLEALICE0001", "alice-secret", "111122223333", "alice")
BOB = Principal(
    "AKIAEXAMPLEBOB000002",
    "bob-secret",
    "444455556666",
    "bob",
    Policy.parse(
        '{"Statement": {"Effect": "Allow", "Action": "ssm-contacts:Get*", "Resource": "*"}}'
    ),
)
STORE = CredentialStore([ALICE, BOB])

T0 = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
T0_EPOCH = T0.timestamp()


def sign(
    body: bytes = b'{"ContactId": "arn:aws:ssm-contacts:us-east-1:111122223333:contact/akuam"}',
    *,
    key: str = ALICE.access_key_id,
    secret: str = ALICE.secret_access_key,
    region: str = "us-east-1",
    service: str = "ssm-contacts",
    at: datetime.datetime = T0,
    headers: dict[str, str] | None = None,
    host: str = "localhost:4575",
    path: str = "/",
) -> dict[str, str]:
    """Sign a POST / with botocore's own ``add_auth`` at a fixed time; return the headers as
    the server sees them (with the ``Host`` the HTTP client would add)."""
    request = AWSRequest(
        method="POST",
        url=f"http://{host}{path}",
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "SSMContacts.GetContact",
            **(headers or {}),
        },
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=at):
        SigV4Auth(Credentials(key, secret), service, region).add_auth(request)
    return {"Host": host, **dict(request.headers.items())}
