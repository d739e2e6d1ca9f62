"""The README documents every setting the server and its commands read from the
environment, and names none they do not read."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from incident_contacts.cli import main
from incident_contacts.config import _ENV_NAMES, _ENV_PREFIX, Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def _configuration_section() -> str:
    text = README.read_text()
    start = text.index("\n## Configuration\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def _documented(section: str) -> set[str]:
    """The variable names written out in full in the table's rows."""
    return {name for line in section.splitlines() if line.startswith("|")
            for name in re.findall(r"`(" + _ENV_PREFIX + r"[A-Z0-9_]+)`", line)}


def test_every_environment_setting_is_in_the_configuration_table():
    documented = _documented(_configuration_section())
    expected = {_ENV_PREFIX + _ENV_NAMES.get(f.name, f.name.upper())
                for f in fields(Settings) if f.name != "extra"}
    # Options the command line itself reads from the environment (click's ``envvar``).
    for command in main.commands.values():
        expected |= {param.envvar for param in command.params
                     if isinstance(param.envvar, str)}
    assert expected - documented == set(), "settings missing from README's Configuration"
    assert documented - expected == set(), "README names settings the server does not read"
