"""What the client tests share: a clean AWS environment for a subprocess, and the rule that a
missing client skips locally and fails in CI."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

from tests.conftest import IN_CI


def missing(reason: str) -> NoReturn:
    if IN_CI:
        pytest.fail(f"{reason} (needed in CI)")
    pytest.skip(reason)


def aws_env(account: str) -> dict[str, str]:
    """The environment with the caller's own AWS settings replaced by a test account's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=account, AWS_SECRET_ACCESS_KEY="secret",
               AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
               AWS_MAX_ATTEMPTS="1", AWS_PAGER="")
    return env
