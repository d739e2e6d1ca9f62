"""The mock beside moto's ``mock_aws``: each service answered by its own mock, in either
nesting order, and leaving one leaves the other working."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any

import boto3
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
