"""What the live view costs the worker, and how far the view lags the engine.

``python -m tests.playground.measure`` starts a development livekit-server on 127.0.0.1
and, for each configuration, a fresh worker for ``graphs/room_agent.py``: ``graphflow
start`` (no view, untraced), the playground's worker with nobody watching (traced), and
the playground's worker watched. A participant says a question into the room and stays
for ``--seconds``; the worker process's CPU time over that window is the session's cost.
The watching participant also records how long each snapshot took from the worker's
clock to its arrival (the transport delay; a snapshot's figures are at most one beat,
250 ms, older than that). Prints a table; ``--json FILE`` keeps the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
import wave
from pathlib import Path

import aiohttp
import msgspec
import numpy as np
import soxr
from livekit import rtc

from graphflow.livekit.server import DEV_KEY, DEV_SECRET, LiveKitServer, ServerOptions, free_port, free_ports
from graphflow.playground.snapshot import STATS_TOPIC
from graphflow.playground.web import page_token
from graphflow.worker.settings import KEY_ENV, SECRET_ENV, URL_ENV, ServerAccess
from tests.fixtures import FIXTURES, ROOT

QUESTION = FIXTURES / "q_ls_251-137823-0002_testing_routine.wav"
RATE = 48000
CONFIGS = {
    "start (no view, untraced)": ["-m", "graphflow.cli.main", "start"],
    "playground, view closed": ["-m", "graphflow.playground.worker"],
    "playground, view open": ["-m", "graphflow.playground.worker"],
}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def speech() -> np.ndarray:
    """The question at 48 kHz, int16, with a second of silence before."""
    with wave.open(str(QUESTION)) as f:
        pcm = np.frombuffer(f.readframes(f.getnframes()), np.int16).astype(np.float32)
        rate = f.getframerate()
    voice = soxr.resample(pcm, rate, RATE).astype(np.int16)
    return np.concatenate([np.zeros(RATE, np.int16), voice])


async def session(access: ServerAccess, watch: bool, seconds: float) -> tuple[float, list[float]]:
    """One caller in a new room: the worker's CPU seconds over ``seconds``, and snapshot delays (ms)."""
    room_name = f"measure-{uuid.uuid4().hex[:8]}"
    room = rtc.Room()
    delays: list[float] = []

    def on_data(packet: rtc.DataPacket) -> None:
        if packet.topic == STATS_TOPIC:
            delays.append(time.time() * 1000 - json.loads(packet.data)["wall"])

    room.on("data_received", on_data)
    await room.connect(access.ws_url, page_token(access, room_name, "caller", view=watch))
    source = rtc.AudioSource(RATE, 1)
    track = rtc.LocalAudioTrack.create_audio_track("mic", source)
    await room.local_participant.publish_track(
        track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    )
    while not any(p.identity.startswith("agent-") for p in room.remote_participants.values()):
        await asyncio.sleep(0.1)
    await asyncio.sleep(2.0)  # the session starts and subscribes
    started = time.monotonic()
    pcm = speech()
    step = RATE // 100
    for i in range(0, len(pcm) - step, step):
        await source.capture_frame(rtc.AudioFrame(pcm[i : i + step].tobytes(), RATE, 1, step))
    await asyncio.sleep(max(0.0, seconds - (time.monotonic() - started)))
    await room.disconnect()
    return time.monotonic() - started, delays


async def measure(config: str, server: LiveKitServer, seconds: float) -> dict[str, float]:
    """One session with a fresh worker of ``config``: its CPU and the snapshots' delays."""
    access = ServerAccess(server.url, DEV_KEY, DEV_SECRET)
    env = dict(os.environ, **{URL_ENV: server.url, KEY_ENV: DEV_KEY, SECRET_ENV: DEV_SECRET})
    health = free_port()
    command = [sys.executable, *CONFIGS[config], str(ROOT / "graphs" / "room_agent.py")]
    worker = await asyncio.create_subprocess_exec(
        *command, "--health-port", str(health), "--log-level", "WARNING", env=env
    )
    try:
        async with aiohttp.ClientSession() as http:
            while True:  # registered (models loaded)
                try:
                    async with http.get(f"http://127.0.0.1:{health}/") as answer:
                        if answer.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.5)
        before = cpu_seconds(worker.pid)
        window, delays = await session(access, config.endswith("open"), seconds)
        cpu = cpu_seconds(worker.pid) - before
    finally:
        worker.terminate()
        await worker.wait()
    row = {"cpu_s": cpu, "window_s": window, "cpu_percent": 100 * cpu / window, "snapshots": len(delays)}
    if delays:
        ordered = sorted(delays)
        row["delay_p50_ms"] = statistics.median(ordered)
        row["delay_p99_ms"] = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return row


async def main_async(seconds: float, runs: int) -> dict[str, list[dict[str, float]]]:
    """Every configuration ``runs`` times, in turn, against one server."""
    results: dict[str, list[dict[str, float]]] = {name: [] for name in CONFIGS}
    with LiveKitServer(ServerOptions(ports=free_ports())) as server:
        for _ in range(runs):
            for name in CONFIGS:
                results[name].append(await measure(name, server, seconds))
                print(name, msgspec.json.encode(results[name][-1]).decode(), flush=True)
    return results


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(prog="python -m tests.playground.measure")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each session")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    results = asyncio.run(main_async(args.seconds, args.runs))
    print(f"{'configuration':32} {'worker CPU % of a core':>24} {'snapshot delay p50/p99 ms':>28}")
    for name, rows in results.items():
        cpu = statistics.mean(r["cpu_percent"] for r in rows)
        delay = [r for r in rows if "delay_p50_ms" in r]
        shown = (
            f"{statistics.mean(r['delay_p50_ms'] for r in delay):.1f} / "
            f"{max(r['delay_p99_ms'] for r in delay):.1f}"
            if delay
            else "-"
        )
        print(f"{name:32} {cpu:24.1f} {shown:>28}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
