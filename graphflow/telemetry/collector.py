"""A real OpenTelemetry collector on this machine: built once from the Go module proxy, run on loopback.

The tests export a session's trace over OTLP/HTTP to it. :func:`ensure_binary` installs
the collector builder (``go install go.opentelemetry.io/collector/cmd/builder``) and
builds a collector with the OTLP receiver and the debug exporter into the cache (about
two minutes on 2 cores, progress shown, reused afterwards); :class:`Collector` starts it
on a free 127.0.0.1 port with the debug exporter writing every span it receives to a
log, and stops it afterwards. ``python -m graphflow.telemetry.collector`` builds it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from graphflow.errors import ConfigError, GraphflowError
from graphflow.models.cache import default_cache_dir
from graphflow.processes import stop_process

COLLECTOR_VERSION = "v0.165.0"
"""The OpenTelemetry collector release the project is tested against."""
BUILDER_MODULE = "go.opentelemetry.io/collector/cmd/builder"
"""The collector builder (``ocb``), which generates and compiles a collector of chosen components."""
COMPONENTS = (
    ("receivers", "go.opentelemetry.io/collector/receiver/otlpreceiver"),
    ("exporters", "go.opentelemetry.io/collector/exporter/debugexporter"),
)
"""The collector's components: the OTLP receiver, and the debug exporter that logs what came in."""
NAME = "otelcol-graphflow"
"""The built collector's name."""


class CollectorBuildError(GraphflowError):
    """The collector could not be built (no Go toolchain, no module proxy)."""

    code = "otel.collector_build"


def home() -> Path:
    """The cache folder of the pinned collector build."""
    return default_cache_dir() / "otelcol" / COLLECTOR_VERSION


def binary_path() -> Path:
    """Where the built collector lives in the cache."""
    return home() / NAME


def manifest(output: Path) -> str:
    """The builder's manifest: a collector of :data:`COMPONENTS` built into ``output``."""
    lines = [
        "dist:",
        f"  name: {NAME}",
        "  description: OpenTelemetry collector with the OTLP receiver and the debug exporter",
        f"  output_path: {output}",
    ]
    for kind in ("receivers", "exporters"):
        lines.append(f"{kind}:")
        lines += [f"  - gomod: {module} {COLLECTOR_VERSION}" for k, module in COMPONENTS if k == kind]
    return "\n".join(lines) + "\n"


def ensure_binary(*, quiet: bool = False) -> Path:
    """The collector binary, building it first (once) if it is not in the cache."""
    path = binary_path()
    if path.is_file() and os.access(path, os.X_OK):
        return path
    go = shutil.which("go")
    if go is None:
        raise CollectorBuildError(
            "the OpenTelemetry collector is not built and Go is not installed",
            hint="install Go >= 1.26 (https://go.dev/dl) and run `python -m graphflow.telemetry.collector`",
        )
    folder = home()
    folder.mkdir(parents=True, exist_ok=True)

    def say(text: str) -> None:
        if not quiet:
            print(f"==> {text}", file=sys.stderr, flush=True)

    say(f"installing the OpenTelemetry collector builder {COLLECTOR_VERSION} (go install, once) ...")
    env = dict(os.environ, GOBIN=str(folder / "bin"))
    _step([go, "install", "-v", f"{BUILDER_MODULE}@{COLLECTOR_VERSION}"], env, quiet)
    (folder / "manifest.yaml").write_text(manifest(folder / "src"))
    say("building the collector (OTLP receiver, debug exporter; about 2 minutes on 2 cores) ...")
    _step([str(folder / "bin" / "builder"), "--config", str(folder / "manifest.yaml")], env, quiet)
    built = folder / "src" / NAME
    if not built.is_file():
        raise CollectorBuildError(f"the collector builder left no {NAME} in {folder / 'src'}")
    built.replace(path)
    say(f"OpenTelemetry collector built: {path}")
    return path


def _step(command: list[str], env: dict[str, str], quiet: bool) -> None:
    result = subprocess.run(command, env=env, stderr=subprocess.PIPE if quiet else None, check=False)
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace")[-2000:] if result.stderr else ""
        raise CollectorBuildError(
            f"{' '.join(command[:3])} failed (exit {result.returncode}) {detail}",
            hint="it needs Go >= 1.26 and the Go module proxy (GOPROXY) to be reachable",
        )


def config(port: int) -> str:
    """The collector's config: OTLP/HTTP on ``127.0.0.1:port``, traces and metrics to the debug log."""
    pipeline = "      receivers: [otlp]\n      exporters: [debug]\n"
    return (
        "receivers:\n  otlp:\n    protocols:\n      http:\n"
        f"        endpoint: 127.0.0.1:{port}\n"
        "exporters:\n  debug:\n    verbosity: detailed\n"
        "service:\n  telemetry:\n    metrics:\n      level: none\n  pipelines:\n"
        f"    traces:\n{pipeline}    metrics:\n{pipeline}"
    )


class Collector:
    """One running collector (a context manager); what it received is in :meth:`received`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.log = folder / "collector.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._out: IO[bytes] | None = None

    @property
    def endpoint(self) -> str:
        """The OTLP/HTTP base URL (``/v1/traces`` and ``/v1/metrics`` below it)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 30.0) -> Collector:
        """Start the collector and wait until its OTLP port accepts connections."""
        binary = ensure_binary()
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "collector.yaml").write_text(config(self.port))
        self._out = open(self.log, "ab")  # noqa: SIM115 (closed in stop)
        command = [str(binary), "--config", str(self.folder / "collector.yaml")]
        self.process = subprocess.Popen(command, stdout=self._out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ConfigError(f"the collector exited with code {self.process.returncode}: see {self.log}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise ConfigError(f"the collector did not listen on {self.endpoint} within {timeout:.0f} s")

    def received(self) -> str:
        """Everything the debug exporter logged so far (spans, metrics, in its text form)."""
        return self.log.read_text(errors="replace") if self.log.is_file() else ""

    def stop(self, *, timeout: float = 10.0) -> None:
        """Stop the collector (SIGTERM, then SIGKILL after ``timeout``)."""
        process, self.process = self.process, None
        stop_process(process, timeout)
        out, self._out = self._out, None
        if out is not None:
            out.close()

    def __enter__(self) -> Collector:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    """``python -m graphflow.telemetry.collector``: build the collector once (used by ``make``).

    Exit status: 0 built (or already there); 3 this machine cannot build it (no Go);
    1 the build failed. The reason is one line on stderr.
    """
    try:
        path = ensure_binary()
    except CollectorBuildError as exc:
        hint = f" ({exc.hint})" if exc.hint else ""
        print(f"OpenTelemetry collector: {exc.message}{hint}", file=sys.stderr)
        return 3 if shutil.which("go") is None else 1
    print(f"OpenTelemetry collector {COLLECTOR_VERSION}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
