from __future__ import annotations

from pathlib import Path

import pytest

from incident_contacts.auth.credentials import CredentialStore, Principal

GOOD = '''
[[credentials]]
access_key_id = "AKIAEXAMPLEALICE0001"
secret_access_key = "alice-secret"
account_id = "111122223333"
user = "alice"

[[credentials]]
access_key_id = "AKIAEXAMPLEBOB000002"
secret_access_key = "bob-secret"
account_id = "444455556666"
user = "bob"
policy = """
{"Version": "2012-10-17",
 "Statement": [{"Effect": "Allow", "Action": "ssm-contacts:Get*", "Resource": "*"}]}
"""
'''


def test_loads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "credentials.toml"
    path.write_text(GOOD)
    store = CredentialStore.from_file(path)
    assert len(store) == 2
    alice = store.get("AKIAEXAMPLEALICE0001")
    assert alice is not None
    assert alice.arn == "arn:aws:iam::111122223333:user/alice"
    assert alice.policy is None
    bob = store.get("AKIAEXAMPLEBOB000002")
    assert bob is not None and bob.policy is not None
    assert bob.policy.allows("GetContact", "*")
    assert not bob.policy.allows("DeleteContact", "*")
    assert store.get("AKIAUNKNOWN") is None
    assert [p.user for p in store] == ["alice", "bob"]


def test_secret_is_kept_out_of_repr() -> None:
    principal = Principal("AKID", "very-secret", "111122223333", "alice")
    assert "very-secret" not in repr(principal)


def entry(**fields: str) -> str:
    base = {
        "access_key_id": '"AKIDCAROL"',
        "secret_access_key": '"s"',
        "account_id": '"111122223333"',
        "user": '"carol"',
    }
    base.update(fields)
    body = "\n".join(f"{k} = {v}" for k, v in base.items() if v != "DROP")
    return f"[[credentials]]\n{body}\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not = [toml", "not valid TOML"),
        ("", r"expected one or more \[\[credentials\]\] tables"),
        ("credentials = 3", "expected one or more"),
        (entry(user="DROP"), r"credentials\[0\] \(access_key_id 'AKIDCAROL'\): missing keys: user"),
        (entry(secret_access_key="DROP", account_id="DROP"),
         "missing keys: account_id, secret_access_key"),
        (entry(account_id='"12345"'), "account_id must be 12 digits, not '12345'"),
        (entry(account_id="111122223333"), "account_id must be a string"),
        (entry(account_id='"11112222333x"'), "account_id must be 12 digits"),
        (entry(user='"not a user"'), "user is not a valid IAM user name"),
        (entry(access_key_id='"has/slash"'), "access_key_id must be"),
        (entry(secret_access_key='""'), "secret_access_key must not be empty"),
        (entry(policy="'{not json'"), r"credentials\[0\] \(access_key_id 'AKIDCAROL'\): policy: "
                                      "policy is not valid JSON"),
        (entry(policy="'{\"Statement\": []}'"), "policy: policy Statement must be"),
        (entry(policy='\'{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", '
                      '"Principal": "*"}}\''), "identity policy must not name a Principal"),
        (entry(policy='\'{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", '
                      '"Condition": {"StringMaybe": {"aws:username": "x"}}}}\''),
         "policy: Statement\\[0\\]: unknown condition operator 'StringMaybe'"),
        (entry(colour='"blue"'), "unknown keys: colour"),
        (entry(tags='"sre"'), "tags must be a table"),
        (entry(tags="{ team = 3 }"), "tags: 'team' must be 1-128 characters with a string"),
        (entry(tags='{ team = "' + "x" * 257 + '" }'), "tags: 'team' must be"),
        (entry() + "[other]\nx = 1\n", "unknown top-level keys: other"),
        (entry() + entry(), r"credentials\[1\] \(access_key_id 'AKIDCAROL'\): duplicate "
                            r"access_key_id, first defined in credentials\[0\]"),
    ],
)
def test_malformed_files_are_refused_naming_the_entry(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CredentialStore.from_toml(text, source="creds.toml")


def test_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "creds.toml"
    path.write_text(entry(account_id='"1"'))
    with pytest.raises(ValueError, match=f"^{path}: credentials\\[0\\]"):
        CredentialStore.from_file(path)


def test_second_entry_is_named_by_index_and_key(tmp_path: Path) -> None:
    text = GOOD + entry(access_key_id='"AKIDDAVE"', user='"da ve"')
    with pytest.raises(ValueError, match=r"credentials\[2\] \(access_key_id 'AKIDDAVE'\)"):
        CredentialStore.from_toml(text)


def test_duplicate_principals_in_the_constructor() -> None:
    alice = Principal("AKID", "s", "111122223333", "alice")
    with pytest.raises(ValueError, match="duplicate access_key_id 'AKID'"):
        CredentialStore([alice, alice])


def test_a_user_may_carry_tags() -> None:
    """For aws:PrincipalTag/<key> in policies."""
    store = CredentialStore.from_toml(entry(tags='{ team = "sre", "cost-center" = "42" }'))
    (carol,) = store
    assert carol.tags == (("team", "sre"), ("cost-center", "42"))
    (plain,) = CredentialStore.from_toml(entry())
    assert plain.tags == ()
