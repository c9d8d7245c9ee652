"""Running workers as a program: signals, several processes, and a connection to one room.

``serve`` runs one worker until SIGTERM or SIGINT, which drain it. ``serve_processes``
runs one worker per process (each registers with the server on its own, and the
server spreads jobs over them by the load each reports), restarts a process that
dies, and forwards SIGTERM so every process drains. ``connect_room`` runs the
entrypoint for one named room without any dispatch.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import multiprocessing
import os
import signal
import time
import uuid
from collections.abc import Coroutine
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

import msgspec
from livekit import api
from livekit.protocol import agent as proto
from livekit.protocol import models

from graphflow.worker.agent_file import load_agent
from graphflow.worker.job import JobContext, JobOutcome, run_job
from graphflow.worker.ledger import JobLedger, JobOpened, ProcessJobs
from graphflow.worker.lost import end_lost_jobs, redispatch_lost_jobs
from graphflow.worker.settings import Permissions, ServerAccess, WorkerOptions
from graphflow.worker.worker import Worker

log = logging.getLogger("graphflow.worker")

T = TypeVar("T")


async def serve(worker: Worker) -> None:
    """Run ``worker`` until a signal: SIGTERM/SIGINT drain it (a second one closes it at once)."""
    loop = asyncio.get_running_loop()
    drains: set[asyncio.Task[None]] = set()

    def on_signal(signum: int) -> None:
        if worker.draining:
            log.warning("signal %d again: closing now", signum)
            worker.close()
            return
        log.info("signal %d: draining", signum)
        drains.add(loop.create_task(worker.drain()))

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        await worker.run()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        for task in drains:
            task.cancel()
        await asyncio.gather(*drains, return_exceptions=True)


def run_agent(
    path: str, access: ServerAccess, options: WorkerOptions | None = None, ledger: JobLedger | None = None
) -> None:
    """Load the agent at ``path`` and serve it in this process (``ledger``: to a supervising process)."""
    program = load_agent(path)
    options = options or program.options
    entrypoint = program.entrypoint
    if options.live_view:  # every session's figures into its room, for the playground's page
        from graphflow.playground.worker import watch_sessions

        entrypoint, options = watch_sessions(entrypoint, options)
    worker = Worker(entrypoint, options, access=access, prewarm=program.prewarm, ledger=ledger)
    asyncio.run(serve(worker))


def _child(path: str, access: bytes, options: bytes, index: int, ledger: Connection) -> None:
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s [{index}] %(name)s %(levelname)s %(message)s"
    )
    opts = msgspec.json.decode(options, type=WorkerOptions)
    if opts.health_port > 0:
        opts = msgspec.structs.replace(opts, health_port=opts.health_port + index)
    run_agent(path, msgspec.json.decode(access, type=ServerAccess), opts, JobLedger(ledger))


def serve_processes(path: str, access: ServerAccess, options: WorkerOptions, processes: int) -> int:
    """Run ``processes`` workers, one per process, until SIGTERM/SIGINT; restart any that dies.

    The signal handler only records the signal; the loop forwards it to every worker
    process, so a process started while a signal arrives (a restart) gets it too. The
    jobs of a process that dies are ended in their rooms and, once its replacement has
    registered, dispatched again where a caller waits (see ``graphflow.worker.lost``).
    """
    context = multiprocessing.get_context("spawn")
    args = (path, msgspec.json.encode(access), msgspec.json.encode(options))
    children: dict[int, tuple[BaseProcess, ProcessJobs]] = {}
    lost: dict[int, list[JobOpened]] = {}
    """Jobs of a dead process, dispatched again once its replacement registered."""
    redispatched: collections.deque[str] = collections.deque(maxlen=1024)
    """Rooms that got a new agent already (once per room: a call that kills its process stops there)."""
    received: list[int] = []
    stopping = False

    def start(index: int) -> None:
        receiving, sending = context.Pipe(duplex=False)
        child = context.Process(target=_child, args=(*args, index, sending), name=f"graphflow-worker-{index}")
        child.start()
        sending.close()
        children[index] = (child, ProcessJobs(receiving))

    def on_signal(signum: int, frame: object) -> None:
        received.append(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    for index in range(processes):
        start(index)
    while True:
        while received:  # each signal to each worker: the first drains it, a second closes it
            number = received.pop(0)
            stopping = True
            lost.clear()
            for child, _ in children.values():
                if child.pid is not None and child.is_alive():
                    os.kill(child.pid, number)
        for index, (child, jobs) in list(children.items()):
            jobs.read()
            if child.is_alive():
                if jobs.registered and lost.get(index):
                    again = [job for job in lost.pop(index) if job.room not in redispatched]
                    redispatched.extend(_recover(redispatch_lost_jobs(access, again), []))
                continue
            jobs.close()
            children.pop(index)
            why = f"its worker process {index} exited with {child.exitcode}"
            if jobs.open:
                _recover(end_lost_jobs(access, list(jobs.open.values()), why), None)
            if not stopping:
                log.warning("worker process %d exited with %s; restarting it", index, child.exitcode)
                if options.redispatch_lost and jobs.open:
                    lost.setdefault(index, []).extend(jobs.open.values())
                start(index)
        if stopping and not children:
            return 0
        time.sleep(0.2)


def _recover(work: Coroutine[Any, Any, T], failed: T) -> T:
    """Run one recovery call against the server (bounded); on any failure log it and return ``failed``."""
    try:
        return asyncio.run(asyncio.wait_for(work, 30.0))
    except Exception as exc:  # the supervisor goes on whatever the server says
        log.warning("recovering the jobs of a dead worker process failed: %s", exc)
        return failed


def room_token(access: ServerAccess, room: str, identity: str, permissions: Permissions) -> str:
    """A token to join ``room`` as the agent ``identity``, granting no more than ``permissions``."""
    grants = api.VideoGrants(
        room_join=True,
        room=room,
        agent=True,
        can_publish=permissions.can_publish,
        can_subscribe=permissions.can_subscribe,
        can_publish_data=permissions.can_publish_data,
        can_update_own_metadata=permissions.can_update_metadata,
        hidden=permissions.hidden,
    )
    token = api.AccessToken(access.api_key, access.api_secret).with_identity(identity).with_grants(grants)
    return token.to_jwt()


async def connect_room(
    path: str, access: ServerAccess, room: str, identity: str = "", session_overrides: tuple[str, ...] = ()
) -> JobOutcome:
    """Run the agent at ``path`` in ``room`` directly (no worker, no dispatch) until it ends."""
    program = load_agent(path)
    identity = identity or f"{program.options.identity_prefix}-{uuid.uuid4().hex[:8]}"
    token = room_token(access, room, identity, program.options.permissions)
    job = proto.Job(
        id=f"local-{uuid.uuid4().hex[:12]}",
        type=proto.JobType.JT_ROOM,
        room=models.Room(name=room),
        agent_name=program.options.agent_name,
    )
    ctx = JobContext(job, url=access.ws_url, token=token, session_overrides=session_overrides)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, ctx.shutdown, f"signal {signum}")
    try:
        return await run_job(ctx, program.entrypoint)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
