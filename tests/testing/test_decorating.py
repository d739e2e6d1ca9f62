"""Decorating as moto users do: classes (set-up and tear-down included), a mock object used as
the decorator, coroutines, and nesting (decisions §4, §5)."""

from __future__ import annotations

import asyncio
import unittest
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from incident_contacts.testing import SsmContactsMock, mock_ssm_contacts


def _client() -> Any:
    return boto3.client("ssm-contacts", region_name="us-east-1")


def _aliases() -> list[str]:
    return [c["Alias"] for c in _client().list_contacts()["Contacts"]]


def _contact(alias: str) -> str:
    arn: str = _client().create_contact(Alias=alias, Type="PERSONAL",
                                        Plan={"Stages": []})["ContactArn"]
    return arn


def _email(contact: str) -> str:
    arn: str = _client().create_contact_channel(
        ContactId=contact, Name="mail", Type="EMAIL",
        DeliveryAddress={"SimpleAddress": "akua@example.com"})["ContactChannelArn"]
    return arn


# What the tear-downs below saw, checked by the test after them.
torn_down: list[list[str]] = []


@mock_ssm_contacts
class TestTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.contact = _contact("from-setup")

    def tearDown(self) -> None:
        torn_down.append(_aliases())
        _client().delete_contact(ContactId=self.contact)

    def test_sees_what_set_up_made(self) -> None:
        _contact("from-test")
        self.assertEqual(_aliases(), ["from-setup", "from-test"])

    def test_each_test_starts_fresh(self) -> None:
        self.assertEqual(_aliases(), ["from-setup"])


def test_test_case_tear_down_ran_inside_the_mock() -> None:
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(TestTestCase)
    torn_down.clear()
    result = unittest.TextTestRunner(stream=_Null(), verbosity=0).run(suite)
    assert result.wasSuccessful(), result.errors + result.failures
    assert sorted(torn_down) == [["from-setup"], ["from-setup", "from-test"]]


class _Null:
    def write(self, _text: str) -> None:
        pass

    def flush(self) -> None:
        pass


@mock_ssm_contacts
class TestPlainClass:
    def setup_method(self, method: Any) -> None:
        self.method = method.__name__
        self.contact = _contact("from-setup")

    def teardown_method(self) -> None:
        _client().delete_contact(ContactId=self.contact)

    @pytest.fixture(autouse=True)
    def made_by_a_fixture(self) -> Iterator[None]:
        _contact("from-fixture")
        yield
        assert "from-fixture" in _aliases()

    def test_sees_what_set_up_and_fixtures_made(self) -> None:
        assert self.method == "test_sees_what_set_up_and_fixtures_made"
        assert _aliases() == ["from-fixture", "from-setup"]

    @pytest.mark.parametrize("alias", ["one", "two"])
    def test_parametrized_tests_start_fresh(self, alias: str) -> None:
        _contact(alias)
        assert _aliases() == ["from-fixture", "from-setup", alias]


@mock_ssm_contacts
class TestPlainClassWithoutSetUp:
    def test_called_without_pytest_too(self) -> None:
        _contact("alone")
        assert _aliases() == ["alone"]


def test_plain_class_methods_work_when_called_directly() -> None:
    TestPlainClassWithoutSetUp().test_called_without_pytest_too()
    case = TestPlainClass()
    case.setup_method(TestPlainClass.test_sees_what_set_up_and_fixtures_made)
    try:   # the set-up's mock stays active until the tear-down
        assert _aliases() == ["from-setup"]
    finally:
        case.teardown_method()
    with mock_ssm_contacts():
        assert _aliases() == []


def test_a_failing_set_up_leaves_no_mock_behind() -> None:
    @mock_ssm_contacts
    class Broken:
        def setup_method(self) -> None:
            raise RuntimeError("set-up failed")

    with pytest.raises(RuntimeError):
        Broken().setup_method(None)  # type: ignore[call-arg]
    with pytest.raises(RuntimeError, match="not active"):
        SsmContactsMock().messages()
    from incident_contacts.testing import mock as module
    assert module._active == []


contacts = mock_ssm_contacts()


@contacts
def test_the_decorating_object_reads_the_mock() -> None:
    channel = _email(_contact("akuam"))
    [message] = contacts.messages(ContactChannelArn=channel)
    assert message["Purpose"] == "ACTIVATION"
    contacts.clock.advance(60)


@contacts
def test_the_decorating_object_is_fresh_for_each_test() -> None:
    assert _aliases() == [] and contacts.messages() == []


def test_a_coroutine_runs_inside_the_mock() -> None:
    @mock_ssm_contacts
    async def provision() -> list[str]:
        await asyncio.sleep(0)
        _contact("async")
        return _aliases()

    assert asyncio.iscoroutinefunction(provision)
    assert asyncio.run(provision()) == ["async"]


@pytest.fixture
@mock_ssm_contacts
def provisioned() -> Iterator[str]:
    contact = _contact("from-fixture")
    yield contact
    _client().delete_contact(ContactId=contact)   # still inside the mock


def test_a_decorated_generator_fixture_keeps_the_mock_until_its_end(provisioned: str) -> None:
    assert provisioned.endswith(":contact/from-fixture")
    assert _aliases() == ["from-fixture"]


def test_nested_mocks_share_one_state(ssm_contacts: SsmContactsMock) -> None:
    @mock_ssm_contacts
    def provision() -> str:
        return _email(_contact("akuam"))

    channel = provision()
    # The fixture's object sees what the decorated function did, and the state outlives it.
    assert [m["ContactChannelArn"] for m in ssm_contacts.messages()] == [channel]
    with mock_ssm_contacts() as inner:
        assert _aliases() == ["akuam"]
        inner.clock.advance(120)
    assert ssm_contacts.clock.now() == inner.clock.now()
    assert _aliases() == ["akuam"]


def test_the_same_mock_entered_twice_stops_at_the_last_exit() -> None:
    mock = mock_ssm_contacts()
    with mock:
        with mock:
            _contact("twice")
        assert _aliases() == ["twice"]
    with pytest.raises(RuntimeError, match="not active"):
        mock.messages()


def test_a_mock_with_settings_of_its_own_is_apart(ssm_contacts: SsmContactsMock) -> None:
    from incident_contacts.config import Settings

    _contact("outer")
    with mock_ssm_contacts(settings=Settings(quota_contacts=5)):
        assert _aliases() == []
    assert _aliases() == ["outer"]


def test_reading_a_stopped_mock_says_so() -> None:
    with mock_ssm_contacts() as mock:
        _email(_contact("akuam"))
        assert len(mock.messages()) == 1
    for read in (mock.messages, mock.clear_messages, lambda: mock.engagement_events("x")):
        with pytest.raises(RuntimeError, match="not active"):
            read()
