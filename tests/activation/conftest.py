"""The local SMTP server, fake Twilio and webhook receiver of the delivery tests, used here end
to end."""

from tests.delivery.conftest import fake_twilio, fake_webhook, smtp_server_factory

__all__ = ["fake_twilio", "fake_webhook", "smtp_server_factory"]
