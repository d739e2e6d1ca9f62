from __future__ import annotations

from typing import Any

import pytest

from incident_contacts.delivery import activation_text, page_text
from incident_contacts.delivery.text import SMS_MAX_LENGTH, VOICE_MAX_LENGTH, spell_digits

SENTENCE = "Your Incident Manager activation code is 012345. It expires in 15 minutes."


def test_activation_sms() -> None:
    assert activation_text("SMS", "012345", 15) == (None, SENTENCE, None)


def test_activation_email() -> None:
    subject, body, speech = activation_text("EMAIL", "012345", 15)
    assert subject == "Your Incident Manager activation code"
    assert body.startswith(SENTENCE)
    assert speech is None


def test_activation_voice_reads_digits_one_by_one() -> None:
    subject, body, speech = activation_text("VOICE", "012345", 15)
    assert subject is None
    assert body == SENTENCE  # what the outbox shows
    assert speech == (
        "Your Incident Manager activation code is 0, 1, 2, 3, 4, 5. It expires in 15 minutes."
    )


def test_activation_lifetime_is_an_argument() -> None:
    assert activation_text("SMS", "111111", 30).body.endswith("It expires in 30 minutes.")
    assert activation_text("SMS", "111111", 1).body.endswith("It expires in 1 minute.")


def test_spell_digits() -> None:
    assert spell_digits("907") == "9, 0, 7"


PAGE: dict[str, Any] = {
    "subject": "Database down",
    "content": "Primary db-1 in us-east-1 stopped answering at 10:02 UTC.",
    "public_subject": "Outage",
    "public_content": "An outage needs you.",
    "accept_code": "425440",
}


def test_page_sms_uses_public_text() -> None:
    subject, body, speech = page_text("SMS", **PAGE)
    assert subject is None and speech is None
    assert body == "Outage\nAn outage needs you.\nReply with 425440 to acknowledge."
    assert "db-1" not in body


def test_page_sms_falls_back_to_subject_and_content() -> None:
    fields = {**PAGE, "public_subject": None, "public_content": None}
    _, body, _ = page_text("SMS", **fields)
    assert body == (
        "Database down\nPrimary db-1 in us-east-1 stopped answering at 10:02 UTC.\n"
        "Reply with 425440 to acknowledge."
    )
    _, body, _ = page_text("SMS", **{**PAGE, "public_content": None})
    assert body.startswith("Outage\nPrimary db-1")


def test_page_sms_is_cut_to_1600_characters_keeping_the_reply_line() -> None:
    _, body, _ = page_text("SMS", **{**PAGE, "public_content": "x" * 5000})
    assert len(body) == SMS_MAX_LENGTH
    assert body.endswith("...\nReply with 425440 to acknowledge.")


def test_page_voice_speaks_subject_and_content() -> None:
    subject, body, speech = page_text("VOICE", **PAGE)
    assert subject is None
    assert (
        speech
        == body
        == (
            "Database down. Primary db-1 in us-east-1 stopped answering at 10:02 UTC. "
            "Acknowledge with code 4, 2, 5, 4, 4, 0."
        )
    )


def test_page_voice_is_one_line_and_bounded() -> None:
    _, _, speech = page_text("VOICE", **{**PAGE, "subject": "Alarm!\n", "content": "a\n\nb" * 2000})
    assert speech is not None
    assert speech.startswith("Alarm! a b")
    assert "\n" not in speech
    assert len(speech) <= VOICE_MAX_LENGTH
    assert speech.endswith("... Acknowledge with code 4, 2, 5, 4, 4, 0.")


def test_page_email() -> None:
    subject, body, speech = page_text("EMAIL", **PAGE)
    assert subject == "Database down"
    assert speech is None
    assert body.startswith(PAGE["content"])
    assert "Outage" not in body
    assert "AcceptPage API using code 425440" in body
    assert "console" in body


def test_page_email_subject_is_one_line() -> None:
    subject, _, _ = page_text("EMAIL", **{**PAGE, "subject": "Database\r\ndown "})
    assert subject == "Database down"


@pytest.mark.parametrize("channel_type", ["PUSH", "sms", ""])
def test_unknown_channel_types(channel_type: str) -> None:
    with pytest.raises(ValueError):
        activation_text(channel_type, "123456", 15)
    with pytest.raises(ValueError):
        page_text(channel_type, **PAGE)
