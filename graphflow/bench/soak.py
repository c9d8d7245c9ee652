"""Soak: many voice sessions in one process for a long time, and what the process holds meanwhile.

``slots`` sessions run at once, each listening to a recording at real-time pace (the
real VAD and turn model; stand-in STT, LLM and TTS of fixed delay) and answering it; when
one ends, a new session starts in its slot, so sessions end and begin throughout. Every
``every_s`` seconds a :class:`Sample` records the resident memory, the Python heap
(allocated blocks), the open asyncio tasks, threads and file descriptors. Once the last
session has closed, the counts are taken again and held against the ones before the
first session: what is left over leaked.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import msgspec
import numpy as np

from graphflow.bench.latency import UNKNOWN_WORDS, LatencyOptions, build, load_models, scenario
from graphflow.models import ModelHub
from graphflow.runtime.clock import RealtimeClock

LOOP_POOL = "asyncio_"
"""The name prefix of the event loop's default executor threads."""


class SoakOptions(msgspec.Struct, frozen=True):
    """How many sessions at once, for how long, sampled how often."""

    slots: int = 50
    seconds: float = 600.0
    every_s: float = 5.0
    settle_s: float = 60.0
    """Growth is measured from the first sample at or after this time (the first minute warms up)."""


class Sample(msgspec.Struct, frozen=True):
    """What the process held at ``t`` seconds."""

    t: float
    rss_mb: float
    heap_blocks: int
    tasks: int
    threads: int
    fds: int
    running: int
    """Sessions running at that moment."""
    ended: int
    """Sessions that had ended so far."""


class Holdings(msgspec.Struct, frozen=True):
    """Counts of what the process holds: tasks other than the caller's, threads, descriptors.

    ``threads`` counts the process's OS threads (those of native libraries too) but the
    event loop's default thread pool (``asyncio_N``): that grows on demand up to its bound
    and lives as long as the loop; ``pool_threads`` counts it.
    """

    tasks: int
    threads: int
    fds: int
    pool_threads: int = 0
    thread_names: tuple[str, ...] = ()
    """The OS threads' names (``/proc/self/task/*/comm``), sorted: what a count is made of."""


class SoakResult(msgspec.Struct, frozen=True):
    """The samples, the sessions run, and the holdings before the first and after the last session."""

    options: SoakOptions
    samples: list[Sample]
    sessions: int
    exchanges: int
    errors: int
    before: Holdings
    after: Holdings
    rss_growth_percent: float
    """Median RSS of the last minute against that of the minute after ``settle_s``, in percent."""


def rss_mb() -> float:
    """This process's resident memory, in MB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def holdings() -> Holdings:
    """The tasks (but the caller's), threads and open descriptors of this process now."""
    current = asyncio.current_task()
    tasks = sum(1 for t in asyncio.all_tasks() if t is not current and not t.done())
    pool = sum(1 for t in threading.enumerate() if t.name.startswith(LOOP_POOL))
    names = tuple(sorted(_thread_names()))
    threads = len(names) - pool  # every OS thread, native ones too
    fds = len(os.listdir("/proc/self/fd"))
    return Holdings(tasks=tasks, threads=threads, fds=fds, pool_threads=pool, thread_names=names)


def _thread_names() -> list[str]:
    names = []
    for task in os.listdir("/proc/self/task"):
        try:
            names.append(Path(f"/proc/self/task/{task}/comm").read_text().strip())
        except OSError:  # it ended meanwhile
            continue
    return names


class _Counts:
    def __init__(self) -> None:
        self.running = self.ended = self.exchanges = self.errors = 0


async def _slot(
    index: int, latency: LatencyOptions, inputs: list[Path], hub: ModelHub, deadline: float, counts: _Counts
) -> None:
    """Run sessions back to back in one slot until ``deadline`` (monotonic seconds); at least one."""
    turn = index
    first = True
    while first or time.monotonic() < deadline:
        first = False
        k = turn % len(inputs)
        recording = latency.recordings[k]
        session = build(latency, inputs[k], [recording.transcript or UNKNOWN_WORDS], hub)
        counts.running += 1
        try:
            await session.run(RealtimeClock())
        finally:
            counts.running -= 1
            counts.ended += 1
            counts.exchanges += len(session.metrics)
            counts.errors += len(session.errors)
        turn += len(inputs)  # the next recording for this slot, so slots stay spread over them


async def _sampler(options: SoakOptions, start: float, counts: _Counts, out: list[Sample]) -> None:
    while True:
        out.append(
            Sample(
                t=round(time.monotonic() - start, 2),
                rss_mb=round(rss_mb(), 2),
                heap_blocks=sys.getallocatedblocks(),
                tasks=holdings().tasks,
                threads=len(os.listdir("/proc/self/task")),
                fds=len(os.listdir("/proc/self/fd")),
                running=counts.running,
                ended=counts.ended,
            )
        )
        await asyncio.sleep(options.every_s)


async def soak(options: SoakOptions, latency: LatencyOptions) -> SoakResult:
    """Run the soak (see the module docstring); the models load first, outside the measurement.

    A warm-up round (one session per slot, all at once) runs before the counts are first
    taken, so the pools sessions grow on demand (the event loop's default thread pool, the
    batched executors) are at their working size and not counted as leaks.
    """
    hub = ModelHub()
    load_models(hub)
    counts = _Counts()
    samples: list[Sample] = []
    with tempfile.TemporaryDirectory(prefix="graphflow-soak-") as tmp:
        inputs = []
        for i, recording in enumerate(latency.recordings):
            path = Path(tmp) / f"r{i}.wav"
            scenario(recording, None, path)
            inputs.append(path)
        async with asyncio.TaskGroup() as warm_up:
            for i in range(options.slots):
                warm_up.create_task(_slot(i, latency, inputs, hub, 0.0, _Counts()))
        gc.collect()
        before = holdings()
        start = time.monotonic()
        deadline = start + options.seconds
        sampler = asyncio.create_task(_sampler(options, start, counts, samples))
        try:
            async with asyncio.TaskGroup() as group:
                for i in range(options.slots):
                    group.create_task(_slot(i, latency, inputs, hub, deadline, counts))
                    await asyncio.sleep(0.02)  # slots start spread out, as calls do
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
    gc.collect()
    await asyncio.sleep(0)  # let finished tasks be forgotten
    after = holdings()
    return SoakResult(
        options=options,
        samples=samples,
        sessions=counts.ended,
        exchanges=counts.exchanges,
        errors=counts.errors,
        before=before,
        after=after,
        rss_growth_percent=growth_percent(samples, options.settle_s),
    )


def growth_percent(samples: list[Sample], settle_s: float, window_s: float = 60.0) -> float:
    """Median RSS of the last ``window_s`` with sessions running against that of the ``window_s`` after
    ``settle_s``, in percent (0: too short to have both).

    Medians of a minute each, not two single samples: one sample moves by 1 to 2 % with the
    sessions starting and ending around it, more than the growth being looked for.
    """
    running = [s for s in samples if s.running > 0]
    if not running:
        return 0.0
    end = running[-1].t
    first = [s.rss_mb for s in running if settle_s <= s.t < settle_s + window_s]
    last = [s.rss_mb for s in running if s.t > end - window_s and s.t >= settle_s + window_s]
    if not first or not last:
        return 0.0
    before, after = float(np.median(first)), float(np.median(last))
    return 100.0 * (after - before) / before
