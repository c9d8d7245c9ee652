"""Run statistics: per-edge and per-node counters and latency summaries.

Counters that cost next to nothing (frames pushed, dropped, flushed, queue high-water
mark) are always kept. Latencies (time in queue, handler time, frame age) are recorded
only when tracing is on, in :class:`LatencyStats`: count, sum, min, max, a power-of-two
histogram (what Prometheus needs) and, optionally, a bounded list of raw samples (what a
benchmark needs for exact percentiles).
"""

from __future__ import annotations

import msgspec

from graphflow.timebase import US


class LatencySummary(msgspec.Struct, frozen=True):
    """Latency figures in microseconds."""

    count: int
    mean_us: float
    min_us: float
    p50_us: float
    p90_us: float
    p99_us: float
    max_us: float


class LatencyStats:
    """Accumulates latency samples (ns) cheaply; ``summary()`` gives percentiles in µs."""

    __slots__ = ("count", "total", "min", "max", "buckets", "samples", "keep")

    def __init__(self, keep: int = 0) -> None:
        self.count = 0
        self.total = 0
        self.min = 0
        self.max = 0
        self.buckets = [0] * 64
        self.samples: list[int] = []
        self.keep = keep

    def add(self, ns: int) -> None:
        """Record one latency of ``ns`` nanoseconds."""
        if ns < 0:
            ns = 0
        if self.count == 0 or ns < self.min:
            self.min = ns
        if ns > self.max:
            self.max = ns
        self.count += 1
        self.total += ns
        self.buckets[ns.bit_length()] += 1
        if len(self.samples) < self.keep:
            self.samples.append(ns)

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile in ns: exact from kept samples, else from the histogram."""
        if self.count == 0:
            return 0.0
        if self.samples and len(self.samples) == self.count:
            ordered = sorted(self.samples)
            return float(ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))])
        rank = q / 100 * self.count
        seen = 0
        for bits, n in enumerate(self.buckets):
            seen += n
            if seen >= rank and n:
                return float(min(self.max, (1 << bits) - 1))
        return float(self.max)

    def summary(self) -> LatencySummary:
        """Count, mean, min, p50, p90, p99 and max in microseconds."""
        if self.count == 0:
            return LatencySummary(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        return LatencySummary(
            count=self.count,
            mean_us=self.total / self.count / US,
            min_us=self.min / US,
            p50_us=self.percentile(50) / US,
            p90_us=self.percentile(90) / US,
            p99_us=self.percentile(99) / US,
            max_us=self.max / US,
        )


class EdgeStats(msgspec.Struct, frozen=True):
    """What crossed one edge: frames, drops, flushes, queue depth and time in queue."""

    edge: str
    fused: bool
    capacity: int
    pushed: int
    dropped: int
    flushed: int
    high_water: int
    depth: int
    latency: LatencySummary | None


class NodeStats(msgspec.Struct, frozen=True):
    """What one node did: frames handled, time in its handlers, frames dropped as stale."""

    node: str
    frames: int
    stale_dropped: int
    cancellations: int
    handler: LatencySummary | None
    frame_age: LatencySummary | None


class RunStats(msgspec.Struct, frozen=True):
    """Statistics of one run: every edge, every node, every cancellation."""

    edges: tuple[EdgeStats, ...]
    nodes: tuple[NodeStats, ...]
    cancellations: int
    cancel_propagation: LatencySummary | None

    def edge(self, label: str) -> EdgeStats:
        """Stats of the edge ``"src.port -> dst.port"``."""
        for stats in self.edges:
            if stats.edge == label:
                return stats
        raise KeyError(label)

    def node(self, name: str) -> NodeStats:
        """Stats of the node called ``name``."""
        for stats in self.nodes:
            if stats.node == name:
                return stats
        raise KeyError(name)
