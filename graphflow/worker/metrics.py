"""Prometheus metrics of an agent worker: jobs, sessions, load, barge-ins, drops and latencies.

Every metric lives in the :class:`WorkerMetrics`' own ``CollectorRegistry`` (never the
process-global one), so several workers can share a process. Jobs and load are set by the
worker (:meth:`WorkerMetrics.job_started`, :meth:`~WorkerMetrics.job_finished`,
:meth:`~WorkerMetrics.set_load`); sessions are followed with :meth:`WorkerMetrics.watch`:
their events feed the per-stage latency histogram and the interruption counter as they
happen, and their totals (frame lag, queue drops) are read whenever the metrics are
collected, as differences since the last read, so the figures stay live while a session
runs and nothing is counted twice. A session is let go once its run is over, when the
hook ``watch`` returned is called, or when nothing else holds it any more: the metrics
never keep a session alive. The worker's ``job_finished`` collects, so the last figures
of a job's sessions are counted before the job lets them go.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from graphflow.agent.session import AgentSession
from graphflow.conversation.events import AgentStoppedSpeaking, SessionEvent, TurnMetrics
from graphflow.errors import ConfigError
from graphflow.timebase import to_seconds

CONTENT_TYPE = CONTENT_TYPE_LATEST
"""The HTTP content type of :meth:`WorkerMetrics.render` (the Prometheus text format)."""

JOB_STATUSES = ("success", "failed", "cancelled")
"""The final states of a job, as :meth:`WorkerMetrics.job_finished` takes them."""

WORKER_STATUSES = ("available", "full", "draining")
"""The states of a worker, as :meth:`WorkerMetrics.set_load` takes them."""

STAGES: dict[str, str] = {
    "vad": "vad_ms",
    "end_of_turn": "end_of_turn_ms",
    "transcript": "transcript_ms",
    "llm_ttft": "llm_ttft_ms",
    "tts_ttfb": "tts_ttfb_ms",
    "sink": "sink_ms",
    "voice_to_voice": "voice_to_voice_ms",
}
"""The ``stage`` label values of the stage latency histogram → the ``TurnMetrics`` field (ms)."""

STAGE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
"""Upper bounds (seconds) of the stage latency histogram."""

LAG_BUCKET_BITS = range(16, 34)
"""Frame lag buckets are powers of two of nanoseconds: 2^16 ns (65.5 µs) … 2^33 ns (8.6 s)."""

_BUCKETS = 64  # length of LatencyStats.buckets: index = bit length of the sample in ns


class _Watched:
    """One followed session (held weakly) and what of its totals has been counted already."""

    __slots__ = ("session", "lag_source", "lag_seen", "lag_total", "drops", "done")

    def __init__(self, session: AgentSession) -> None:
        self.session = weakref.ref(session)
        self.lag_source: object = None
        self.lag_seen = [0] * _BUCKETS
        self.lag_total = 0
        self.drops: dict[str, int] = {}
        self.done = False


class WorkerMetrics:
    """The worker's Prometheus metrics in a registry of their own; ``render()`` gives the text."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.jobs_running = Gauge(
            "graphflow_jobs_running", "Jobs this worker is running.", registry=self.registry
        )
        self.jobs = Counter(
            "graphflow_jobs", "Jobs finished, by final status.", ["status"], registry=self.registry
        )
        self.load = Gauge(
            "graphflow_worker_load", "Load the worker reports (0 to 1).", registry=self.registry
        )
        self.status = Gauge(
            "graphflow_worker_status",
            "1 for the worker's current status, 0 for the others.",
            ["status"],
            registry=self.registry,
        )
        self.interruptions = Counter(
            "graphflow_interruptions",
            "Replies cut off because the user barged in.",
            registry=self.registry,
        )
        self.stage_latency = Histogram(
            "graphflow_stage_latency_seconds",
            "Latency of each stage of an exchange (see TurnMetrics), in seconds.",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=self.registry,
        )
        for status in JOB_STATUSES:
            self.jobs.labels(status)
        for status in WORKER_STATUSES:
            self.status.labels(status).set(0)
        for stage in STAGES:
            self.stage_latency.labels(stage)
        self._running = 0
        self._watched: dict[int, _Watched] = {}
        self._lag_buckets = [0] * _BUCKETS
        self._lag_total = 0
        self._drops: dict[str, int] = {}
        self._lock = threading.Lock()
        self.registry.register(_SessionTotals(self))

    # -------------------------------------------------------------- the worker
    def job_started(self) -> None:
        """Count a job the worker has started."""
        self._running += 1
        self.jobs_running.set(self._running)

    def job_finished(self, status: str) -> None:
        """Count a job that ended with ``status`` (success, failed or cancelled)."""
        if status not in JOB_STATUSES:
            raise ConfigError(f"unknown job status {status!r}", hint=f"one of {', '.join(JOB_STATUSES)}")
        self._running = max(0, self._running - 1)
        self.jobs_running.set(self._running)
        self.jobs.labels(status).inc()
        self.sweep()

    def set_load(self, load: float, status: str) -> None:
        """Set the worker's load and status (available, full or draining)."""
        if status not in WORKER_STATUSES:
            raise ConfigError(
                f"unknown worker status {status!r}", hint=f"one of {', '.join(WORKER_STATUSES)}"
            )
        self.load.set(load)
        for name in WORKER_STATUSES:
            self.status.labels(name).set(1 if name == status else 0)

    # ---------------------------------------------------------------- sessions
    def watch(self, session: AgentSession) -> Callable[[], None]:
        """Follow ``session`` until its run is over; the returned hook lets it go at once."""
        self.sweep()
        key = id(session)
        with self._lock:
            known = self._watched.get(key)
            if known is not None and known.session() is session:
                return lambda: self.unwatch(session)
            watched = self._watched[key] = _Watched(session)

        def on_event(event: SessionEvent) -> None:
            if not watched.done:
                self._on_event(event)

        session.subscribe(on_event)
        return lambda: self.unwatch(session)

    def unwatch(self, session: AgentSession) -> None:
        """Count what is left of ``session``'s totals and stop following it."""
        with self._lock:
            watched = self._watched.get(id(session))
            if watched is not None and watched.session() is session:
                del self._watched[id(session)]
                self._fold(watched, session)
                watched.done = True

    @contextmanager
    def watching(self, session: AgentSession) -> Iterator[AgentSession]:
        """Follow ``session`` for the duration of a ``with`` block."""
        finish = self.watch(session)
        try:
            yield session
        finally:
            finish()

    @property
    def sessions_running(self) -> int:
        """Sessions being followed whose run is not over yet."""
        self.sweep()
        return len(self._watched)

    def sweep(self) -> None:
        """Count what every followed session added since the last sweep; let go of ended ones."""
        with self._lock:
            for key, watched in list(self._watched.items()):
                session = watched.session()
                if session is not None:
                    self._fold(watched, session)
                if session is None or _ended(session):
                    watched.done = True
                    del self._watched[key]

    def render(self) -> bytes:
        """Every metric in the Prometheus text format (content type :data:`CONTENT_TYPE`)."""
        return bytes(generate_latest(self.registry))

    # ----------------------------------------------------------------- helpers
    def _on_event(self, event: SessionEvent) -> None:
        if isinstance(event, TurnMetrics):
            for stage, field in STAGES.items():
                ms = getattr(event, field)
                if ms is not None:
                    # a histogram's sum must never go down: clamp clock skews at zero
                    self.stage_latency.labels(stage).observe(max(0.0, ms / 1000))
        elif isinstance(event, AgentStoppedSpeaking) and event.interrupted:
            self.interruptions.inc()

    def _fold(self, watched: _Watched, session: AgentSession) -> None:
        """Add what ``session`` gained since it was last folded (caller holds the lock)."""
        lag = session.frame_lag
        if lag is not watched.lag_source:  # a fresh LatencyStats: count it from zero
            watched.lag_source, watched.lag_seen, watched.lag_total = lag, [0] * _BUCKETS, 0
        seen = watched.lag_seen
        for i, n in enumerate(lag.buckets):
            if n > seen[i]:
                self._lag_buckets[i] += n - seen[i]
                seen[i] = n
        if lag.total > watched.lag_total:
            self._lag_total += lag.total - watched.lag_total
            watched.lag_total = lag.total
        runner = session.runner
        if runner is None:
            return
        try:
            edges = runner.stats().edges
        except ConfigError:  # created but not started yet
            return
        for edge in edges:
            before = watched.drops.get(edge.edge, 0)
            if edge.dropped > before:
                self._drops[edge.edge] = self._drops.get(edge.edge, 0) + edge.dropped - before
                watched.drops[edge.edge] = edge.dropped

    def _families(self) -> Iterable[Any]:
        """The metrics computed from session totals at collection time."""
        self.sweep()
        with self._lock:
            running = len(self._watched)
            buckets, total = list(self._lag_buckets), self._lag_total
            drops = dict(self._drops)
        yield GaugeMetricFamily(
            "graphflow_sessions_running", "Agent sessions running on this worker.", value=running
        )
        # a sample of bit length b is below 2^b ns: the bucket "le 2^b ns" holds lengths 0..b
        rows = [(repr(to_seconds(1 << bits)), float(sum(buckets[: bits + 1]))) for bits in LAG_BUCKET_BITS]
        rows.append(("+Inf", float(sum(buckets))))
        yield HistogramMetricFamily(
            "graphflow_frame_lag_seconds",
            "How late input audio frames left the VAD against their real-time schedule, in seconds.",
            buckets=rows,
            sum_value=to_seconds(total),
        )
        family = CounterMetricFamily(
            "graphflow_queue_drops", "Frames dropped by full queues, by edge.", labels=["edge"]
        )
        for edge, n in sorted(drops.items()):
            family.add_metric([edge], n)
        yield family


class _SessionTotals:
    """A collector that reads the followed sessions' totals whenever the registry is collected."""

    def __init__(self, metrics: WorkerMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Any]:
        """The session-derived metric families."""
        return self.metrics._families()

    def describe(self) -> Iterable[Any]:
        """The families' names (so the registry can check for clashes)."""
        return [
            GaugeMetricFamily("graphflow_sessions_running", ""),
            HistogramMetricFamily("graphflow_frame_lag_seconds", ""),
            CounterMetricFamily("graphflow_queue_drops", ""),
        ]


def _ended(session: AgentSession) -> bool:
    """Whether the session's run is over: its nodes are no longer part of a running graph."""
    runner = session.runner
    if runner is None:
        return False
    try:
        states = runner.state.states
    except ConfigError:
        return False
    first = next(iter(states.values()), None)
    if first is None:
        return True
    try:
        _ = first.node.clock
    except ConfigError:
        return True
    return False
