"""The pytest plugin (entry point ``pytest11``): the ``ssm_contacts`` fixture.

::

    def test_paging(ssm_contacts):
        client = boto3.client("ssm-contacts", region_name="us-east-1")
        ...
        assert ssm_contacts.messages()
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from incident_contacts.testing.mock import SsmContactsMock, mock_ssm_contacts


@pytest.fixture
def ssm_contacts() -> Iterator[SsmContactsMock]:
    """An active in-process mock of ssm-contacts, fresh for each test."""
    with mock_ssm_contacts() as mock:
        yield mock
