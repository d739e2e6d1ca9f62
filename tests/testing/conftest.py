from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def profile_needing_a_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A developer's shell: no keys, and ``AWS_PROFILE`` naming a profile whose credentials
    come from a process that fails (as an SSO or role profile would, here)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "config"
    config.write_text("[profile work]\ncredential_process = /bin/false\nregion = eu-west-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_PROFILE", "work")
