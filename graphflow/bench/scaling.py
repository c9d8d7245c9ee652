"""How many sessions one process (or one process per core) serves at real-time pace.

N sessions run concurrently on one event loop, each listening to a fixture at real-time
pace with the remote-style stages replaced by timed stand-ins (STT, TTS; the local
responder as the LLM) while VAD and Smart Turn run for real, sharing one batched executor
each. Frame lag is how late each input frame leaves the VAD against its real-time
schedule; the sweep finds the largest N whose p99 lag stays within the budget.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from graphflow.bench.attribution import attribute
from graphflow.bench.latency import UNKNOWN_WORDS, LatencyOptions, build, load_models, scenario, standin_calls
from graphflow.models import ModelHub
from graphflow.runtime.clock import RealtimeClock
from graphflow.timebase import MS, to_ms, to_seconds

LAG_BUDGET_MS = 20.0
"""The p99 frame lag a session may have and still count as served in real time."""


@dataclass
class ScalePoint:
    """One level of the sweep."""

    sessions: int
    processes: int
    lag_p50_ms: float
    lag_p99_ms: float
    lag_max_ms: float
    cpu_percent: float
    cpu_ms_per_session_second: float
    rss_mb: float
    rss_per_session_mb: float
    engine_added_p99_ms: float
    exchanges: int


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


async def _run_many(
    options: LatencyOptions, count: int, hub: ModelHub, tmp: Path
) -> tuple[list[float], list[float], int]:
    sessions = []
    for i in range(count):
        index = i % len(options.recordings)
        recording = options.recordings[index]
        path = tmp / f"r{index}.wav"  # sessions on the same recording share its input file
        if not path.exists():
            scenario(recording, None, path)
        sessions.append(build(options, path, [recording.transcript or UNKNOWN_WORDS], hub))
    clock = RealtimeClock()
    async with asyncio.TaskGroup() as group:
        for i, session in enumerate(sessions):
            group.create_task(_staggered(session, clock, i * 20 * MS / max(1, count)))
    lags = [to_ms(v) for s in sessions for v in s.frame_lag.samples]
    added: list[float] = []
    for s in sessions:
        llm_calls, tts_calls = standin_calls(s)
        splits = (attribute(m, llm_calls, tts_calls) for m in s.metrics)
        added.extend(split.engine_added_ms for split in splits if split is not None)
    return lags, added, sum(len(s.metrics) for s in sessions)


async def _staggered(session: object, clock: RealtimeClock, offset_ns: float) -> None:
    await asyncio.sleep(to_seconds(round(offset_ns)))  # sessions start spread over one frame, as calls do
    await session.run(clock)  # type: ignore[attr-defined]


def run_point(
    options: LatencyOptions, count: int
) -> tuple[list[float], list[float], int, float, float, float]:
    """Run ``count`` sessions in this process: lags, engine-added, exchanges, cpu s, wall s, rss MB."""
    hub = ModelHub()
    load_models(hub)
    with tempfile.TemporaryDirectory(prefix="graphflow-scale-") as tmp:
        before_rss = _rss_mb()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        lags, added, exchanges = asyncio.run(_run_many(options, count, hub, Path(tmp)))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1000
    return lags, added, exchanges, cpu, wall, max(peak - before_rss, 0.0)


def _child(args: tuple[LatencyOptions, int]) -> tuple[list[float], list[float], int, float, float, float]:
    return run_point(*args)


def sweep(options: LatencyOptions, counts: list[int], processes: int = 1) -> list[ScalePoint]:
    """Each count of sessions, spread over ``processes`` (one per core at most)."""
    points = []
    for count in counts:
        if processes <= 1:
            parts = [run_point(options, count)]
        else:
            share = [count // processes + (1 if i < count % processes else 0) for i in range(processes)]
            ctx = multiprocessing.get_context("spawn")
            with ctx.Pool(processes) as pool:
                parts = pool.map(_child, [(options, n) for n in share if n])
        lags = np.asarray([v for p in parts for v in p[0]] or [0.0])
        added = np.asarray([v for p in parts for v in p[1]] or [0.0])
        cpu = sum(p[3] for p in parts)
        wall = max(p[4] for p in parts)
        rss = sum(p[5] for p in parts)
        audio_seconds = wall * count
        points.append(
            ScalePoint(
                sessions=count,
                processes=processes,
                lag_p50_ms=float(np.percentile(lags, 50)),
                lag_p99_ms=float(np.percentile(lags, 99)),
                lag_max_ms=float(lags.max()),
                cpu_percent=100 * cpu / wall,
                cpu_ms_per_session_second=1000 * cpu / audio_seconds,
                rss_mb=rss,
                rss_per_session_mb=rss / count,
                engine_added_p99_ms=float(np.percentile(added, 99)),
                exchanges=sum(p[2] for p in parts),
            )
        )
    return points


def max_sessions(points: list[ScalePoint], budget_ms: float = LAG_BUDGET_MS) -> int:
    """The largest session count of the sweep whose p99 lag is within ``budget_ms``."""
    good = [p.sessions for p in points if p.lag_p99_ms <= budget_ms]
    return max(good, default=0)
