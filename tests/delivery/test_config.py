from __future__ import annotations

import pytest

from incident_contacts.config import from_environ
from incident_contacts.delivery import (
    DeliverySettings,
    RecordingTransport,
    SmsVoiceTransport,
    SmtpTransport,
    SnsTransport,
    TwilioTransport,
    WebhookTransport,
    build_transports,
)
from incident_contacts.server import delivery_settings

TWILIO = {
    "INCIDENT_CONTACTS_TWILIO_ACCOUNT_SID": "AC123",
    "INCIDENT_CONTACTS_TWILIO_AUTH_TOKEN": "secret",
    "INCIDENT_CONTACTS_TWILIO_FROM": "+15005550006",
}
SMTP = {
    "INCIDENT_CONTACTS_SMTP_URL": "smtp://u:p@mail.example.com:587?starttls=true",
    "INCIDENT_CONTACTS_EMAIL_FROM": "contacts@example.com",
}


def test_nothing_configured_records_everything() -> None:
    transports = build_transports(DeliverySettings.from_environ({}))
    assert set(transports) == {"SMS", "VOICE", "EMAIL"}
    assert all(isinstance(t, RecordingTransport) for t in transports.values())


def test_everything_configured() -> None:
    settings = DeliverySettings.from_environ(
        {**SMTP, **TWILIO, "INCIDENT_CONTACTS_TWILIO_BASE_URL": "http://127.0.0.1:9/"}
    )
    transports = build_transports(settings)
    email, sms, voice = transports["EMAIL"], transports["SMS"], transports["VOICE"]
    assert isinstance(email, SmtpTransport)
    assert email.settings.starttls and email.settings.port == 587
    assert isinstance(sms, TwilioTransport) and sms is voice
    assert sms.base_url == "http://127.0.0.1:9"
    sms.close()


def test_only_email_configured() -> None:
    transports = build_transports(DeliverySettings.from_environ(SMTP))
    assert isinstance(transports["EMAIL"], SmtpTransport)
    assert isinstance(transports["SMS"], RecordingTransport)


def test_twilio_defaults_to_twilio() -> None:
    transports = build_transports(DeliverySettings.from_environ(TWILIO))
    sms = transports["SMS"]
    assert isinstance(sms, TwilioTransport)
    assert sms.base_url == "https://api.twilio.com"
    assert isinstance(transports["EMAIL"], RecordingTransport)
    sms.close()


def test_empty_values_count_as_unset() -> None:
    settings = DeliverySettings.from_environ({"INCIDENT_CONTACTS_SMTP_URL": ""})
    assert settings.smtp_url is None


def test_smtp_without_sender_is_refused() -> None:
    with pytest.raises(ValueError, match="INCIDENT_CONTACTS_EMAIL_FROM"):
        build_transports(DeliverySettings(smtp_url="smtp://h"))


def test_partial_twilio_is_refused() -> None:
    with pytest.raises(ValueError, match="INCIDENT_CONTACTS_TWILIO_AUTH_TOKEN"):
        build_transports(DeliverySettings(twilio_account_sid="AC1", twilio_from="+1"))


def test_secrets_stay_out_of_repr() -> None:
    settings = DeliverySettings(smtp_url="smtp://u:hunter2@h", twilio_auth_token="tok3n")
    assert "hunter2" not in repr(settings) and "tok3n" not in repr(settings)


WEBHOOK = {"INCIDENT_CONTACTS_WEBHOOK_URL": "https://relay.example.com/hook?token=s3cret"}


def test_a_webhook_takes_the_types_left() -> None:
    transports = build_transports(DeliverySettings.from_environ({**SMTP, **WEBHOOK}))
    assert isinstance(transports["EMAIL"], SmtpTransport)
    assert isinstance(transports["SMS"], WebhookTransport)
    assert transports["SMS"] is transports["VOICE"]
    transports["SMS"].close()


def test_a_webhook_takes_the_types_it_is_given() -> None:
    transports = build_transports(DeliverySettings.from_environ(
        {**WEBHOOK, "INCIDENT_CONTACTS_WEBHOOK_TYPES": "sms, voice"}))
    assert isinstance(transports["SMS"], WebhookTransport)
    assert isinstance(transports["VOICE"], WebhookTransport)
    assert isinstance(transports["EMAIL"], RecordingTransport)


@pytest.mark.parametrize(("environ", "said"), [
    ({**WEBHOOK, "INCIDENT_CONTACTS_WEBHOOK_TYPES": "PIGEON"}, "'PIGEON' is not one of"),
    ({**WEBHOOK, **TWILIO, "INCIDENT_CONTACTS_WEBHOOK_TYPES": "SMS"}, "which Twilio already"),
    ({**WEBHOOK, **SMTP, "INCIDENT_CONTACTS_WEBHOOK_TYPES": "EMAIL"}, "which SMTP already"),
    ({"INCIDENT_CONTACTS_WEBHOOK_SECRET": "x"}, "INCIDENT_CONTACTS_WEBHOOK_URL is not"),
    ({"INCIDENT_CONTACTS_WEBHOOK_URL": "ftp://relay.example.com/"}, "http:// or https://"),
])
def test_a_webhook_configured_wrong_is_refused(environ: dict[str, str], said: str) -> None:
    with pytest.raises(ValueError, match=said):
        build_transports(DeliverySettings.from_environ(environ))


def test_webhook_secrets_stay_out_of_repr() -> None:
    settings = DeliverySettings.from_environ(
        {**WEBHOOK, "INCIDENT_CONTACTS_WEBHOOK_SECRET": "hmac-key"})
    assert "s3cret" not in repr(settings) and "hmac-key" not in repr(settings)


SNS = {"INCIDENT_CONTACTS_SNS_REGION": "eu-west-1",
       "INCIDENT_CONTACTS_SNS_ENDPOINT_URL": "http://127.0.0.1:9"}


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDCONFIGTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")


@pytest.mark.usefixtures("aws_credentials")
def test_sns_takes_sms_and_the_webhook_what_is_left() -> None:
    transports = build_transports(DeliverySettings.from_environ({**SNS, **SMTP, **WEBHOOK}))
    assert isinstance(transports["SMS"], SnsTransport)
    assert isinstance(transports["EMAIL"], SmtpTransport)
    assert isinstance(transports["VOICE"], WebhookTransport)
    transports["SMS"].close()   # type: ignore[attr-defined]


@pytest.mark.usefixtures("aws_credentials")
@pytest.mark.parametrize(("environ", "said"), [
    ({**SNS, **TWILIO}, "SMS is sent by Twilio"),
    ({"INCIDENT_CONTACTS_SNS_SENDER_ID": "OnCall"}, "missing INCIDENT_CONTACTS_SNS_REGION"),
    ({**SNS, "INCIDENT_CONTACTS_SNS_SMS_TYPE": "Urgent"},
     "INCIDENT_CONTACTS_SNS_SMS_TYPE must be one of Transactional, Promotional, not 'Urgent'"),
    ({**SNS, **WEBHOOK, "INCIDENT_CONTACTS_WEBHOOK_TYPES": "SMS"}, "which SNS already sends"),
])
def test_sns_configured_wrong_is_refused(environ: dict[str, str], said: str) -> None:
    with pytest.raises(ValueError, match=said):
        build_transports(DeliverySettings.from_environ(environ))


SMS_VOICE = {"INCIDENT_CONTACTS_SMS_VOICE_REGION": "eu-central-1",
             "INCIDENT_CONTACTS_SMS_VOICE_ENDPOINT_URL": "http://127.0.0.1:9",
             "INCIDENT_CONTACTS_SMS_VOICE_ORIGINATION_IDENTITY": "pool-0123456789abcdef"}


def test_end_user_messaging_settings_are_read_from_the_environment() -> None:
    environ = {**SMS_VOICE,
               "INCIDENT_CONTACTS_SMS_VOICE_CONFIGURATION_SET": "oncall-events",
               "INCIDENT_CONTACTS_SMS_VOICE_MESSAGE_TYPE": "PROMOTIONAL",
               "INCIDENT_CONTACTS_SMS_VOICE_VOICE_ID": "JOANNA",
               "INCIDENT_CONTACTS_SMS_VOICE_TYPES": "VOICE"}
    expected = {
        "sms_voice_region": "eu-central-1", "sms_voice_endpoint_url": "http://127.0.0.1:9",
        "sms_voice_origination_identity": "pool-0123456789abcdef",
        "sms_voice_configuration_set": "oncall-events", "sms_voice_message_type": "PROMOTIONAL",
        "sms_voice_voice_id": "JOANNA", "sms_voice_types": "VOICE"}
    assert DeliverySettings.from_environ(environ) == DeliverySettings(**expected)
    # The server's settings read the same variables and hand them on.
    handed_on = delivery_settings(from_environ(environ))
    assert {name: getattr(handed_on, name) for name in expected} == expected


@pytest.mark.usefixtures("aws_credentials")
def test_named_values_are_taken_in_any_case() -> None:
    transports = build_transports(DeliverySettings.from_environ({
        **SNS, "INCIDENT_CONTACTS_SNS_SMS_TYPE": "promotional",
        **SMS_VOICE, "INCIDENT_CONTACTS_SMS_VOICE_TYPES": "VOICE",
        "INCIDENT_CONTACTS_SMS_VOICE_VOICE_ID": "joanna",
        "INCIDENT_CONTACTS_SMS_VOICE_MESSAGE_TYPE": "promotional"}))
    assert isinstance(transports["SMS"], SnsTransport)
    assert isinstance(transports["VOICE"], SmsVoiceTransport)
    for transport in {transports["SMS"], transports["VOICE"]}:
        transport.close()   # type: ignore[attr-defined]


@pytest.mark.usefixtures("aws_credentials")
def test_end_user_messaging_takes_sms_and_voice() -> None:
    transports = build_transports(DeliverySettings.from_environ({**SMS_VOICE, **SMTP}))
    assert isinstance(transports["SMS"], SmsVoiceTransport)
    assert transports["VOICE"] is transports["SMS"]
    assert isinstance(transports["EMAIL"], SmtpTransport)
    transports["SMS"].close()   # type: ignore[attr-defined]


@pytest.mark.usefixtures("aws_credentials")
def test_sns_texts_and_end_user_messaging_calls() -> None:
    transports = build_transports(DeliverySettings.from_environ(
        {**SNS, **SMS_VOICE, **WEBHOOK, "INCIDENT_CONTACTS_SMS_VOICE_TYPES": "voice"}))
    assert isinstance(transports["SMS"], SnsTransport)
    assert isinstance(transports["VOICE"], SmsVoiceTransport)
    assert isinstance(transports["EMAIL"], WebhookTransport)     # the type left
    for channel_type in ("SMS", "VOICE"):
        transports[channel_type].close()   # type: ignore[attr-defined]


@pytest.mark.usefixtures("aws_credentials")
def test_end_user_messaging_may_text_only_without_an_origination_identity() -> None:
    transports = build_transports(DeliverySettings.from_environ(
        {"INCIDENT_CONTACTS_SMS_VOICE_REGION": "eu-central-1",
         "INCIDENT_CONTACTS_SMS_VOICE_TYPES": "SMS"}))
    assert isinstance(transports["SMS"], SmsVoiceTransport)
    assert isinstance(transports["VOICE"], RecordingTransport)
    transports["SMS"].close()   # type: ignore[attr-defined]


@pytest.mark.usefixtures("aws_credentials")
@pytest.mark.parametrize(("environ", "said"), [
    ({**SMS_VOICE, **TWILIO}, "SMS is sent by Twilio; unset INCIDENT_CONTACTS_SMS_VOICE_REGION "
                              "or name the types End User Messaging sends in "
                              "INCIDENT_CONTACTS_SMS_VOICE_TYPES"),
    ({**SMS_VOICE, **SNS}, "SMS is sent by SNS; unset INCIDENT_CONTACTS_SMS_VOICE_REGION"),
    ({**SMS_VOICE, **SNS, "INCIDENT_CONTACTS_SMS_VOICE_TYPES": "SMS,VOICE"},
     "INCIDENT_CONTACTS_SMS_VOICE_TYPES names SMS, which SNS already sends"),
    ({**SMS_VOICE, **TWILIO, "INCIDENT_CONTACTS_SMS_VOICE_TYPES": "VOICE"},
     "INCIDENT_CONTACTS_SMS_VOICE_TYPES names VOICE, which Twilio already sends"),
    ({**SMS_VOICE, **WEBHOOK, "INCIDENT_CONTACTS_WEBHOOK_TYPES": "VOICE"},
     "INCIDENT_CONTACTS_WEBHOOK_TYPES names VOICE, which End User Messaging already sends"),
    ({**SMS_VOICE, "INCIDENT_CONTACTS_SMS_VOICE_TYPES": "SMS,EMAIL"},
     "INCIDENT_CONTACTS_SMS_VOICE_TYPES: 'EMAIL' is not one of SMS, VOICE"),
    ({**SMS_VOICE, "INCIDENT_CONTACTS_SMS_VOICE_TYPES": " , "},
     "INCIDENT_CONTACTS_SMS_VOICE_TYPES names no channel type"),
    ({"INCIDENT_CONTACTS_SMS_VOICE_VOICE_ID": "JOANNA"},
     "End User Messaging delivery is partly configured; missing "
     "INCIDENT_CONTACTS_SMS_VOICE_REGION"),
    ({"INCIDENT_CONTACTS_SMS_VOICE_REGION": "eu-central-1"},
     "End User Messaging calls need INCIDENT_CONTACTS_SMS_VOICE_ORIGINATION_IDENTITY"),
    ({**SMS_VOICE, "INCIDENT_CONTACTS_SMS_VOICE_MESSAGE_TYPE": "Urgent"},
     "INCIDENT_CONTACTS_SMS_VOICE_MESSAGE_TYPE must be one of TRANSACTIONAL, PROMOTIONAL, "
     "not 'Urgent'"),
    ({**SMS_VOICE, "INCIDENT_CONTACTS_SMS_VOICE_VOICE_ID": "HAL"},
     "INCIDENT_CONTACTS_SMS_VOICE_VOICE_ID must be an Amazon Polly voice's name, such as "
     "MATTHEW or JOANNA, not 'HAL'"),
])
def test_end_user_messaging_configured_wrong_is_refused_in_one_line(environ: dict[str, str],
                                                                    said: str) -> None:
    with pytest.raises(ValueError) as info:
        build_transports(DeliverySettings.from_environ(environ))
    assert said in str(info.value) and "\n" not in str(info.value)
