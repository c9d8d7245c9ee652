"""Real processes killed under real calls: a worker process, the LiveKit server, the cluster's Redis.

Every process here is a real one on 127.0.0.1 (``graphflow start``, ``livekit-server``,
``redis-server``) and is killed the way a machine loses it (SIGKILL, or Redis stopped),
in the middle of calls. Each test says in its docstring what livekit-server v1.13.5 and
the worker really do then, and asserts exactly that; docs/operations.md ("When a process
dies") sums it up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from livekit import api, rtc

from graphflow.livekit.server import LiveKitServer
from graphflow.worker.job import JobContext
from graphflow.worker.settings import LoadOptions, ReconnectOptions, WorkerOptions
from graphflow.worker.worker import Worker
from tests.livekit.conftest import RedisServer
from tests.livekit.peer import Peer
from tests.livekit.test_worker import Jobs, access, room_name, running
from tests.livekit.test_worker_process import get, two_free_ports
from tests.waiting import until, until_async, within

pytestmark = pytest.mark.livekit

AGENT = '''"""Joins, waits for its caller, writes which process serves the call, and holds the call."""

from __future__ import annotations

import json
import os
from pathlib import Path

from graphflow.worker.job import JobContext
from graphflow.worker.settings import LoadOptions, WorkerOptions

worker_options = WorkerOptions(
    agent_name=os.environ["FAULT_AGENT_NAME"],
    load=LoadOptions(max_jobs=1, interval_s=0.5),  # one call per process
    drain_timeout_s=2.0,
)


async def entrypoint(ctx: JobContext) -> None:
    await ctx.connect()
    await ctx.wait_for_participant()
    report = Path(os.environ["FAULT_REPORTS"]) / f"{ctx.room_name}.json"
    partial = report.with_suffix(".part")
    partial.write_text(json.dumps({"pid": os.getpid(), "job_id": ctx.job_id}))
    partial.replace(report)  # the report appears whole
'''
"""The agent file of the multi-process test (written next to the test's logs)."""

RETRY = re.compile(r"retrying in ([0-9.]+) s$")
"""How the worker logs a failed attempt to reach the server, with the delay before the next."""


def lk_api(server: LiveKitServer) -> api.LiveKitAPI:
    """The server API of ``server`` (room service, agent dispatch)."""
    return api.LiveKitAPI(server.http_url, server.options.api_key, server.options.api_secret)


async def dispatch(lk: api.LiveKitAPI, agent_name: str, room: str) -> None:
    """Ask the server to send the agent ``agent_name`` to ``room``."""
    await lk.agent_dispatch.create_dispatch(api.CreateAgentDispatchRequest(agent_name=agent_name, room=room))


async def wait_for_caller(ctx: JobContext) -> None:
    """What the in-process agents do after joining: wait (long) for their caller, then hold the call."""
    await ctx.wait_for_participant(timeout_s=300)


async def identities(lk: api.LiveKitAPI, room: str) -> set[str]:
    """Who the server lists in ``room``."""
    answer = await lk.room.list_participants(api.ListParticipantsRequest(room=room))
    return {p.identity for p in answer.participants}


async def worker_info(port: int) -> dict[str, Any] | None:
    """``/worker`` of the worker process whose health endpoint is on ``port`` (None if none answers)."""
    status, body = await get(f"http://127.0.0.1:{port}/worker")
    return dict(json.loads(body)) if status == 200 else None


def runs_job(info: dict[str, Any] | None, job_id: str) -> bool:
    """Whether a worker's ``/worker`` lists the job ``job_id``."""
    return info is not None and any(job["job_id"] == job_id for job in info["jobs"])


def group_alive(pgid: int) -> bool:
    """Whether any process of the process group ``pgid`` is left."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group ``process`` leads (the supervisor and its workers), then reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


@pytest.mark.timeout(150)  # about 16 s measured
async def test_a_worker_process_killed_mid_call_is_replaced_and_the_other_call_goes_on(
    fresh_server: LiveKitServer, tmp_path: Path
) -> None:
    """``graphflow start --processes 2``, two calls on two processes, one process SIGKILLed.

    What happens (livekit-server v1.13.5):

    * the supervisor sees the process gone within its 0.2 s poll, logs ``worker process I
      exited with -9; restarting it`` and starts a new one, which registers as a new
      worker (new id, same health port) about a second later;
    * the server closes the killed worker at once (its ``/agent`` socket died with the
      process: ``closing worker`` in its log). It cannot be told the job failed (only the
      worker holding a job may update it) and, left alone, would keep the dead agent in
      the room until its peer connection timed out (about 20 s). So the supervisor, which
      knows the process's jobs from its pipe, logs each as failed and removes its agent
      from the room through the server API: the caller sees the agent leave at once;
    * once the replacement has registered, the supervisor dispatches a new agent to the
      room, where the caller still waits; the replacement takes that job (the surviving
      process is full with its own call) and the call goes on with a new agent;
    * the other process and its call carry on untouched.
    """
    server = fresh_server
    agent = tmp_path / "agent.py"
    agent.write_text(AGENT)
    reports = tmp_path / "reports"
    reports.mkdir()
    name = room_name("faults")
    first_port = two_free_ports()
    ports = (first_port, first_port + 1)
    env = dict(
        os.environ,
        LIVEKIT_URL=server.url,
        LIVEKIT_API_KEY=server.options.api_key,
        LIVEKIT_API_SECRET=server.options.api_secret,
        FAULT_AGENT_NAME=name,
        FAULT_REPORTS=str(reports),
    )
    pool_log = tmp_path / "pool.log"
    command = [sys.executable, "-m", "graphflow.cli.main", "start", str(agent), "--processes", "2"]
    with pool_log.open("wb") as out:
        pool = subprocess.Popen(  # its own process group: the supervisor and its workers
            [*command, "--health-port", str(first_port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    lk = lk_api(server)
    peers: list[Peer] = []

    def pool_text() -> str:
        return pool_log.read_text(errors="replace")

    async def connected_workers() -> list[str]:
        assert pool.poll() is None, pool_text()
        infos = [await worker_info(port) for port in ports]
        ids = [info["worker_id"] for info in infos if info is not None and info["connected"]]
        return ids if len(ids) == len(ports) else []

    async def taken(room: str) -> dict[str, Any]:
        """What the agent of ``room`` reported once it took the call (the report is then removed)."""
        report = reports / f"{room}.json"
        await until(report.exists, f"an agent of {room} to take the call", timeout=30, interval=0.05)
        answer = dict(json.loads(report.read_text()))
        report.unlink()
        return answer

    async def call(room: str) -> dict[str, Any]:
        """A caller joins ``room``, the agent is dispatched; what it reported once it took the call."""
        peer = await Peer(server, f"caller-{room}", room).join()
        peers.append(peer)
        await dispatch(lk, name, room)
        answer = await taken(room)
        agent = f"agent-{answer['job_id']}"
        await until(lambda: agent in peer.room.remote_participants, f"the caller in {room} to see its agent")
        return answer

    async def port_running(job_id: str) -> int:
        for port in ports:
            if runs_job(await worker_info(port), job_id):
                return port
        raise AssertionError(f"no worker process lists job {job_id}")

    try:
        await until_async(connected_workers, "both worker processes to register", timeout=60, interval=0.1)
        killed_room, other_room = room_name("killed"), room_name("other")
        killed = await call(killed_room)
        other = await call(other_room)
        assert killed["pid"] != other["pid"]  # one call per process (max_jobs=1)
        killed_port, other_port = await port_running(killed["job_id"]), await port_running(other["job_id"])
        killed_info, other_info = await worker_info(killed_port), await worker_info(other_port)
        assert killed_info is not None and other_info is not None
        index = ports.index(killed_port)
        killed_agent, other_agent = f"agent-{killed['job_id']}", f"agent-{other['job_id']}"
        caller = peers[0].room
        left: list[str] = []
        caller.on("participant_disconnected", lambda p: left.append(p.identity))

        os.kill(killed["pid"], signal.SIGKILL)

        restart = f"worker process {index} exited with -9; restarting it"
        await until(lambda: restart in pool_text(), "the supervisor to log the restart", timeout=10)
        failed = f"job {killed['job_id']} in room {killed_room!r} failed: its worker process {index} exited"
        removed = f"job {killed['job_id']}: its agent {killed_agent} was removed from room {killed_room!r}"
        await until(lambda: removed in pool_text(), "the supervisor to remove the dead agent", timeout=15)
        assert failed in pool_text()
        server_log = server.log or Path()
        closed = re.compile(rf"closing worker.*{killed_info['worker_id']}")
        await until(
            lambda: closed.search(server_log.read_text(errors="replace")),
            "the server to close the killed worker",
            timeout=10,
        )
        assert killed_agent not in await identities(lk, killed_room)
        await until(
            lambda: killed_agent not in caller.remote_participants,
            "the caller to see the dead agent leave",
            timeout=30,
        )
        print("left events:", left, list(peers[1].room.remote_participants))

        async def replacement() -> str:
            info = await worker_info(killed_port)
            if info is None or not info["connected"] or info["worker_id"] == killed_info["worker_id"]:
                return ""
            return str(info["worker_id"])

        await until_async(replacement, "the replacement process to register", timeout=30, interval=0.1)
        # a new agent comes to the caller, served by the replacement: the survivor is full
        again = await taken(killed_room)
        assert again["job_id"] != killed["job_id"] and again["pid"] not in (killed["pid"], other["pid"])
        assert runs_job(await worker_info(killed_port), again["job_id"])
        assert f"job {killed['job_id']}: a new agent is dispatched to room {killed_room!r}" in pool_text()
        new_agent = f"agent-{again['job_id']}"
        await until(lambda: new_agent in caller.remote_participants, "the caller to see the new agent")
        assert await identities(lk, killed_room) == {f"caller-{killed_room}", new_agent}

        # the other call went on throughout: its agent in its room, its job on the same worker
        assert other_agent in await identities(lk, other_room)
        still = await worker_info(other_port)
        assert still is not None and still["worker_id"] == other_info["worker_id"]
        assert runs_job(still, other["job_id"])
        assert peers[1].room.isconnected() and other_agent in peers[1].room.remote_participants

        for peer in peers:
            await peer.leave()
        peers.clear()
        pool.send_signal(signal.SIGTERM)
        await until(
            lambda: pool.poll() is not None, "the pool to exit after SIGTERM", timeout=30, interval=0.1
        )
        assert pool.returncode == 0, pool_text()
        await until(lambda: not group_alive(pool.pid), "every process of the pool to exit", timeout=15)
    finally:
        for peer in peers:
            await peer.leave()
        await lk.aclose()
        if pool.poll() is None or group_alive(pool.pid):
            kill_group(pool)


@pytest.mark.timeout(150)  # about 30 s measured
async def test_a_killed_server_ends_the_calls_and_the_worker_comes_back_with_backoff(
    fresh_server: LiveKitServer, caplog: pytest.LogCaptureFixture
) -> None:
    """livekit-server SIGKILLed under two jobs and started again on the same port after they ended.

    What happens: the worker's ``/agent`` socket closes with the server; it retries at
    once, then after ``first_s``, doubling up to ``max_s`` (here 0.2, 0.4, 0.8, 1.0, 1.0 …
    s), each wait logged, never crashing. The agents' rooms are the LiveKit SDK's: it tries
    to resume, then to reconnect, and gives up after about 20 s — the room disconnects and
    each job ends ``success`` with the reason ``room disconnected``, also the job whose
    entrypoint was still waiting for a caller, and nothing of either job is left running.
    When a server answers on the port again the worker registers with it (a new worker id)
    and takes its jobs.
    """
    server = fresh_server
    name = room_name("phoenix")
    backoff = ReconnectOptions(first_s=0.2, factor=2.0, max_s=1.0)
    jobs = Jobs(wait_for_caller)
    worker = Worker(jobs, WorkerOptions(agent_name=name, reconnect=backoff), access=access(server))
    caplog.set_level(logging.INFO, logger="graphflow.worker")
    peers: list[Peer] = []
    try:
        async with running(worker):
            first_id = worker.worker_id
            call, waiting = room_name("call"), room_name("waiting")
            peers.append(await Peer(server, "caller", call).join())
            lk = lk_api(server)
            try:
                for room in (call, waiting):
                    await dispatch(lk, name, room)
            finally:
                await lk.aclose()
            in_call, idle = await jobs.wait_for(call), await jobs.wait_for(waiting)
            await until(lambda: in_call.room.remote_participants, "the agent to see its caller")
            await until(idle.room.isconnected, "the other agent to join its room, where nobody comes")

            assert server.process is not None
            killed_at = time.time()  # wall clock, like the log records' times
            server.process.kill()
            server.process.wait(10)
            server.stop()  # the process is gone; this closes its log

            await until(
                lambda: not worker.jobs, "both jobs to end with the server gone", timeout=60, interval=0.1
            )
            outcomes = {outcome.job_id: outcome for outcome in worker.outcomes}
            for ctx in (in_call, idle):
                outcome = outcomes[ctx.job_id]
                assert outcome.status == "success" and outcome.reason.startswith("room disconnected"), outcome
                assert not ctx.room.isconnected()
            left = [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("job ")]
            assert not left, left
            assert not worker.connected and not worker.registered.is_set()

            restarted_at = time.time()
            server.start()  # the same ports and keys
            async with within(30, "the worker to register with the new server"):
                await worker.registered.wait()
            assert worker.worker_id != first_id

            retries = [
                r for r in caplog.records if r.name == "graphflow.worker" and RETRY.search(r.getMessage())
            ]
            delays = [float(RETRY.search(r.getMessage()).group(1)) for r in retries]  # type: ignore[union-attr]
            expected = [min(backoff.first_s * backoff.factor**k, backoff.max_s) for k in range(len(delays))]
            assert delays == pytest.approx(expected), delays
            times = [r.created for r in retries]
            # it tried from the moment the server went until one answered again, each attempt
            # after its delay (plus the failed attempt itself), so the attempts are bounded
            assert times[0] - killed_at < 1.0 and restarted_at - times[-1] < backoff.max_s + 1.0
            for k, delay in enumerate(delays[:-1]):
                gap = times[k + 1] - times[k]
                assert delay - 0.05 <= gap <= delay + 1.0, (k, delay, gap)
            assert len(delays) <= 5 + (times[-1] - times[0]) / backoff.max_s

            after = room_name("after")
            peers.append(await Peer(server, "caller-after", after).join())
            lk = lk_api(server)
            try:
                await dispatch(lk, name, after)
            finally:
                await lk.aclose()
            ctx = await jobs.wait_for(after)
            await until(lambda: ctx.room.remote_participants, "the agent on the new server to see its caller")
            assert ctx.job_id in worker.jobs
    finally:
        for peer in peers:
            await peer.leave()


@pytest.mark.timeout(120)  # about 15 s measured
async def test_a_call_rides_out_a_server_restarted_at_once(fresh_server: LiveKitServer) -> None:
    """livekit-server SIGKILLed mid-call and started again on the same port straight away.

    What happens: the SDK's reconnect (of the agent and of the caller alike) joins the
    same room on the new server with the token it has, so the call goes on. The new
    server knows nothing of the job (the room it makes for the returning participants
    has no dispatch for the agent and no job); the worker registers with it under a new
    id and keeps running the job, which ends as usual when the caller leaves and the
    server closes the room.
    """
    server = fresh_server
    name = room_name("resume")
    jobs = Jobs(wait_for_caller)
    options = WorkerOptions(agent_name=name, reconnect=ReconnectOptions(first_s=0.2, max_s=1.0))
    worker = Worker(jobs, options, access=access(server))
    room = room_name("call")
    peer = await Peer(server, "caller", room).join()
    try:
        async with running(worker):
            first_id = worker.worker_id
            lk = lk_api(server)
            try:
                await dispatch(lk, name, room)
            finally:
                await lk.aclose()
            ctx = await jobs.wait_for(room)
            await until(lambda: ctx.room.remote_participants, "the agent to see its caller")
            reconnected: set[str] = set()
            ctx.room.on("reconnected", lambda: reconnected.add("agent"))
            peer.room.on("reconnected", lambda: reconnected.add("caller"))

            assert server.process is not None
            server.process.kill()
            server.process.wait(10)
            server.stop()
            server.start()

            await until(
                lambda: reconnected == {"agent", "caller"}, "both to rejoin on the new server", timeout=30
            )
            async with within(30, "the worker to register with the new server"):
                await worker.registered.wait()
            assert worker.worker_id != first_id
            lk = lk_api(server)
            try:
                assert await identities(lk, room) == {"caller", f"agent-{ctx.job_id}"}
                dispatches = await lk.agent_dispatch.list_dispatch(room)
                # the new server has no record of the job: no dispatch for the agent, no job at all
                assert name not in {dispatch.agent_name for dispatch in dispatches}
                assert not [job for dispatch in dispatches for job in dispatch.state.jobs]
            finally:
                await lk.aclose()
            assert ctx.job_id in worker.jobs and not ctx.ended
            await until(lambda: ctx.room.remote_participants, "the agent to see its caller again")

            await peer.leave()
            await until(
                lambda: not worker.jobs, "the job to end after the caller left", timeout=30, interval=0.1
            )
            [outcome] = worker.outcomes
            assert outcome.status == "success" and outcome.reason.startswith("room disconnected"), outcome
    finally:
        await peer.leave()


@pytest.mark.timeout(180)  # about 45 s measured
async def test_redis_stopped_under_a_cluster(
    cluster: tuple[LiveKitServer, LiveKitServer],
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Two nodes sharing Redis, a worker on node A, calls in a room on A and in a room on B; Redis stopped.

    What happens (livekit-server v1.13.5):

    * at once, everything that needs Redis fails fast with HTTP 500: a new dispatch
      (``could not get node for room``), a caller joining any room (the WebSocket
      handshake is refused), listing rooms. Nothing hangs;
    * the running calls go on at first — their media flows through the room's node —
      but their signalling is relayed over Redis even within one node, so about 10 s later
      the server drops the signal connections; the SDK's resumes and reconnects are
      refused (500) and after about 20 s more it gives up: each agent's room disconnects
      and its job ends (``success``, ``room disconnected``). A call is lost after ~35 s
      of Redis down, whichever node its room is on;
    * the worker stays registered throughout (its ``/agent`` socket is to node A itself):
      same worker id, no reconnect;
    * when Redis comes back (empty: nothing is persisted), the nodes register themselves
      again within a second or two; a room can be placed on node B again, a dispatch
      reaches the same worker, which serves it.
    """
    a, b = cluster
    name = room_name("redis")
    jobs = Jobs(wait_for_caller)
    worker = Worker(jobs, WorkerOptions(agent_name=name, load=LoadOptions(interval_s=0.5)), access=access(a))
    caplog.set_level(logging.INFO, logger="graphflow.worker")
    lk = lk_api(a)
    peers: list[Peer] = []
    try:
        async with running(worker):
            first_id = worker.worker_id
            calls: list[JobContext] = []
            for node, prefix in ((a, "on-a"), (b, "on-b")):
                room = room_name(prefix)
                await lk.room.create_room(api.CreateRoomRequest(name=room, node_id=node.node_id))
                peers.append(await Peer(node, "caller", room).join())
                await dispatch(lk, name, room)
                ctx = await jobs.wait_for(room, timeout=20)
                await until(lambda: ctx.room.remote_participants, f"the agent in {room} to see its caller")  # noqa: B023
                calls.append(ctx)

            redis_server.stop()
            stopped_at = time.monotonic()

            async with within(10, "a dispatch to be refused"):
                with pytest.raises(api.ServerError) as refused:
                    await lk.agent_dispatch.create_dispatch(
                        api.CreateAgentDispatchRequest(agent_name=name, room=room_name("refused"))
                    )
            assert refused.value.status == 500 and "could not get node for room" in refused.value.message
            async with within(20, "a new caller to be refused"):
                with pytest.raises(rtc.ConnectError):
                    await Peer(b, "late", room_name("late")).join()
            for ctx in calls:  # the calls are still up
                assert ctx.room.connection_state == rtc.ConnectionState.CONN_CONNECTED
                assert ctx.room.remote_participants and not ctx.ended

            await until(lambda: not worker.jobs, "the calls to be lost", timeout=75, interval=0.1)
            lost_after = time.monotonic() - stopped_at
            assert lost_after > 10, f"the calls were lost after {lost_after:.1f} s"
            outcomes = {outcome.job_id: outcome for outcome in worker.outcomes}
            for ctx in calls:
                outcome = outcomes[ctx.job_id]
                assert outcome.status == "success" and outcome.reason.startswith("room disconnected"), outcome
            assert worker.connected and worker.worker_id == first_id  # registered throughout
            assert not [r.getMessage() for r in caplog.records if RETRY.search(r.getMessage())]

            redis_server.start()
            back = room_name("back")

            async def placed_on_b() -> bool:
                with contextlib.suppress(api.ServerError):
                    await lk.room.create_room(api.CreateRoomRequest(name=back, node_id=b.node_id))
                    return True
                return False

            await until_async(placed_on_b, "node B to be known again", timeout=30, interval=0.25)
            peers.append(await Peer(b, "caller", back).join())
            await dispatch(lk, name, back)
            ctx = await jobs.wait_for(back, timeout=20)
            await until(lambda: ctx.room.remote_participants, "the agent to see the caller on node B")
            assert worker.worker_id == first_id
    finally:
        for peer in peers:
            await peer.leave()
        await lk.aclose()
