"""Latency through a real LiveKit room: dispatch, voice-to-voice, barge-in, as a participant hears it.

A livekit-server runs on loopback; a worker in this process runs the room voice agent
(``graphs/room_agent.py``: Silero VAD, Whisper, Smart Turn, the local responder, Piper,
all local); a participant joins a fresh room per run with a token that dispatches the
agent, speaks a recorded question at real-time pace, then talks over the answer.

Measured per run, on the participant's side (one clock, the event loop's):

* dispatch: participant connected → the job's entrypoint starts; → the agent joined the room
* voice-to-voice: the last loud 10 ms of the participant's speech leaves its audio source
  → the first loud frame of the agent's answer arrives (WebRTC both ways included)
* the same exchange as the agent measured it on its own timeline (``TurnMetrics``), so
  the difference is what the room transport adds
* barge-in: the participant's first loud 10 ms over the agent → the agent's last loud
  frame to arrive after it

Prints a table, writes every raw figure and the summary to JSON and a plot to PNG.
``python benchmarks/room_latency.py --runs 5 --json docs/results/room.json --plot docs/img/room-latency.png``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from livekit import api

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graphflow.graphs.room_agent import build_room_session  # noqa: E402
from graphflow.livekit.server import SERVER_VERSION, LiveKitServer, ServerOptions, free_ports  # noqa: E402
from graphflow.models import ModelHub  # noqa: E402
from graphflow.worker.job import JobContext  # noqa: E402
from graphflow.worker.settings import ServerAccess, WorkerOptions  # noqa: E402
from graphflow.worker.worker import Worker  # noqa: E402
from tests.livekit.peer import Peer  # noqa: E402
from tests.livekit.test_room_voice import silenced_after  # noqa: E402

FIXTURES = ROOT / "benchmarks" / "fixtures"
QUESTION = "q_ls_251-137823-0002_testing_routine.wav"
INTERRUPTION = "cmd_go_forward_ten_meters.wav"


class Marks:
    """Event-loop times the worker side records for each room."""

    def __init__(self, hub: ModelHub) -> None:
        self.hub = hub
        self.assigned: dict[str, float] = {}
        self.joined: dict[str, float] = {}
        self.contexts: dict[str, JobContext] = {}

    async def __call__(self, ctx: JobContext) -> None:
        loop = asyncio.get_running_loop()
        self.assigned[ctx.room_name] = loop.time()
        self.contexts[ctx.room_name] = ctx
        await ctx.connect()
        self.joined[ctx.room_name] = loop.time()
        participant = await ctx.wait_for_participant(timeout_s=30)
        ctx.run_session(build_room_session(ctx.room, participant.identity, hub=self.hub))


def agent_loud(peer: Peer) -> list[float]:
    """Arrival times of the agent's loud frames at the participant."""
    for identity, heard in peer.heard.items():
        if identity.startswith("agent-"):
            return heard.loud_at()
    return []


async def one_run(server: LiveKitServer, marks: Marks, index: int) -> dict[str, float | None]:
    """One participant, one room: a question, the answer, an interruption."""
    room = f"bench-{index}-{uuid.uuid4().hex[:6]}"
    loop = asyncio.get_running_loop()
    config = api.RoomConfiguration(agents=[api.RoomAgentDispatch(agent_name="room-bench")])
    peer = Peer(server, "caller", room)
    await peer.join(room_config=config)
    connected = loop.time()
    try:
        async with asyncio.timeout(30):
            while room not in marks.joined:
                await asyncio.sleep(0.005)
        await asyncio.sleep(1.0)
        _, speech_end = await peer.speak(FIXTURES / QUESTION, tail_ms=0)
        async with asyncio.timeout(30):
            while not [t for t in agent_loud(peer) if t > speech_end]:
                await asyncio.sleep(0.005)
        answer = min(t for t in agent_loud(peer) if t > speech_end)
        await asyncio.sleep(0.8)
        onset, _ = await peer.speak(FIXTURES / INTERRUPTION, tail_ms=2500)
        session = marks.contexts[room].sessions[0]
        metrics = session.metrics[0] if session.metrics else None
        return {
            "dispatch_ms": (marks.assigned[room] - connected) * 1000,
            "agent_joined_ms": (marks.joined[room] - connected) * 1000,
            "voice_to_voice_ms": (answer - speech_end) * 1000,
            "agent_side_voice_to_voice_ms": metrics.voice_to_voice_ms if metrics else None,
            "end_of_turn_ms": metrics.end_of_turn_ms if metrics else None,
            "barge_in_ms": silenced_after(agent_loud(peer), onset) * 1000,
        }
    finally:
        await peer.leave()


def summary(rows: list[dict[str, float | None]]) -> dict[str, dict[str, float]]:
    """p50/p90/max of every figure over the runs."""
    out: dict[str, dict[str, float]] = {}
    for key in rows[0]:
        values = np.array([r[key] for r in rows if r[key] is not None], dtype=float)
        if len(values):
            out[key] = {
                "p50": float(np.percentile(values, 50)),
                "p90": float(np.percentile(values, 90)),
                "max": float(values.max()),
                "n": len(values),
            }
    transport = [
        float(r["voice_to_voice_ms"] or 0.0) - float(r["agent_side_voice_to_voice_ms"] or 0.0)
        for r in rows
        if r["agent_side_voice_to_voice_ms"] is not None and r["voice_to_voice_ms"] is not None
    ]
    if transport:
        out["room_transport_ms"] = {
            "p50": float(np.percentile(transport, 50)),
            "p90": float(np.percentile(transport, 90)),
            "max": float(max(transport)),
            "n": len(transport),
        }
    return out


def plot(result: dict[str, dict[str, float]], path: Path) -> None:
    """Bars of the p50 (and p90 whiskers) of each figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [
        k
        for k in (
            "dispatch_ms",
            "agent_joined_ms",
            "end_of_turn_ms",
            "agent_side_voice_to_voice_ms",
            "voice_to_voice_ms",
            "room_transport_ms",
            "barge_in_ms",
        )
        if k in result
    ]
    p50 = [result[k]["p50"] for k in keys]
    p90 = [result[k]["p90"] for k in keys]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.barh(keys, p50, color="#4c72b0", label="p50")
    ax.errorbar(p90, keys, fmt="|", color="black", markersize=12, label="p90")
    ax.invert_yaxis()
    ax.set_xlabel("ms")
    ax.set_title("Through a real LiveKit room (loopback), local models")
    ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


async def measure(runs: int) -> list[dict[str, float | None]]:
    """Start the server and the worker; one warm-up run, then ``runs`` measured ones."""
    logdir = Path(tempfile.mkdtemp(prefix="room-bench-"))
    server = LiveKitServer(ServerOptions(ports=free_ports()), log=logdir / "server.log").start()
    marks = Marks(ModelHub())
    access = ServerAccess(server.url, server.options.api_key, server.options.api_secret)
    worker = Worker(marks, WorkerOptions(agent_name="room-bench"), access=access)
    task = asyncio.ensure_future(worker.run())
    rows: list[dict[str, float | None]] = []
    try:
        await asyncio.wait_for(worker.registered.wait(), 15)
        for index in range(runs + 1):  # the first run loads the models: not counted
            row = await one_run(server, marks, index)
            if index:
                rows.append(row)
            label = "warm-up" if not index else f"run {index}/{runs}"
            print(
                f"{label}: " + ", ".join(f"{k}={v:.0f}" for k, v in row.items() if v is not None), flush=True
            )
    finally:
        worker.close()
        await asyncio.wait_for(task, 30)
        server.stop()
    return rows


def main(args: argparse.Namespace) -> None:
    """Run, print the table, write JSON and the plot."""
    rows = asyncio.run(measure(args.runs))
    result = summary(rows)
    print(f"\n{'figure':32} {'p50':>8} {'p90':>8} {'max':>8}")
    for key, stats in result.items():
        print(f"{key:32} {stats['p50']:8.1f} {stats['p90']:8.1f} {stats['max']:8.1f}")
    if args.json:
        document = {
            "machine": {
                "python": platform.python_version(),
                "platform": platform.platform(),
                "livekit_server": SERVER_VERSION,
            },
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "runs": rows,
            "summary": result,
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(document, indent=2))
    if args.plot:
        plot(result, Path(args.plot))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", default="")
    parser.add_argument("--plot", default="")
    main(parser.parse_args())
