"""`incident-contacts serve --help` names the environment variable of every option that the
README's Configuration table says has one, so a reader of either finds the same setting."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from incident_contacts.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def _option_rows() -> dict[str, set[str]]:
    """Each table row that starts with an option: its first option -> the variables it names."""
    text = README.read_text()
    start = text.index("\n## Configuration\n")
    section = text[start:text.index("\n## ", start + 1)]
    rows: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = line.split(" | ")
        if not line.startswith("| `--") or len(cells) < 2:
            continue
        option = re.match(r"\| `(--[a-z-]+)", line)
        assert option is not None
        rows[option.group(1)] = set(re.findall(r"INCIDENT_CONTACTS_[A-Z0-9_]+", cells[1]))
    return rows


def test_the_table_has_the_options_it_should() -> None:
    rows = _option_rows()
    assert {"--host", "--port", "--database", "--inspection", "--auth", "--credentials",
            "--tls-cert", "--forwarded-allow-ips", "--log-format"} <= set(rows)


def test_serve_help_names_each_documented_variable() -> None:
    result = CliRunner().invoke(main, ["serve", "--help"], terminal_width=200)
    assert result.exit_code == 0
    missing = {option: sorted(name for name in names if name not in result.output)
               for option, names in _option_rows().items()}
    assert {option: names for option, names in missing.items() if names} == {}
