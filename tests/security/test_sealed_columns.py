"""The list of sealed columns (``store.rotate.SEALED_COLUMNS``) is complete and right.

Two checks: every ``.seal(`` in the package builds its associated data from an f-string
``"<table>:{row}:<column>"`` whose table (and column, when written out) is in the list; and
after a workload touching every kind of personal data, every sealed-looking value in every
table is in a listed column and opens with the associated data the list builds for it.
Then :func:`rotate` itself, in batches.
"""

from __future__ import annotations

import ast
import base64
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import sqlalchemy as sa

import incident_contacts
from incident_contacts import crypto
from incident_contacts.config import Settings
from incident_contacts.service import engagements, outbox
from incident_contacts.store.rotate import SEALED_COLUMNS, rotate
from incident_contacts.store.schema import metadata
from incident_contacts.testing import mock_ssm_contacts
from incident_contacts.testing.mock import SsmContactsMock

PACKAGE = Path(incident_contacts.__file__).parent
SEALED_VALUE = re.compile(r"v1\.[0-9a-f]{16}\.")
TABLES = {c.table for c in SEALED_COLUMNS}
PAIRS = {(c.table, c.column) for c in SEALED_COLUMNS}


def _pattern(node: ast.JoinedStr) -> tuple[str, str | None] | None:
    """``(table, column or None)`` of an f-string ``"<table>:{...}:<column>"``."""
    values = node.values
    if len(values) < 2 or not isinstance(values[0], ast.Constant):
        return None
    table = re.fullmatch(r"([a-z_]+):", str(values[0].value))
    if table is None or not isinstance(values[1], ast.FormattedValue):
        return None
    column = None
    if len(values) == 3 and isinstance(values[2], ast.Constant):
        match = re.fullmatch(r":([a-z_]+)", str(values[2].value))
        column = match.group(1) if match else None
    return table.group(1), column


def _seal_aads(tree: ast.AST) -> list[tuple[str, str | None] | None]:
    """What each ``.seal(..., aad=...)`` of a module seals into: the f-string itself, or the
    f-strings a function of the same module called there returns. None: not readable here."""
    functions = {node.name: node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    found: list[tuple[str, str | None] | None] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "seal"):
            continue
        aad = next((k.value for k in node.keywords if k.arg == "aad"), None)
        if isinstance(aad, ast.JoinedStr):
            found.append(_pattern(aad))
        elif (isinstance(aad, ast.Call) and isinstance(aad.func, ast.Name)
              and aad.func.id in functions):
            returns = [r.value for r in ast.walk(functions[aad.func.id])
                       if isinstance(r, ast.Return) and isinstance(r.value, ast.JoinedStr)]
            if returns:
                found.extend(_pattern(r) for r in returns)
            else:
                found.append(None)
        else:
            found.append(None)
    return found


def test_every_seal_in_the_package_is_listed() -> None:
    sealing_modules = 0
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if str(relative) in ("crypto.py", "store/rotate.py"):
            continue
        aads = _seal_aads(ast.parse(path.read_text(), str(path)))
        if not aads:
            continue
        sealing_modules += 1
        for pattern in aads:
            assert pattern is not None, (
                f"{relative} seals a value with associated data this test cannot read: write "
                "it as f\"<table>:{{row}}:<column>\" or return that from a function of the "
                "module, and list the column in store.rotate.SEALED_COLUMNS")
            table, column = pattern
            assert table in TABLES, f"{relative}: table {table!r} is not in SEALED_COLUMNS"
            if column is not None:
                assert (table, column) in PAIRS, \
                    f"{relative}: {table}.{column} is not in SEALED_COLUMNS"
    assert sealing_modules >= 3     # the scan found the known ones (runtime, channels, outbox)


def _unique_keys(table: sa.Table) -> set[tuple[str, ...]]:
    """The column tuples that name one row of a table."""
    keys = {(column.name,) for column in table.c if column.unique or column.primary_key}
    keys |= {tuple(column.name for column in constraint.columns)
             for constraint in table.constraints if isinstance(constraint, sa.UniqueConstraint)}
    return keys


def test_listed_columns_exist_with_their_row_keys() -> None:
    for sealed in SEALED_COLUMNS:
        table = metadata.tables[sealed.table]
        assert sealed.column in table.c
        assert all(name in table.c for name in sealed.key_columns)
        assert sealed.key_columns in _unique_keys(table), sealed
    assert {("outbox", c) for c in outbox._SEALED} <= PAIRS
    assert {("engagements", c) for c in engagements.TEXTS.values()} <= PAIRS


def _key() -> bytes:
    return os.urandom(32)


@pytest.fixture
def contacts_mock() -> Iterator[tuple[SsmContactsMock, bytes]]:
    key = _key()
    settings = Settings(data_key=base64.b64encode(key).decode(), throttle_rate=0.0)
    with mock_ssm_contacts(settings=settings) as mock:
        yield mock, key


def _workload(mock: SsmContactsMock) -> None:
    """Every kind of personal data: addresses, codes, messages, engagement words, notes."""
    c = boto3.client("ssm-contacts", region_name="us-east-1",
                     aws_access_key_id="210987654321", aws_secret_access_key="x")
    contact = c.create_contact(Alias="sealed", DisplayName="Sealed Person", Type="PERSONAL",
                               Plan={"Stages": []})["ContactArn"]
    addresses = [("SMS", "+15005550111"), ("VOICE", "+15005550112"),
                 ("EMAIL", "sealed.person@example.com")]
    arns = []
    for kind, address in addresses:
        arns.append(c.create_contact_channel(
            ContactId=contact, Name=kind.lower(), Type=kind,
            DeliveryAddress={"SimpleAddress": address})["ContactChannelArn"])
    for arn in arns:
        code = next(m["ActivationCode"] for m in mock.messages(ContactChannelArn=arn))
        c.activate_contact_channel(ContactChannelId=arn, ActivationCode=code)
    c.update_contact_channel(ContactChannelId=arns[0],
                             DeliveryAddress={"SimpleAddress": "+15005550113"})
    c.update_contact(ContactId=contact, Plan={"Stages": [{
        "DurationInMinutes": 0,
        "Targets": [{"ChannelTargetInfo": {"ContactChannelId": arns[2],
                                           "RetryIntervalInMinutes": 1}}],
    }]})
    engagement = c.start_engagement(
        ContactId=contact, Sender="tester", Subject="disk full", Content="db01 is at 99%",
        PublicSubject="incident", PublicContent="we are on it")["EngagementArn"]
    mock.clock.advance(1)
    pages = c.list_pages_by_engagement(EngagementId=engagement)["Pages"]
    assert pages, "the engagement paged nobody"
    page = pages[0]["PageArn"]
    code = next(m["AcceptCode"] for m in mock.messages() if m.get("PageArn") == page)
    c.accept_page(PageId=page, AcceptType="READ", AcceptCode=code, Note="looking at it")
    c.stop_engagement(EngagementId=engagement, Reason="fixed")


def _sealed_values(conn: sa.Connection) -> Iterator[tuple[str, str, Any, str]]:
    """``(table, column, row, value)`` for every value that looks sealed."""
    for table in metadata.sorted_tables:
        for row in conn.execute(sa.select(table)):
            for column in table.c:
                value = getattr(row, column.name)
                if isinstance(value, str) and SEALED_VALUE.match(value):
                    yield table.name, column.name, row, value


def test_every_sealed_value_is_in_a_listed_column(
        contacts_mock: tuple[SsmContactsMock, bytes]) -> None:
    mock, key = contacts_mock
    _workload(mock)
    ring = crypto.KeyRing(key)
    by_pair = {(c.table, c.column): c for c in SEALED_COLUMNS}
    seen = set()
    assert mock.runtime is not None
    with mock.runtime.store.transaction(write=False) as conn:
        for table, column, row, value in _sealed_values(conn):
            assert (table, column) in by_pair, f"{table}.{column} is sealed but not listed"
            sealed = by_pair[table, column]
            ring.open(value, aad=sealed.aad_of(row))
            seen.add((table, column))
    assert seen == PAIRS      # the workload reached every listed column


@pytest.mark.parametrize("batch_size", [1, 2, 500])
def test_rotate_reseals_everything_in_batches(
        contacts_mock: tuple[SsmContactsMock, bytes], batch_size: int) -> None:
    mock, old = contacts_mock
    _workload(mock)
    new = _key()
    assert mock.runtime is not None
    store = mock.runtime.store
    with store.transaction(write=False) as conn:
        before = {(t, c, str(getattr(r, metadata.tables[t].primary_key.columns[0].name))): v
                  for t, c, r, v in _sealed_values(conn)}
    batches: list[tuple[str, int]] = []
    report = rotate(store, crypto.KeyRing(new, [old]), batch_size=batch_size,
                    progress=lambda table, n: batches.append((table, n)))
    assert report.ok
    assert report.resealed == len(before) and report.current == 0
    assert all(n <= batch_size for _table, n in batches)
    only_new = crypto.KeyRing(new)
    by_pair = {(c.table, c.column): c for c in SEALED_COLUMNS}
    with store.transaction(write=False) as conn:
        after = list(_sealed_values(conn))
        for table, column, row, value in after:
            sealed = by_pair[table, column]
            aad = sealed.aad_of(row)
            assert only_new.open(value, aad=aad) == crypto.KeyRing(old).open(
                before[table, column, str(getattr(
                    row, metadata.tables[table].primary_key.columns[0].name))], aad=aad)
    assert len(after) == len(before)
    # A second run finds nothing left to do.
    again = rotate(store, crypto.KeyRing(new, [old]), batch_size=batch_size)
    assert (again.resealed, again.current, again.unreadable) == (0, len(before), [])


def test_rotate_reports_what_no_key_opens(contacts_mock: tuple[SsmContactsMock, bytes]) -> None:
    mock, _old = contacts_mock
    _workload(mock)
    assert mock.runtime is not None
    report = rotate(mock.runtime.store, crypto.KeyRing(_key(), [_key()]))
    assert not report.ok and report.resealed == 0
    assert "channels:" in " ".join(report.unreadable)
    with mock.runtime.store.transaction(write=False) as conn:
        assert all(mock.runtime.keyring.is_current(v) for *_rest, v in _sealed_values(conn))
