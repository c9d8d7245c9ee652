"""Latency through a real LiveKit room: dispatch, voice-to-voice, barge-in, as a participant hears it.

A livekit-server runs on loopback; a worker in this process runs the room voice agent
(``graphs/room_agent.py``: Silero VAD, Whisper, Smart Turn, the local responder, Piper,
all local); a participant joins a fresh room per run with a token that dispatches the
agent, its microphone on from the start (silence until it talks, like a client's), says
a recorded question at real-time pace, then talks over the answer.

Measured per run, on one clock (the event loop's, which the graph's clock also reads):

* dispatch: participant connected → the job's entrypoint starts; → the agent joined the room
* voice-to-voice: the last loud 10 ms of the participant's speech leaves its audio source
  → the first loud frame of the agent's answer arrives (WebRTC both ways included)
* the same exchange as the agent measured it (``TurnMetrics``), and the difference cut in
  parts (``benchmarks/room_probe.py``): the wire each way, Silero's end of speech against
  the last loud 10 ms, the reply's quiet start
* barge-in: the participant's first loud 10 ms over the agent → the agent's last loud
  frame to arrive after it, cut likewise; how full the sink's queue ran, any gap in the
  reply's audio, the jitter buffers' delay and concealed audio on both sides

Prints a table, writes every raw figure and the summary to JSON and a plot to PNG.
``python benchmarks/room_latency.py --runs 8 --json docs/results/room.json --plot docs/img/room-latency.png``
(``--before OLD.json`` keeps an earlier summary beside the new one, in the JSON and the plot).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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

from benchmarks.room_caller import Caller  # noqa: E402
from benchmarks.room_plot import plot  # noqa: E402
from benchmarks.room_probe import LoopLag, RoomProbe, barge_in_split, queue_use, receive_stats, split  # noqa: E402
from graphflow.livekit.server import SERVER_VERSION, LiveKitServer, ServerOptions, free_ports  # noqa: E402
from graphflow.models import ModelHub  # noqa: E402
from graphflow.worker.job import JobContext  # noqa: E402
from graphflow.worker.settings import ServerAccess, WorkerOptions  # noqa: E402
from graphflow.worker.worker import Worker  # noqa: E402
from graphs.room_agent import build_room_session  # noqa: E402
from tests.livekit.peer import Peer  # noqa: E402
from tests.livekit.test_room_voice import silenced_after  # noqa: E402

FIXTURES = ROOT / "benchmarks" / "fixtures"
QUESTION = "q_ls_251-137823-0002_testing_routine.wav"
INTERRUPTION = "cmd_go_forward_ten_meters.wav"
Row = dict[str, float | None]
SHOWN = ("voice_to_voice_ms", "agent_side_voice_to_voice_ms", "wire_ms", "definitions_ms", "barge_in_ms")
"""The figures printed after each run."""


class Marks:
    """Event-loop times the worker side records for each room, and a probe on each session."""

    def __init__(self, hub: ModelHub) -> None:
        self.hub = hub
        self.assigned: dict[str, float] = {}
        self.joined: dict[str, float] = {}
        self.contexts: dict[str, JobContext] = {}
        self.probes: dict[str, RoomProbe] = {}

    async def __call__(self, ctx: JobContext) -> None:
        loop = asyncio.get_running_loop()
        self.assigned[ctx.room_name] = loop.time()
        self.contexts[ctx.room_name] = ctx
        await ctx.connect()
        self.joined[ctx.room_name] = loop.time()
        participant = await ctx.wait_for_participant(timeout_s=30)
        session = build_room_session(ctx.room, participant.identity, hub=self.hub)
        self.probes[ctx.room_name] = RoomProbe()
        self.probes[ctx.room_name].attach(session)
        ctx.run_session(session)


def agent_loud(peer: Peer) -> list[float]:
    """Arrival times of the agent's loud frames at the participant."""
    for identity, heard in peer.heard.items():
        if identity.startswith("agent-"):
            return heard.loud_at()
    return []


async def one_run(server: LiveKitServer, marks: Marks, lag: LoopLag, index: int) -> Row:
    """One participant, one room: a question, the answer, an interruption."""
    room = f"bench-{index}-{uuid.uuid4().hex[:6]}"
    loop = asyncio.get_running_loop()
    config = api.RoomConfiguration(agents=[api.RoomAgentDispatch(agent_name="room-bench")])
    peer = Caller(server, "caller", room)
    await peer.join(room_config=config)
    connected = loop.time()
    await peer.open_microphone()
    try:
        async with asyncio.timeout(30):
            while room not in marks.joined:
                await asyncio.sleep(0.005)
        await asyncio.sleep(1.0)
        lag.take()
        _, speech_end = await peer.speak(FIXTURES / QUESTION, tail_ms=0)
        async with asyncio.timeout(30):
            while not [t for t in agent_loud(peer) if t > speech_end]:
                await asyncio.sleep(0.005)
        answer = min(t for t in agent_loud(peer) if t > speech_end)
        await asyncio.sleep(0.8)
        onset, _ = await peer.speak(FIXTURES / INTERRUPTION, tail_ms=2500)
        session = marks.contexts[room].sessions[0]
        metrics = session.metrics[0] if session.metrics else None
        probe = marks.probes[room]
        barge_in = silenced_after(agent_loud(peer), onset)
        row: Row = {
            "dispatch_ms": (marks.assigned[room] - connected) * 1000,
            "agent_joined_ms": (marks.joined[room] - connected) * 1000,
            "voice_to_voice_ms": (answer - speech_end) * 1000,
            "agent_side_voice_to_voice_ms": metrics.voice_to_voice_ms if metrics else None,
            "end_of_turn_ms": metrics.end_of_turn_ms if metrics else None,
            "vad_stop_ms": metrics.vad_ms if metrics else None,
            "llm_ttft_ms": metrics.llm_ttft_ms if metrics else None,
            "tts_ttfb_ms": metrics.tts_ttfb_ms if metrics else None,
            "barge_in_ms": barge_in * 1000,
        }
        if metrics is not None and metrics.voice_to_voice_ms is not None:
            row["room_transport_ms"] = (answer - speech_end) * 1000 - metrics.voice_to_voice_ms
            row |= split(probe, metrics, speech_end, answer)
            row |= queue_use(probe, metrics.at / 1e9, onset)
        row |= barge_in_split(probe, onset, onset + barge_in)
        row |= await receive_stats(peer.room, "participant")
        row |= await receive_stats(marks.contexts[room].room, "agent")
        row |= lag.take()
        return row
    finally:
        await peer.leave()


def summary(rows: list[Row]) -> dict[str, dict[str, float]]:
    """p50/p90/max of every figure over the runs."""
    out: dict[str, dict[str, float]] = {}
    for key in dict.fromkeys(k for r in rows for k in r):
        values = np.array([r[key] for r in rows if r.get(key) is not None], dtype=float)
        if len(values):
            out[key] = {
                "p50": float(np.percentile(values, 50)),
                "p90": float(np.percentile(values, 90)),
                "max": float(values.max()),
                "n": len(values),
            }
    return out


async def measure(runs: int) -> list[Row]:
    """Start the server and the worker; one warm-up run, then ``runs`` measured ones."""
    logdir = Path(tempfile.mkdtemp(prefix="room-bench-"))
    server = LiveKitServer(ServerOptions(ports=free_ports()), log=logdir / "server.log").start()
    marks = Marks(ModelHub())
    access = ServerAccess(server.url, server.options.api_key, server.options.api_secret)
    worker = Worker(marks, WorkerOptions(agent_name="room-bench"), access=access)
    task = asyncio.ensure_future(worker.run())
    lag = LoopLag()
    lag.start()
    rows: list[Row] = []
    try:
        await asyncio.wait_for(worker.registered.wait(), 15)
        for index in range(runs + 1):  # the first run loads the models: not counted
            row = await one_run(server, marks, lag, index)
            if index:
                rows.append(row)
            label = "warm-up" if not index else f"run {index}/{runs}"
            shown = ", ".join(f"{k}={row[k]:.0f}" for k in SHOWN if row.get(k) is not None)
            print(f"{label}: {shown}", flush=True)
    finally:
        lag.stop()
        worker.close()
        await asyncio.wait_for(task, 30)
        server.stop()
    return rows


def main(args: argparse.Namespace) -> None:
    """Run, print the table, write JSON and the plot."""
    load_before = os.getloadavg()
    rows = asyncio.run(measure(args.runs))
    result = summary(rows)
    print(f"\n{'figure':32} {'p50':>8} {'p90':>8} {'max':>8}")
    for key, stats in result.items():
        print(f"{key:32} {stats['p50']:8.1f} {stats['p90']:8.1f} {stats['max']:8.1f}")
    before = json.loads(Path(args.before).read_text()) if args.before else None
    if args.json:
        document = {
            "machine": {
                "python": platform.python_version(),
                "platform": platform.platform(),
                "livekit_server": SERVER_VERSION,
                "cores": os.cpu_count(),
                "load_before": [round(x, 2) for x in load_before],
                "load_after": [round(x, 2) for x in os.getloadavg()],
            },
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "runs": rows,
            "summary": result,
        }
        if before is not None:
            document["before"] = {"when": before.get("when"), "summary": before["summary"]}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(document, indent=2))
    if args.plot:
        plot(result, Path(args.plot), before["summary"] if before else None)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", default="")
    parser.add_argument("--plot", default="")
    parser.add_argument("--before", default="", help="an earlier JSON result to show beside this one")
    main(parser.parse_args())
