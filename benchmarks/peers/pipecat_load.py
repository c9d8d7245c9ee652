"""Pipecat engine cost: per-hop CPU of pass-through processors, and sessions per process.

Per hop uses the method of ``benchmarks/engine.py``: process CPU time of a run through a
chain of n pass-through ``FrameProcessor``s, net of the 0-hop chain, divided by
frames * n, variants interleaved run by run, median over repeats, pinned to one core.
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from pipecat.frames.frames import EndFrame, Frame, InputAudioRawFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner
from pipecat_parts import FRAME, RATE, SessionLog, build_session

CHAINS = (1, 10, 50)
LAG_BUDGET_MS = 20.0


# ------------------------------------------------------------------- per hop
class Passthrough(FrameProcessor):
    """The cheapest useful processor: forwards every frame."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)


class CountSink(FrameProcessor):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            self.count += 1
        await self.push_frame(frame, direction)


def _audio_frames(n: int) -> list[InputAudioRawFrame]:
    """``n`` real 20 ms, 16 kHz mono frames (distinct objects, shared sample buffer)."""
    pcm = (np.sin(np.arange(FRAME) / 3) * 8000).astype(np.int16).tobytes()
    return [InputAudioRawFrame(pcm, RATE, 1) for _ in range(n)]


async def _chain(frames: list[InputAudioRawFrame], hops: int) -> int:
    sink = CountSink()
    worker = PipelineWorker(
        Pipeline([*[Passthrough() for _ in range(hops)], sink]),
        params=PipelineParams(audio_in_sample_rate=RATE),
        enable_rtvi=False,
        idle_timeout_secs=None,
    )
    await worker.queue_frames([*frames, EndFrame()])
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await runner.run()
    return sink.count


def _time_chain(frames_n: int, hops: int) -> float:
    frames = _audio_frames(frames_n)
    gc.collect()
    gc.disable()
    start = time.process_time()
    count = asyncio.run(_chain(frames, hops))
    elapsed = time.process_time() - start
    gc.enable()
    assert count == frames_n, (count, frames_n)
    return elapsed


def per_hop(frames_n: int, repeats: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """Median net CPU µs per frame per hop for each chain length (one core, like engine.py)."""
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if affinity:
        os.sched_setaffinity(0, {max(affinity)})
    runs: dict[int, list[float]] = {h: [] for h in (0, *CHAINS)}
    try:
        for r in range(repeats):
            for hops in (0, *CHAINS):
                runs[hops].append(_time_chain(frames_n, hops))
            progress(f"per-hop repeat {r + 1}/{repeats}")
    finally:
        if affinity:
            os.sched_setaffinity(0, affinity)
    zero = statistics.median(runs[0])
    out: dict[str, Any] = {"frames": frames_n, "repeats": repeats, "zero_hop_s": zero}
    out["runs_s"] = {str(h): v for h, v in runs.items()}
    for hops in CHAINS:
        out[str(hops)] = max(0.0, (statistics.median(runs[hops]) - zero) / (frames_n * hops) * 1e6)
    return out


# ------------------------------------------------------------------- scaling
def _fixture_feed(pcm: np.ndarray, tail_s: float) -> Callable[[int], np.ndarray | None]:
    frames = -(-len(pcm) // FRAME)
    padded = np.zeros((frames + int(tail_s * RATE / FRAME)) * FRAME, np.int16)
    padded[: len(pcm)] = pcm
    return lambda k: padded[k * FRAME : (k + 1) * FRAME] if (k + 1) * FRAME <= len(padded) else None


async def _run_many(
    clips: list[tuple[np.ndarray, str]], count: int, tail_s: float, vad_in: str
) -> list[SessionLog]:
    sessions = []
    for i in range(count):
        pcm, text = clips[i % len(clips)]
        log = SessionLog(transcripts=[text])
        sessions.append(build_session(log, _fixture_feed(pcm, tail_s), vad_in))

    async def one(i: int) -> None:
        await asyncio.sleep(i * FRAME / RATE / count)  # starts spread over one frame, as calls are
        await sessions[i].run()

    async with asyncio.TaskGroup() as group:
        for i in range(count):
            group.create_task(one(i))
    return [s.log for s in sessions]


def scaling(
    clips: list[tuple[np.ndarray, str]],
    counts: list[int],
    tail_s: float,
    progress: Callable[[str], None],
    vad_in: str = "aggregator",
) -> list[dict[str, Any]]:
    """N concurrent sessions on one event loop: frame lag at the VAD and process CPU %."""
    points = []
    for count in counts:
        gc.collect()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        logs = asyncio.run(_run_many(clips, count, tail_s, vad_in))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        lags = np.asarray([v * 1000 for log in logs for v in log.frame_lag] or [0.0])
        point = {
            "sessions": count,
            "lag_p50_ms": float(np.percentile(lags, 50)),
            "lag_p99_ms": float(np.percentile(lags, 99)),
            "lag_max_ms": float(lags.max()),
            "cpu_percent": 100 * cpu / wall,
            "frames": int(lags.size),
            "turns": sum(len(log.turns) for log in logs),
            "wall_s": wall,
        }
        points.append(point)
        progress(
            f"scaling ({vad_in}) N={count}: lag p99 {point['lag_p99_ms']:.1f} ms,"
            f" CPU {point['cpu_percent']:.0f}%"
        )
    return points


def sessions_at_budget(points: list[dict[str, Any]], budget_ms: float = LAG_BUDGET_MS) -> int:
    return max((p["sessions"] for p in points if p["lag_p99_ms"] <= budget_ms), default=0)
