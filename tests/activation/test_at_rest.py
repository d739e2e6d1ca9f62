"""Activation codes are never stored in plaintext (decisions §1): the bytes of the SQLite
database a server wrote hold neither the codes nor the words of the messages."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.activation.helpers import new_channel, wait_delivered
from tests.conftest import Backend
from tests.support.server import start_server


def test_codes_are_not_in_the_database_file(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        backend = Backend("server-sqlite", server=server)
        client = backend.client(account="AKIDEXAMPLE")   # account 000000000000
        marker = "name-" + uuid.uuid4().hex
        address = f"z{uuid.uuid4().hex[:10]}@example.com"
        arn = new_channel(client, type="EMAIL", address=address, name=marker)
        for _ in range(3):
            client.send_activation_code(ContactChannelId=arn)
        messages = wait_delivered(backend, arn, count=4)
    finally:
        server.stop()

    files = [tmp_path / "server.db", tmp_path / "server.db-wal"]
    data = b"".join(f.read_bytes() for f in files if f.exists())
    assert marker.encode() in data            # the search does see what is stored in plaintext

    # Identifiers are stored in plaintext and hold digits; a code that happens to occur in one
    # proves nothing either way, so it is left out (a one-in-a-million coincidence).
    plaintext_ids = " ".join([arn, "000000000000"] + [m["MessageId"] for m in messages])
    checked = [m["ActivationCode"] for m in messages if m["ActivationCode"] not in plaintext_ids]
    assert checked
    for code in checked:
        assert code.encode() not in data, f"activation code {code} is stored in plaintext"
    assert address.encode() not in data
    assert b"activation code is" not in data
