"""The in-process mock and the pytest plugin, as users meet them (decisions §4, §5)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError

from incident_contacts.config import Settings
from incident_contacts.testing import SsmContactsMock, mock_ssm_contacts
from incident_contacts.testing.mock import _RawBody


def _contact(alias: str = "akuam") -> str:
    client = boto3.client("ssm-contacts", region_name="us-east-1")
    arn: str = client.create_contact(Alias=alias, Type="PERSONAL",
                                     Plan={"Stages": []})["ContactArn"]
    return arn


def test_the_pytest_fixture(ssm_contacts: SsmContactsMock) -> None:
    client = boto3.client("ssm-contacts", region_name="us-east-1")
    contact = _contact()
    channel = client.create_contact_channel(
        ContactId=contact, Name="mail", Type="EMAIL",
        DeliveryAddress={"SimpleAddress": "akua@example.com"})["ContactChannelArn"]
    [message] = ssm_contacts.messages(ContactChannelArn=channel)
    assert message["Purpose"] == "ACTIVATION"
    assert message["DeliveryStatus"] == "SENT"
    client.activate_contact_channel(ContactChannelId=channel,
                                    ActivationCode=message["ActivationCode"])
    assert client.get_contact_channel(
        ContactChannelId=channel)["ActivationStatus"] == "ACTIVATED"


@mock_ssm_contacts
def test_bare_decorator() -> None:
    assert _contact().endswith(":contact/akuam")


@mock_ssm_contacts()
def test_called_decorator() -> None:
    assert _contact().endswith(":contact/akuam")


@mock_ssm_contacts
class TestDecoratedClass:
    def test_one(self) -> None:
        _contact("one")
        client = boto3.client("ssm-contacts", region_name="us-east-1")
        assert [c["Alias"] for c in client.list_contacts()["Contacts"]] == ["one"]

    def test_two_starts_fresh(self) -> None:
        _contact("two")
        client = boto3.client("ssm-contacts", region_name="us-east-1")
        assert [c["Alias"] for c in client.list_contacts()["Contacts"]] == ["two"]


def test_each_mock_has_a_fresh_store() -> None:
    with mock_ssm_contacts():
        _contact()
    with mock_ssm_contacts():
        client = boto3.client("ssm-contacts", region_name="us-east-1")
        assert client.list_contacts()["Contacts"] == []


def test_works_without_credentials_and_restores_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE",
                 "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with mock_ssm_contacts():
        assert _contact().startswith("arn:aws:ssm-contacts:us-east-1:000000000000:")
    assert "AWS_ACCESS_KEY_ID" not in os.environ


def test_the_account_rule_is_the_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    with mock_ssm_contacts():
        client = boto3.client("ssm-contacts", region_name="eu-west-1",
                              aws_access_key_id="111122223333", aws_secret_access_key="x")
        arn = client.create_contact(Alias="a", Type="PERSONAL", Plan={"Stages": []})["ContactArn"]
        assert arn == "arn:aws:ssm-contacts:eu-west-1:111122223333:contact/a"


def test_other_services_are_not_intercepted() -> None:
    seen: list[str] = []

    def canned(request: object, **_kwargs: object) -> AWSResponse:
        seen.append("ssm")
        return AWSResponse("https://ssm", 200, {"content-type": "application/x-amz-json-1.1"},
                           _RawBody(b'{"Parameter": {"Name": "p", "Value": "v"}}'))

    with mock_ssm_contacts():
        ssm = boto3.client("ssm", region_name="us-east-1")
        ssm.meta.events.register("before-send", canned)
        assert ssm.get_parameter(Name="p")["Parameter"]["Value"] == "v"
    assert seen == ["ssm"]


def test_clock_advance_runs_due_work(ssm_contacts: SsmContactsMock) -> None:
    client = boto3.client("ssm-contacts", region_name="us-east-1")
    contact = _contact()
    channel = client.create_contact_channel(
        ContactId=contact, Name="phone", Type="SMS",
        DeliveryAddress={"SimpleAddress": "+15005550199"})["ContactChannelArn"]
    code = ssm_contacts.messages(ContactChannelArn=channel)[-1]["ActivationCode"]
    client.activate_contact_channel(ContactChannelId=channel, ActivationCode=code)
    client.update_contact(ContactId=contact, Plan={"Stages": [
        {"DurationInMinutes": 5, "Targets": [{"ChannelTargetInfo": {"ContactChannelId": channel}}]},
        {"DurationInMinutes": 5, "Targets": [{"ChannelTargetInfo": {"ContactChannelId": channel}}]},
    ]})
    client.start_engagement(ContactId=contact, Sender="cli", Subject="s", Content="c")
    pages = [m for m in ssm_contacts.messages() if m["Purpose"] == "PAGE"]
    assert len(pages) == 1
    ssm_contacts.clock.advance(5 * 60)
    pages = [m for m in ssm_contacts.messages() if m["Purpose"] == "PAGE"]
    assert len(pages) == 2
    assert all(m["DeliveryStatus"] == "SENT" for m in pages)


def test_messages_have_the_endpoint_fields(ssm_contacts: SsmContactsMock) -> None:
    client = boto3.client("ssm-contacts", region_name="us-east-1")
    client.create_contact_channel(
        ContactId=_contact(), Name="phone", Type="VOICE",
        DeliveryAddress={"SimpleAddress": "+15005550199"})
    [message] = ssm_contacts.messages()
    assert set(message) == {"MessageId", "ContactChannelArn", "ChannelType", "DeliveryAddress",
                            "Purpose", "ActivationCode", "Body", "CreatedTime",
                            "DeliveryStatus"}
    assert message["ChannelType"] == "VOICE"
    assert message["DeliveryAddress"] == "+15005550199"


def test_settings_given_keep_throttling_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from incident_contacts.config import Settings

    # The mock's clock stands still: a bucket emptied at the default rate would never refill.
    with mock_ssm_contacts(settings=Settings(default_account="123456789012")):
        client = boto3.client("ssm-contacts", region_name="us-east-1",
                              config=Config(retries={"total_max_attempts": 1}))
        for _ in range(Settings.throttle_burst + 20):
            client.list_contacts()
        assert _contact().split(":")[4] == "123456789012"
    # A rate of one's own throttles, and moving the clock refills.
    with mock_ssm_contacts(settings=Settings(throttle_rate=1, throttle_burst=2)) as mock:
        client = boto3.client("ssm-contacts", region_name="us-east-1",
                              config=Config(retries={"total_max_attempts": 1}))
        client.list_contacts()
        client.list_contacts()
        with pytest.raises(ClientError) as info:
            client.list_contacts()
        assert info.value.response["Error"]["Code"] == "ThrottlingException"
        mock.clock.advance(1)
        client.list_contacts()


@pytest.mark.usefixtures("profile_needing_a_process")
def test_a_profile_whose_credentials_need_a_process_is_not_asked() -> None:
    # A developer's shell exporting AWS_PROFILE (SSO, a role, a credential process): as
    # under moto, the mock's dummy keys come first and the profile's are never fetched.
    with mock_ssm_contacts():
        client = boto3.session.Session().client("ssm-contacts")
        arn = client.create_contact(Alias="a", Type="PERSONAL", Plan={"Stages": []})["ContactArn"]
        assert arn.startswith("arn:aws:ssm-contacts:eu-west-1:000000000000:")
    assert "AWS_ACCESS_KEY_ID" not in os.environ


def test_keys_set_between_mocks_pick_the_account(monkeypatch: pytest.MonkeyPatch) -> None:
    # boto3's default session keeps the first credentials it resolves: the dummy keys of one
    # mock must neither outlive it nor hide keys set in the environment afterwards.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE",
                 "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with mock_ssm_contacts():
        assert _contact().split(":")[4] == "000000000000"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "111122223333")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    with mock_ssm_contacts():
        assert _contact().split(":")[4] == "111122223333"
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with mock_ssm_contacts():
        assert _contact().split(":")[4] == "000000000000"


def test_a_key_id_alone_picks_the_account(monkeypatch: pytest.MonkeyPatch) -> None:
    # The account rule lets a developer pick the account with the key id alone; botocore
    # refuses half a key pair (PartialCredentialsError), so the mock supplies the secret
    # while it runs, and only then.
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "111122223333")
    with mock_ssm_contacts():
        assert _contact().split(":")[4] == "111122223333"
    assert "AWS_SECRET_ACCESS_KEY" not in os.environ
    assert os.environ["AWS_ACCESS_KEY_ID"] == "111122223333"


@pytest.mark.parametrize(("settings", "named"), [
    (Settings(default_account="12"), "DEFAULT_ACCOUNT"),
    (Settings(activation_code_ttl=0), "ACTIVATION_CODE_TTL"),
    (Settings(activation_send_limit=0), "ACTIVATION_SEND_LIMIT"),
])
def test_settings_the_server_would_refuse_are_refused(settings: Settings, named: str) -> None:
    # As the server refuses them at start: unchecked, they made ARNs no request can name
    # again, or codes that expire at once, or a limit no code gets under.
    with pytest.raises(ValueError, match=named):
        mock_ssm_contacts(settings=settings)


def test_a_client_in_another_thread_reaches_the_mock(ssm_contacts: SsmContactsMock) -> None:
    contact = _contact()

    def work(n: int) -> str:
        client = boto3.client("ssm-contacts", region_name="us-east-1")
        arn: str = client.create_contact_channel(
            ContactId=contact, Name=f"mail {n}", Type="EMAIL",
            DeliveryAddress={"SimpleAddress": f"akua{n}@example.com"})["ContactChannelArn"]
        return arn

    with ThreadPoolExecutor(4) as pool:
        channels = set(pool.map(work, range(12)))
    assert {m["ContactChannelArn"] for m in ssm_contacts.messages()} == channels


def test_the_clock_starts_at_a_given_time() -> None:
    """A test of fixed dates: who is on call on Monday 4 January 2027 at 10:00 in Accra."""
    monday = datetime(2027, 1, 4, 10, 0, tzinfo=UTC)
    with mock_ssm_contacts(start_time=monday) as contacts:
        assert contacts.clock.now() == monday.timestamp()
        client = boto3.client("ssm-contacts", region_name="us-east-1")
        people = [client.create_contact(Alias=alias, Type="PERSONAL", Plan={"Stages": []})
                  ["ContactArn"] for alias in ("ama", "kofi")]
        rotation = client.create_rotation(
            Name="week", ContactIds=people, TimeZoneId="Africa/Accra",
            StartTime=datetime(2027, 1, 1, 9, tzinfo=UTC),
            Recurrence={"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
                        "DailySettings": [{"HourOfDay": 9, "MinuteOfHour": 0}]},
        )["RotationArn"]
        shifts = client.list_rotation_shifts(
            RotationId=rotation, EndTime=datetime(2027, 1, 5, tzinfo=UTC),
            MaxResults=1)["RotationShifts"]
        # 1 Jan ama, 2 Jan kofi, 3 Jan ama, 4 Jan (from 09:00) kofi
        assert shifts[0]["ContactIds"] == [people[1]]
        assert shifts[0]["StartTime"] == datetime(2027, 1, 4, 9, tzinfo=UTC)
        contacts.clock.advance(86400)
        assert contacts.clock.now() == monday.timestamp() + 86400
    assert SsmContactsMock(start_time=1_800_000_000.1234)._start_time == 1_800_000_000.123


@pytest.mark.parametrize("start_time", [datetime(2027, 1, 4, 10), float("nan"), -1.0, "2027"])
def test_a_start_time_that_names_no_instant_is_refused(start_time: object) -> None:
    with pytest.raises(ValueError, match="start_time"):
        mock_ssm_contacts(start_time=start_time)  # type: ignore[arg-type]


def test_a_mock_with_a_start_time_nested_in_another_keeps_its_own_clock() -> None:
    with mock_ssm_contacts() as outer:
        with mock_ssm_contacts(start_time=1_800_000_000) as inner:
            assert inner.clock.now() == 1_800_000_000
        assert outer.clock.now() != 1_800_000_000
