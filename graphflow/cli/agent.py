"""``graphflow dev|start|connect AGENT.py``: put an agent into LiveKit rooms.

``start`` runs a production worker (one or more processes) that registers with the
server and takes the jobs it dispatches; ``dev`` does the same with debug logs and
restarts the worker when the agent's files change; ``connect`` joins one named room
directly, without dispatch. The server and keys come from ``LIVEKIT_URL``,
``LIVEKIT_API_KEY`` and ``LIVEKIT_API_SECRET`` (or the flags).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import msgspec

from graphflow.cli.overrides import add_set_argument


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``dev``, ``start`` and ``connect`` sub-commands."""
    start = commands.add_parser(
        "start",
        help="run an agent worker for production",
        description="Register AGENT.py's entrypoint with a LiveKit server and run the jobs it dispatches; "
        "SIGTERM drains (reports full, lets jobs finish, then exits).",
    )
    _common(start)
    _live_view(start)
    start.add_argument("--processes", type=int, default=1, help="worker processes (0: one per core)")
    start.set_defaults(handler=run_start)

    dev = commands.add_parser(
        "dev",
        help="run an agent worker for development (debug logs, restart on change)",
        description="Like start, with debug logs, one process, and a restart whenever a .py file next to "
        "AGENT.py changes.",
    )
    _common(dev)
    _live_view(dev)
    dev.add_argument(
        "--playground", action="store_true", help="also serve the browser playground (docs/playground.md)"
    )
    dev.add_argument("--port", type=int, default=None, help="with --playground: the page's port")
    dev.set_defaults(handler=run_dev)

    connect = commands.add_parser(
        "connect",
        help="run an agent in one room, without dispatch",
        description="Join the room NAME as the agent and run AGENT.py's entrypoint until the room ends.",
    )
    _common(connect)
    connect.add_argument("--room", required=True, help="the room to join")
    connect.add_argument("--identity", default="", help="the agent's participant identity")
    connect.set_defaults(handler=run_connect)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "agent", help="a Python file defining async entrypoint(ctx) (and maybe worker_options)"
    )
    parser.add_argument("--url", default="", help="LiveKit server URL (default: $LIVEKIT_URL)")
    parser.add_argument("--api-key", default="", help="API key (default: $LIVEKIT_API_KEY)")
    parser.add_argument("--api-secret", default="", help="API secret (default: $LIVEKIT_API_SECRET)")
    parser.add_argument("--agent-name", default=None, help="register for explicit dispatch under this name")
    parser.add_argument("--health-port", type=int, default=None, help="health and metrics port (0: any)")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    add_set_argument(parser)


def _live_view(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--live-view", action="store_true", help="publish each session's live figures (the playground's page)"
    )


def _setup(args: argparse.Namespace, level: str | None = None) -> tuple[object, object]:
    from graphflow.worker.agent_file import load_agent
    from graphflow.worker.settings import ServerAccess

    logging.basicConfig(
        level=getattr(logging, (level or args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    access = ServerAccess.from_env(args.url, args.api_key, args.api_secret)
    program = load_agent(args.agent)
    options = program.options
    if args.agent_name is not None:
        options = msgspec.structs.replace(options, agent_name=args.agent_name)
    if args.health_port is not None:
        options = msgspec.structs.replace(options, health_port=args.health_port)
    if getattr(args, "live_view", False):
        options = msgspec.structs.replace(options, live_view=True)
    if args.set:
        from graphflow.agent.options import SessionOptions, with_overrides

        with_overrides(SessionOptions(), args.set)  # a wrong key fails here, not in every job
        options = msgspec.structs.replace(options, session_overrides=tuple(args.set))
    return access, options


def run_start(args: argparse.Namespace) -> int:
    """Serve the agent in one or more worker processes until SIGTERM."""
    from graphflow.worker.serve import run_agent, serve_processes
    from graphflow.worker.settings import ServerAccess, WorkerOptions

    access, options = _setup(args)
    assert isinstance(access, ServerAccess) and isinstance(options, WorkerOptions)
    processes = args.processes if args.processes > 0 else (os.cpu_count() or 1)
    if processes == 1:
        run_agent(args.agent, access, options)
        return 0
    return serve_processes(args.agent, access, options, processes)


def run_dev(args: argparse.Namespace) -> int:
    """Run ``start`` in a child process and restart it when the agent's files change.

    With ``--playground`` the worker's sessions are watched and the page is served too
    (``graphflow playground``)."""
    if args.playground:
        from graphflow.cli import playground

        if args.log_level == "INFO":
            args.log_level = "DEBUG"
        return playground.run(args)
    from graphflow.worker.settings import KEY_ENV, SECRET_ENV, URL_ENV, ServerAccess

    access, _ = _setup(args, "DEBUG")
    assert isinstance(access, ServerAccess)
    folder = Path(args.agent).resolve().parent
    command = [sys.executable, "-m", "graphflow.cli.main", "start", args.agent, "--log-level", "DEBUG"]
    for flag in ("agent_name", "health_port"):
        value = getattr(args, flag)
        if value not in (None, ""):
            command += [f"--{flag.replace('_', '-')}", str(value)]
    for change in args.set:
        command += ["--set", change]
    if args.live_view:
        command.append("--live-view")
    # the key pair goes to the worker in its environment: a command line is visible to every user
    env = dict(os.environ, **{URL_ENV: access.url, KEY_ENV: access.api_key, SECRET_ENV: access.api_secret})
    while True:
        stamp = _stamp(folder)
        child = subprocess.Popen(command, env=env)
        try:
            while child.poll() is None and _stamp(folder) == stamp:
                time.sleep(0.5)
        except KeyboardInterrupt:
            child.terminate()
            child.wait()
            return 0
        if child.poll() is None:
            print("graphflow dev: files changed, restarting the worker", file=sys.stderr)
            child.terminate()
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        else:
            print(
                f"graphflow dev: worker exited with {child.returncode}; waiting for a change", file=sys.stderr
            )
            while _stamp(folder) == stamp:
                time.sleep(0.5)


def _stamp(folder: Path) -> tuple[tuple[str, float], ...]:
    return tuple(sorted((str(p), p.stat().st_mtime) for p in folder.glob("*.py") if p.is_file()))


def run_connect(args: argparse.Namespace) -> int:
    """Run the entrypoint in one room until it ends."""
    from graphflow.worker.serve import connect_room
    from graphflow.worker.settings import ServerAccess

    access, _ = _setup(args)
    assert isinstance(access, ServerAccess)
    outcome = asyncio.run(connect_room(args.agent, access, args.room, args.identity, tuple(args.set)))
    print(f"job {outcome.job_id}: {outcome.status} {outcome.error or outcome.reason}")
    return 0 if outcome.status == "success" else 1
