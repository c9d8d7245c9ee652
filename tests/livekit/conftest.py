"""A real livekit-server on loopback for the tests marked ``livekit``.

The server is built once into the cache (``make test`` does it first). Under CI
(``CI=true``) a server that cannot be built fails the run; elsewhere the tests are
skipped with a message that says how to enable them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from graphflow.livekit.server import (
    LiveKitServer,
    ServerBuildError,
    ServerOptions,
    ensure_binary,
    free_ports,
)


def _binary_or_skip() -> None:
    try:
        ensure_binary(quiet=True)
    except ServerBuildError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"livekit-server is required in CI and could not be built: {exc}", pytrace=False)
        pytest.skip(
            f"livekit tests need livekit-server ({exc}); install Go >= 1.26 and run `make livekit-server`"
        )


def start_server(tmp: Path, name: str = "lk", **options: object) -> LiveKitServer:
    """Start one server node on free loopback ports; its log goes to ``tmp/NAME.log``."""
    _binary_or_skip()
    opts = ServerOptions(ports=free_ports(), **options)  # type: ignore[arg-type]
    return LiveKitServer(opts, log=tmp / f"{name}.log").start()


@pytest.fixture(scope="session")
def livekit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveKitServer]:
    """One server for the whole test session (tests use their own room names)."""
    server = start_server(tmp_path_factory.mktemp("livekit"), log_level="info")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[LiveKitServer]:
    """A server of the test's own (for tests that stop or restart it)."""
    server = start_server(tmp_path, log_level="info")
    try:
        yield server
    finally:
        server.stop()
