"""The policy matrix on a real ``--auth sigv4`` server: identity policies, then contact
policies across accounts, and what a contact policy can never grant."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.security.support import (
    ADMIN,
    BOB,
    BOB2,
    BREADER,
    CAROL,
    NODELETE,
    READER,
    REGION,
    TEAMS,
    A,
    B,
    User,
    channel,
    client,
    contact_arn,
    error,
    personal,
    policy,
    start_sigv4,
    statement,
)
from tests.support.server import ServerProcess

pytestmark = pytest.mark.server


def denied(call: Any, user: User, action: str, resource: str, because: str) -> None:
    with pytest.raises(ClientError) as info:
        call()
    code, status, message = error(info)
    assert (code, status) == ("AccessDeniedException", 403)
    assert message == (f"User: {user.arn} is not authorized to perform: ssm-contacts:{action} "
                       f"on resource: {resource} {because}")


def no_identity(action: str) -> str:
    return f"because no identity-based policy allows the ssm-contacts:{action} action"


def no_resource(action: str) -> str:
    return f"because no resource-based policy allows the ssm-contacts:{action} action"


IDENTITY_DENY = "with an explicit deny in an identity-based policy"
RESOURCE_DENY = "with an explicit deny in a resource-based policy"


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# -- identity policies, one account -----------------------------------------------------------


def test_allowed_action(sigv4_server: ServerProcess) -> None:
    arn = personal(client(sigv4_server, ADMIN), fresh("authz"))
    reader = client(sigv4_server, READER)
    assert reader.get_contact(ContactId=arn)["ContactArn"] == arn
    assert any(c["ContactArn"] == arn for c in reader.list_contacts()["Contacts"])


def test_denied_action_runs_nothing(sigv4_server: ServerProcess) -> None:
    reader = client(sigv4_server, READER)
    alias = fresh("authz")
    denied(lambda: reader.create_contact(Alias=alias, Type="PERSONAL", Plan={"Stages": []}),
           READER, "CreateContact", contact_arn(A, alias), no_identity("CreateContact"))
    arn = personal(client(sigv4_server, ADMIN), fresh("authz"))
    denied(lambda: reader.delete_contact(ContactId=arn), READER, "DeleteContact", arn,
           no_identity("DeleteContact"))
    assert client(sigv4_server, ADMIN).get_contact(ContactId=arn)["ContactArn"] == arn
    aliases = {c["Alias"] for c in client(sigv4_server, ADMIN).list_contacts()["Contacts"]}
    assert alias not in aliases


def test_explicit_deny_wins_over_allow(sigv4_server: ServerProcess) -> None:
    admin = client(sigv4_server, ADMIN)
    team = personal(admin, fresh("team"))
    other = personal(admin, fresh("ops"))
    nodelete = client(sigv4_server, NODELETE)
    denied(lambda: nodelete.delete_contact(ContactId=team), NODELETE, "DeleteContact", team,
           IDENTITY_DENY)
    nodelete.update_contact(ContactId=team, DisplayName="still allowed")  # Allow * * applies
    nodelete.delete_contact(ContactId=other)                              # outside the Deny
    assert admin.get_contact(ContactId=team)["DisplayName"] == "still allowed"
    # The same contact spelled with another partition or region is no way round the Deny:
    # no resource has that ARN (and the Deny's region wildcard still covers the region).
    for spelled, refusal in ((team.replace("arn:aws:", "arn:aws-cn:"), "ResourceNotFound"),
                             (team.replace("arn:aws:", "arn:aws-us-gov:"), "ResourceNotFound"),
                             (team.replace(":us-east-1:", ":us-east-2:"), "AccessDenied")):
        with pytest.raises(ClientError) as info:
            nodelete.delete_contact(ContactId=spelled)
        assert error(info)[0] == refusal + "Exception"
    assert admin.get_contact(ContactId=team)["Alias"] == team.rsplit("/", 1)[1]


def test_wildcard_resources(sigv4_server: ServerProcess) -> None:
    admin = client(sigv4_server, ADMIN)
    teams = client(sigv4_server, TEAMS)
    alias = fresh("team")
    team = personal(teams, alias)                       # contact/team-* matches
    phone = channel(teams, team, "+15005550101", defer=True)
    assert teams.get_contact_channel(ContactChannelId=phone)["ContactChannelArn"] == phone
    ops = personal(admin, fresh("ops"))
    denied(lambda: teams.get_contact(ContactId=ops), TEAMS, "GetContact", ops,
           no_identity("GetContact"))
    ops_alias = fresh("ops")
    denied(lambda: teams.create_contact(Alias=ops_alias, Type="PERSONAL", Plan={"Stages": []}),
           TEAMS, "CreateContact", contact_arn(A, ops_alias), no_identity("CreateContact"))
    # ListContacts is authorized against "*", which contact/team-* does not cover.
    denied(lambda: teams.list_contacts(), TEAMS, "ListContacts", "*",
           no_identity("ListContacts"))


# -- contact policies, across accounts ---------------------------------------------------------


@pytest.fixture
def shared(sigv4_server: ServerProcess) -> Iterator[dict[str, str]]:
    """A contact of account A with a channel, and another contact of A, not shared yet."""
    admin = client(sigv4_server, ADMIN)
    alias = fresh("akuam")
    arn = personal(admin, alias)
    phone = channel(admin, arn, "+15005550102", defer=True)
    other = personal(admin, fresh("other"))
    yield {"alias": alias, "contact": arn, "channel": phone, "other": other}


def share(server: ServerProcess, contact: str, document: dict[str, Any]) -> None:
    client(server, ADMIN).put_contact_policy(ContactArn=contact, Policy=json.dumps(document))


def example_policy(alias: str, principal: Any = B) -> dict[str, Any]:
    """The documentation's sharing policy (spec §6.5)."""
    return policy(statement(
        "Allow",
        ["ssm-contacts:GetContact", "ssm-contacts:StartEngagement",
         "ssm-contacts:DescribeEngagement", "ssm-contacts:ListPagesByEngagement",
         "ssm-contacts:StopEngagement"],
        [f"arn:aws:ssm-contacts:*:{A}:contact/{alias}",
         f"arn:aws:ssm-contacts:*:{A}:engagement/{alias}/*"],
        Principal={"AWS": principal},
    ))


def test_another_account_is_refused_without_a_contact_policy(
        sigv4_server: ServerProcess, shared: dict[str, str]) -> None:
    bob = client(sigv4_server, BOB)
    contact = shared["contact"]
    denied(lambda: bob.get_contact(ContactId=contact), BOB, "GetContact", contact,
           no_resource("GetContact"))


def test_a_contact_policy_shares_the_contact_and_its_engagements(
        sigv4_server: ServerProcess, shared: dict[str, str]) -> None:
    share(sigv4_server, shared["contact"], example_policy(shared["alias"]))
    bob = client(sigv4_server, BOB)
    contact = bob.get_contact(ContactId=shared["contact"])
    assert (contact["ContactArn"], contact["Alias"]) == (shared["contact"], shared["alias"])
    # Authorized against the engagement ARN: whatever the operation answers, it is not a denial.
    engagement = (f"arn:aws:ssm-contacts:{REGION}:{A}:engagement/{shared['alias']}/"
                  f"{uuid.uuid4()}")
    with pytest.raises(ClientError) as info:
        bob.describe_engagement(EngagementId=engagement)
    assert error(info)[0] != "AccessDeniedException"
    try:
        bob.start_engagement(ContactId=shared["contact"], Sender="bob", Subject="s",
                             Content="c")
    except ClientError as exc:
        assert exc.response["Error"]["Code"] != "AccessDeniedException"
    # Principal 444455556666 covers every user of that account.
    assert client(sigv4_server, BOB2).get_contact(ContactId=shared["contact"])


def test_the_limits_of_a_contact_policy(sigv4_server: ServerProcess,
                                        shared: dict[str, str]) -> None:
    """Even a policy granting everything shares only the contact, its engagements and pages."""
    share(sigv4_server, shared["contact"],
          policy(statement("Allow", "ssm-contacts:*", "*", Principal={"AWS": B})))
    bob = client(sigv4_server, BOB)
    contact, phone, other = shared["contact"], shared["channel"], shared["other"]
    assert bob.get_contact(ContactId=contact)["ContactArn"] == contact
    refusals = [
        (lambda: bob.get_contact(ContactId=other), "GetContact", other),
        (lambda: bob.get_contact_channel(ContactChannelId=phone), "GetContactChannel", phone),
        (lambda: bob.list_contact_channels(ContactId=contact), "ListContactChannels", contact),
        (lambda: bob.update_contact(ContactId=contact, DisplayName="mine"), "UpdateContact",
         contact),
        (lambda: bob.delete_contact(ContactId=contact), "DeleteContact", contact),
        (lambda: bob.get_contact_policy(ContactArn=contact), "GetContactPolicy", contact),
        (lambda: bob.put_contact_policy(ContactArn=contact, Policy='{"Statement": []}'),
         "PutContactPolicy", contact),
        (lambda: bob.list_tags_for_resource(ResourceARN=contact), "ListTagsForResource",
         contact),
        (lambda: bob.tag_resource(ResourceARN=contact, Tags=[{"Key": "k", "Value": "v"}]),
         "TagResource", contact),
        (lambda: bob.send_activation_code(ContactChannelId=phone), "SendActivationCode", phone),
        (lambda: bob.create_contact_channel(
            ContactId=contact, Name="x", Type="SMS",
            DeliveryAddress={"SimpleAddress": "+15005550103"}, DeferActivation=True),
         "CreateContactChannel", contact),
    ]
    for call, action, resource in refusals:
        denied(call, BOB, action, resource, no_resource(action))
    # ListContacts includes the shared contact (spec §6.1), and no other contact of A.
    listed = {c["ContactArn"] for c in bob.list_contacts()["Contacts"]}
    assert contact in listed and other not in listed
    admin = client(sigv4_server, ADMIN)
    assert admin.get_contact(ContactId=contact).get("DisplayName") != "mine"
    assert admin.list_contact_channels(ContactId=contact)["ContactChannels"][0][
        "ContactChannelArn"] == phone


def test_a_contact_policy_names_its_principals(sigv4_server: ServerProcess,
                                               shared: dict[str, str]) -> None:
    share(sigv4_server, shared["contact"], example_policy(shared["alias"], principal=BOB.arn))
    contact = shared["contact"]
    assert client(sigv4_server, BOB).get_contact(ContactId=contact)
    bob2 = client(sigv4_server, BOB2)
    denied(lambda: bob2.get_contact(ContactId=contact), BOB2, "GetContact", contact,
           no_resource("GetContact"))
    carol = client(sigv4_server, CAROL)
    denied(lambda: carol.get_contact(ContactId=contact), CAROL, "GetContact", contact,
           no_resource("GetContact"))


def test_a_contact_policy_covers_its_resources_only(sigv4_server: ServerProcess,
                                                    shared: dict[str, str]) -> None:
    share(sigv4_server, shared["contact"], example_policy(shared["alias"]))
    bob = client(sigv4_server, BOB)
    # Not in the policy's actions.
    page = f"arn:aws:ssm-contacts:{REGION}:{A}:page/{shared['alias']}/{uuid.uuid4()}"
    denied(lambda: bob.describe_page(PageId=page), BOB, "DescribePage", page,
           no_resource("DescribePage"))
    # An engagement of another contact: that contact's policy (none) decides.
    elsewhere = f"arn:aws:ssm-contacts:{REGION}:{A}:engagement/{fresh('x')}/{uuid.uuid4()}"
    denied(lambda: bob.describe_engagement(EngagementId=elsewhere), BOB, "DescribeEngagement",
           elsewhere, no_resource("DescribeEngagement"))
    # Another contact of the same account, and one that does not exist, which looks the same.
    other = shared["other"]
    denied(lambda: bob.get_contact(ContactId=other), BOB, "GetContact", other,
           no_resource("GetContact"))
    missing = contact_arn(A, fresh("missing"))
    denied(lambda: bob.get_contact(ContactId=missing), BOB, "GetContact", missing,
           no_resource("GetContact"))


def test_the_callers_identity_policy_must_allow_too(sigv4_server: ServerProcess,
                                                    shared: dict[str, str]) -> None:
    share(sigv4_server, shared["contact"], example_policy(shared["alias"]))
    breader = client(sigv4_server, BREADER)   # may only List*
    contact = shared["contact"]
    denied(lambda: breader.get_contact(ContactId=contact), BREADER, "GetContact", contact,
           no_identity("GetContact"))


def test_explicit_deny_in_a_contact_policy_wins(sigv4_server: ServerProcess,
                                                shared: dict[str, str]) -> None:
    contact = shared["contact"]
    share(sigv4_server, contact, policy(
        statement("Allow", "ssm-contacts:*", "*", Principal={"AWS": B}),
        statement("Deny", "ssm-contacts:GetContact", contact, Principal={"AWS": BOB.arn}),
    ))
    bob = client(sigv4_server, BOB)
    denied(lambda: bob.get_contact(ContactId=contact), BOB, "GetContact", contact,
           RESOURCE_DENY)
    assert client(sigv4_server, BOB2).get_contact(ContactId=contact)


def test_a_contact_policy_does_not_restrict_its_own_account(
        sigv4_server: ServerProcess, shared: dict[str, str]) -> None:
    share(sigv4_server, shared["contact"], example_policy(shared["alias"]))
    reader = client(sigv4_server, READER)
    assert reader.get_contact(ContactId=shared["contact"])
    assert reader.get_contact_channel(ContactChannelId=shared["channel"])


# -- the development mode: accounts are roots, and sharing works the same way ---------------


def test_off_mode_refuses_other_accounts_unless_shared(off_server: ServerProcess) -> None:
    owner, stranger = "210987654321", "123456789012"
    mine = client(off_server, account=owner)
    theirs = client(off_server, account=stranger)
    alias = fresh("dev")
    arn = personal(mine, alias)
    phone = channel(mine, arn, "+15005550104", defer=True)
    root_arn = f"arn:aws:iam::{stranger}:root"
    with pytest.raises(ClientError) as info:
        theirs.get_contact(ContactId=arn)
    assert error(info) == (
        "AccessDeniedException", 403,
        f"User: {root_arn} is not authorized to perform: ssm-contacts:GetContact on resource: "
        f"{arn} {no_resource('GetContact')}",
    )
    mine.put_contact_policy(ContactArn=arn, Policy=json.dumps(
        example_policy(alias, principal=stranger)).replace(A, owner))
    assert theirs.get_contact(ContactId=arn)["ContactArn"] == arn
    with pytest.raises(ClientError) as info:
        theirs.get_contact_channel(ContactChannelId=phone)
    assert error(info)[:2] == ("AccessDeniedException", 403)


# -- conditions, on a server ------------------------------------------------------------------

HERE = User("AKIAHEREAAAAAAAAAAAA", "here-secret", A, "here", policy(
    statement("Allow", "ssm-contacts:*",
              Condition={"IpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1"]},
                         "StringEquals": {"aws:RequestedRegion": REGION}}),
))
ELSEWHERE = User("AKIAELSEWHEREAAAAAAA", "elsewhere-secret", A, "elsewhere", policy(
    statement("Allow", "ssm-contacts:*",
              Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
))
TLS_ONLY = User("AKIATLSONLYAAAAAAAAA", "tls-secret", A, "tlsonly", policy(
    statement("Allow", "ssm-contacts:*"),
    statement("Deny", "ssm-contacts:*", Condition={"Bool": {"aws:SecureTransport": "false"}}),
))


OWN_CONTACT = User("AKIAOWNCONTACTAAAAAA", "own-secret", A, "efua", policy(
    statement("Allow", "ssm-contacts:*", "arn:aws:ssm-contacts:*:*:contact/${aws:username}"),
))


def test_conditions_see_the_request(tmp_path) -> None:
    """The server fills the request's facts: its client's address (loopback here), that it
    came over plain HTTP, the signed region, the user's name for policy variables."""
    server = start_sigv4(tmp_path, users=(ADMIN, HERE, ELSEWHERE, TLS_ONLY, OWN_CONTACT))
    try:
        own = client(server, OWN_CONTACT)
        arn = own.create_contact(Alias="efua", Type="PERSONAL", Plan={"Stages": []})["ContactArn"]
        assert own.get_contact(ContactId=arn)["Alias"] == "efua"
        other = contact_arn(A, "kwame")
        denied(lambda: own.create_contact(Alias="kwame", Type="PERSONAL", Plan={"Stages": []}),
               OWN_CONTACT, "CreateContact", other, no_identity("CreateContact"))
        everywhere = "*"
        assert "Contacts" in client(server, HERE).list_contacts()
        denied(lambda: client(server, HERE, region="eu-west-1").list_contacts(), HERE,
               "ListContacts", everywhere, no_identity("ListContacts"))
        denied(lambda: client(server, ELSEWHERE).list_contacts(), ELSEWHERE, "ListContacts",
               everywhere, no_identity("ListContacts"))
        denied(lambda: client(server, TLS_ONLY).list_contacts(), TLS_ONLY, "ListContacts",
               everywhere, IDENTITY_DENY)
    finally:
        server.stop()


def test_a_condition_in_a_contact_policy_narrows_the_sharing(
        sigv4_server: ServerProcess, shared: dict[str, str]) -> None:
    document = example_policy(shared["alias"])
    document["Statement"][0]["Condition"] = {"StringEquals": {"aws:username": "bob"}}
    share(sigv4_server, shared["contact"], document)
    assert client(sigv4_server, BOB).get_contact(ContactId=shared["contact"])
    denied(lambda: client(sigv4_server, BOB2).get_contact(ContactId=shared["contact"]), BOB2,
           "GetContact", shared["contact"], no_resource("GetContact"))
    # ListContacts decides the same way.
    listed = {c["ContactArn"] for c in client(sigv4_server, BOB).list_contacts()["Contacts"]}
    assert shared["contact"] in listed
    listed = {c["ContactArn"] for c in client(sigv4_server, BOB2).list_contacts()["Contacts"]}
    assert shared["contact"] not in listed


TEAM_LEAD = User("AKIATEAMLEADAAAAAAAA", "lead-secret", A, "sre-lead", policy(
    statement("Allow", "ssm-contacts:*", Condition={"StringEquals": {
        "aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}),
    statement("Allow", ["ssm-contacts:CreateContact", "ssm-contacts:TagResource"],
              Condition={"StringEquals": {"aws:RequestTag/team": "${aws:PrincipalTag/team}"},
                         "ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}),
    statement("Allow", "ssm-contacts:List*"),
), tags={"team": "sre"})


def test_tags_decide_who_reaches_what(tmp_path) -> None:
    """Attribute-based access through a real server: the user's tag against the tags a
    request sets and the tags a contact has, read at every request."""
    server = start_sigv4(tmp_path, users=(ADMIN, TEAM_LEAD))
    try:
        lead, admin = client(server, TEAM_LEAD), client(server, ADMIN)
        ours = lead.create_contact(Alias="sre-primary", Type="PERSONAL", Plan={"Stages": []},
                                   Tags=[{"Key": "team", "Value": "sre"}])["ContactArn"]
        assert lead.get_contact(ContactId=ours)["Alias"] == "sre-primary"
        lead.update_contact(ContactId=ours, DisplayName="SRE primary")
        for tags in ([{"Key": "team", "Value": "ops"}],
                     [{"Key": "team", "Value": "sre"}, {"Key": "env", "Value": "prod"}]):
            denied(lambda tags=tags: lead.create_contact(
                Alias="elsewhere", Type="PERSONAL", Plan={"Stages": []}, Tags=tags),
                TEAM_LEAD, "CreateContact", contact_arn(A, "elsewhere"),
                no_identity("CreateContact"))
        denied(lambda: lead.create_contact(Alias="untagged", Type="PERSONAL",
                                           Plan={"Stages": []}),
               TEAM_LEAD, "CreateContact", contact_arn(A, "untagged"),
               no_identity("CreateContact"))

        theirs = admin.create_contact(Alias="ops-primary", Type="PERSONAL",
                                      Plan={"Stages": []},
                                      Tags=[{"Key": "team", "Value": "ops"}])["ContactArn"]
        denied(lambda: lead.get_contact(ContactId=theirs), TEAM_LEAD, "GetContact", theirs,
               no_identity("GetContact"))
        # Tags are read at each request: retagged, the contact is out of the user's reach.
        assert lead.get_contact(ContactId=ours)["DisplayName"] == "SRE primary"
        admin.tag_resource(ResourceARN=ours, Tags=[{"Key": "team", "Value": "ops"}])
        denied(lambda: lead.get_contact(ContactId=ours), TEAM_LEAD, "GetContact", ours,
               no_identity("GetContact"))
        assert admin.get_contact(ContactId=ours)["Alias"] == "sre-primary"
    finally:
        server.stop()
