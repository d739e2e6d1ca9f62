"""Test support: the in-process mock and the pytest plugin."""

from incident_contacts.testing.mock import SsmContactsMock, mock_ssm_contacts

__all__ = ["SsmContactsMock", "mock_ssm_contacts"]
