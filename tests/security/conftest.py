from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.security.support import QUIET, start_sigv4
from tests.support.server import ServerProcess, start_server


@pytest.fixture(scope="module")
def sigv4_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with ``--auth sigv4`` and the users of :mod:`tests.security.support`."""
    server = start_sigv4(tmp_path_factory.mktemp("sigv4"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def off_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server in the development mode (``--auth off``)."""
    server = start_server(tmp_path_factory.mktemp("off"), env=QUIET)
    yield server
    server.stop()
