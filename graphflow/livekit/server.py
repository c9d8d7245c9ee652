"""A real ``livekit-server`` on this machine: built once from the Go module proxy, run on loopback.

Tests and local development use it; production points the worker at any LiveKit
deployment instead. :func:`ensure_binary` builds the pinned version with ``go install``
into the cache (progress shown, reused afterwards); :class:`LiveKitServer` starts it with
a config body that keeps every address on 127.0.0.1 (loopback ICE candidate, no STUN),
waits until it answers and stops it afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import msgspec

from graphflow.errors import ConfigError
from graphflow.models.cache import default_cache_dir
from graphflow.processes import stop_process
from graphflow.redact import redacted

SERVER_VERSION = "v1.13.5"
"""The livekit-server release the project is tested against."""
SERVER_MODULE = "github.com/livekit/livekit-server/cmd/server"
"""The Go package that builds the server binary (named ``server``)."""
DEV_KEY, DEV_SECRET = "devkey", "secret"
"""The API key pair of a development server."""


class ServerPorts(msgspec.Struct, frozen=True):
    """The ports one server node listens on (HTTP/WebSocket, ICE over TCP, ICE over UDP)."""

    http: int = 7880
    rtc_tcp: int = 7881
    rtc_udp: int = 7882


@redacted("api_key", "api_secret")
class ServerOptions(msgspec.Struct, frozen=True):
    """How to run one server node: ports, keys, optional Redis for cluster mode, agent load target."""

    ports: ServerPorts = ServerPorts()
    host: str = "127.0.0.1"
    api_key: str = DEV_KEY
    api_secret: str = DEV_SECRET
    redis: str = ""
    """``host:port`` of a shared Redis: nodes sharing it form one cluster."""
    target_load: float = 0.7
    log_level: str = "warn"
    region: str = ""


class ServerBuildError(ConfigError):
    """``livekit-server`` could not be built (no Go toolchain, no module proxy)."""

    code = "livekit.server_build"


def binary_path() -> Path:
    """Where the built server binary lives in the cache."""
    return default_cache_dir() / "livekit-server" / SERVER_VERSION / "server"


def ensure_binary(*, quiet: bool = False) -> Path:
    """The server binary, building it with ``go install`` first if it is not in the cache."""
    path = binary_path()
    if path.is_file() and os.access(path, os.X_OK):
        return path
    go = shutil.which("go")
    if go is None:
        raise ServerBuildError(
            "livekit-server is not built and Go is not installed",
            hint="install Go >= 1.26 (https://go.dev/dl) and run `make livekit-server`",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if not quiet:
        print(f"==> building livekit-server {SERVER_VERSION} with go install (once) ...", file=sys.stderr)
    env = dict(os.environ, GOBIN=str(path.parent), GOFLAGS="-mod=mod")
    cmd = [go, "install", "-x" if not quiet and os.environ.get("GRAPHFLOW_VERBOSE") else "-v"]
    result = subprocess.run(
        [*cmd, f"{SERVER_MODULE}@{SERVER_VERSION}"],
        env=env,
        stderr=None if not quiet else subprocess.PIPE,
        check=False,
    )
    if result.returncode != 0 or not path.is_file():
        detail = result.stderr.decode(errors="replace")[-2000:] if result.stderr else ""
        raise ServerBuildError(
            f"go install {SERVER_MODULE}@{SERVER_VERSION} failed (exit {result.returncode}) {detail}",
            hint="it needs Go >= 1.26 and the Go module proxy (GOPROXY) to be reachable",
        )
    if not quiet:
        print(f"==> livekit-server built: {path}", file=sys.stderr)
    return path


def free_port(kind: int = socket.SOCK_STREAM, host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (TCP or UDP) on ``host``."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def free_ports(host: str = "127.0.0.1") -> ServerPorts:
    """A set of free ports for one server node."""
    return ServerPorts(
        http=free_port(host=host), rtc_tcp=free_port(host=host), rtc_udp=free_port(socket.SOCK_DGRAM, host)
    )


def config_body(options: ServerOptions) -> str:
    """The server's YAML config (written as JSON, which YAML reads) for a loopback-only node."""
    config: dict[str, object] = {
        "port": options.ports.http,
        "bind_addresses": [options.host],
        "rtc": {
            "tcp_port": options.ports.rtc_tcp,
            "udp_port": options.ports.rtc_udp,
            "node_ip": options.host,
            "use_external_ip": False,
            "enable_loopback_candidate": True,
            "stun_servers": [],
            "interfaces": {"includes": ["lo"]},
            "ips": {"includes": [f"{options.host}/32"]},
        },
        "keys": {options.api_key: options.api_secret},
        "logging": {"level": options.log_level, "json": False},
        "agents": {"target_load": options.target_load},
        "room": {"empty_timeout": 20, "departure_timeout": 5},
    }
    if options.redis:
        config["redis"] = {"address": options.redis}
    if options.region:
        config["region"] = options.region
    return json.dumps(config)


class LiveKitServer:
    """One running ``livekit-server`` node (a context manager; ``stop()`` is idempotent)."""

    def __init__(self, options: ServerOptions | None = None, *, log: Path | None = None) -> None:
        self.options = options or ServerOptions()
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: object | None = None

    @property
    def url(self) -> str:
        """The WebSocket URL clients and workers connect to."""
        return f"ws://{self.options.host}:{self.options.ports.http}"

    @property
    def http_url(self) -> str:
        """The HTTP URL of the server's API (room service, agent dispatch)."""
        return f"http://{self.options.host}:{self.options.ports.http}"

    @property
    def node_id(self) -> str:
        """The node's id in a cluster, read from its log (empty if not logged at info level)."""
        if self.log is None or not self.log.is_file():
            return ""
        for line in self.log.read_text(errors="replace").splitlines():
            if "starting LiveKit server" in line and '"nodeID": "' in line:
                return line.split('"nodeID": "', 1)[1].split('"', 1)[0]
        return ""

    def start(self, *, timeout: float = 30.0) -> LiveKitServer:
        """Start the node and wait until its HTTP port answers."""
        binary = ensure_binary()
        out = open(self.log, "ab") if self.log is not None else subprocess.DEVNULL  # noqa: SIM115
        self._log_file = out
        self.process = subprocess.Popen(
            [str(binary), "--config-body", config_body(self.options)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        """Poll the server's HTTP port until it answers ``OK``, or fail with its log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise ConfigError(
                    f"livekit-server exited with code {self.process.returncode} while starting",
                    hint=f"see its log: {self.log}" if self.log else "run it by hand to see why",
                )
            try:
                with urllib.request.urlopen(self.http_url, timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise ConfigError(f"livekit-server did not answer on {self.http_url} within {timeout:.0f} s")

    def stop(self, *, timeout: float = 10.0) -> None:
        """Stop the node (SIGTERM, then SIGKILL after ``timeout``)."""
        process, self.process = self.process, None
        stop_process(process, timeout)
        log, self._log_file = self._log_file, None
        if log is not None and hasattr(log, "close"):
            log.close()

    def __enter__(self) -> LiveKitServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    """``python -m graphflow.livekit.server``: build the server once (used by ``make``)."""
    print(f"livekit-server {SERVER_VERSION}: {ensure_binary()}")


if __name__ == "__main__":
    main()
