"""Tags (spec §6.6) and contact policies (spec §6.5)."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.functional.helpers import channel, error_of, personal


def test_tag_untag_list(client):
    arn = personal(client, "tagged", Tags=[{"Key": "team", "Value": "blue"}])
    client.tag_resource(ResourceARN=arn, Tags=[{"Key": "group1", "Value": "1"},
                                               {"Key": "team", "Value": "red"}])
    tags = client.list_tags_for_resource(ResourceARN=arn)["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("group1", "1"), ("team", "red")]
    client.untag_resource(ResourceARN=arn, TagKeys=["team", "absent"])
    assert client.list_tags_for_resource(ResourceARN=arn)["Tags"] == [
        {"Key": "group1", "Value": "1"}]


def test_at_most_fifty_tags(client):
    arn = personal(client, "many")
    client.tag_resource(ResourceARN=arn, Tags=[{"Key": f"k{n}", "Value": "v"} for n in range(50)])
    with pytest.raises(ClientError) as excinfo:
        client.tag_resource(ResourceARN=arn, Tags=[{"Key": "one-more", "Value": "v"}])
    err = error_of(excinfo)
    assert err["Error"]["Code"] == "ServiceQuotaExceededException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 402
    assert err["ServiceCode"] == "ssm-contacts"
    assert err["QuotaCode"]
    assert err["ResourceId"] == arn
    # Overwriting an existing key is still fine.
    client.tag_resource(ResourceARN=arn, Tags=[{"Key": "k1", "Value": "w"}])


def test_channels_are_not_taggable(client):
    arn = channel(client, personal(client, "chtag"))
    with pytest.raises(ClientError) as excinfo:
        client.tag_resource(ResourceARN=arn, Tags=[{"Key": "a", "Value": "b"}])
    assert error_of(excinfo)["Error"]["Code"] == "ValidationException"


def test_tagging_a_missing_contact(client, backend):
    ghost = f"arn:aws:ssm-contacts:us-east-1:{backend.account}:contact/ghost"
    with pytest.raises(ClientError) as excinfo:
        client.list_tags_for_resource(ResourceARN=ghost)
    err = error_of(excinfo)
    assert err["Error"]["Code"] == "ResourceNotFoundException"
    assert err["ResourceId"] == ghost


def test_bad_tag_key(client):
    arn = personal(client, "badtag")
    with pytest.raises(ClientError) as excinfo:
        client.tag_resource(ResourceARN=arn, Tags=[{"Key": "no spaces", "Value": "v"}])
    assert error_of(excinfo)["Fields"][0]["Name"] == "Tags[0].Key"


POLICY = {
    "Version": "2012-10-17",
    "Statement": [{
        "Sid": "Share", "Effect": "Allow", "Principal": {"AWS": "222233334444"},
        "Action": ["ssm-contacts:GetContact", "ssm-contacts:StartEngagement"],
        "Resource": ["arn:aws:ssm-contacts:*:111122223333:contact/akuam"],
    }],
}


def test_put_and_get_policy(client):
    arn = personal(client, "shared")
    assert "Policy" not in client.get_contact_policy(ContactArn=arn)
    client.put_contact_policy(ContactArn=arn, Policy=json.dumps(POLICY))
    got = client.get_contact_policy(ContactArn=arn)
    assert got["ContactArn"] == arn
    assert json.loads(got["Policy"]) == POLICY


@pytest.mark.parametrize("policy", ["not json", "[1, 2]", '{"Version": "2012-10-17"}'])
def test_bad_policy(client, policy):
    arn = personal(client, "badpol")
    with pytest.raises(ClientError) as excinfo:
        client.put_contact_policy(ContactArn=arn, Policy=policy)
    err = error_of(excinfo)
    assert err["Error"]["Code"] == "ValidationException"
    assert err["Fields"][0]["Name"] == "Policy"


def test_policy_of_missing_contact(client, backend):
    ghost = f"arn:aws:ssm-contacts:us-east-1:{backend.account}:contact/ghost"
    with pytest.raises(ClientError) as excinfo:
        client.get_contact_policy(ContactArn=ghost)
    assert error_of(excinfo)["Error"]["Code"] == "ResourceNotFoundException"


@pytest.mark.parametrize("policy", [
    '{"Statement": [{"Effect": "Maybe", "Action": "ssm-contacts:GetContact", "Resource": "*"}]}',
    '{"Statement": [{"Effect": "Allow", "Resource": "*"}]}',
    '{"Statement": [], "Version": "2012-10-17"}',
    '{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*", '
    '"Condition": {"IpAddress": {"aws:SourceIp": "not an address"}}}]}',
])
def test_a_policy_that_cannot_be_evaluated_is_refused(client, policy):
    arn = personal(client, "unevaluable")
    with pytest.raises(ClientError) as excinfo:
        client.put_contact_policy(ContactArn=arn, Policy=policy)
    assert error_of(excinfo)["Fields"][0]["Name"] == "Policy"
    assert "Policy" not in client.get_contact_policy(ContactArn=arn)
