"""Random identifiers are version 4 UUIDs in their usual text form."""

from __future__ import annotations

import uuid

from incident_contacts.ids import new_id


def test_new_ids_are_random_uuid4_text():
    ids = [new_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
