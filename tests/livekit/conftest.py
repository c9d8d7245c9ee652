"""A real livekit-server on loopback for the tests marked ``livekit``.

The server is built once into the cache (``make test`` does it first). Under CI
(``CI=true``) a server that cannot be built fails the run; elsewhere the tests are
skipped with a message that says how to enable them. LiveKit's cluster mode gets two
nodes sharing a Redis of the test's own, which a test may stop and start again.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from graphflow.livekit.server import (
    LiveKitServer,
    ServerBuildError,
    ServerOptions,
    ensure_binary,
    free_port,
    free_ports,
)
from graphflow.processes import stop_process
from tests.waiting import until_sync


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


class RedisServer:
    """A ``redis-server`` on a loopback port with nothing written to disk.

    ``stop()`` and ``start()`` keep the port, so a cluster configured with ``address``
    finds the restarted server (empty: nothing of the old one survives).
    """

    def __init__(self, binary: str, port: int, log: Path) -> None:
        self.binary, self.port, self.log = binary, port, log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """``host:port`` for a livekit-server's ``redis.address``."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> RedisServer:
        """Start the server and wait until it accepts connections."""
        options = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen([self.binary, *options], stdout=out, stderr=subprocess.STDOUT)
        process = self.process

        def answers() -> bool:
            assert process.poll() is None, self.log.read_text(errors="replace")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
            except OSError:
                return False
            return True

        until_sync(answers, f"redis-server to listen on port {self.port}", timeout=10, interval=0.05)
        return self

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL); nothing happens if it is not running."""
        process, self.process = self.process, None
        stop_process(process)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis server of the test's own (a test may stop and restart it)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (scripts/ensure-system-deps installs it)", pytrace=False)
    server = RedisServer(binary, free_port(), tmp_path / "redis.log")
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def redis(redis_server: RedisServer) -> str:
    """The address of the test's Redis server."""
    return redis_server.address


@pytest.fixture
def cluster(tmp_path: Path, redis: str) -> Iterator[tuple[LiveKitServer, LiveKitServer]]:
    """Two server nodes, A and B, sharing ``redis``."""
    a = start_server(tmp_path, "node-a", redis=redis, log_level="info")
    try:
        b = start_server(tmp_path, "node-b", redis=redis, log_level="info")
        try:
            yield a, b
        finally:
            b.stop()
    finally:
        a.stop()
