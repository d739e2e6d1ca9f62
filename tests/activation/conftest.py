"""The local SMTP server, fake Twilio, webhook receiver and fake SNS of the delivery tests, used
here end to end."""

from tests.delivery.conftest import fake_sns, fake_twilio, fake_webhook, smtp_server_factory

__all__ = ["fake_sns", "fake_twilio", "fake_webhook", "smtp_server_factory"]
