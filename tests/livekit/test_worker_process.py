"""``graphflow start`` as a real process: health and metrics endpoints, SIGTERM drain."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from livekit import api

from graphflow.livekit.server import LiveKitServer, free_port
from tests.livekit.peer import Peer
from tests.livekit.test_worker import room_name
from tests.waiting import until, until_async, within

pytestmark = pytest.mark.livekit

AGENT = Path(__file__).parent / "agents" / "brief.py"


def two_free_ports() -> int:
    """A port P such that P and P + 1 are both free on loopback."""
    for _ in range(100):
        port = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two consecutive free ports")


async def get(url: str) -> tuple[int, str]:
    """Status and body of a GET (status 0 if nothing answers)."""
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(url, timeout=aiohttp.ClientTimeout(total=2)) as r,
        ):
            return r.status, await r.text()
    except (aiohttp.ClientError, OSError, TimeoutError):
        return 0, ""


async def test_start_serves_health_and_drains_on_sigterm(
    livekit_server: LiveKitServer, tmp_path: Path
) -> None:
    port = free_port()
    env = agent_env(livekit_server, "sigterm", "3")
    log = (tmp_path / "worker.log").open("wb")
    command = [sys.executable, "-m", "graphflow.cli.main", "start", str(AGENT), "--health-port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    lk = api.LiveKitAPI(
        livekit_server.http_url, livekit_server.options.api_key, livekit_server.options.api_secret
    )

    async def healthy() -> bool:
        assert process.poll() is None, (tmp_path / "worker.log").read_text()
        return (await get(base + "/"))[0] == 200

    async def listed(text: str) -> bool:
        return text in (await get(base + "/worker"))[1]

    try:
        await until_async(healthy, "the worker's health endpoint", timeout=30, interval=0.1)
        room = room_name("sigterm")
        await lk.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(agent_name="sigterm", room=room)
        )
        await until_async(
            lambda: listed(room), f"the worker to list the job of {room}", timeout=20, interval=0.1
        )
        status, metrics = await get(base + "/metrics")
        assert status == 200 and "graphflow_jobs_running 1.0" in metrics
        process.send_signal(signal.SIGTERM)
        await until_async(
            lambda: listed('"draining"'), "the worker to report draining", timeout=10, interval=0.05
        )
        await until(
            lambda: process.poll() is not None, "the worker to exit after SIGTERM", timeout=30, interval=0.1
        )
        assert process.returncode == 0
        text = (tmp_path / "worker.log").read_text()
        assert "draining" in text and "ended: success" in text
    finally:
        await lk.aclose()
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()


async def test_start_with_two_processes_registers_both_and_stops_both(
    livekit_server: LiveKitServer, tmp_path: Path
) -> None:
    first = two_free_ports()  # the processes take consecutive health ports
    env = agent_env(livekit_server, "pool", "1")
    log = (tmp_path / "pool.log").open("wb")
    command = [sys.executable, "-m", "graphflow.cli.main", "start", str(AGENT), "--processes", "2"]
    process = subprocess.Popen(
        [*command, "--health-port", str(first)], env=env, stdout=log, stderr=subprocess.STDOUT
    )

    async def healthy() -> bool:
        assert process.poll() is None, (tmp_path / "pool.log").read_text()
        statuses = [(await get(f"http://127.0.0.1:{port}/"))[0] for port in (first, first + 1)]
        return statuses == [200, 200]

    try:
        await until_async(healthy, "both worker processes' health endpoints", timeout=60, interval=0.1)
        infos = [json.loads((await get(f"http://127.0.0.1:{port}/worker"))[1]) for port in (first, first + 1)]
        ids = {info["worker_id"] for info in infos}
        assert len(ids) == 2  # two workers, each registered with the server on its own
        process.send_signal(signal.SIGTERM)
        await until(
            lambda: process.poll() is not None, "the pool to exit after SIGTERM", timeout=30, interval=0.1
        )
        assert process.returncode == 0
        assert (await get(f"http://127.0.0.1:{first}/"))[0] == 0  # the children are gone too
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()


def agent_env(server: LiveKitServer, name: str, seconds: str) -> dict[str, str]:
    """The environment of a worker process for ``server`` running the brief agent."""
    return dict(
        os.environ,
        LIVEKIT_URL=server.url,
        LIVEKIT_API_KEY=server.options.api_key,
        LIVEKIT_API_SECRET=server.options.api_secret,
        BRIEF_AGENT_NAME=name,
        BRIEF_AGENT_SECONDS=seconds,
    )


async def test_connect_joins_one_room_and_exits_with_the_job(
    livekit_server: LiveKitServer, tmp_path: Path
) -> None:
    room = room_name("connect")
    peer = await Peer(livekit_server, "visitor", room).join()
    command = [sys.executable, "-m", "graphflow.cli.main", "connect", str(AGENT), "--room", room]
    process = subprocess.Popen(
        command,
        env=agent_env(
            livekit_server, "direct", "5"
        ),  # participants that publish nothing are announced every 3 s
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        async with within(30, "the agent to join and its process to exit"):
            await until(
                lambda: any(i.startswith("agent-") for i in peer.room.remote_participants),
                "the visitor to see the agent join",
                interval=0.05,
            )
            await until(lambda: process.poll() is not None, "the connect process to exit", interval=0.1)
        output = process.stdout.read().decode() if process.stdout else ""
        assert process.returncode == 0, output
        assert "success" in output
    finally:
        await peer.leave()
        if process.poll() is None:
            process.kill()
            process.wait()


async def test_dev_restarts_the_worker_when_the_agent_changes(
    livekit_server: LiveKitServer, tmp_path: Path
) -> None:
    agent = tmp_path / "agent.py"
    agent.write_text(AGENT.read_text())
    port = free_port()
    log = (tmp_path / "dev.log").open("wb")
    command = [sys.executable, "-m", "graphflow.cli.main", "dev", str(agent), "--health-port", str(port)]
    process = subprocess.Popen(
        command, env=agent_env(livekit_server, "devloop", "1"), stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"

    async def worker_id() -> str:
        status, body = await get(url + "/worker")
        return str(json.loads(body)["worker_id"]) if status == 200 else ""

    async def id_other_than(old: str) -> str:
        current = await worker_id()
        return "" if current == old else current

    try:
        first = await until_async(worker_id, "the first worker's id", timeout=30, interval=0.1)
        await asyncio.sleep(1.1)  # a newer modification time than the one dev recorded
        agent.write_text(AGENT.read_text() + "\n# changed\n")
        second = await until_async(
            lambda: id_other_than(first), "the restarted worker's id", timeout=40, interval=0.1
        )
        assert second != first
        assert "restarting the worker" in (tmp_path / "dev.log").read_text()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
