"""Conditions of IAM policies: each operator family, absent keys, IfExists, Null, the set
qualifiers, the request's facts, and values that make a policy invalid."""

from __future__ import annotations

import json
from typing import Any

import pytest

from incident_contacts.auth import conditions
from incident_contacts.auth.conditions import NO_FACTS, REQUEST_SCOPE, ConditionContext
from incident_contacts.auth.credentials import Principal
from incident_contacts.auth.policy import Policy, evaluate

ACCOUNT = "111122223333"
OTHER = "444455556666"
NOW = 1_800_000_000.0          # 2027-01-15T08:00:00Z
ALICE = Principal("AKIDALICE", "secret", ACCOUNT, "alice")
ROOT = Principal.account_root(ACCOUNT)
CONTACT = f"arn:aws:ssm-contacts:us-east-1:{ACCOUNT}:contact/akuam"


def facts(principal: Principal = ALICE, *, region: str = "us-east-1",
          source: tuple[str | None, bool] | None = ("10.1.2.3", True),
          owner: str = ACCOUNT) -> ConditionContext:
    return ConditionContext(principal, region, owner, NOW, source)


def holds(block: dict[str, Any], context: conditions.Facts | None = None) -> bool:
    return conditions.all_hold(conditions.parse("Statement[0]", block),
                               facts() if context is None else context)


@pytest.mark.parametrize(("block", "expected"), [
    ({"StringEquals": {"aws:RequestedRegion": "us-east-1"}}, True),
    ({"StringEquals": {"aws:RequestedRegion": ["eu-west-1", "us-east-1"]}}, True),  # any value
    ({"StringEquals": {"aws:RequestedRegion": "US-EAST-1"}}, False),
    ({"StringEqualsIgnoreCase": {"aws:RequestedRegion": "US-EAST-1"}}, True),
    ({"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1", "us-east-1"]}}, False),
    ({"StringNotEqualsIgnoreCase": {"aws:RequestedRegion": "EU-WEST-1"}}, True),
    ({"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/al?ce"}}, True),
    ({"StringNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/*"}}, False),
    ({"stringequals": {"aws:RequestedRegion": "us-east-1"}}, None),  # operators keep their case
    ({"StringEquals": {"AWS:REQUESTEDREGION": "us-east-1"}}, True),  # keys do not
    ({"NumericLessThan": {"aws:EpochTime": NOW + 1}}, True),
    ({"NumericGreaterThanEquals": {"aws:EpochTime": str(int(NOW))}}, True),
    ({"NumericNotEquals": {"aws:EpochTime": 5}}, True),
    ({"DateLessThan": {"aws:CurrentTime": "2027-01-15T08:00:01Z"}}, True),
    ({"DateGreaterThan": {"aws:CurrentTime": "2027-01-15T09:00:00+01:00"}}, False),  # equal
    ({"DateEquals": {"aws:CurrentTime": "2027-01-15T08:00:00Z"}}, True),
    ({"DateLessThanEquals": {"aws:EpochTime": "2027-01-15T08:00:00Z"}}, True),
    ({"Bool": {"aws:SecureTransport": True}}, True),
    ({"Bool": {"aws:SecureTransport": "false"}}, False),
    ({"IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "10.0.0.0/8"]}}, True),
    ({"IpAddress": {"aws:SourceIp": "10.1.2.4"}}, False),
    ({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, False),
    ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:user/*"}}, True),
    ({"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::*:user/alice"}}, True),
    ({"ArnLike": {"aws:PrincipalArn": "arn:aws:*:user/alice"}}, None),   # not an ARN
    ({"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::444455556666:*"}}, True),
    ({"StringEquals": {"aws:PrincipalType": "User", "aws:username": "alice",
                       "aws:PrincipalAccount": ACCOUNT, "aws:ResourceAccount": ACCOUNT}}, True),
    ({"StringEquals": {"aws:RequestedRegion": "us-east-1"},
      "Bool": {"aws:SecureTransport": "false"}}, False),             # every operator must hold
    ({"Bool": {"aws:ViaAWSService": "false", "aws:PrincipalIsAWSService": "false"}}, True),
])
def test_operators(block: dict[str, Any], expected: bool | None) -> None:
    if expected is None:
        with pytest.raises(ValueError):
            holds(block)
    else:
        assert holds(block) is expected


def test_absent_keys() -> None:
    """AWS: a key absent from the request makes an operator false and a negated one true;
    IfExists holds without the key; Null tests only whether it is there."""
    absent = {"StringEquals": {"aws:PrincipalTag/team": "ops"}}
    assert not holds(absent)
    assert holds({"StringNotEquals": {"aws:PrincipalTag/team": "ops"}})
    assert holds({"StringEqualsIfExists": {"aws:PrincipalTag/team": "ops"}})
    assert not holds({"StringEqualsIfExists": {"aws:RequestedRegion": "eu-west-1"}})
    assert holds({"Null": {"aws:PrincipalTag/team": "true", "aws:RequestedRegion": "false"}})
    assert not holds({"Null": {"aws:SourceIp": "true"}})
    # The in-process mock serves no HTTP request: no source address, no transport.
    assert holds({"Null": {"aws:SourceIp": "true", "aws:SecureTransport": "true"}},
                 facts(source=None))
    assert not holds({"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}, facts(source=None))
    # The account itself has no user name.
    assert holds({"Null": {"aws:username": "true"}}, facts(ROOT))
    assert holds({"StringEquals": {"aws:PrincipalType": "Account"}}, facts(ROOT))
    # Without a request every key is absent.
    assert not holds({"StringEquals": {"aws:RequestedRegion": "us-east-1"}}, NO_FACTS)


def test_set_qualifiers() -> None:
    assert holds({"ForAnyValue:StringEquals": {"aws:RequestedRegion": ["us-east-1", "x"]}})
    assert holds({"ForAllValues:StringLike": {"aws:RequestedRegion": "us-*"}})
    assert not holds({"ForAllValues:StringLike": {"aws:RequestedRegion": "eu-*"}})
    assert holds({"ForAllValues:StringEquals": {"aws:TagKeys": "team"}})  # absent: true
    assert not holds({"ForAnyValue:StringEquals": {"aws:TagKeys": "team"}})


@pytest.mark.parametrize("block", [
    {},
    [],
    {"StringMaybe": {"aws:RequestedRegion": "x"}},
    {"SomeValues:StringEquals": {"aws:RequestedRegion": "x"}},
    {"StringEquals": {}},
    {"StringEquals": {"aws:RequestedRegion": []}},
    {"StringEquals": {"aws:RequestedRegion": {"nested": 1}}},
    {"NumericLessThan": {"aws:EpochTime": "soon"}},
    {"DateLessThan": {"aws:CurrentTime": "tomorrow"}},
    {"IpAddress": {"aws:SourceIp": "10.0.0.0/33"}},
    {"Null": {"aws:SourceIp": "maybe"}},
    {"NullIfExists": {"aws:SourceIp": "true"}},
])
def test_what_cannot_be_evaluated_is_refused(block: Any) -> None:
    with pytest.raises(ValueError):
        conditions.parse("Statement[0]", block)
    with pytest.raises(ValueError):
        Policy.parse(json.dumps({"Statement": [{"Effect": "Allow", "Action": "*",
                                                "Resource": "*", "Condition": block}]}))


def policy(*statements: dict[str, Any]) -> Policy:
    return Policy.parse(json.dumps({"Version": "2012-10-17", "Statement": list(statements)}))


def test_conditions_decide_identity_and_resource_policies() -> None:
    only_from_the_office = policy(
        {"Effect": "Allow", "Action": "ssm-contacts:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "ssm-contacts:*", "Resource": "*",
         "Condition": {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}})
    alice = Principal("AKIDALICE", "secret", ACCOUNT, "alice", only_from_the_office)

    def decide(source: str, **more: Any) -> Any:
        return evaluate(alice.policy, alice, "GetContact", CONTACT, resource_account=ACCOUNT,
                        facts=facts(alice, source=(source, True)), **more)

    assert decide("10.9.9.9").allowed
    assert decide("192.0.2.1").reason == "explicit_deny_identity"

    # Across accounts, the contact policy's condition narrows who it shares with.
    bob = Principal("AKIDBOB", "secret", OTHER, "bob")
    shared = policy({"Effect": "Allow", "Principal": {"AWS": OTHER}, "Action": "*",
                     "Resource": CONTACT,
                     "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}})
    for region, allowed in (("us-east-1", True), ("eu-west-1", False)):
        decision = evaluate(None, bob, "GetContact", CONTACT, resource_account=ACCOUNT,
                            resource_policy=shared, facts=facts(bob, region=region))
        assert decision.allowed is allowed


def test_facts_are_gathered_only_for_policies_with_conditions() -> None:
    plain = policy({"Effect": "Allow", "Action": "*", "Resource": "*"})
    conditional = policy({"Effect": "Allow", "Action": "*", "Resource": "*",
                          "Condition": {"Bool": {"aws:SecureTransport": "true"}}})
    assert conditions.facts(ALICE, "us-east-1", ACCOUNT, NOW, plain, None) is NO_FACTS
    token = REQUEST_SCOPE.set({"type": "http", "client": ("127.0.0.1", 50000),
                               "scheme": "http"})
    try:
        gathered = conditions.facts(ALICE, "us-east-1", ACCOUNT, NOW, plain, conditional)
    finally:
        REQUEST_SCOPE.reset(token)
    assert gathered.values("aws:sourceip") == ("127.0.0.1",)
    assert gathered.values("aws:securetransport") == ("false",)
    assert gathered.values("aws:currenttime") == ("2027-01-15T08:00:00Z",)


# -- policy variables -------------------------------------------------------------------------

MINE = f"arn:aws:ssm-contacts:us-east-1:{ACCOUNT}:contact/alice"
THEIRS = f"arn:aws:ssm-contacts:us-east-1:{ACCOUNT}:contact/bob"


def decide(statement: dict[str, Any], resource: str, principal: Principal = ALICE,
           **context: Any) -> bool:
    pol = policy({"Action": "ssm-contacts:*", **statement})
    user = Principal(principal.access_key_id, "secret", principal.account_id, principal.user,
                     pol, principal.root)
    return evaluate(pol, user, "GetContact", resource, resource_account=ACCOUNT,
                    facts=conditions.facts(user, "us-east-1", ACCOUNT, NOW, pol,
                                           **context)).allowed


def test_variables_in_resources() -> None:
    own = {"Effect": "Allow", "Resource": "arn:aws:ssm-contacts:*:*:contact/${aws:username}"}
    assert decide(own, MINE)
    assert not decide(own, THEIRS)
    # The account itself has no user name: the statement does not apply.
    assert not decide(own, MINE, ROOT)
    # A default stands in for a value the request lacks.
    default = {"Effect": "Allow",
               "Resource": "arn:aws:ssm-contacts:*:*:contact/${aws:username, 'alice'}"}
    assert decide(default, MINE, ROOT)
    # What a variable stands for is literal, ${*} too; the pattern's own * is a wildcard.
    literal = {"Effect": "Allow", "Resource": "arn:aws:ssm-contacts:*:*:contact/${*}"}
    assert not decide(literal, MINE)
    assert decide(literal, "arn:aws:ssm-contacts:us-east-1:111122223333:contact/*")
    # A Deny with a variable applies only as far as it can be filled.
    deny_others = policy(
        {"Effect": "Allow", "Action": "ssm-contacts:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "ssm-contacts:*",
         "NotResource": "arn:aws:ssm-contacts:*:*:contact/${aws:username}"})
    assert deny_others.conditional
    alice = Principal("AKIDALICE", "secret", ACCOUNT, "alice", deny_others)
    for resource, allowed in ((MINE, True), (THEIRS, False)):
        assert evaluate(deny_others, alice, "GetContact", resource, resource_account=ACCOUNT,
                        facts=facts(alice)).allowed is allowed


def test_variables_in_condition_values() -> None:
    same_account = {"StringEquals": {"aws:ResourceAccount": "${aws:PrincipalAccount}"}}
    assert holds(same_account)
    assert not holds(same_account, facts(owner=OTHER))
    assert holds({"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/${aws:username}"}})
    # Filled with "alice", which the pattern then matches literally, not as a wildcard.
    assert not holds({"StringLike": {"aws:PrincipalArn": "${*}"}})
    assert holds({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::${aws:PrincipalAccount}:*"}})
    # A variable the request cannot fill: the condition does not hold, negated or not.
    assert not holds({"StringEquals": {"aws:RequestedRegion": "${aws:username}"}},
                     facts(ROOT))
    assert not holds({"StringNotEquals": {"aws:RequestedRegion": "${aws:username}"}},
                     facts(ROOT))
    assert holds({"NumericLessThan": {"aws:EpochTime": "${aws:EpochTime}0"}})


# -- tags -------------------------------------------------------------------------------------

SRE = Principal("AKIDSRE", "secret", ACCOUNT, "sre-lead", tags=(("Team", "sre"),))


def test_tag_keys_read_the_principal_the_request_and_the_resource() -> None:
    asked: list[int] = []

    def resource_tags() -> dict[str, str]:
        asked.append(1)
        return {"team": "sre", "Cost-Center": "42"}

    context = ConditionContext(SRE, "us-east-1", ACCOUNT, NOW, None,
                               {"Tags": [{"Key": "team", "Value": "sre"},
                                         {"Key": "env", "Value": "prod"}]},
                               resource_tags)
    assert context.values("aws:principaltag/team") == ("sre",)      # key names ignore case
    assert context.values("aws:principaltag/other") is None
    assert context.values("aws:requesttag/env") == ("prod",)
    assert context.values("aws:tagkeys") == ("team", "env")
    assert asked == []                                                 # read only when asked
    assert context.values("aws:resourcetag/cost-center") == ("42",)
    assert context.values("aws:resourcetag/team") == ("sre",)
    assert context.values("aws:resourcetag/none") is None
    # A request that sets no tags has neither key; UntagResource's keys are aws:TagKeys.
    bare = ConditionContext(SRE, "us-east-1", ACCOUNT, NOW, None, {"ContactId": CONTACT})
    assert bare.values("aws:requesttag/team") is None and bare.values("aws:tagkeys") is None
    assert bare.values("aws:resourcetag/team") is None
    untag = ConditionContext(SRE, "us-east-1", ACCOUNT, NOW, None, {"TagKeys": ["a", "b"]})
    assert untag.values("aws:tagkeys") == ("a", "b")


def test_keys_differing_in_case_are_each_tested() -> None:
    """Tags keep their case, so a request may set ``Env`` and ``env``: a Deny on the value of
    either applies, whichever comes first."""
    deny = policy({"Effect": "Allow", "Action": "ssm-contacts:*", "Resource": "*"},
                  {"Effect": "Deny", "Action": "ssm-contacts:*", "Resource": "*",
                   "Condition": {"StringEquals": {"aws:RequestTag/env": "prod",
                                                  "aws:ResourceTag/env": "prod"}}})
    user = Principal(SRE.access_key_id, "secret", ACCOUNT, SRE.user, deny)
    for tags in ([{"Key": "Env", "Value": "dev"}, {"Key": "env", "Value": "prod"}],
                 [{"Key": "env", "Value": "prod"}, {"Key": "ENV", "Value": "dev"}]):
        context = conditions.facts(user, "us-east-1", ACCOUNT, NOW, deny,
                                   request={"Tags": tags},
                                   resource_tags=lambda tags=tags: {t["Key"]: t["Value"]
                                                                    for t in tags})
        assert context.values("aws:requesttag/env") in (("dev", "prod"), ("prod", "dev"))
        assert not evaluate(deny, user, "CreateContact", CONTACT, resource_account=ACCOUNT,
                            facts=context).allowed


def test_tags_decide_access() -> None:
    """Attribute-based access: a user reaches the resources tagged with their team, and
    creates only resources tagged so, with no other tag."""
    same_team = {"Effect": "Allow", "Action": "ssm-contacts:*", "Resource": "*",
                 "Condition": {"StringEquals": {
                     "aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}}
    create = {"Effect": "Allow", "Action": "ssm-contacts:CreateContact", "Resource": "*",
              "Condition": {"StringEquals": {"aws:RequestTag/team": "${aws:PrincipalTag/team}"},
                            "ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}}
    pol = policy(same_team, create)
    user = Principal(SRE.access_key_id, "secret", ACCOUNT, SRE.user, pol, tags=SRE.tags)

    def allowed(operation: str, request: dict[str, Any], tags: dict[str, str]) -> bool:
        context = conditions.facts(user, "us-east-1", ACCOUNT, NOW, pol, request=request,
                                   resource_tags=lambda: tags)
        return evaluate(pol, user, operation, CONTACT, resource_account=ACCOUNT,
                        facts=context).allowed

    assert allowed("GetContact", {}, {"team": "sre"})
    assert not allowed("GetContact", {}, {"team": "ops"})
    assert not allowed("GetContact", {}, {})
    assert allowed("CreateContact", {"Tags": [{"Key": "team", "Value": "sre"}]}, {})
    assert not allowed("CreateContact", {"Tags": [{"Key": "team", "Value": "ops"}]}, {})
    assert not allowed("CreateContact", {"Tags": [{"Key": "team", "Value": "sre"},
                                                  {"Key": "env", "Value": "x"}]}, {})
    assert not allowed("CreateContact", {}, {})
    # A user without the tag matches nothing: the variable cannot be filled.
    untagged = Principal("AKIDNOTAGS", "secret", ACCOUNT, "new", pol)
    context = conditions.facts(untagged, "us-east-1", ACCOUNT, NOW, pol,
                               resource_tags=lambda: {"team": "sre"})
    assert not evaluate(pol, untagged, "GetContact", CONTACT, resource_account=ACCOUNT,
                        facts=context).allowed
