"""The words of the messages we send: activation codes and pages (decisions §1).

Our own text, short and neutral, naming the product. Pure functions of their inputs.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from .base import EMAIL, SMS, VOICE

__all__ = [
    "PRODUCT_NAME",
    "SMS_MAX_LENGTH",
    "VOICE_MAX_LENGTH",
    "MessageText",
    "activation_text",
    "page_text",
    "spell_digits",
    "xml_allowed",
]

PRODUCT_NAME = "Incident Manager"
SMS_MAX_LENGTH = 1600
"""Twilio refuses longer message bodies."""
VOICE_MAX_LENGTH = 1500
"""Spoken text is said twice in one call, and Twilio caps inline TwiML at 4000 characters."""

_WHITESPACE = re.compile(r"\s+")
# Characters XML 1.0 does not allow at all (escaping leaves them in).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ELLIPSIS = "..."  # ASCII, so that an SMS stays in the GSM alphabet


class MessageText(NamedTuple):
    """Subject (EMAIL only), plain-text body, and words to speak (VOICE only)."""

    subject: str | None
    body: str
    speech: str | None


def activation_text(channel_type: str, code: str, lifetime_minutes: int) -> MessageText:
    """The activation message for a contact channel of ``channel_type``.

    SMS and EMAIL read "Your Incident Manager activation code is 123456. It expires in
    15 minutes."; VOICE speaks the digits one by one.
    """
    expires = f"It expires in {lifetime_minutes} minute{'' if lifetime_minutes == 1 else 's'}."
    sentence = f"Your {PRODUCT_NAME} activation code is {code}. {expires}"
    if channel_type == SMS:
        return MessageText(None, sentence, None)
    if channel_type == EMAIL:
        body = f"{sentence}\n\nIf you did not expect this message, you can ignore it.\n"
        return MessageText(f"Your {PRODUCT_NAME} activation code", body, None)
    if channel_type == VOICE:
        speech = f"Your {PRODUCT_NAME} activation code is {spell_digits(code)}. {expires}"
        return MessageText(None, sentence, speech)
    raise ValueError(f"unknown channel type {channel_type!r}")


def page_text(
    channel_type: str,
    subject: str,
    content: str,
    public_subject: str | None,
    public_content: str | None,
    accept_code: str,
) -> MessageText:
    """The page sent to a contact channel for an engagement.

    SMS carries ``PublicSubject``/``PublicContent`` (each falling back to ``Subject``/
    ``Content``) and ends with the reply instruction, within 1,600 characters. VOICE speaks
    ``Subject`` and ``Content``. EMAIL has ``Subject`` as subject and ``Content`` as body,
    followed by how to acknowledge with the accept code.
    """
    if channel_type == SMS:
        head = f"{public_subject or subject}\n{public_content or content}"
        tail = f"\nReply with {accept_code} to acknowledge."
        return MessageText(None, _cut(head, SMS_MAX_LENGTH - len(tail)) + tail, None)
    if channel_type == VOICE:
        # Not every transport can hear a key press: the one that can offers it itself.
        tail = f" Acknowledge with code {spell_digits(accept_code)}."
        said = _cut(f"{_sentence(subject)} {_sentence(content)}", VOICE_MAX_LENGTH - len(tail))
        speech = said + tail
        return MessageText(None, speech, speech)
    if channel_type == EMAIL:
        body = (
            f"{content}\n\n--\n"
            f"Acknowledge this page in the {PRODUCT_NAME} console or with the AcceptPage API "
            f"using code {accept_code}.\n"
        )
        return MessageText(_one_line(subject), body, None)
    raise ValueError(f"unknown channel type {channel_type!r}")


def spell_digits(code: str) -> str:
    """``"123456"`` -> ``"1, 2, 3, 4, 5, 6"``, so a voice reads digits, not a number."""
    return ", ".join(code)


def _one_line(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def _sentence(text: str) -> str:
    line = _one_line(text)
    return line if not line or line[-1] in ".!?" else f"{line}."


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(_ELLIPSIS))].rstrip() + _ELLIPSIS


def xml_allowed(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids (TwiML and SSML are XML)."""
    return _NOT_XML.sub("", text)
