"""The Worker: registers with a LiveKit server as an agent, takes the jobs it dispatches.

It speaks the agent protocol on ``/agent``: register (agent name, namespace, job type,
permissions), answer availability requests, accept assignments and run each job on
this event loop, report ``UpdateWorkerStatus`` with the load it measures and
``UpdateJobStatus`` when a job ends, and end jobs the server terminates. When the
server goes away it reconnects with backoff while running jobs carry on; ``drain()``
(on SIGTERM) reports full, lets jobs finish up to a timeout, then closes.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from typing import Any

from livekit.protocol import agent as proto
from livekit.protocol import models

from graphflow import __version__
from graphflow.agent.options import SessionOptions, with_overrides
from graphflow.runtime.heap import collect_garbage, freeze_loaded
from graphflow.runtime.stats import LatencyStats
from graphflow.worker.health import HealthOptions, HealthServer, JobEntry, WorkerInfo
from graphflow.worker.job import Entrypoint, JobContext, JobOutcome, Prewarm, run_job, takes_options
from graphflow.worker.ledger import JobClosed, JobLedger, JobOpened, Registered
from graphflow.worker.load import LoadMeter
from graphflow.worker.metrics import WorkerMetrics
from graphflow.worker.protocol import AgentSocket, WorkerAuthError, WorkerConnectionError, worker_token
from graphflow.worker.settings import ServerAccess, WorkerOptions

log = logging.getLogger("graphflow.worker")

JOB_TYPES = {"room": proto.JobType.JT_ROOM, "publisher": proto.JobType.JT_PUBLISHER}
"""Job types by option name."""

RECENT_OUTCOMES = 256
"""How many of the latest job outcomes a worker keeps (``Worker.outcomes``)."""


class Worker:
    """An agent worker: one connection to the server, many jobs on one event loop."""

    def __init__(
        self,
        entrypoint: Entrypoint,
        options: WorkerOptions | None = None,
        *,
        access: ServerAccess | None = None,
        prewarm: Prewarm | None = None,
        ledger: JobLedger | None = None,
    ) -> None:
        self.entrypoint = entrypoint
        self.ledger = ledger
        """Where a supervising process learns of this worker's jobs (``graphflow start --processes``)."""
        self.prewarm = prewarm
        """Run once before registering (``prewarm()`` of an agent file)."""
        self.options = options or WorkerOptions()
        if self.options.job_type not in JOB_TYPES:
            from graphflow.errors import ConfigError

            raise ConfigError(f"unknown job type {self.options.job_type!r}", hint="room or publisher")
        self.access = access or ServerAccess.from_env()
        self.meter = LoadMeter(self.options.load.lag_budget_ms)
        self.metrics = WorkerMetrics()
        self.worker_id = ""
        self.connected = False
        self.draining = False
        self.load = 0.0
        self.jobs: dict[str, JobContext] = {}
        self.outcomes: collections.deque[JobOutcome] = collections.deque(maxlen=RECENT_OUTCOMES)
        """The latest jobs' outcomes, oldest first (the oldest are dropped)."""
        self.ended: collections.Counter[str] = collections.Counter()
        """How many jobs ended, by status (success, failed, cancelled)."""
        self.collections = LatencyStats()
        """How long the full garbage collection after each job held the event loop (ns)."""
        self.registered = asyncio.Event()
        """Set once the server can send this worker jobs (see :meth:`_register`)."""
        self.health: HealthServer | None = None
        self._closing = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._socket: AgentSocket | None = None
        self._group: asyncio.TaskGroup | None = None
        self._unsent: list[proto.WorkerMessage] = []
        self._reported = ""

    # ---------------------------------------------------------------- running
    async def run(self) -> None:
        """Serve until :meth:`close` (or :meth:`drain`) is called; jobs are awaited or cancelled.

        Raises :class:`WorkerAuthError` if the server refuses the worker's credentials.
        """
        try:
            await self._run()
        except BaseExceptionGroup as group:
            if len(group.exceptions) == 1 and isinstance(group.exceptions[0], WorkerAuthError):
                raise group.exceptions[0] from None
            raise

    async def _run(self) -> None:
        async with asyncio.TaskGroup() as group:
            self._group = group
            probe = group.create_task(self.meter.probe(), name="worker: loop lag probe")
            if self.options.health_port >= 0:
                self.health = HealthServer(
                    HealthOptions(host=self.options.health_host, port=self.options.health_port),
                    info=self.info,
                    metrics=self.metrics,
                )
                await self.health.start()
            try:
                if self.prewarm is not None:  # before registering: no job waits for it
                    if takes_options(self.prewarm):
                        await self.prewarm(with_overrides(SessionOptions(), self.options.session_overrides))
                    else:
                        await self.prewarm()
                    freeze_loaded()  # what prewarm loaded lives as long as the process
                await self._connection_loop()
            finally:
                probe.cancel()
                for ctx in list(self.jobs.values()):
                    ctx.shutdown("worker closed")
                if self.health is not None:
                    await self.health.close()
        self._group = None

    async def drain(self, timeout_s: float | None = None) -> None:
        """Take no new jobs, let running jobs finish (up to the drain timeout), then close."""
        if self.draining:
            return
        self.draining = True
        log.info("draining: %d job(s) running", len(self.jobs))
        await self._report_status(force=True)
        limit = self.options.drain_timeout_s if timeout_s is None else timeout_s
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), limit)
        for ctx in list(self.jobs.values()):
            ctx.shutdown("worker draining: timeout")
        await self._idle.wait()
        self.close()

    def close(self) -> None:
        """Stop now: leave the server; running jobs are told to end."""
        self._closing.set()

    def info(self) -> WorkerInfo:
        """What the health endpoint shows about this worker."""
        return WorkerInfo(
            worker_id=self.worker_id,
            agent_name=self.options.agent_name,
            url=self.access.url,
            connected=self.connected,
            status=self._status_name(),
            load=round(self.load, 4),
            jobs=[
                JobEntry(job_id=c.job_id, room=c.room_name, started_at=c.started_at, status="running")
                for c in self.jobs.values()
            ],
            sessions=sum(len(c.sessions) for c in self.jobs.values()),
            version=self.options.version or __version__,
        )

    # ------------------------------------------------------------- connection
    async def _connection_loop(self) -> None:
        backoff = self.options.reconnect
        delay = backoff.first_s
        while not self._closing.is_set():
            try:  # a fresh short-lived token for every connection: one from hours ago has expired
                socket = await AgentSocket.open(self.access, worker_token(self.access))
            except WorkerAuthError:
                raise
            except WorkerConnectionError as exc:
                log.warning("%s; retrying in %.2f s", exc.message, delay)
                await self._sleep_unless_closing(delay)
                delay = min(delay * backoff.factor, backoff.max_s)
                continue
            try:
                await self._register(socket)
                delay = backoff.first_s
                await self._serve(socket)
            except WorkerConnectionError as exc:
                log.warning("connection to %s lost: %s", self.access.url, exc.message)
            finally:
                self.connected = False
                self._socket = None
                self.registered.clear()
                await socket.close()

    async def _register(self, socket: AgentSocket) -> None:
        o = self.options
        p = o.permissions
        request = proto.RegisterWorkerRequest(
            type=JOB_TYPES[o.job_type],
            agent_name=o.agent_name,
            version=o.version or __version__,
            namespace=o.namespace,
            allowed_permissions=models.ParticipantPermission(
                can_publish=p.can_publish,
                can_subscribe=p.can_subscribe,
                can_publish_data=p.can_publish_data,
                can_update_metadata=p.can_update_metadata,
                hidden=p.hidden,
                agent=True,
            ),
        )
        await socket.send(proto.WorkerMessage(register=request))
        answer = await asyncio.wait_for(socket.receive(), 10.0)
        if not answer.HasField("register"):
            raise WorkerConnectionError(f"expected a register answer, got {answer.WhichOneof('message')}")
        self.worker_id = answer.register.worker_id
        self._socket = socket
        self.connected = True
        self._reported = ""
        # livekit-server answers the register request before it routes jobs to the worker (and
        # before its dispatchers learn the agent name): a dispatch made at once may be dropped.
        # It reads the worker's next message only after that, so its pong means "jobs reach me".
        await socket.send(proto.WorkerMessage(ping=proto.WorkerPing(timestamp=int(time.time() * 1000))))
        unsent, self._unsent = self._unsent, []
        for message in unsent:
            await socket.send(message)
        await self._report_status(force=True)

    def _ready(self) -> None:
        """The server answered the first ping: it routes jobs to this worker now."""
        if self.registered.is_set():
            return
        self.registered.set()
        if self.ledger is not None:
            self.ledger.send(Registered(self.worker_id))
        name = self.options.agent_name
        log.info("registered as %s with %s (agent %r)", self.worker_id, self.access.url, name)

    async def _serve(self, socket: AgentSocket) -> None:
        assert self._group is not None
        tasks: list[asyncio.Task[Any]] = [
            asyncio.ensure_future(self._receive(socket)),
            asyncio.ensure_future(self._report_loop()),
            asyncio.ensure_future(self._closing.wait()),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            error = None if task.cancelled() else task.exception()
            if error is not None:
                raise error

    async def _receive(self, socket: AgentSocket) -> None:
        while True:
            message = await socket.receive()
            kind = message.WhichOneof("message")
            if kind == "availability":
                await self._answer_availability(socket, message.availability)
            elif kind == "assignment":
                self._start_job(message.assignment)
            elif kind == "termination":
                ctx = self.jobs.get(message.termination.job_id)
                if ctx is not None:
                    ctx.shutdown("terminated by the server")
            elif kind == "pong":
                self._ready()

    async def _answer_availability(self, socket: AgentSocket, request: proto.AvailabilityRequest) -> None:
        job = request.job
        available = self._status_name() == "available"
        identity = self._identity(job.id)
        answer = proto.AvailabilityResponse(
            job_id=job.id,
            available=available,
            participant_identity=identity,
            participant_name=self.options.agent_name or self.options.identity_prefix,
        )
        log.info("job %s for room %r: %s", job.id, job.room.name, "accepted" if available else "declined")
        await socket.send(proto.WorkerMessage(availability=answer))

    def _identity(self, job_id: str) -> str:
        return f"{self.options.identity_prefix}-{job_id}"

    def _start_job(self, assignment: proto.JobAssignment) -> None:
        assert self._group is not None
        job = assignment.job
        url = assignment.url or self.access.ws_url
        ctx = JobContext(
            job,
            url=url,
            token=assignment.token,
            shutdown_timeout_s=self.options.shutdown_timeout_s,
            session_overrides=self.options.session_overrides,
        )
        ctx.on_session(self.metrics.watch)
        self.jobs[job.id] = ctx
        self._idle.clear()
        self.metrics.job_started()
        if self.ledger is not None:
            identity = self._identity(job.id)
            self.ledger.send(JobOpened(job.id, job.room.name, identity, job.agent_name, job.metadata))
        self._group.create_task(self._job(ctx), name=f"job {job.id}")
        self._group.create_task(self._report_status(), name="worker: status")

    async def _job(self, ctx: JobContext) -> None:
        try:
            outcome = await run_job(ctx, self.entrypoint)
        except asyncio.CancelledError:
            outcome = JobOutcome(ctx.job_id, "cancelled", "worker shut down", "cancelled")
            self._finish(ctx, outcome)
            raise
        self._finish(ctx, outcome)
        del ctx  # the job's session and room become garbage: collect it now (see collect_garbage)
        found, took = collect_garbage()
        self.collections.add(took)
        log.debug("after the job: %d objects of cyclic garbage collected in %.1f ms", found, took / 1e6)
        await self._report_status()

    def _finish(self, ctx: JobContext, outcome: JobOutcome) -> None:
        self.jobs.pop(ctx.job_id, None)
        if not self.jobs:
            self._idle.set()
        for session in ctx.sessions:
            self.metrics.unwatch(session)
        self.outcomes.append(outcome)
        self.ended[outcome.status] += 1
        if self.ledger is not None:
            self.ledger.send(JobClosed(ctx.job_id))
        self.metrics.job_finished(outcome.status)
        status = proto.JobStatus.JS_SUCCESS if outcome.status == "success" else proto.JobStatus.JS_FAILED
        update = proto.UpdateJobStatus(job_id=ctx.job_id, status=status, error=outcome.error)
        self._send_soon(proto.WorkerMessage(update_job=update))
        log.info("job %s ended: %s %s", ctx.job_id, outcome.status, outcome.error or outcome.reason)

    # ------------------------------------------------------------------ load
    async def _report_loop(self) -> None:
        while True:
            await asyncio.sleep(self.options.load.interval_s)
            self.load = self.meter.sample()
            await self._report_status(force=True)

    async def _report_status(self, *, force: bool = False) -> None:
        status = self._status_name()
        self.metrics.set_load(self.load, status)
        if self._socket is None or (not force and status == self._reported):
            return
        self._reported = status
        update = proto.UpdateWorkerStatus(
            status=proto.WorkerStatus.WS_AVAILABLE if status == "available" else proto.WorkerStatus.WS_FULL,
            load=self.load,
            job_count=len(self.jobs),
        )
        with contextlib.suppress(WorkerConnectionError):
            await self._socket.send(proto.WorkerMessage(update_worker=update))

    def _status_name(self) -> str:
        if self.draining:
            return "draining"
        limit = self.options.load
        if self.load >= limit.full_at or (limit.max_jobs and len(self.jobs) >= limit.max_jobs):
            return "full"
        return "available"

    # --------------------------------------------------------------- helpers
    def _send_soon(self, message: proto.WorkerMessage) -> None:
        socket, group = self._socket, self._group
        if socket is None or group is None:
            self._unsent.append(message)
            return

        async def send() -> None:
            try:
                await socket.send(message)
            except WorkerConnectionError:
                self._unsent.append(message)

        group.create_task(send(), name="worker: send")

    async def _sleep_unless_closing(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)
