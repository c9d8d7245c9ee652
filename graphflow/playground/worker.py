"""A worker whose every session is watched: the agent file's entrypoint, with a live view attached.

``python -m graphflow.playground.worker AGENT.py`` serves AGENT.py like ``graphflow start``
does, but each session a job runs (``JobContext.run_session``) gets a
:class:`~graphflow.playground.live.LiveView` in the same room, so any agent shows its
graph in the playground without a line of its own. Its sessions are traced
(``--set trace=true``): the view shows handler times.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import warnings

import msgspec
from jwt.warnings import InsecureKeyLengthWarning

from graphflow.livekit.server import DEV_KEY, DEV_SECRET
from graphflow.playground.live import LiveOptions, attach
from graphflow.worker.agent_file import AgentProgram, load_agent
from graphflow.worker.job import Entrypoint, JobContext
from graphflow.worker.serve import serve
from graphflow.worker.settings import ServerAccess, WorkerOptions
from graphflow.worker.worker import Worker

TRACE = "trace=true"
"""The session override that turns on handler timing (what the view's handler times need)."""


def watched(entrypoint: Entrypoint, options: LiveOptions | None = None) -> Entrypoint:
    """``entrypoint``, with a live view attached to every session its jobs run."""

    async def run(ctx: JobContext) -> None:
        ctx.on_session(lambda session: attach(session, ctx.room, ctx.spawn, options))
        await entrypoint(ctx)

    return run


def watch_sessions(entrypoint: Entrypoint, options: WorkerOptions) -> tuple[Entrypoint, WorkerOptions]:
    """``entrypoint`` with live views, and ``options`` with traced sessions (``WorkerOptions.live_view``)."""
    overrides = options.session_overrides
    if TRACE not in overrides:
        options = msgspec.structs.replace(options, session_overrides=(TRACE, *overrides))
    return watched(entrypoint), options


def playground_worker(program: AgentProgram, access: ServerAccess, options: WorkerOptions) -> Worker:
    """A worker running ``program`` with live views and traced sessions."""
    entrypoint, options = watch_sessions(program.entrypoint, options)
    return Worker(entrypoint, options, access=access, prewarm=program.prewarm)


def main(argv: list[str] | None = None) -> int:
    """Serve an agent file with live views until SIGTERM/SIGINT (the server from the environment)."""
    parser = argparse.ArgumentParser(prog="python -m graphflow.playground.worker")
    parser.add_argument("agent")
    parser.add_argument("--health-port", type=int, default=0)
    parser.add_argument("--agent-name", default=None)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper(), logging.INFO),
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    program = load_agent(args.agent)
    options = msgspec.structs.replace(
        program.options,
        health_port=args.health_port,
        session_overrides=(*program.options.session_overrides, *args.set),
    )
    if args.agent_name is not None:
        options = msgspec.structs.replace(options, agent_name=args.agent_name)
    access = ServerAccess.from_env()
    if (access.api_key, access.api_secret) == (DEV_KEY, DEV_SECRET):  # knowingly short: no warning per token
        warnings.filterwarnings("ignore", category=InsecureKeyLengthWarning)
    worker = playground_worker(program, access, options)
    asyncio.run(serve(worker))
    return 0


if __name__ == "__main__":
    sys.exit(main())
