"""The mock beside moto's ``mock_aws``: each service answered by its own mock, in either
nesting order, started and stopped in any order, and leaving one leaves the other working."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import PartialCredentialsError
from moto import mock_aws

from incident_contacts.testing import SsmContactsMock, mock_ssm_contacts


def _use_both() -> None:
    sns = boto3.client("sns", region_name="us-east-1")
    topic = sns.create_topic(Name="pages")["TopicArn"]
    ssm = boto3.client("ssm", region_name="us-east-1")
    ssm.put_parameter(Name="/oncall/plan", Value="payments", Type="String")
    contacts = boto3.client("ssm-contacts", region_name="us-east-1")
    contacts.create_contact(Alias="payments", Type="PERSONAL", Plan={"Stages": []})
    assert [c["Alias"] for c in contacts.list_contacts()["Contacts"]] == ["payments"]
    assert ssm.get_parameter(Name="/oncall/plan")["Parameter"]["Value"] == "payments"
    assert [t["TopicArn"] for t in sns.list_topics()["Topics"]] == [topic]


def _aliases() -> list[str]:
    client = boto3.client("ssm-contacts", region_name="us-east-1")
    return [c["Alias"] for c in client.list_contacts()["Contacts"]]


def test_ours_inside_moto() -> None:
    with mock_aws():
        with mock_ssm_contacts():
            _use_both()
        iam = boto3.client("iam", region_name="us-east-1")
        iam.create_user(UserName="ops")
        assert [u["UserName"] for u in iam.list_users()["Users"]] == ["ops"]


def test_moto_inside_ours() -> None:
    with mock_ssm_contacts():
        with mock_aws():
            _use_both()
        assert _aliases() == ["payments"]


@mock_aws
def test_moto_decorator_with_the_fixture(ssm_contacts: SsmContactsMock) -> None:
    _use_both()


@mock_ssm_contacts
@mock_aws
def test_stacked_decorators() -> None:
    _use_both()


@mock_aws
@mock_ssm_contacts
def test_stacked_decorators_the_other_way() -> None:
    _use_both()


def test_moto_imported_first_and_a_client_made_before_any_mock(tmp_path: Any) -> None:
    """A unittest-style module (no pytest plugin): moto is imported before the mock, and the
    client is made before any mock ever started in the process."""
    script = tmp_path / "app_test.py"
    script.write_text(textwrap.dedent("""
        import boto3
        from moto import mock_aws
        from incident_contacts.testing import mock_ssm_contacts

        early = boto3.client("ssm-contacts", region_name="us-east-1",
                             aws_access_key_id="a", aws_secret_access_key="b")
        with mock_ssm_contacts():
            early.create_contact(Alias="early", Type="PERSONAL", Plan={"Stages": []})
            with mock_aws():
                client = boto3.client("ssm-contacts", region_name="us-east-1")
                print(*[c["Alias"] for c in client.list_contacts()["Contacts"]])
        with mock_aws(), mock_ssm_contacts():
            boto3.client("sns", region_name="us-east-1").create_topic(Name="t")
            print(len(early.list_contacts()["Contacts"]))
    """))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environment["AWS_CONFIG_FILE"] = environment["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    done = subprocess.run([sys.executable, "-I", str(script)], capture_output=True, text=True,
                          timeout=120, env=environment, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["early", "0"]


# -- started and stopped in any order --------------------------------------------------------
# moto's mock_aws sets keys in the environment when it starts and puts back, when it stops,
# the values it saw then. The mock leaves the environment alone: either may stop first, the
# other's clients keep their credentials, and nothing is left behind once both have stopped.

KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


@pytest.fixture(params=["no keys", "a key pair", "a key id alone"])
def shell(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
          tmp_path: Path) -> dict[str, str]:
    """A shell with no AWS configuration but, in turn, no keys, a key pair naming an
    account, or a key id alone naming it: the keys it exports."""
    for name in (*KEYS, "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    exported = {"no keys": {},
                "a key pair": {"AWS_ACCESS_KEY_ID": "111122223333",
                               "AWS_SECRET_ACCESS_KEY": "secret"},
                "a key id alone": {"AWS_ACCESS_KEY_ID": "111122223333"}}[request.param]
    for name, value in exported.items():
        monkeypatch.setenv(name, value)
    # A shell of its own: boto3's default session of an earlier test keeps the credentials
    # it resolved from that test's environment.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    return exported


def _account_of_a_new_contact() -> str:
    client = boto3.client("ssm-contacts", region_name="us-east-1")
    arn: str = client.create_contact(Alias="order", Type="PERSONAL",
                                     Plan={"Stages": []})["ContactArn"]
    return arn.split(":")[4]


def _moto_works() -> None:
    sns = boto3.client("sns", region_name="us-east-1")
    assert sns.create_topic(Name="order")["TopicArn"].endswith(":order")


def _left_as_before(exported: dict[str, str]) -> None:
    """Both stopped: the environment's keys are the shell's, and boto3's default session
    resolves the shell's credentials (none, the key pair, or botocore's refusal of half a
    pair), no dummy keys."""
    assert {name: os.environ[name] for name in KEYS if name in os.environ} == exported
    session = boto3.DEFAULT_SESSION or boto3.setup_default_session() or boto3.DEFAULT_SESSION
    assert session is not None
    if len(exported) == 1:
        with pytest.raises(PartialCredentialsError):
            session.get_credentials()
        return
    found = session.get_credentials()
    if exported:
        assert found is not None and found.access_key == exported["AWS_ACCESS_KEY_ID"]
    else:
        assert found is None


def test_ours_stopped_first_leaves_moto_working(shell: dict[str, str]) -> None:
    # `with mock_ssm_contacts(): with mock_aws():` left in the wrong order.
    ours, moto = mock_ssm_contacts(), mock_aws()
    ours.start()
    expected = "111122223333" if shell else "000000000000"
    assert _account_of_a_new_contact() == expected
    moto.start()
    _moto_works()
    ours.stop()
    _moto_works()
    moto.stop()
    _left_as_before(shell)


def test_moto_stopped_first_leaves_ours_working(shell: dict[str, str]) -> None:
    # `with mock_aws(): with mock_ssm_contacts():` left in the wrong order.
    moto, ours = mock_aws(), mock_ssm_contacts()
    moto.start()
    ours.start()
    _moto_works()
    moto.stop()
    expected = "111122223333" if shell else "000000000000"
    assert _account_of_a_new_contact() == expected
    ours.stop()
    _left_as_before(shell)


def test_interleaved_with_moto_twice(shell: dict[str, str]) -> None:
    # Each stopped while the other runs, twice over, with the fixture-like nesting of two
    # of our mocks sharing one state.
    moto, ours, inner = mock_aws(), mock_ssm_contacts(), mock_ssm_contacts()
    ours.start()
    moto.start()
    inner.start()
    moto.stop()
    account = _account_of_a_new_contact()
    moto = mock_aws()
    moto.start()
    inner.stop()
    _moto_works()
    # moto's keys are in the environment now: name the account the contact was made in.
    client = boto3.client("ssm-contacts", region_name="us-east-1",
                          aws_access_key_id=account, aws_secret_access_key="x")
    assert [c["Alias"] for c in client.list_contacts()["Contacts"]] == ["order"]
    ours.stop()
    _moto_works()
    moto.stop()
    _left_as_before(shell)
