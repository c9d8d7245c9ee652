"""The worker against a real livekit-server: dispatch, jobs, load, reconnects, drain, bad tokens."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from livekit import api

from graphflow.agent.options import SessionOptions
from graphflow.livekit.server import LiveKitServer
from graphflow.worker.job import JobContext
from graphflow.worker.protocol import AgentSocket, WorkerAuthError
from graphflow.worker.settings import LoadOptions, ServerAccess, WorkerOptions
from graphflow.worker.worker import Worker
from tests.livekit.peer import Peer
from tests.waiting import until, within

pytestmark = pytest.mark.livekit


def access(server: LiveKitServer) -> ServerAccess:
    """The worker's settings for ``server``."""
    return ServerAccess(server.url, server.options.api_key, server.options.api_secret)


def room_name(prefix: str) -> str:
    """A room name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Jobs:
    """An entrypoint that joins the room and records what it was given."""

    def __init__(self, action: Callable[[JobContext], Awaitable[None]] | None = None) -> None:
        self.started: dict[str, JobContext] = {}
        self.action = action
        self.arrived = asyncio.Event()

    async def __call__(self, ctx: JobContext) -> None:
        self.started[ctx.room_name] = ctx
        self.arrived.set()
        await ctx.connect()
        if self.action is not None:
            await self.action(ctx)

    async def wait_for(self, room: str, timeout: float = 15.0) -> JobContext:
        """The job of ``room`` once it started."""
        async with within(timeout, f"a job for room {room}"):
            while room not in self.started:
                self.arrived.clear()
                await self.arrived.wait()
        return self.started[room]


@contextlib.asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[Worker]:
    """Run ``worker`` for the block; wait until it registered; close it after."""
    task = asyncio.ensure_future(worker.run())
    try:
        await asyncio.wait_for(worker.registered.wait(), 15)
        yield worker
    finally:
        worker.close()
        await asyncio.wait_for(task, 20)


async def test_automatic_dispatch_runs_a_job_per_room(livekit_server: LiveKitServer) -> None:
    jobs = Jobs()
    async with running(Worker(jobs, WorkerOptions(), access=access(livekit_server))) as worker:
        room = room_name("auto")
        peer = await Peer(livekit_server, "user", room).join()
        try:
            ctx = await jobs.wait_for(room)
            await until(
                lambda: any(p.startswith("agent-") for p in peer.room.remote_participants),
                "the user to see the agent join",
            )
            assert ctx.room.name == room
            assert ctx.job_id in worker.jobs
        finally:
            await peer.leave()
        await until(lambda: not worker.jobs, "the job to end after the user left", timeout=30)
        assert [o.status for o in worker.outcomes] == ["success"]


async def test_explicit_dispatch_by_agent_name_and_token(livekit_server: LiveKitServer) -> None:
    jobs = Jobs()
    options = WorkerOptions(agent_name="booker")
    async with running(Worker(jobs, options, access=access(livekit_server))):
        # 1. through AgentDispatchService
        room = room_name("explicit")
        lk = api.LiveKitAPI(
            livekit_server.http_url, livekit_server.options.api_key, livekit_server.options.api_secret
        )
        try:
            await lk.room.create_room(api.CreateRoomRequest(name=room))
            await lk.agent_dispatch.create_dispatch(
                api.CreateAgentDispatchRequest(agent_name="booker", room=room, metadata='{"table": 4}')
            )
            ctx = await jobs.wait_for(room)
            assert ctx.agent_name == "booker"
            assert ctx.metadata == '{"table": 4}'
            ctx.shutdown("test done")
        finally:
            await lk.aclose()
        # 2. through the room configuration in a participant's token
        room2 = room_name("token")
        config = api.RoomConfiguration(agents=[api.RoomAgentDispatch(agent_name="booker", metadata="vip")])
        peer = await Peer(livekit_server, "guest", room2).join(room_config=config)
        try:
            ctx2 = await jobs.wait_for(room2)
            assert ctx2.metadata == "vip"
        finally:
            await peer.leave()


async def test_a_dispatch_right_after_registering_reaches_the_worker(livekit_server: LiveKitServer) -> None:
    # the server caches which agent names have workers; a worker is registered (for us) only once
    # the server routes jobs to it, so a dispatch made at that moment is never dropped
    lk = api.LiveKitAPI(
        livekit_server.http_url, livekit_server.options.api_key, livekit_server.options.api_secret
    )
    try:
        for attempt in range(4):
            # fill the server's cache of agent names while this worker's name is not in it
            await lk.agent_dispatch.create_dispatch(
                api.CreateAgentDispatchRequest(agent_name="nobody", room=room_name("nobody"))
            )
            name = f"eager-{attempt}-{uuid.uuid4().hex[:6]}"
            jobs = Jobs()
            async with running(Worker(jobs, WorkerOptions(agent_name=name), access=access(livekit_server))):
                room = room_name("eager")
                await lk.agent_dispatch.create_dispatch(
                    api.CreateAgentDispatchRequest(agent_name=name, room=room)
                )
                ctx = await jobs.wait_for(room, timeout=10.0)
                ctx.shutdown("test done")
    finally:
        await lk.aclose()


async def test_a_worker_with_a_name_gets_no_automatic_jobs(livekit_server: LiveKitServer) -> None:
    named = Jobs()
    async with running(Worker(named, WorkerOptions(agent_name="quiet"), access=access(livekit_server))):
        room = room_name("unnamed")
        peer = await Peer(livekit_server, "user", room).join()
        try:
            with pytest.raises(TimeoutError):
                await named.wait_for(room, timeout=2.0)
        finally:
            await peer.leave()


async def test_a_failing_job_fails_alone(livekit_server: LiveKitServer) -> None:
    async def action(ctx: JobContext) -> None:
        if ctx.room_name.startswith("crash"):
            raise RuntimeError("the agent broke")

    jobs = Jobs(action)
    options = WorkerOptions(agent_name="fragile")
    async with running(Worker(jobs, options, access=access(livekit_server))) as worker:
        good, bad = room_name("fine"), room_name("crash")
        lk = api.LiveKitAPI(
            livekit_server.http_url, livekit_server.options.api_key, livekit_server.options.api_secret
        )
        try:
            for room in (good, bad):
                await lk.agent_dispatch.create_dispatch(
                    api.CreateAgentDispatchRequest(agent_name="fragile", room=room)
                )
            ok = await jobs.wait_for(good)
            await jobs.wait_for(bad)
            await until(
                lambda: any(o.status == "failed" for o in worker.outcomes), "the crashed job's outcome"
            )
            failed = [o for o in worker.outcomes if o.status == "failed"]
            assert len(failed) == 1 and "the agent broke" in failed[0].error
            assert ok.job_id in worker.jobs and not ok.ended  # the other job runs on
        finally:
            await lk.aclose()


async def test_two_workers_share_jobs_by_load(livekit_server: LiveKitServer) -> None:
    first, second = Jobs(), Jobs()
    one_each = WorkerOptions(agent_name="pair", load=LoadOptions(max_jobs=2, interval_s=0.5))
    a = Worker(first, one_each, access=access(livekit_server))
    b = Worker(second, one_each, access=access(livekit_server))
    lk = api.LiveKitAPI(
        livekit_server.http_url, livekit_server.options.api_key, livekit_server.options.api_secret
    )
    async with running(a), running(b):
        rooms = [room_name("pair") for _ in range(4)]
        try:
            for room in rooms:
                await lk.agent_dispatch.create_dispatch(
                    api.CreateAgentDispatchRequest(agent_name="pair", room=room)
                )
                await until(
                    lambda: room in first.started or room in second.started,  # noqa: B023
                    f"either worker to start the job of {room}",
                )
        finally:
            await lk.aclose()
        assert len(first.started) == 2 and len(second.started) == 2
        assert a.info().status == "full" and b.info().status == "full"


async def test_worker_reconnects_after_the_server_restarts(fresh_server: LiveKitServer) -> None:
    jobs = Jobs()
    worker = Worker(jobs, WorkerOptions(agent_name="phoenix"), access=access(fresh_server))
    async with running(worker):
        first_id = worker.worker_id
        fresh_server.stop()
        await until(lambda: not worker.connected, "the worker to see the server go")
        fresh_server.start()
        await asyncio.wait_for(worker.registered.wait(), 30)
        assert worker.connected and worker.worker_id != first_id
        room = room_name("after-restart")
        lk = api.LiveKitAPI(
            fresh_server.http_url, fresh_server.options.api_key, fresh_server.options.api_secret
        )
        try:
            await lk.agent_dispatch.create_dispatch(
                api.CreateAgentDispatchRequest(agent_name="phoenix", room=room)
            )
        finally:
            await lk.aclose()
        await jobs.wait_for(room)


@pytest.mark.timeout(90)  # about 20 s measured
async def test_drain_takes_no_new_jobs_and_waits_for_running_ones(livekit_server: LiveKitServer) -> None:
    async def hold(ctx: JobContext) -> None:
        ctx.spawn(asyncio.sleep(1.5), "short job")  # the job ends when this work is done

    jobs = Jobs(hold)
    worker = Worker(jobs, WorkerOptions(agent_name="drainer"), access=access(livekit_server))
    lk = api.LiveKitAPI(
        livekit_server.http_url, livekit_server.options.api_key, livekit_server.options.api_secret
    )
    task = asyncio.ensure_future(worker.run())
    try:
        await asyncio.wait_for(worker.registered.wait(), 15)
        room = room_name("drain")
        await lk.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(agent_name="drainer", room=room)
        )
        await jobs.wait_for(room)
        drain = asyncio.ensure_future(worker.drain(timeout_s=20))
        await until(lambda: worker.info().status == "draining", "the worker to report draining")
        late = room_name("late")
        await lk.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(agent_name="drainer", room=late)
        )
        await asyncio.wait_for(drain, 25)
        await asyncio.wait_for(task, 10)
        assert late not in jobs.started
        assert [o.status for o in worker.outcomes] == ["success"]
    finally:
        worker.close()
        await lk.aclose()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)


async def test_a_token_without_the_agent_grant_is_refused_clearly(livekit_server: LiveKitServer) -> None:
    creds = access(livekit_server)
    plain = (
        api.AccessToken(creds.api_key, creds.api_secret)
        .with_identity("not-an-agent")
        .with_grants(api.VideoGrants(room_join=True, room="x"))
        .to_jwt()
    )
    with pytest.raises(WorkerAuthError) as refused:
        await AgentSocket.open(creds, plain)
    assert "agent grant" in str(refused.value)
    wrong = ServerAccess(creds.url, creds.api_key, "not-the-secret")
    worker = Worker(Jobs(), WorkerOptions(), access=wrong)
    with pytest.raises(WorkerAuthError):
        await asyncio.wait_for(worker.run(), 15)


async def test_a_session_that_crashes_fails_its_job_only(livekit_server: LiveKitServer) -> None:
    from graphflow.agent.pipeline import PipelineIO, StageOverrides
    from graphflow.agent.session import AgentSession
    from graphflow.bench.standins import StandInSTT, StandInTTS
    from graphflow.conversation.playout import Playout, Timeline
    from graphflow.models import ModelHub
    from nodes.audio.tone import ToneSource
    from nodes.io.file_sink import FileSink
    from tests.fixtures import model_cache

    class Broken(ToneSource):
        async def run(self) -> None:
            raise ValueError("a stage broke")

    def broken_io(timeline: Timeline, playout: Playout) -> PipelineIO:
        return PipelineIO(Broken(name="source"), FileSink(name="sink", playout=playout))

    async def action(ctx: JobContext) -> None:
        if ctx.room_name.startswith("broken"):
            stand_ins = StageOverrides(stt=StandInSTT([], name="stt"), tts=StandInTTS(name="tts"))
            ctx.run_session(AgentSession(io=broken_io, overrides=stand_ins, hub=ModelHub(model_cache())))
        else:
            ctx.spawn(asyncio.sleep(60), "keep going")

    jobs = Jobs(action)
    async with running(
        Worker(jobs, WorkerOptions(agent_name="sessions"), access=access(livekit_server))
    ) as worker:
        healthy, broken = room_name("healthy"), room_name("broken")
        lk = api.LiveKitAPI(
            livekit_server.http_url, livekit_server.options.api_key, livekit_server.options.api_secret
        )
        try:
            for room in (healthy, broken):
                await lk.agent_dispatch.create_dispatch(
                    api.CreateAgentDispatchRequest(agent_name="sessions", room=room)
                )
            await jobs.wait_for(healthy)
            await until(
                lambda: any(o.status == "failed" for o in worker.outcomes), "the broken job's outcome"
            )
        finally:
            await lk.aclose()
        failed = [o for o in worker.outcomes if o.status == "failed"]
        assert len(failed) == 1 and "a stage broke" in failed[0].error
        assert jobs.started[healthy].job_id in worker.jobs  # the healthy job is untouched


async def test_a_full_worker_gets_no_jobs(livekit_server: LiveKitServer) -> None:
    busy, idle = Jobs(), Jobs()
    name = "capacity"
    always_full = WorkerOptions(agent_name=name, load=LoadOptions(full_at=0.0))
    async with (
        running(Worker(busy, always_full, access=access(livekit_server))) as full,
        running(Worker(idle, WorkerOptions(agent_name=name), access=access(livekit_server))),
    ):
        assert full.info().status == "full"
        lk = api.LiveKitAPI(
            livekit_server.http_url, livekit_server.options.api_key, livekit_server.options.api_secret
        )
        try:
            rooms = [room_name("capacity") for _ in range(3)]
            for room in rooms:
                await lk.agent_dispatch.create_dispatch(
                    api.CreateAgentDispatchRequest(agent_name=name, room=room)
                )
            for room in rooms:
                await idle.wait_for(room)
        finally:
            await lk.aclose()
        assert not busy.started


async def test_prewarm_runs_before_the_worker_registers(livekit_server: LiveKitServer) -> None:
    order: list[str] = []

    async def prewarm() -> None:
        await asyncio.sleep(0.2)
        order.append("prewarmed")

    worker = Worker(Jobs(), WorkerOptions(agent_name="warm"), access=access(livekit_server), prewarm=prewarm)
    async with running(worker):
        order.append("registered")
    assert order == ["prewarmed", "registered"]

    # a prewarm that takes an argument gets the session options of the worker's jobs, --set applied
    given: list[SessionOptions] = []

    async def prewarm_for(options: SessionOptions) -> None:
        given.append(options)

    options = WorkerOptions(agent_name="warm", session_overrides=("stt.name=moonshine",))
    async with running(Worker(Jobs(), options, access=access(livekit_server), prewarm=prewarm_for)):
        pass
    assert [o.stt.name for o in given] == ["moonshine"]
