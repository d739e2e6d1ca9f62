"""What the API acknowledged survives ``kill -9`` of the server."""

from __future__ import annotations

import base64
import os

import boto3
import pytest

from tests.support.server import restart, start_server


def _client(url: str):
    return boto3.client("ssm-contacts", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="111122223333", aws_secret_access_key="x")


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_acknowledged_writes_survive_kill_9(tmp_path, database, request):
    env = {}
    url = None
    if database == "postgresql":
        url = request.getfixturevalue("pg_database")
        env["INCIDENT_CONTACTS_DATA_KEY"] = base64.b64encode(os.urandom(32)).decode()
    server = start_server(tmp_path, database=url, env=env)
    try:
        client = _client(server.url)
        arns = [client.create_contact(Alias=f"c{n}", Type="PERSONAL",
                                      Plan={"Stages": []})["ContactArn"] for n in range(20)]
        channel = client.create_contact_channel(
            ContactId=arns[0], Name="phone", Type="SMS",
            DeliveryAddress={"SimpleAddress": "+15005550199"}, DeferActivation=True,
        )["ContactChannelArn"]
        client.tag_resource(ResourceARN=arns[1], Tags=[{"Key": "k", "Value": "v"}])
        server.kill()
        server = restart(server)
        client = _client(server.url)
        assert len(client.list_contacts()["Contacts"]) == 20
        got = client.get_contact_channel(ContactChannelId=channel)
        assert got["DeliveryAddress"] == {"SimpleAddress": "+15005550199"}
        assert client.list_tags_for_resource(ResourceARN=arns[1])["Tags"] == [
            {"Key": "k", "Value": "v"}]
    finally:
        server.stop()
