"""A session's live figures, as the playground's page draws them: one compact snapshot at a time.

:class:`Snapshotter` reads the counters the engine always keeps (frames per node,
queue depth, capacity and drops per edge) and, when the session is traced, handler
times, and turns them into rates over the interval since the previous snapshot. Events
that happen between two snapshots (turn latencies, barge-in cancellations, state
changes) wait in bounded buffers: a flood keeps the newest few and counts what it
dropped, never queueing without bound.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import msgspec

from graphflow.conversation.events import AgentStateChanged, SessionEvent, TurnMetrics, UserStateChanged
from graphflow.runtime.cancellation import CancelReport
from graphflow.runtime.runner import GraphRunner
from graphflow.runtime.stats import LatencySummary, RunStats
from graphflow.timebase import to_ms

STATS_TOPIC = "graphflow.stats"
"""The data-packet topic the snapshots travel on."""
GRAPH_TOPIC = "graphflow.graph"
"""The text-stream topic the drawn graph travels on (once per viewer)."""
VIEW_ATTRIBUTE = "graphflow.view"
"""A participant attribute: ``"1"`` while that participant wants the live figures."""
MAX_PENDING = 16
"""Turns or cancellations kept between two snapshots; older ones are dropped and counted."""


class NodeFigures(msgspec.Struct, frozen=True, array_like=True):
    """One node: frames handled (a source: sent) in all, frames per second, mean handler time.

    The handler time is in ms over the interval, -1 when the session is not traced."""

    frames: int
    fps: float
    handler_ms: float


class EdgeFigures(msgspec.Struct, frozen=True, array_like=True):
    """One edge: frames per second, queue depth and capacity (0: fused), drops so far."""

    fps: float
    depth: int
    capacity: int
    dropped: int


class CancelFigures(msgspec.Struct, frozen=True):
    """One barge-in cancellation: who fired it, which nodes it flushed, how long phase one took."""

    trigger: str
    reason: str
    targets: list[str]
    flushed: int
    propagation_ms: float


class Snapshot(msgspec.Struct, frozen=True):
    """Everything the page shows, at one instant (``wall``: Unix ms when it was taken)."""

    seq: int
    wall: float
    engine_ms: float
    nodes: dict[str, NodeFigures]
    edges: dict[str, EdgeFigures]
    cancels: list[CancelFigures]
    turns: list[dict[str, Any]]
    user: str
    agent: str
    cancellations: int
    dropped: int
    v: int = 1


class _Counters:
    """What the previous snapshot saw, to turn totals into rates."""

    __slots__ = ("at", "node_frames", "handler", "edge_pushed")

    def __init__(self) -> None:
        self.at = 0
        self.node_frames: dict[str, int] = {}
        self.handler: dict[str, tuple[int, float]] = {}
        self.edge_pushed: dict[str, int] = {}


class Snapshotter:
    """Follows one session's events and runner and gives a :class:`Snapshot` on demand."""

    def __init__(self, max_pending: int = MAX_PENDING) -> None:
        self.turns: deque[dict[str, Any]] = deque(maxlen=max_pending)
        self.cancels: deque[CancelFigures] = deque(maxlen=max_pending)
        self.user = "listening"
        self.agent = "listening"
        self.dropped = 0
        """Turns and cancellations dropped because the page was not keeping up."""
        self._seq = 0
        self._seen_cancels = 0
        self._before = _Counters()

    def on_event(self, event: SessionEvent) -> None:
        """Keep what a snapshot reports of ``event`` (a session subscriber; never blocks)."""
        if isinstance(event, TurnMetrics):
            if len(self.turns) == self.turns.maxlen:
                self.dropped += 1
            figures = msgspec.to_builtins(event)
            figures.pop("turn_evidence", None)
            self.turns.append(figures)
        elif isinstance(event, UserStateChanged):
            self.user = event.new
        elif isinstance(event, AgentStateChanged):
            self.agent = event.new

    def take(self, runner: GraphRunner, stats: RunStats | None = None) -> Snapshot:
        """The snapshot now: rates since the previous one, pending events handed over and cleared."""
        stats = stats or runner.stats()
        now = runner.now()
        before = self._before
        seconds = (now - before.at) / 1e9 if before.at else 0.0
        after = _Counters()
        after.at = now
        sent = _frames_sent(stats)
        nodes: dict[str, NodeFigures] = {}
        for node in stats.nodes:
            frames = node.frames or sent.get(node.node, 0)  # a source handles none: what it sent
            after.node_frames[node.node] = frames
            fps = _rate(frames - before.node_frames.get(node.node, frames), seconds)
            handler_ms = -1.0
            if node.handler is not None:
                total = node.handler.mean_us * node.handler.count
                after.handler[node.node] = (node.handler.count, total)
                handler_ms = _window_mean(node.handler, before.handler.get(node.node))
            nodes[node.node] = NodeFigures(frames, fps, handler_ms)
        edges: dict[str, EdgeFigures] = {}
        for edge in stats.edges:
            after.edge_pushed[edge.edge] = edge.pushed
            fps = _rate(edge.pushed - before.edge_pushed.get(edge.edge, edge.pushed), seconds)
            edges[edge.edge] = EdgeFigures(fps, edge.depth, edge.capacity, edge.dropped)
        self._before = after
        self._collect_cancels(runner)
        self._seq += 1
        snapshot = Snapshot(
            seq=self._seq,
            wall=time.time() * 1000,
            engine_ms=round(to_ms(now), 1),
            nodes=nodes,
            edges=edges,
            cancels=list(self.cancels),
            turns=list(self.turns),
            user=self.user,
            agent=self.agent,
            cancellations=stats.cancellations,
            dropped=self.dropped,
        )
        self.cancels.clear()
        self.turns.clear()
        return snapshot

    def _collect_cancels(self, runner: GraphRunner) -> None:
        reports = runner.state.cancel_reports
        fresh = reports[self._seen_cancels :]
        self._seen_cancels = len(reports)
        for report in fresh[-(self.cancels.maxlen or 1) :]:
            self.cancels.append(cancel_figures(report))
        self.dropped += max(0, len(fresh) - (self.cancels.maxlen or 1))


def cancel_figures(report: CancelReport) -> CancelFigures:
    """The page's view of one cancellation report."""
    return CancelFigures(
        trigger=report.info.trigger,
        reason=report.info.reason,
        targets=sorted(report.flushed),
        flushed=sum(report.flushed.values()),
        propagation_ms=round(to_ms(report.propagation_ns), 3),
    )


def _frames_sent(stats: RunStats) -> dict[str, int]:
    """The most frames each node sent along one of its edges."""
    sent: dict[str, int] = {}
    for edge in stats.edges:
        src = edge.edge.split(" -> ", 1)[0].rsplit(".", 1)[0]
        sent[src] = max(sent.get(src, 0), edge.pushed)
    return sent


def _rate(delta: int, seconds: float) -> float:
    return round(delta / seconds, 1) if seconds > 0 else 0.0


def _window_mean(summary: LatencySummary, before: tuple[int, float] | None) -> float:
    """Mean handler time (ms) of the calls since ``before`` (or of all calls); 0 when none."""
    count, total = summary.count, summary.mean_us * summary.count
    if before is not None:
        count, total = count - before[0], total - before[1]
    return round(total / count / 1000, 3) if count > 0 else 0.0


def encode(snapshot: Snapshot) -> bytes:
    """The snapshot as the JSON the page reads."""
    return msgspec.json.encode(snapshot)
