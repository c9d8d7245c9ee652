"""LiveKit's own cluster mode: two server nodes sharing one Redis, a worker on one of them."""

from __future__ import annotations

from pathlib import Path

import pytest
from livekit import api

from graphflow.livekit.server import LiveKitServer
from graphflow.worker.settings import LoadOptions, WorkerOptions
from graphflow.worker.worker import Worker
from tests.livekit.peer import Peer
from tests.livekit.test_worker import Jobs, access, room_name, running
from tests.waiting import until

pytestmark = pytest.mark.livekit


async def test_a_worker_on_node_a_serves_rooms_placed_on_node_b(
    cluster: tuple[LiveKitServer, LiveKitServer],
) -> None:
    a, b = cluster
    assert a.node_id and b.node_id and a.node_id != b.node_id
    jobs = Jobs()
    async with running(Worker(jobs, WorkerOptions(agent_name="far"), access=access(a))):
        room = room_name("on-b")
        lk = api.LiveKitAPI(b.http_url, b.options.api_key, b.options.api_secret)
        try:
            created = await lk.room.create_room(api.CreateRoomRequest(name=room, node_id=b.node_id))
            assert created.name == room
            peer = await Peer(b, "caller", room).join()
            try:
                await lk.agent_dispatch.create_dispatch(
                    api.CreateAgentDispatchRequest(agent_name="far", room=room)
                )
                ctx = await jobs.wait_for(room, timeout=20)
                # the agent joined through node A; the caller, on node B, sees it in the room
                await until(
                    lambda: any(i.startswith("agent-") for i in peer.room.remote_participants),
                    "the caller on node B to see the agent",
                    timeout=15,
                    interval=0.05,
                )
                assert ctx.room.isconnected() and ctx.room.name == room
            finally:
                await peer.leave()
        finally:
            await lk.aclose()
    b_log = (b.log or Path()).read_text(errors="replace")
    assert f'"room": "{room}"' in b_log and "starting RTC session" in b_log


async def test_jobs_spread_over_workers_on_both_nodes(cluster: tuple[LiveKitServer, LiveKitServer]) -> None:
    a, b = cluster
    first, second = Jobs(), Jobs()
    options = WorkerOptions(agent_name="spread", load=LoadOptions(max_jobs=2, interval_s=0.5))
    async with (
        running(Worker(first, options, access=access(a))),
        running(Worker(second, options, access=access(b))),
    ):
        lk = api.LiveKitAPI(a.http_url, a.options.api_key, a.options.api_secret)
        try:
            rooms = [room_name("spread") for _ in range(4)]
            for index, room in enumerate(rooms):
                node = (a, b)[index % 2].node_id
                await lk.room.create_room(api.CreateRoomRequest(name=room, node_id=node))
                await lk.agent_dispatch.create_dispatch(
                    api.CreateAgentDispatchRequest(agent_name="spread", room=room)
                )
                await first_or_second(first, second, room)
        finally:
            await lk.aclose()
        assert len(first.started) == 2 and len(second.started) == 2


async def first_or_second(first: Jobs, second: Jobs, room: str) -> None:
    """Wait until one of the two workers started the job of ``room``."""
    await until(
        lambda: room in first.started or room in second.started,
        f"either worker to start the job of {room}",
        20,
    )
