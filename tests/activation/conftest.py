"""The local SMTP server and fake Twilio of the delivery tests, used here end to end."""

from tests.delivery.conftest import fake_twilio, smtp_server_factory

__all__ = ["fake_twilio", "smtp_server_factory"]
