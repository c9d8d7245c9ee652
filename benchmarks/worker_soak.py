"""Worker soak: jobs in a row through a real livekit-server (join, speak, leave), and what the worker holds.

A livekit-server runs on loopback and a worker in this process serves the room voice agent
(``graphs/room_agent.py``: real Silero VAD and Smart Turn; stand-in STT, LLM and TTS, so
hundreds of jobs take minutes, not hours). The callers live in a child process of their
own, so what is measured is the worker's alone: for each job a participant joins a fresh
room that dispatches the agent, says a recorded command, waits until the agent's answer
is transcribed to it (``lk.transcription``) and leaves; the room is deleted and the job
must end. After every job the worker's resident memory, open tasks, threads and
descriptors are sampled. The baseline is taken after a
few warm-up jobs; at the end, with every job over, tasks, threads and descriptors must be
back to it and memory within 2 %.

``python benchmarks/worker_soak.py --jobs 200 --json docs/results/worker-soak.json``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import sys
import tempfile
import time
import uuid
import warnings
from multiprocessing.connection import Connection
from pathlib import Path

import msgspec
from jwt.warnings import InsecureKeyLengthWarning
from livekit import api

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.room_caller import Caller  # noqa: E402
from graphflow.agent.pipeline import StageOverrides  # noqa: E402
from graphflow.bench.latency import load_models  # noqa: E402
from graphflow.bench.soak import Holdings, holdings, rss_mb  # noqa: E402
from graphflow.bench.standins import StandInSTT, StandInTTS  # noqa: E402
from graphflow.livekit.server import LiveKitServer, ServerOptions, free_ports  # noqa: E402
from graphflow.models import ModelHub  # noqa: E402
from graphflow.runtime.stats import LatencyStats  # noqa: E402
from graphflow.worker.job import JobContext  # noqa: E402
from graphflow.worker.settings import ServerAccess, WorkerOptions  # noqa: E402
from graphflow.worker.worker import Worker  # noqa: E402
from graphs.room_agent import build_room_session  # noqa: E402
from nodes.llm.local import LocalResponder, LocalResponderOptions  # noqa: E402

SAID = ROOT / "benchmarks" / "fixtures" / "cmd_go_forward_ten_meters.wav"
WORDS = "go forward ten meters"
AGENT = "soak"
GROWTH_GOAL_PERCENT = 2.0


class JobSample(msgspec.Struct, frozen=True):
    """The worker after job ``job`` ended."""

    job: int
    t: float
    rss_mb: float
    tasks: int
    threads: int
    fds: int
    answered: bool


class WorkerSoak(msgspec.Struct, frozen=True):
    """Every sample, the baseline after the warm-up and the holdings at the end."""

    jobs: int
    warm_up: int
    samples: list[JobSample]
    baseline: Holdings
    baseline_rss_mb: float
    after: Holdings
    after_rss_mb: float
    failed: int
    collection_ms: tuple[float, float] = (0.0, 0.0)
    """The full garbage collection after each job: p50 and max, in ms."""

    @property
    def rss_growth_percent(self) -> float:
        """Memory at the end against the baseline, in percent."""
        return 100.0 * (self.after_rss_mb - self.baseline_rss_mb) / self.baseline_rss_mb


class Agent:
    """The job entrypoint: the room agent with stand-in STT, LLM and TTS on one shared model hub."""

    def __init__(self, hub: ModelHub) -> None:
        self.hub = hub

    async def __call__(self, ctx: JobContext) -> None:
        await ctx.connect()
        participant = await ctx.wait_for_participant(timeout_s=30)
        llm = LocalResponder(LocalResponderOptions(ttft_ms=100, tokens_per_second=0), name="model")
        stages = StageOverrides(stt=StandInSTT([WORDS], name="stt"), llm=llm, tts=StandInTTS(name="tts"))
        session = build_room_session(ctx.room, participant.identity, hub=self.hub, overrides=stages)
        ctx.run_session(session)


async def call(url: str, key: str, secret: str, index: int) -> bool:
    """One participant in a fresh room: say the command, wait for the answer, leave, delete the room."""
    room = f"soak-{index}-{uuid.uuid4().hex[:6]}"
    server = _Address(url, key, secret)
    caller = Caller(server, "caller", room)
    config = api.RoomConfiguration(agents=[api.RoomAgentDispatch(agent_name=AGENT)])
    await caller.join(room_config=config)
    heard = False
    try:
        await caller.open_microphone()
        async with asyncio.timeout(30):
            while not any(p.startswith("agent-") for p in caller.room.remote_participants):
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.5)  # the agent subscribes to the microphone
        await caller.speak(SAID, tail_ms=500)
        deadline = time.monotonic() + 15
        while not (heard := _agent_spoke(caller)) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        await caller.leave()
        lk = api.LiveKitAPI(url.replace("ws://", "http://"), key, secret)
        try:
            await lk.room.delete_room(api.DeleteRoomRequest(room=room))
        finally:
            await lk.aclose()
    return heard


def _agent_spoke(caller: Caller) -> bool:
    return any(sender.startswith("agent-") and text.strip() for _, sender, text in caller.texts)


class _Address:
    """What a :class:`Caller` needs of a server: its URL and key pair."""

    def __init__(self, url: str, key: str, secret: str) -> None:
        self.url = url
        self.options = ServerOptions(api_key=key, api_secret=secret)


def _callers(url: str, key: str, secret: str, jobs: int, go: Connection, done: Connection) -> None:
    """The child process: one call per message on ``go``; whether the agent answered goes back on ``done``."""
    warnings.filterwarnings("ignore", category=InsecureKeyLengthWarning)

    async def serve() -> None:
        for index in range(jobs):
            go.recv()
            done.send(await call(url, key, secret, index))

    asyncio.run(serve())


async def soak(jobs: int, warm_up: int = 5, progress: bool = True) -> WorkerSoak:
    """Run ``warm_up`` jobs, take the baseline, run ``jobs`` more, take the holdings again."""
    logdir = Path(tempfile.mkdtemp(prefix="worker-soak-"))
    server = LiveKitServer(ServerOptions(ports=free_ports()), log=logdir / "server.log").start()
    context = multiprocessing.get_context("spawn")
    go_parent, go_child = context.Pipe()
    done_parent, done_child = context.Pipe()
    o = server.options
    callers = context.Process(
        target=_callers, args=(server.url, o.api_key, o.api_secret, warm_up + jobs, go_child, done_child)
    )
    callers.start()
    try:
        hub = ModelHub()
        load_models(hub)
        agent = Agent(hub)
        access = ServerAccess(server.url, o.api_key, o.api_secret)
        worker = Worker(agent, WorkerOptions(agent_name=AGENT), access=access)
        worker.collections = LatencyStats(keep=jobs + warm_up)  # every pause, for exact percentiles
        running = asyncio.ensure_future(worker.run())
        samples: list[JobSample] = []
        try:
            await asyncio.wait_for(worker.registered.wait(), 30)
            for _ in range(warm_up):
                await _one_job(worker, go_parent, done_parent)
            baseline, baseline_rss = await _settled(running)
            start = time.monotonic()
            for i in range(jobs):
                ok = await _one_job(worker, go_parent, done_parent)
                h = _held(running)
                t = round(time.monotonic() - start, 2)
                samples.append(JobSample(i + 1, t, round(rss_mb(), 2), h.tasks, h.threads, h.fds, ok))
                if progress and (i + 1) % 10 == 0:
                    print(
                        f"  {i + 1}/{jobs} jobs, RSS {samples[-1].rss_mb:.1f} MB, {h.tasks} tasks", flush=True
                    )
            after, after_rss = await _settled(running, baseline)
        finally:
            worker.close()
            await asyncio.wait_for(running, 30)
        failed = sum(worker.ended.values()) - worker.ended["success"]
        pauses = (worker.collections.percentile(50) / 1e6, worker.collections.percentile(100) / 1e6)
        return WorkerSoak(jobs, warm_up, samples, baseline, baseline_rss, after, after_rss, failed, pauses)
    finally:
        callers.join(10)
        if callers.is_alive():
            callers.kill()
        server.stop()


async def _one_job(worker: Worker, go: Connection, done: Connection) -> bool:
    """Have the child make one call; wait for its answer and for the job to end in the worker."""
    ended = sum(worker.ended.values())
    go.send(True)
    loop = asyncio.get_running_loop()
    heard = bool(await asyncio.wait_for(loop.run_in_executor(None, done.recv), 60))
    async with asyncio.timeout(30):
        while sum(worker.ended.values()) <= ended:
            await asyncio.sleep(0.02)
    return heard


async def _settled(running: asyncio.Future[None], baseline: Holdings | None = None) -> tuple[Holdings, float]:
    """The holdings once the last job's connections have closed: the least of 12 s of samples.

    12 s: the WebRTC library's idle worker threads exit 10 s after their last work. On a busy
    machine its audio capture threads take longer to go, so while the least seen is still above
    ``baseline`` the sampling goes on, up to 45 s: a leak stays above it however long one waits.
    """
    gc.collect()
    seen = []
    for k in range(225):
        seen.append(_held(running))
        if k >= 60 and (
            baseline is None
            or (
                min(h.threads for h in seen) <= baseline.threads
                and min(h.tasks for h in seen) <= baseline.tasks
                and min(h.fds for h in seen) <= baseline.fds
            )
        ):
            break
        await asyncio.sleep(0.2)
    least = Holdings(
        tasks=min(h.tasks for h in seen),
        threads=min(h.threads for h in seen),
        fds=min(h.fds for h in seen),
        pool_threads=max(h.pool_threads for h in seen),
        thread_names=min((h.thread_names for h in seen), key=len),
    )
    return least, rss_mb()


def _held(worker_task: asyncio.Future[None]) -> Holdings:
    """The process's holdings, not counting the worker's own task."""
    h = holdings()
    return msgspec.structs.replace(h, tasks=h.tasks - (0 if worker_task.done() else 1))


def verdict(result: WorkerSoak) -> dict[str, bool]:
    """Each goal, met or not."""
    b, a = result.baseline, result.after
    return {
        "every job answered": all(s.answered for s in result.samples),
        "no job failed": result.failed == 0,
        "tasks back to the baseline": a.tasks <= b.tasks,
        "threads back to the baseline": a.threads <= b.threads,
        "descriptors back to the baseline": a.fds <= b.fds,
        f"memory within {GROWTH_GOAL_PERCENT} % of the baseline": result.rss_growth_percent
        <= GROWTH_GOAL_PERCENT,
    }


def report(result: WorkerSoak) -> str:
    """A table of every tenth job and the verdict."""
    lines = [f"{'job':>5} {'t s':>7} {'RSS MB':>8} {'tasks':>6} {'threads':>8} {'fds':>5}"]
    for s in result.samples:
        if s.job % 10 == 0 or s.job == len(result.samples):
            lines.append(f"{s.job:5d} {s.t:7.1f} {s.rss_mb:8.1f} {s.tasks:6d} {s.threads:8d} {s.fds:5d}")
    b, a = result.baseline, result.after
    lines += [
        "",
        f"baseline after {result.warm_up} warm-up jobs: {result.baseline_rss_mb:.1f} MB, {b.tasks} tasks, "
        f"{b.threads} threads, {b.fds} descriptors",
        f"after {result.jobs} more jobs: {result.after_rss_mb:.1f} MB ({result.rss_growth_percent:+.2f} %), "
        f"{a.tasks} tasks, {a.threads} threads, {a.fds} descriptors",
        f"the full collection after each job held the loop {result.collection_ms[0]:.1f} ms "
        f"(p50), {result.collection_ms[1]:.1f} ms at most",
        "",
    ]
    lines += [f"{'met ' if ok else 'MISSED'} {goal}" for goal, ok in verdict(result).items()]
    return "\n".join(lines)


def plot(result: WorkerSoak, path: Path) -> None:
    """The worker's resident memory after each job, against the baseline after the warm-up."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    jobs = [s.job for s in result.samples]
    fig, (mem, held) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True, height_ratios=(3, 1))
    mem.plot(jobs, [s.rss_mb for s in result.samples], color="#4c72b0", label="RSS after the job (MB)")
    mem.axhline(result.baseline_rss_mb, color="#999999", linestyle=":", label="baseline after the warm-up")
    mem.set_ylabel("resident memory (MB)")
    mem.set_title(
        f"{result.jobs} jobs in a row through livekit-server: "
        f"RSS {result.rss_growth_percent:+.2f} % against the baseline"
    )
    mem.legend(loc="lower right")
    held.plot(jobs, [s.tasks for s in result.samples], color="#55a868", label="tasks")
    held.plot(jobs, [s.threads for s in result.samples], color="#c44e52", label="threads")
    held.set_xlabel("job")
    held.legend(loc="upper right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    """Run the worker soak; exit 1 when a goal is missed."""
    # the local server's development key pair is shorter than a production HMAC key
    warnings.filterwarnings("ignore", category=InsecureKeyLengthWarning)
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--warm-up", type=int, default=5)
    parser.add_argument("--json", type=Path, help="write every sample and the verdict here")
    parser.add_argument("--plot", type=Path, help="write memory after each job here (PNG)")
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.warm_up < 1:
        parser.error("--jobs and --warm-up must be positive")
    result = asyncio.run(soak(args.jobs, args.warm_up))
    print(report(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        doc = msgspec.to_builtins(result) | {"rss_growth_percent": result.rss_growth_percent}
        doc["verdict"] = verdict(result)
        args.json.write_text(json.dumps(doc, indent=1))
        print(f"wrote {args.json}", file=sys.stderr)
    if args.plot:
        plot(result, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0 if all(verdict(result).values()) else 1


if __name__ == "__main__":
    sys.exit(main())
