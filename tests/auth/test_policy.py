from __future__ import annotations

import json
from typing import Any

import pytest

from incident_contacts.auth.credentials import Principal
from incident_contacts.auth.policy import Decision, Policy, access_denied, evaluate
from incident_contacts.errors import AccessDeniedException

from .helpers import ALICE

ACCOUNT = ALICE.account_id
OTHER = "999988887777"
REGION = "us-east-1"
AKUAM = f"arn:aws:ssm-contacts:{REGION}:{ACCOUNT}:contact/akuam"
PLAN = f"arn:aws:ssm-contacts:{REGION}:{ACCOUNT}:contact/example_escalation"
ENGAGEMENT = f"arn:aws:ssm-contacts:{REGION}:{ACCOUNT}:engagement/akuam/69e40ce1-8dbb-4d57-8962"


def policy(*statements: dict[str, Any]) -> Policy:
    return Policy.parse(json.dumps({"Version": "2012-10-17", "Statement": list(statements)}))


def allow(action: Any, resource: Any = "*", **more: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **more}


def deny(action: Any, resource: Any = "*", **more: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **more}


def user(account: str = ACCOUNT, name: str = "carol", pol: Policy | None = None) -> Principal:
    return Principal("AKIDCAROL", "secret", account, name, pol)


def same_account(pol: Policy | None, action: str, resource: str = AKUAM) -> Decision:
    return evaluate(pol, user(pol=pol), action, resource, resource_account=ACCOUNT)


# --- same account ---------------------------------------------------------------------------


def test_no_identity_policy_means_full_access_to_the_own_account() -> None:
    assert same_account(None, "DeleteContact").allowed


def test_allowed_action() -> None:
    pol = policy(allow(["ssm-contacts:GetContact", "ssm-contacts:ListContacts"]))
    assert same_account(pol, "GetContact") == Decision(True, "allowed")
    assert same_account(pol, "ssm-contacts:ListContacts", "*").allowed


def test_action_not_allowed_is_denied() -> None:
    pol = policy(allow("ssm-contacts:GetContact"))
    assert same_account(pol, "DeleteContact") == Decision(False, "no_identity_allow")


def test_explicit_deny_wins_over_allow() -> None:
    pol = policy(allow("ssm-contacts:*"), deny("ssm-contacts:DeleteContact", AKUAM))
    assert same_account(pol, "DeleteContact") == Decision(False, "explicit_deny_identity")
    assert same_account(pol, "DeleteContact", PLAN).allowed
    assert same_account(pol, "GetContact").allowed


@pytest.mark.parametrize(
    ("pattern", "action", "matches"),
    [
        ("ssm-contacts:Get*", "GetContact", True),
        ("ssm-contacts:Get*", "GetContactChannel", True),
        ("ssm-contacts:Get*", "ListContacts", False),
        ("SSM-Contacts:get*", "GetContact", True),
        ("ssm-contacts:*Contact", "DeleteContact", True),
        ("ssm-contacts:*Contact", "DeleteContactChannel", False),
        ("ssm-contacts:?etContact", "GetContact", True),
        ("ssm-contacts:?etContact", "SetContactX", False),
        ("*", "StartEngagement", True),
        ("ssm:*", "GetContact", False),
        ("ssm-contacts:GetContact", "GetContactPolicy", False),
    ],
)
def test_wildcard_actions_are_case_insensitive(pattern: str, action: str, matches: bool) -> None:
    assert same_account(policy(allow(pattern)), action).allowed is matches


@pytest.mark.parametrize(
    ("pattern", "resource", "matches"),
    [
        ("*", AKUAM, True),
        (f"arn:aws:ssm-contacts:{REGION}:{ACCOUNT}:contact/*", AKUAM, True),
        (f"arn:aws:ssm-contacts:*:{ACCOUNT}:contact/ak*", AKUAM, True),
        (f"arn:aws:ssm-contacts:{REGION}:{ACCOUNT}:contact/akua?", AKUAM, True),
        (f"arn:aws:ssm-contacts:{REGION}:{ACCOUNT}:contact/AKUAM", AKUAM, False),
        (f"arn:aws:ssm-contacts:{REGION}:{ACCOUNT}:contact/ak", AKUAM, False),
        (f"arn:aws:ssm-contacts:{REGION}:{ACCOUNT}:engagement/akuam/*", AKUAM, False),
        (f"arn:aws:ssm-contacts:{REGION}:{ACCOUNT}:engagement/akuam/*", ENGAGEMENT, True),
        (f"arn:aws:ssm-contacts:{REGION}:{ACCOUNT}:contact/*", "*", False),
    ],
)
def test_wildcard_resources_are_case_sensitive(pattern: str, resource: str, matches: bool) -> None:
    pol = policy(allow("ssm-contacts:GetContact", pattern))
    assert same_account(pol, "GetContact", resource).allowed is matches


def test_not_action_allows_everything_else() -> None:
    pol = policy({"Effect": "Allow", "NotAction": "ssm-contacts:Delete*", "Resource": "*"})
    assert same_account(pol, "GetContact").allowed
    assert not same_account(pol, "DeleteContact").allowed


def test_not_action_in_a_deny() -> None:
    pol = policy(allow("*"), {"Effect": "Deny", "NotAction": "ssm-contacts:Get*", "Resource": "*"})
    assert same_account(pol, "GetRotation").allowed
    assert same_account(pol, "UpdateRotation").reason == "explicit_deny_identity"


def test_not_resource() -> None:
    pol = policy({"Effect": "Allow", "Action": "*", "NotResource": PLAN})
    assert same_account(pol, "GetContact", AKUAM).allowed
    assert not same_account(pol, "GetContact", PLAN).allowed


def test_statement_may_be_a_single_object() -> None:
    pol = Policy.parse(json.dumps({"Statement": allow("ssm-contacts:GetContact")}))
    assert same_account(pol, "GetContact").allowed


def test_a_condition_on_a_key_the_request_lacks_is_false() -> None:
    """Decided without a request's facts, every key is absent: an Allow under a condition
    does not grant, and a Deny under one does not refuse (AWS: the condition is false)."""
    cond = {"Bool": {"aws:SecureTransport": "true"}}
    assert not same_account(policy(allow("*", Condition=cond)), "GetContact").allowed
    pol = policy(allow("*"), deny("ssm-contacts:GetContact", Condition=cond))
    assert same_account(pol, "GetContact").allowed
    # A negated operator on an absent key is true, so this Deny refuses.
    pol = policy(allow("*"), deny("ssm-contacts:GetContact",
                                  Condition={"StringNotEquals": {"aws:SourceIp": "10.0.0.1"}}))
    assert same_account(pol, "GetContact").reason == "explicit_deny_identity"
    assert same_account(pol, "ListContacts", "*").allowed


def test_a_resource_policy_does_not_widen_same_account_rights() -> None:
    pol = policy(allow("ssm-contacts:GetContact"))
    shared = policy(allow("ssm-contacts:*", AKUAM, Principal={"AWS": ACCOUNT}))
    decision = evaluate(pol, user(pol=pol), "DeleteContact", AKUAM, resource_account=ACCOUNT,
                        resource_policy=shared)
    assert decision == Decision(False, "no_identity_allow")


# --- cross account through a contact policy -------------------------------------------------

SHARE = policy(
    {
        "Sid": "ShareContactsWithTeam",
        "Effect": "Allow",
        "Principal": {"AWS": OTHER},
        "Action": [
            "ssm-contacts:GetContact",
            "ssm-contacts:StartEngagement",
            "ssm-contacts:DescribeEngagement",
            "ssm-contacts:ListPagesByEngagement",
            "ssm-contacts:StopEngagement",
        ],
        "Resource": [AKUAM, f"arn:aws:ssm-contacts:{REGION}:{ACCOUNT}:engagement/akuam/*"],
    }
)


def cross(
    action: str,
    resource: str = AKUAM,
    *,
    caller: Principal | None = None,
    shared: Policy | None = SHARE,
) -> Decision:
    caller = caller or user(OTHER)
    return evaluate(caller.policy, caller, action, resource, resource_account=ACCOUNT,
                    resource_policy=shared)


def test_cross_account_without_a_resource_policy_is_denied() -> None:
    assert cross("GetContact", shared=None) == Decision(False, "no_resource_allow")


def test_cross_account_allowed_through_the_resource_policy() -> None:
    assert cross("GetContact").allowed
    assert cross("StartEngagement").allowed
    assert cross("DescribeEngagement", ENGAGEMENT).allowed


def test_cross_account_other_actions_are_denied() -> None:
    assert cross("DeleteContact") == Decision(False, "no_resource_allow")
    assert not cross("PutContactPolicy").allowed


def test_cross_account_other_resources_are_denied() -> None:
    assert not cross("GetContact", PLAN).allowed
    assert not cross("DescribeEngagement", ENGAGEMENT.replace("/akuam/", "/other/")).allowed


def test_cross_account_other_principal_accounts_are_denied() -> None:
    assert cross("GetContact", caller=user("555555555555")) == Decision(False, "no_resource_allow")


@pytest.mark.parametrize(
    ("principal", "caller_name", "allowed"),
    [
        ("*", "carol", True),
        (OTHER, "carol", True),
        (f"arn:aws:iam::{OTHER}:root", "carol", True),
        (f"arn:aws:iam::{OTHER}:user/carol", "carol", True),
        (f"arn:aws:iam::{OTHER}:user/carol", "dave", False),
        ([f"arn:aws:iam::{OTHER}:user/dave", f"arn:aws:iam::{OTHER}:user/carol"], "carol", True),
        (f"arn:aws:iam::{ACCOUNT}:root", "carol", False),
    ],
)
def test_cross_account_principal_forms(principal: Any, caller_name: str, allowed: bool) -> None:
    shared = policy(allow("ssm-contacts:GetContact", AKUAM, Principal={"AWS": principal}))
    caller = user(OTHER, caller_name)
    assert cross("GetContact", caller=caller, shared=shared).allowed is allowed


def test_star_principal_without_aws_key() -> None:
    shared = policy(allow("ssm-contacts:GetContact", AKUAM, Principal="*"))
    assert cross("GetContact", shared=shared).allowed


def test_service_principal_grants_no_user() -> None:
    shared = policy(allow("*", "*", Principal={"Service": "ssm-incidents.amazonaws.com"}))
    assert not cross("GetContact", shared=shared).allowed


def test_cross_account_also_needs_the_identity_policy() -> None:
    limited = policy(allow("ssm-contacts:GetContact"))
    caller = user(OTHER, pol=limited)
    assert cross("GetContact", caller=caller).allowed
    assert cross("StartEngagement", caller=caller) == Decision(False, "no_identity_allow")


def test_explicit_deny_in_the_resource_policy_wins() -> None:
    shared = policy(
        allow("ssm-contacts:*", "*", Principal={"AWS": OTHER}),
        deny("ssm-contacts:StopEngagement", "*", Principal={"AWS": f"arn:aws:iam::{OTHER}:root"}),
    )
    assert cross("StartEngagement", shared=shared).allowed
    assert cross("StopEngagement", ENGAGEMENT, shared=shared) == Decision(
        False, "explicit_deny_resource"
    )


def test_explicit_deny_in_the_resource_policy_applies_in_the_same_account() -> None:
    shared = policy(deny("ssm-contacts:DeleteContact", AKUAM, Principal="*"))
    decision = evaluate(None, user(), "DeleteContact", AKUAM, resource_account=ACCOUNT,
                        resource_policy=shared)
    assert decision == Decision(False, "explicit_deny_resource")


def test_resource_statements_without_principal_fail_closed() -> None:
    shared = policy(allow("*"))
    assert not cross("GetContact", shared=shared).allowed
    shared = policy(allow("*", Principal="*"), deny("ssm-contacts:GetContact"))
    assert cross("GetContact", shared=shared).reason == "explicit_deny_resource"


def test_conditional_deny_in_a_resource_policy_still_names_its_principal() -> None:
    cond = {"StringNotEquals": {"aws:PrincipalTag/team": "ops"}}   # no tags: true
    shared = policy(
        allow("*", Principal="*"),
        deny("*", Principal={"AWS": "555555555555"}, Condition=cond),
    )
    assert cross("GetContact", shared=shared).allowed
    assert cross("GetContact", caller=user("555555555555"), shared=shared).reason == (
        "explicit_deny_resource"
    )


def test_not_principal_fails_closed() -> None:
    shared = policy(
        allow("*", Principal="*"),
        {"Effect": "Deny", "NotPrincipal": {"AWS": OTHER}, "Action": "*", "Resource": "*"},
    )
    assert cross("GetContact", shared=shared).reason == "explicit_deny_resource"


# --- messages -------------------------------------------------------------------------------


def test_access_denied_reads_like_aws() -> None:
    caller = user(OTHER)
    base = (
        f"User: arn:aws:iam::{OTHER}:user/carol is not authorized to perform: "
        f"ssm-contacts:GetContact on resource: {AKUAM}"
    )
    error = access_denied(caller, "GetContact", AKUAM)
    assert isinstance(error, AccessDeniedException)
    assert error.message == base
    assert error.status == 403
    tails = {
        "no_identity_allow": " because no identity-based policy allows the "
        "ssm-contacts:GetContact action",
        "explicit_deny_identity": " with an explicit deny in an identity-based policy",
        "explicit_deny_resource": " with an explicit deny in a resource-based policy",
        "no_resource_allow": " because no resource-based policy allows the "
        "ssm-contacts:GetContact action",
    }
    for reason, tail in tails.items():
        decision = Decision(False, reason)  # type: ignore[arg-type]
        assert access_denied(caller, "ssm-contacts:GetContact", AKUAM, decision).message == (
            base + tail
        )


# --- parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[" * 200_000, "nested too deeply"),
        ("[]", "must be a JSON object"),
        ('{"Statement": []}', "Statement must be"),
        ('{"Version": "2020-01-01", "Statement": {}}', "Version must be"),
        ('{"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}', "Effect"),
        ('{"Statement": [{"Effect": "Allow", "Resource": "*"}]}', "Action and NotAction"),
        ('{"Statement": [{"Effect": "Allow", "Action": "*", "NotAction": "*", "Resource": "*"}]}',
         "exactly one of Action"),
        ('{"Statement": [{"Effect": "Allow", "Action": "*"}]}', "Resource and NotResource"),
        ('{"Statement": [{"Effect": "Allow", "Action": [], "Resource": "*"}]}', "non-empty"),
        ('{"Statement": [{"Effect": "Allow", "Action": 3, "Resource": "*"}]}', "Action must be"),
        ('{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Extra": 1}]}',
         "unknown elements: Extra"),
        ('{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", '
         '"Principal": {"AWS": "bob"}}]}', "invalid principal"),
        ('{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", '
         '"Principal": "someone"}]}', "Principal must be"),
        ('{"Statement": [1]}', "Statement[0] must be an object"),
    ],
)
def test_malformed_policies_are_refused(document: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Policy.parse(document)


def test_parsed_statement_shape() -> None:
    pol = Policy.parse(json.dumps({"Version": "2012-10-17", "Statement": SHARE_DOC}))
    (statement,) = pol.statements
    assert statement.sid == "Share"
    assert statement.principals == (OTHER, f"arn:aws:iam::{OTHER}:root")
    assert statement.actions == ("ssm-contacts:GetContact",)
    assert pol.names_principals
    assert not policy(allow("*")).names_principals


SHARE_DOC = {
    "Sid": "Share",
    "Effect": "Allow",
    "Principal": {"AWS": [OTHER, f"arn:aws:iam::{OTHER}:root"]},
    "Action": "ssm-contacts:GetContact",
    "Resource": AKUAM,
}
