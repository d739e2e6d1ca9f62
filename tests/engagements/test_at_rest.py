"""Engagement words and accept codes at rest: sealed words, hashed codes, and a server whose
data key does not open them answering DataEncryptionException (decisions §5)."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from botocore.exceptions import ClientError

from incident_contacts.service.pages import accept_code_hash
from incident_contacts.store.schema.engagements import engagements, pages
from incident_contacts.testing import mock_ssm_contacts
from tests.conftest import Backend
from tests.support.server import restart, start_server

from .helpers import Paging, wait_until

SUBJECT = "Subject-disk-full-on-db01"
CONTENT = "Content-the-primary-is-at-99-percent"


def test_words_are_sealed_and_codes_hashed() -> None:
    with mock_ssm_contacts() as mock:
        paging = Paging(Backend("inprocess", mock=mock))
        person = paging.person("akuam")
        paging.plan(person, [(5, person.channels)])
        engagement = paging.engage(person.arn, Subject=SUBJECT, Content=CONTENT,
                                   PublicSubject="public-subject", PublicContent="public-words")
        [page] = paging.pages(engagement, 1)
        code = paging.page_messages(engagement)[page["PageArn"]]["AcceptCode"]
        assert mock.runtime is not None
        with mock.runtime.store.transaction(write=False) as conn:
            row = conn.execute(sa.select(engagements)).one()
            stored = conn.execute(sa.select(pages)).one()
        for value in (row.subject, row.content, row.public_subject, row.public_content):
            assert value.startswith("v1.")
        assert SUBJECT not in str(tuple(row)) and "public-words" not in str(tuple(row))
        assert code not in str(tuple(stored))
        assert stored.accept_code_hash == accept_code_hash(mock.runtime, stored.page_id, code)

        # A stop's reason is sealed wherever it is kept, and the engagement's log still
        # shows it.
        paging.client.stop_engagement(EngagementId=engagement, Reason="Reason-db01-fixed")
        with mock.runtime.store.transaction(write=False) as conn:
            dumped = "\n".join(conn.connection.driver_connection.iterdump())
        assert "Reason-db01-fixed" not in dumped
        (stopped,) = [e for e in mock.engagement_events(engagement)
                      if e["Type"] == "ENGAGEMENT_STOPPED"]
        assert stopped["Reason"] == "Reason-db01-fixed"


def test_a_wrong_key_answers_data_encryption_exception(tmp_path: Path) -> None:
    right, wrong = (base64.b64encode(os.urandom(32)).decode() for _ in range(2))
    server = start_server(tmp_path, env={"INCIDENT_CONTACTS_DATA_KEY": right})
    paging = Paging(Backend("server-sqlite", server=server))
    person = paging.person("akuam")
    paging.plan(person, [(5, person.channels), (5, person.channels)])
    engagement = paging.engage(person.arn, Subject=SUBJECT, Content=CONTENT)
    [page] = paging.pages(engagement, 1)
    server.stop()
    server.env["INCIDENT_CONTACTS_DATA_KEY"] = wrong
    server = restart(server)
    try:
        client = Backend("server-sqlite", server=server).client(account=paging.backend.account)
        for call in (lambda: client.describe_engagement(EngagementId=engagement),
                     lambda: client.describe_page(PageId=page["PageArn"]),
                     lambda: client.accept_page(PageId=page["PageArn"], AcceptType="READ",
                                                AcceptCode="123456",
                                                AcceptCodeValidation="ENFORCE")):
            with pytest.raises(ClientError) as caught:
                call()
            assert caught.value.response["Error"]["Code"] == "DataEncryptionException"
            assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        # The engine cannot open the words for the next stage either: it says so, and waits.
        server.advance(5 * 60)
        wait_until(lambda: "DataEncryptionException" in server.log(),
                   message="the engine's warning")
        assert "Traceback" not in server.log()
    finally:
        server.stop()
    # With the right key among the old ones, the engagement goes on where it stopped.
    server.env["INCIDENT_CONTACTS_OLD_DATA_KEYS"] = right
    server = restart(server)
    try:
        client = Backend("server-sqlite", server=server).client(account=paging.backend.account)
        assert client.describe_engagement(EngagementId=engagement)["Subject"] == SUBJECT
        server.advance(10 * 60)
        wait_until(lambda: len(client.list_pages_by_engagement(
            EngagementId=engagement)["Pages"]) == 2, message="the second stage's page")
    finally:
        server.stop()
