"""A job: one agent in one room, run by an entrypoint that receives a :class:`JobContext`.

The entrypoint connects to the room, usually builds an ``AgentSession`` graph with the
room nodes and starts it with :meth:`JobContext.run_session`. The job lasts until the
room disconnects or :meth:`JobContext.shutdown` is called; an exception in the
entrypoint or in work it spawned ends the job as failed and touches no other job.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from livekit import rtc
from livekit.protocol import agent as proto

from graphflow.agent.options import SessionOptions, with_overrides
from graphflow.errors import ConfigError, GraphflowError
from graphflow.livekit.room import E2EESettings, RoomSettings, connect_room

if TYPE_CHECKING:
    from graphflow.agent.session import AgentSession

log = logging.getLogger("graphflow.worker")

Entrypoint = Callable[["JobContext"], Awaitable[None]]
"""What a worker runs for each job."""
Prewarm = Callable[..., Awaitable[None]]
"""Run once per worker process before it registers (load models, open pools); it takes no
argument, or the session options every job of the worker starts from (``--set`` applied)."""
ShutdownCallback = Callable[[str], Awaitable[None]]
"""Called with the reason when the job ends."""


def takes_options(prewarm: Prewarm) -> bool | None:
    """Whether ``prewarm`` takes the session options (a positional parameter); None if it needs more."""
    params = [
        p
        for p in inspect.signature(prewarm).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if sum(p.default is p.empty for p in params) > 1:
        return None
    return bool(params)


class JobOutcome(msgspec.Struct, frozen=True):
    """How a job ended: ``success``, ``failed`` (with the error) or ``cancelled``, and after how long."""

    job_id: str
    status: str
    error: str = ""
    reason: str = ""
    seconds: float = 0.0


class JobContext:
    """Everything an entrypoint needs: the job, its room, and how to end it."""

    def __init__(
        self,
        job: proto.Job,
        *,
        url: str,
        token: str,
        shutdown_timeout_s: float = 10.0,
        session_overrides: tuple[str, ...] = (),
    ) -> None:
        self.job = job
        options = with_overrides(SessionOptions(), session_overrides)
        if options.record.folder:  # one recording per job: --set record.folder=DIR holds them all
            record = msgspec.structs.replace(options.record, folder=str(Path(options.record.folder) / job.id))
            options = msgspec.structs.replace(options, record=record)
        self.session_options = options
        """The options a session of this job should be built with (the worker's ``--set`` applied)."""
        self.url = url
        self.token = token
        self.room = rtc.Room()
        self.shutdown_timeout_s = shutdown_timeout_s
        self.sessions: list[AgentSession] = []
        self.started_at = time.time()
        self.reason = ""
        self._connected = False
        self._connecting: asyncio.Task[rtc.Room] | None = None
        self._ended = asyncio.Event()
        self._callbacks: list[ShutdownCallback] = []
        self._group: asyncio.TaskGroup | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._session_hooks: list[Callable[[AgentSession], object]] = []
        self.room.on("disconnected", self._on_disconnected)

    # ---------------------------------------------------------------- the job
    @property
    def job_id(self) -> str:
        """The job's id, given by the server."""
        return str(self.job.id)

    @property
    def room_name(self) -> str:
        """The name of the job's room."""
        return str(self.job.room.name)

    @property
    def metadata(self) -> str:
        """The metadata of the dispatch that created this job (often JSON)."""
        return str(self.job.metadata)

    @property
    def agent_name(self) -> str:
        """The agent name the job was dispatched to (empty for automatic dispatch)."""
        return str(self.job.agent_name)

    # ----------------------------------------------------------------- room
    async def connect(
        self, *, e2ee: E2EESettings | None = None, auto_subscribe: bool = True, timeout_s: float = 15.0
    ) -> rtc.Room:
        """Join the job's room as the agent participant (``e2ee``: the room's shared key).

        If the job ends while this waits, the attempt itself still runs to its end (the room
        is left afterwards): the LiveKit SDK ends the whole process when a connect is
        abandoned half-way.
        """
        settings = RoomSettings(url=self.url, token=self.token, auto_subscribe=auto_subscribe, e2ee=e2ee)
        settings = msgspec.structs.replace(settings, connect_timeout_s=timeout_s)
        attempt = asyncio.get_running_loop().create_task(
            connect_room(settings, room=self.room), name=f"job {self.job_id}: connect"
        )
        self._connecting = attempt
        await asyncio.shield(attempt)
        self._connected = True
        return self.room

    async def wait_for_participant(
        self, identity: str = "", *, timeout_s: float = 30.0
    ) -> rtc.RemoteParticipant:
        """The first remote participant (or the one named ``identity``) once it is in the room."""
        found: asyncio.Future[rtc.RemoteParticipant] = asyncio.get_running_loop().create_future()

        def check(participant: rtc.RemoteParticipant) -> None:
            if not found.done() and (not identity or participant.identity == identity):
                found.set_result(participant)

        for participant in self.room.remote_participants.values():
            check(participant)
        self.room.on("participant_connected", check)
        try:
            return await asyncio.wait_for(found, timeout_s)
        finally:
            self.room.off("participant_connected", check)

    # ------------------------------------------------------------- lifetime
    def spawn(self, work: Coroutine[Any, Any, Any], name: str = "") -> asyncio.Task[Any]:
        """Run ``work`` as part of the job: if it fails, the job fails; it is cancelled when the job ends."""
        if self._group is None:
            raise ConfigError("the job is not running; spawn work from the entrypoint")
        task = self._group.create_task(work, name=f"job {self.job_id}: {name or 'work'}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def run_session(self, session: AgentSession) -> asyncio.Task[Any]:
        """Run ``session`` for the life of the job (its crash fails this job only)."""
        self.sessions.append(session)
        for hook in self._session_hooks:
            hook(session)

        async def run() -> None:
            await session.run()
            if session.errors and any(e.fatal for e in session.errors):
                raise GraphflowError(session.errors[-1].message, code="session.failed")

        return self.spawn(run(), "session")

    def add_shutdown_callback(self, callback: ShutdownCallback) -> None:
        """Call ``callback(reason)`` when the job ends (before the room is left)."""
        self._callbacks.append(callback)

    def on_session(self, hook: Callable[[AgentSession], object]) -> None:
        """Call ``hook`` with every session this job runs (the worker's metrics use it)."""
        self._session_hooks.append(hook)

    def shutdown(self, reason: str = "") -> None:
        """End the job: sessions stop, shutdown callbacks run, the agent leaves the room."""
        if not self._ended.is_set():
            self.reason = reason or "shutdown requested"
            self._ended.set()

    @property
    def ended(self) -> bool:
        """Whether the job has been asked to end (or its room went away)."""
        return self._ended.is_set()

    def _on_disconnected(self, reason: object = None) -> None:
        self.shutdown(f"room disconnected ({reason})")


async def run_job(ctx: JobContext, entrypoint: Entrypoint) -> JobOutcome:
    """Run one job to its end and say how it ended; never raises (but cancellation)."""
    error: BaseException | None = None
    try:
        async with asyncio.TaskGroup() as group:
            ctx._group = group
            await _enter(ctx, entrypoint)
            await _until_done(ctx)
            for session in ctx.sessions:
                session.stop()
            for task in list(ctx._tasks):
                task.cancel()
    except Exception as exc:  # the entrypoint or a task it spawned failed
        error = exc.exceptions[0] if isinstance(exc, BaseExceptionGroup) and exc.exceptions else exc
        log.error("job %s failed: %s", ctx.job_id, error, exc_info=error)
    finally:
        ctx._group = None
        await _close(ctx, "job failed" if error is not None else ctx.reason or "job done")
    seconds = time.time() - ctx.started_at
    if error is not None:
        return JobOutcome(ctx.job_id, "failed", f"{type(error).__name__}: {error}", ctx.reason, seconds)
    return JobOutcome(ctx.job_id, "success", "", ctx.reason, seconds)


async def _enter(ctx: JobContext, entrypoint: Entrypoint) -> None:
    """Run the entrypoint; if the job is told to end first, cancel it instead of waiting for it.

    An entrypoint still waiting (for its caller, say) when the room is lost, the server
    terminates the job or the worker drains would otherwise hold the job open until its
    own timeout.
    """
    work = asyncio.ensure_future(entrypoint(ctx))
    ended = asyncio.ensure_future(ctx._ended.wait())
    try:
        await asyncio.wait([work, ended], return_when=asyncio.FIRST_COMPLETED)
    finally:
        ended.cancel()
        if not work.done():
            work.cancel()
            await asyncio.wait([work])  # let it unwind before the room is left
    if not work.cancelled():
        work.result()  # the entrypoint's own error fails the job


async def _until_done(ctx: JobContext) -> None:
    """Wait until the job is asked to end, its room goes away, or (never connected) its work is done."""
    ended = asyncio.ensure_future(ctx._ended.wait())
    try:
        while not ended.done():
            live = [t for t in ctx._tasks if not t.done()]
            if not ctx._connected and not live:
                return
            await asyncio.wait([ended, *live], return_when=asyncio.FIRST_COMPLETED)
    finally:
        ended.cancel()


async def _close(ctx: JobContext, reason: str) -> None:
    for callback in ctx._callbacks:
        try:
            await asyncio.wait_for(callback(reason), ctx.shutdown_timeout_s)
        except Exception as exc:
            log.warning("job %s: shutdown callback failed: %s", ctx.job_id, exc)
    connecting = ctx._connecting
    if connecting is not None:  # a connect still under way ends first (see JobContext.connect)
        await asyncio.wait([connecting])
        if not connecting.cancelled():
            connecting.exception()  # the job is over: its error, if any, was the entrypoint's to see
    with contextlib.suppress(Exception):
        await asyncio.wait_for(ctx.room.disconnect(), 5.0)
