"""``graphflow playground AGENT.py``: a LiveKit server, a watched worker and the page, on 127.0.0.1.

When ``LIVEKIT_URL`` is not set, a development ``livekit-server`` (from the cache, see
``make livekit-server``) is started on free loopback ports with the development key
pair; otherwise the configured server is used. The worker runs in a child process
(``python -m graphflow.playground.worker``) with its health endpoint on a free port;
it is restarted when a ``.py`` file beside AGENT.py changes or when it exits. The web
server prints the page's address and runs until SIGINT or SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import tempfile
import warnings
from pathlib import Path

import msgspec
from jwt.warnings import InsecureKeyLengthWarning

from graphflow.livekit.server import DEV_KEY, DEV_SECRET, LiveKitServer, ServerOptions, free_port, free_ports
from graphflow.playground.web import PlaygroundServer
from graphflow.worker.settings import KEY_ENV, SECRET_ENV, URL_ENV, ServerAccess

log = logging.getLogger("graphflow.playground")

DEFAULT_PORT = 8780
"""The page's port when it is free (otherwise any free port)."""
RESTART_DELAY_S = 2.0
"""Pause before a worker that exited is started again."""


class PlaygroundOptions(msgspec.Struct, frozen=True, kw_only=True):
    """What ``graphflow playground`` runs: the agent file, the page's port, session overrides."""

    agent: str
    agent_name: str = ""
    """The agent file's name for explicit dispatch (the page's rooms ask for it)."""
    port: int = DEFAULT_PORT
    overrides: tuple[str, ...] = ()
    log_level: str = "INFO"
    workdir: str = ""
    """Where the server's log goes (default: a new temporary folder)."""


def _stamp(folder: Path) -> tuple[tuple[str, float], ...]:
    return tuple(sorted((str(p), p.stat().st_mtime) for p in folder.glob("*.py") if p.is_file()))


class Playground:
    """The three processes of a playground and their supervision."""

    def __init__(self, options: PlaygroundOptions) -> None:
        self.options = options
        self.workdir = Path(options.workdir or tempfile.mkdtemp(prefix="graphflow-playground-"))
        self.server: LiveKitServer | None = None
        self.access: ServerAccess | None = None
        self.health_port = free_port()
        self.web: PlaygroundServer | None = None
        self.worker: asyncio.subprocess.Process | None = None
        self._stop = asyncio.Event()
        self.folder = Path(options.agent).resolve().parent
        """Where the agent's files are (a change there restarts the worker)."""

    def start_server(self) -> ServerAccess:
        """The configured server, or a development server started here when none is."""
        if os.environ.get(URL_ENV):
            return ServerAccess.from_env()
        self.server = LiveKitServer(
            ServerOptions(ports=free_ports(), log_level="info"), log=self.workdir / "livekit-server.log"
        ).start()
        print(f"graphflow playground: livekit-server --dev on {self.server.url}", flush=True)
        # the development key pair is shorter than a production HMAC key, knowingly: no warning per token
        warnings.filterwarnings("ignore", category=InsecureKeyLengthWarning)
        return ServerAccess(self.server.url, DEV_KEY, DEV_SECRET)

    async def start_worker(self) -> asyncio.subprocess.Process:
        """The watched worker in a child process; the key pair goes in its environment."""
        assert self.access is not None
        o = self.options
        command = [sys.executable, "-m", "graphflow.playground.worker", o.agent]
        command += ["--health-port", str(self.health_port), "--log-level", o.log_level]
        if o.agent_name:
            command += ["--agent-name", o.agent_name]
        for change in o.overrides:
            command += ["--set", change]
        a = self.access
        env = dict(os.environ, **{URL_ENV: a.url, KEY_ENV: a.api_key, SECRET_ENV: a.api_secret})
        return await asyncio.create_subprocess_exec(*command, env=env)

    async def run(self) -> int:
        """Start everything, print the page's address, supervise until asked to stop."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._stop.set)
        try:
            self.access = await asyncio.to_thread(self.start_server)
            self.worker = await self.start_worker()
            self.web = await self._start_web()
            print(f"graphflow playground: open {self.web.url}", flush=True)
            await self._supervise()
        finally:
            await self._shutdown()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
        return 0

    async def _start_web(self) -> PlaygroundServer:
        assert self.access is not None
        health = f"http://127.0.0.1:{self.health_port}/"
        name = self.options.agent_name
        web = PlaygroundServer(self.access, health_url=health, agent_name=name, port=self.options.port)
        try:
            await web.start()
        except OSError:
            if self.options.port == 0:
                raise
            log.warning("port %d is taken; the page gets a free one", self.options.port)
            web = PlaygroundServer(self.access, health_url=health, agent_name=name, port=0)
            await web.start()
        return web

    async def _supervise(self) -> None:
        folder = self.folder
        stamp = _stamp(folder)
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 0.5)
            worker = self.worker
            if worker is not None and worker.returncode is not None:
                print(
                    f"graphflow playground: the worker exited with {worker.returncode}; restarting it",
                    file=sys.stderr,
                    flush=True,
                )
                await asyncio.sleep(RESTART_DELAY_S)
                self.worker = await self.start_worker()
            elif _stamp(folder) != stamp:
                stamp = _stamp(folder)
                print("graphflow playground: files changed, restarting the worker", file=sys.stderr)
                await self._stop_worker()
                self.worker = await self.start_worker()

    async def _stop_worker(self) -> None:
        worker, self.worker = self.worker, None
        if worker is None or worker.returncode is not None:
            return
        for _ in range(2):  # the first SIGTERM drains the worker, a second one closes it at once
            worker.terminate()
            try:
                await asyncio.wait_for(worker.wait(), 3.0)
                return
            except TimeoutError:
                continue
        worker.kill()
        await worker.wait()

    async def _shutdown(self) -> None:
        await self._stop_worker()
        if self.web is not None:
            await self.web.close()
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)


def run_playground(options: PlaygroundOptions) -> int:
    """Run a playground until SIGINT or SIGTERM."""
    return asyncio.run(Playground(options).run())
