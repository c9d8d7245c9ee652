"""Keeping the garbage collector's pauses short once a process has loaded what it keeps.

A full collection walks every tracked object, and a process that has loaded models,
modules and executors has many that live as long as it does; here a full pass took
25-33 ms, a stall long enough to show in a session's p99 latency. :func:`freeze_loaded`
collects once, then moves every object alive at that moment out of the collector's
view (``gc.freeze()``), so later passes walk only what sessions allocate. Call it at a
quiet moment after loading — the worker does after ``prewarm()``, the benchmark after
loading its models — never per session: objects frozen are never collected.
"""

from __future__ import annotations

import gc
import time


def freeze_loaded() -> int:
    """Collect garbage, then exclude every live object from future collections; returns how many."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def collect_garbage() -> tuple[int, int]:
    """Run a full collection now; how many unreachable objects it found and how long it took (ns).

    For a moment when a lot of cyclic garbage has just been made: a worker's job that
    ended leaves its session and room in reference cycles that hold native memory
    (WebRTC buffers and threads) until a full pass, and the collector's own full passes
    come rarely (about every 80 jobs of the worker soak).
    """
    started = time.perf_counter_ns()
    found = gc.collect()
    return found, time.perf_counter_ns() - started
