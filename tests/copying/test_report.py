"""What the copy prints never holds a delivery address or a URL's password
(:mod:`incident_contacts.copy_report`), also where the text is odd: a password written with
"@" in it, an address with an apostrophe cut short by a validation message."""

from __future__ import annotations

from click.testing import CliRunner

from incident_contacts.cli import main
from incident_contacts.copy_report import Report


def test_a_password_holding_an_at_sign_is_hidden_whole():
    said = Report().scrub(
        'the source could not be called (Could not connect to the endpoint URL: '
        '"http://admin:p@ss-word@127.0.0.1:1/")')
    assert "ss-word" not in said and "admin" not in said
    assert '"http://(hidden)@127.0.0.1:1/"' in said


def test_a_password_holding_a_quote_or_a_space_is_hidden():
    for password in ("it's", "two words"):
        said = Report().scrub(f'Could not connect to the endpoint URL: '
                              f'"https://admin:{password}@contacts.example.com/"')
        assert password not in said and "(hidden)@contacts.example.com" in said


def test_an_address_with_an_apostrophe_cut_short_is_hidden():
    # A validation message quotes a value's first 61 characters: not the whole address the
    # copy read, so only the quoting tells where it ends.
    report = Report(addresses={"o'brien.with.a.rather.long.local.part.for.a.test@example.com"})
    said = report.scrub("ValidationException: 1 validation error detected: Value "
                        "'o'brien.with.a.rather.long.local.part.for.a.test@exam...' at "
                        "'deliveryAddress.simpleAddress' failed to satisfy constraint")
    assert "brien" not in said and "exam" not in said
    assert "Value (hidden) at 'deliveryAddress.simpleAddress' failed" in said


def test_an_endpoint_botocore_refuses_is_named_without_its_password(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDCOPYTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "copy-test-secret")
    result = CliRunner().invoke(main, [
        "copy", "--source-region", "us-east-1", "--source-endpoint-url", "http://127.0.0.1:1",
        "--target-endpoint-url", "http://admin:s3cret@not_a_host:4575"])
    assert result.exit_code == 2, result.output
    assert "s3cret" not in result.output and "admin" not in result.output
    assert "Invalid endpoint: http://(hidden)@not_a_host:4575" in result.output
