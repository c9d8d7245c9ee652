"""Engine benchmark: cost per hop, throughput, cancellation propagation, memory per graph.

Every figure is measured in one run against a baseline built from plain ``asyncio.Queue``s
(one task per stage, queues bounded like graphflow's default edge), with the same 20 ms
audio frames. Per-hop cost is net of the source and sink: ``(T(n) - T(0)) / (frames * n)``,
with T the process CPU time of a run (steadier than wall time on a shared machine), the
variants interleaved run by run, and the median taken over the repeats.

    python benchmarks/engine.py [--frames N] [--repeats R] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import graphflow
from graphflow import AudioFrame, Frame, Graph, Input, Node, RunOptions, TextFrame
from graphflow.timebase import MS, US
from nodes.memory import FrameSource
from nodes.passthrough import AsyncPassthrough, Passthrough

CHAINS = (1, 10, 50)
QUEUE_SIZE = 32


class CountSink(Node):
    """Counts frames (the cheapest possible consumer)."""

    inp = Input(Frame)

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def on_frame(self, frame: Frame) -> None:
        self.count += 1


def audio_frames(n: int) -> list[AudioFrame]:
    """``n`` real 20 ms, 16 kHz mono frames (distinct objects, shared sample buffer)."""
    pcm = (np.sin(np.arange(320) / 3) * 8000).astype(np.int16)
    return [AudioFrame.from_pcm(pcm, 16000, pts=i * 20 * MS) for i in range(n)]


# ------------------------------------------------------------------- graphflow
def graphflow_chain(frames: list[AudioFrame], hops: int, node: type[Node]) -> tuple[Graph, CountSink]:
    sink = CountSink()
    graph = Graph().chain(FrameSource(frames), *[node() for _ in range(hops)], sink)
    return graph, sink


def time_graphflow(frames: list[AudioFrame], hops: int, node: type[Node]) -> float:
    graph, sink = graphflow_chain(frames, hops, node)
    plan = graph.compile()
    gc.collect()
    gc.disable()
    start = time.process_time()
    asyncio.run(plan.run(RunOptions()))
    elapsed = time.process_time() - start
    gc.enable()
    assert sink.count == len(frames), (sink.count, len(frames))
    return elapsed


# -------------------------------------------------------------------- baseline
async def _baseline(frames: list[AudioFrame], hops: int) -> int:
    queues: list[asyncio.Queue[Frame | None]] = [asyncio.Queue(QUEUE_SIZE) for _ in range(hops + 1)]
    count = 0

    async def source() -> None:
        for frame in frames:
            await queues[0].put(frame)
        await queues[0].put(None)

    async def stage(inq: asyncio.Queue[Frame | None], outq: asyncio.Queue[Frame | None]) -> None:
        while True:
            frame = await inq.get()
            await outq.put(frame)
            if frame is None:
                return

    async def sink() -> None:
        nonlocal count
        while await queues[-1].get() is not None:
            count += 1

    async with asyncio.TaskGroup() as group:
        group.create_task(source())
        for i in range(hops):
            group.create_task(stage(queues[i], queues[i + 1]))
        group.create_task(sink())
    return count


def time_baseline(frames: list[AudioFrame], hops: int) -> float:
    gc.collect()
    gc.disable()
    start = time.process_time()
    count = asyncio.run(_baseline(frames, hops))
    elapsed = time.process_time() - start
    gc.enable()
    assert count == len(frames)
    return elapsed


# ------------------------------------------------------------------ per hop
def per_hop(timers: dict[str, Callable[[int], float]], frames: int, repeats: int) -> dict[str, Any]:
    """Median net cost per frame per hop (µs) of each variant for each chain length."""
    samples: dict[str, dict[int, list[float]]] = {k: {h: [] for h in (0, *CHAINS)} for k in timers}
    for _ in range(repeats):
        for hops in (0, *CHAINS):
            for name, timer in timers.items():
                samples[name][hops].append(timer(hops))
    out: dict[str, Any] = {}
    for name, runs in samples.items():
        zero = statistics.median(runs[0])
        result: dict[str, Any] = {"zero_hop_s": zero, "runs_s": {str(h): r for h, r in runs.items()}}
        for hops in CHAINS:
            median = statistics.median(runs[hops])
            result[str(hops)] = {
                "total_s": median,
                "per_hop_us": max(0.0, (median - zero) / (frames * hops) * 1e6),
                "raw_per_frame_us": median / frames * 1e6,
            }
        out[name] = result
    return out


# ------------------------------------------------------------- cancellation
class Trigger(Node):
    """Forwards frames; ``fire()`` runs the cancellation edges from outside a handler."""

    inp = Input(Frame)

    def on_frame(self, frame: Frame) -> None:
        pass


class Blocked(Node):
    """An async target whose handler is stuck on its first frame, so frames pile up."""

    inp = Input(Frame)

    async def on_frame(self, frame: Frame) -> None:
        await asyncio.Event().wait()


async def _cancel_once(queued: int) -> tuple[int, int]:
    trigger, target, feeder = Trigger(), Blocked(), _Feeder(queued)
    graph = Graph().chain(feeder, target).add(trigger)
    graph.connect(feeder.out, trigger.inp).cancels(trigger, target)
    runner = graph.compile().runner(RunOptions())
    task = asyncio.create_task(runner.run())
    await feeder.ready.wait()
    handle = trigger.cancel("bench")
    report = await handle
    assert report.flushed[target.qualname] == queued, report.flushed
    runner.stop(drain=False)
    await task
    return report.propagation_ns, report.completed_at - report.info.fired_at


class _Feeder(FrameSource):
    def __init__(self, n: int) -> None:
        super().__init__([TextFrame(text=str(i)) for i in range(n + 1)])
        self.ready = asyncio.Event()

    async def run(self) -> None:
        for frame in self.frames:
            self.out.push(frame)  # no backpressure wait: fill the target's queue
        self.ready.set()
        await asyncio.Event().wait()


async def _baseline_cancel_once(queued: int) -> int:
    """Kill-and-recreate: cancel the worker task, drain its queue, start a new one."""
    queue: asyncio.Queue[Frame] = asyncio.Queue(queued + 1)

    async def worker() -> None:
        await queue.get()
        await asyncio.Event().wait()

    task = asyncio.create_task(worker())
    for i in range(queued + 1):
        queue.put_nowait(TextFrame(text=str(i)))
    await asyncio.sleep(0)
    start = time.perf_counter_ns()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    while not queue.empty():
        queue.get_nowait()
    task = asyncio.create_task(worker())
    elapsed = time.perf_counter_ns() - start
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return elapsed


def cancellation(repeats: int, queued: int = 100) -> dict[str, Any]:
    async def many() -> tuple[list[int], list[int], list[int]]:
        phase1, full, base = [], [], []
        for _ in range(repeats):
            p, f = await _cancel_once(queued)
            phase1.append(p)
            full.append(f)
            base.append(await _baseline_cancel_once(queued))
        return phase1, full, base

    phase1, full, base = asyncio.run(many())
    return {
        "queued_frames": queued,
        "flush_us": _pcts(phase1),
        "complete_us": _pcts(full),
        "baseline_kill_recreate_us": _pcts(base),
    }


def _pcts(ns: list[int]) -> dict[str, float]:
    ordered = sorted(ns)
    return {
        "p50": statistics.median(ordered) / US,
        "p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] / US,
        "max": ordered[-1] / US,
    }


# ------------------------------------------------------------------- memory
def memory_per_graph(count: int = 100, hops: int = 10) -> dict[str, float]:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    keep = [graphflow_chain([], hops, Passthrough)[0].compile() for _ in range(count)]
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(keep) == count
    return {"nodes": hops + 2, "bytes_per_compiled_graph": (after - before) / count}


# --------------------------------------------------------------------- main
def run(frames_n: int, repeats: int) -> dict[str, Any]:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})  # one core: steadier figures
    frames = audio_frames(frames_n)
    gc.collect()
    hops = per_hop(
        {
            "fused": lambda h: time_graphflow(frames, h, Passthrough),
            "queued": lambda h: time_graphflow(frames, h, AsyncPassthrough),
            "baseline": lambda h: time_baseline(frames, h),
        },
        frames_n,
        repeats,
    )
    fused, queued, baseline = hops["fused"], hops["queued"], hops["baseline"]
    throughput = {
        name: frames_n / result["10"]["total_s"]
        for name, result in (("fused", fused), ("queued", queued), ("baseline", baseline))
    }
    return {
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "graphflow": graphflow.__version__,
            "numpy": np.__version__,
        },
        "frames": frames_n,
        "repeats": repeats,
        "per_hop": {"fused": fused, "queued": queued, "baseline": baseline},
        "per_hop_us": queued["10"]["per_hop_us"],
        "fused_per_hop_us": fused["10"]["per_hop_us"],
        "baseline_per_hop_us": baseline["10"]["per_hop_us"],
        "frames_per_second_10_nodes": throughput,
        "cancellation": cancellation(max(20, repeats * 20)),
        "memory": memory_per_graph(),
    }


def print_table(result: dict[str, Any]) -> None:
    hop = result["per_hop"]
    print(
        f"\nper-hop cost, µs CPU per frame per hop (net of source/sink; median of {result['repeats']} runs,"
    )
    print(f"{result['frames']} audio frames of 20 ms)")
    print(f"{'chain':>6} {'fused':>10} {'queued':>10} {'asyncio.Queue':>14} {'queued/base':>12}")
    for hops in CHAINS:
        f, q, b = (hop[k][str(hops)]["per_hop_us"] for k in ("fused", "queued", "baseline"))
        ratio = q / b if b else float("nan")
        print(f"{hops:>6} {f:>10.3f} {q:>10.3f} {b:>14.3f} {ratio:>12.2f}")
    print("\nframes per second through a 10-node chain")
    for name, fps in result["frames_per_second_10_nodes"].items():
        print(f"  {name:<10} {fps:>12,.0f}")
    c = result["cancellation"]
    print(f"\ncancellation with {c['queued_frames']} frames queued (µs)")
    print(f"{'':<32} {'p50':>8} {'p99':>8} {'max':>8}")
    for key, label in (
        ("flush_us", "trigger -> last target flushed"),
        ("complete_us", "trigger -> hooks reported"),
        ("baseline_kill_recreate_us", "baseline: kill + drain + new task"),
    ):
        print(f"{label:<32} {c[key]['p50']:>8.1f} {c[key]['p99']:>8.1f} {c[key]['max']:>8.1f}")
    m = result["memory"]
    print(
        f"\nmemory per compiled graph of {m['nodes']} nodes: {m['bytes_per_compiled_graph'] / 1024:.1f} KiB"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=30_000)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args(argv)
    result = run(args.frames, args.repeats)
    print_table(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
