"""Random identifiers: request ids, message ids, resource ids.

``new_id()`` is a random (version 4) UUID in its usual text form, as ``str(uuid.uuid4())``
gives it, made straight from 16 random bytes: every API call makes one or more, and the
``uuid.UUID`` object in between costs more than the rest of the work.
"""

from __future__ import annotations

import os

# The variant bits (10xx) in the first hex digit of the fourth group.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def new_id() -> str:
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


__all__ = ["new_id"]
