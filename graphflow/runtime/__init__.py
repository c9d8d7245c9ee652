"""Running compiled graphs: clocks, queues, the scheduler, cancellation, stats, observers."""

from graphflow.runtime.cancellation import CancelHandle, CancelInfo, CancelReport
from graphflow.runtime.clock import Clock, RealtimeClock, VirtualClock
from graphflow.runtime.events import (
    CancelCompleted,
    CancelFired,
    NodeFinished,
    NodeIssue,
    Observer,
    RunEvent,
    RunFinished,
    RunStarted,
)
from graphflow.runtime.runner import GraphRunner
from graphflow.runtime.stats import EdgeStats, LatencyStats, LatencySummary, NodeStats, RunStats
from graphflow.runtime.wiring import RunOptions

__all__ = [
    "CancelCompleted",
    "CancelFired",
    "CancelHandle",
    "CancelInfo",
    "CancelReport",
    "Clock",
    "EdgeStats",
    "GraphRunner",
    "LatencyStats",
    "LatencySummary",
    "NodeFinished",
    "NodeIssue",
    "NodeStats",
    "Observer",
    "RealtimeClock",
    "RunEvent",
    "RunFinished",
    "RunOptions",
    "RunStarted",
    "RunStats",
    "VirtualClock",
]
