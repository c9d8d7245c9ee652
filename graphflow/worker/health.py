"""The worker's HTTP endpoints: health (``/``), state (``/worker``) and Prometheus metrics (``/metrics``).

:class:`HealthServer` is a small aiohttp application bound to one host and port. It asks
the worker for a :class:`WorkerInfo` on every request, so what it shows is always
current: ``GET /`` answers 200 ``OK`` while the worker is connected to its LiveKit server
and 503 with the reason otherwise (what a load balancer or a Kubernetes probe checks);
``GET /worker`` gives the whole ``WorkerInfo`` as JSON; ``GET /metrics`` gives the
:class:`~graphflow.worker.metrics.WorkerMetrics` in the Prometheus text format.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import TracebackType

import msgspec
from aiohttp import web

from graphflow.errors import ConfigError
from graphflow.worker.metrics import CONTENT_TYPE, WorkerMetrics

log = logging.getLogger("graphflow.worker")

SHUTDOWN_GRACE_S = 2.0
"""How long ``close()`` lets requests in progress finish."""


class JobEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One job the worker is running."""

    job_id: str
    room: str
    started_at: float
    """Wall-clock time the job started (Unix seconds)."""
    status: str = "running"


class WorkerInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What the worker is and is doing, as ``GET /worker`` shows it."""

    worker_id: str = ""
    agent_name: str = ""
    url: str = ""
    """The LiveKit server the worker registers with."""
    connected: bool = False
    status: str = "available"
    """``available``, ``full`` or ``draining``."""
    load: float = 0.0
    jobs: list[JobEntry] = msgspec.field(default_factory=list)
    sessions: int = 0
    version: str = ""


class HealthOptions(msgspec.Struct, frozen=True):
    """Where the endpoints listen; port 0 picks a free port (``HealthServer.port`` tells which)."""

    host: str = "127.0.0.1"
    port: int = 8081


class HealthServer:
    """Serves ``/``, ``/worker`` and ``/metrics`` for one worker until :meth:`close`."""

    def __init__(
        self,
        options: HealthOptions | None = None,
        *,
        info: Callable[[], WorkerInfo],
        metrics: WorkerMetrics,
    ) -> None:
        self.options = options or HealthOptions()
        self.info = info
        self.metrics = metrics
        self._runner: web.AppRunner | None = None
        self._port = 0

    @property
    def port(self) -> int:
        """The port the server listens on (the bound one once started)."""
        return self._port or self.options.port

    @property
    def url(self) -> str:
        """The server's base URL (once started)."""
        host = self.options.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    def app(self) -> web.Application:
        """The aiohttp application with the three routes."""
        app = web.Application()
        app.router.add_get("/", self._health)
        app.router.add_get("/worker", self._worker)
        app.router.add_get("/metrics", self._metrics)
        return app

    async def start(self) -> None:
        """Bind to the configured host and port and start serving."""
        if self._runner is not None:
            raise ConfigError("the health server is already running")
        runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=SHUTDOWN_GRACE_S)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.options.host, self.options.port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        log.info("health and metrics on %s", self.url)

    async def close(self) -> None:
        """Stop serving (requests in progress get a short grace period)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> HealthServer:
        """Start serving (``async with HealthServer(...) as server``)."""
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop serving."""
        await self.close()

    # ---------------------------------------------------------------- routes
    async def _health(self, request: web.Request) -> web.Response:
        try:
            info = self.info()
        except Exception as exc:
            log.warning("worker info failed: %s", exc)
            return web.Response(status=503, text=f"worker info unavailable: {type(exc).__name__}\n")
        if not info.connected:
            return web.Response(status=503, text="not connected to the LiveKit server\n")
        return web.Response(text="OK")

    async def _worker(self, request: web.Request) -> web.Response:
        body = msgspec.json.encode(self.info())
        return web.Response(body=body, content_type="application/json")

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE})
