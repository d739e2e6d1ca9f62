"""Real Terraform with the real AWS provider against a real server.

The configurations are in ``tests/clients/terraform/``: ``stack`` holds every ssm-contacts
resource and data source of the provider (README's provider block plus ``default_tags``),
``imported`` the stack's contact "alice" alone. The tests of this module are steps of one
story on one working directory and run in order: apply, then a plan that must be empty; one
attribute of each resource changed while a contact is deleted outside Terraform, then the
plan (the deleted contact and its channel are created again, the rest updated in place), its
apply and an empty plan; import by ARN into a fresh state, then an empty plan; destroy, after
which the server holds nothing of the account.

Terraform cannot download providers here: the module runs only where ``terraform`` and a
filesystem mirror holding hashicorp/aws 5.100.0 exist (``TERRAFORM_PROVIDER_MIRROR``, default
``/opt/tf-plugins``); elsewhere ``test_terraform_flows.py`` replays what the provider does.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.conftest import new_account
from tests.support.server import ServerProcess

PROVIDER_VERSION = "5.100.0"
MIRROR = Path(os.environ.get("TERRAFORM_PROVIDER_MIRROR", "/opt/tf-plugins"))
PROVIDER_DIR = (MIRROR / "registry.terraform.io" / "hashicorp" / "aws" / PROVIDER_VERSION
                / "linux_amd64")
CONFIGS = Path(__file__).parent / "terraform"
TERRAFORM = shutil.which("terraform")

if TERRAFORM is None:
    pytest.skip("terraform is not installed (CI cannot download it; the replay tests in "
                "test_terraform_flows.py cover the provider there)", allow_module_level=True)
if not PROVIDER_DIR.is_dir():
    pytest.skip(f"no filesystem mirror of hashicorp/aws {PROVIDER_VERSION} at {MIRROR} "
                "(CI cannot download providers; the replay tests cover them there)",
                allow_module_level=True)

pytestmark = [pytest.mark.server, pytest.mark.slow]

CLI_CONFIG = """\
provider_installation {
  filesystem_mirror {
    path    = "%s"
    include = ["registry.terraform.io/hashicorp/aws"]
  }
  direct {
    exclude = ["registry.terraform.io/*/*"]
  }
}
"""

# "  # aws_ssmcontacts_contact.dave will be created" in a plan's text.
PLANNED = re.compile(r"^  # (\S+) (?:will be|must be) (created|updated in-place|replaced|destroyed"
                     r"|read during apply)", re.MULTILINE)

ROUND_TWO: dict[str, object] = {
    "alice_display_name": "Alice Renamed",
    "escalation_tier": "second",
    "email_channel_name": "alice-work-email",
    "escalation_first_minutes": 15,
    "daily_members": ["bob", "alice"],
    "daily_start_time": "2030-02-03T21:00:00Z",
    "weekly_time_zone": "Europe/Berlin",
    "weekly_start_time": "2030-01-07T03:00:00Z",
    "monthly_members": ["alice", "bob"],
}


@dataclass
class Terraform:
    """``terraform`` in one working directory, offline, with the provider from the mirror."""

    directory: Path
    env: dict[str, str]
    timings: list[tuple[str, float]] = field(default_factory=list)

    def run(self, *args: str, codes: tuple[int, ...] = (0,),
            env: dict[str, str] | None = None) -> str:
        assert TERRAFORM is not None
        command = [TERRAFORM, *args]
        started = time.monotonic()
        done = subprocess.run(command, cwd=self.directory, env={**self.env, **(env or {})},
                              capture_output=True, text=True, timeout=240)
        self.timings.append((f"{self.directory.name}: {' '.join(args[:1])}",
                             time.monotonic() - started))
        assert done.returncode in codes, (
            f"terraform {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def init(self) -> None:
        self.run("init", "-input=false", "-no-color")

    def apply(self, *args: str) -> str:
        return self.run("apply", "-input=false", "-no-color", "-auto-approve", *args)

    def plan(self, *args: str, codes: tuple[int, ...] = (0,)) -> str:
        return self.run("plan", "-input=false", "-no-color", "-refresh=true",
                        "-detailed-exitcode", *args, codes=codes)

    def outputs(self) -> dict[str, Any]:
        values = json.loads(self.run("output", "-json", "-no-color"))
        return {name: value["value"] for name, value in values.items()}


def terraform_env(directory: Path, server: ServerProcess, account: str) -> dict[str, str]:
    """The environment without the caller's AWS or Terraform settings, offline."""
    cli_config = directory / "cli.tfrc"
    cli_config.write_text(CLI_CONFIG % MIRROR)
    cache = Path(os.environ.get("TF_PLUGIN_CACHE_DIR") or directory / "plugin-cache")
    cache.mkdir(parents=True, exist_ok=True)
    dropped = ("AWS_", "TF_", "GOGC", "GOMEMLIMIT")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    # GOGC=400: the provider (a 700 MB Go binary, started three times a command) builds every
    # schema of AWS at start; fewer collections cut its CPU by a third (peak RSS ~550 MB
    # instead of ~400 MB).
    env.update(GOGC="400", TF_CLI_CONFIG_FILE=str(cli_config), TF_PLUGIN_CACHE_DIR=str(cache),
               TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1", TF_INPUT="0",
               TF_VAR_endpoint=server.url, TF_VAR_account=account)
    return env


@dataclass
class Stack:
    server: ServerProcess
    account: str
    main: Terraform
    imported: Terraform
    client: Any
    done: set[str] = field(default_factory=set)

    def after(self, step: str) -> None:
        if step not in self.done:
            pytest.skip(f"needs the step {step!r}, which failed")

    def contacts(self) -> dict[str, dict[str, Any]]:
        found = self.client.list_contacts()["Contacts"]
        return {c["Alias"]: c for c in found}

    def rotation(self, name: str) -> dict[str, Any]:
        for summary in self.client.list_rotations()["Rotations"]:
            if summary["Name"] == name:
                found: dict[str, Any] = self.client.get_rotation(
                    RotationId=summary["RotationArn"])
                return found
        raise AssertionError(f"no rotation {name!r}")


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest) -> ServerProcess:
    """The session's SQLite server, or its PostgreSQL one with TERRAFORM_TEST_DATABASE=postgresql
    (one more full run, about as long again: not done by default)."""
    wanted = os.environ.get("TERRAFORM_TEST_DATABASE", "sqlite")
    name = {"sqlite": "sqlite_server", "postgresql": "postgres_server"}[wanted]
    found: ServerProcess = request.getfixturevalue(name)
    return found


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, server: ServerProcess) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("terraform")
    account = new_account()
    env = terraform_env(root, server, account)
    folders = {}
    for name in ("stack", "imported"):
        folders[name] = Terraform(root / name, env)
        shutil.copytree(CONFIGS / name, root / name)
    client = boto3.client("ssm-contacts", endpoint_url=server.url, region_name="us-east-1",
                          aws_access_key_id=account, aws_secret_access_key="unused",
                          config=Config(retries={"total_max_attempts": 1}))
    built = Stack(server, account, folders["stack"], folders["imported"], client)
    yield built
    timings = built.main.timings + built.imported.timings
    print("\nterraform timings: " + ", ".join(f"{what} {seconds:.1f}s"
                                              for what, seconds in timings)
          + f"; total {sum(seconds for _, seconds in timings):.1f}s")


def planned(text: str) -> dict[str, str]:
    return {address: action for address, action in PLANNED.findall(text)}


def test_apply_then_plan_is_empty(stack: Stack) -> None:
    stack.main.init()
    stack.main.apply()
    stack.main.plan()

    outputs = stack.main.outputs()
    assert outputs["contact"] == {
        "alias": "alice", "type": "PERSONAL", "display_name": "Alice Example",
        "tags": {"role": "primary", "team": "operations"}}
    assert outputs["channel"] == {
        "name": "alice-sms", "type": "SMS", "delivery_address": "+12065550100"}
    arns = outputs["arns"]
    assert outputs["plan"] == [{"minutes": 5, "contacts": [arns["alice"]]},
                               {"minutes": 10, "contacts": [
                                   arns["alice"].replace("/alice", "/bob")]}]
    assert outputs["rotation"] == {
        "name": "daily", "contact_ids": [arns["alice"], arns["alice"].replace("/alice", "/bob")],
        "start_time": "2030-01-06T21:00:00Z", "time_zone_id": "Australia/Sydney",
        "coverage_days": ["FRI", "MON"], "tags": {"kind": "daily", "team": "operations"}}

    contacts = stack.contacts()
    assert {alias: c["Type"] for alias, c in contacts.items()} == {
        "alice": "PERSONAL", "bob": "PERSONAL", "dave": "PERSONAL", "escalation": "ESCALATION"}
    tags = stack.client.list_tags_for_resource(ResourceARN=contacts["escalation"]["ContactArn"])
    assert {t["Key"]: t["Value"] for t in tags["Tags"]} == {"tier": "first", "team": "operations"}
    assert "StartTime" not in stack.rotation("weekly")
    stack.done.add("apply")


def test_changes_and_deletion_outside_terraform(stack: Stack) -> None:
    stack.after("apply")
    dave = stack.contacts()["dave"]["ContactArn"]
    stack.client.delete_contact(ContactId=dave)
    (stack.main.directory / "terraform.tfvars.json").write_text(json.dumps(ROUND_TWO))

    # apply prints its plan first; a plan -out and an apply of it would cost one more run.
    shown = stack.main.apply()
    assert {k: v for k, v in planned(shown).items() if not k.startswith("data.")} == {
        "aws_ssmcontacts_contact.dave": "created",
        "aws_ssmcontacts_contact_channel.dave_sms": "created",
        "aws_ssmcontacts_contact.alice": "updated in-place",
        "aws_ssmcontacts_contact.escalation": "updated in-place",
        "aws_ssmcontacts_contact_channel.alice_email": "updated in-place",
        "aws_ssmcontacts_plan.escalation": "updated in-place",
        "aws_ssmcontacts_rotation.daily": "updated in-place",
        "aws_ssmcontacts_rotation.weekly": "updated in-place",
        "aws_ssmcontacts_rotation.monthly": "updated in-place",
    }, shown
    stack.main.plan()

    outputs = stack.main.outputs()
    arns = outputs["arns"]
    bob = arns["alice"].replace("/alice", "/bob")
    assert outputs["contact"]["display_name"] == "Alice Renamed"
    tags = stack.client.list_tags_for_resource(ResourceARN=arns["escalation"])["Tags"]
    assert {t["Key"]: t["Value"] for t in tags} == {"tier": "second", "team": "operations"}
    assert outputs["plan"][0] == {"minutes": 15, "contacts": [arns["alice"]]}
    assert outputs["rotation"]["contact_ids"] == [bob, arns["alice"]]
    assert outputs["rotation"]["start_time"] == "2030-02-03T21:00:00Z"
    assert arns["dave"] == dave
    weekly = stack.rotation("weekly")
    assert weekly["TimeZoneId"] == "Europe/Berlin"
    assert weekly["StartTime"].timestamp() == 1893985200  # 2030-01-07T03:00:00Z
    assert stack.rotation("monthly")["ContactIds"] == [arns["alice"], bob]
    channels = stack.client.list_contact_channels(ContactId=arns["alice"])["ContactChannels"]
    assert sorted(c["Name"] for c in channels) == ["alice-sms", "alice-work-email"]
    stack.done.add("changes")


def test_import_by_arn_into_a_fresh_state(stack: Stack) -> None:
    stack.after("changes")
    alice = stack.contacts()["alice"]["ContactArn"]
    name = {"TF_VAR_display_name": str(ROUND_TWO["alice_display_name"])}
    stack.imported.init()
    stack.imported.run("import", "-input=false", "-no-color", "aws_ssmcontacts_contact.alice",
                       alice, env=name)
    stack.imported.run("plan", "-input=false", "-no-color", "-refresh=true",
                       "-detailed-exitcode", env=name)


def test_destroy_leaves_nothing(stack: Stack) -> None:
    stack.after("apply")
    stack.main.run("destroy", "-input=false", "-no-color", "-auto-approve")
    assert stack.client.list_contacts()["Contacts"] == []
    assert stack.client.list_rotations()["Rotations"] == []
