"""The latency budget: each node's declared latency, summed along the slowest path.

Like GStreamer's latency query, every stage reports the latency it adds of its own
(:meth:`graphflow.node.Node.latency`) and the graph's budget is the largest sum along a
data path: the critical path. Between paths of equal sum the longer one (more nodes)
wins, so a path runs on through the stages that add nothing, to the sink.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import networkx as nx


@dataclass(frozen=True)
class CriticalPath:
    """The path with the largest latency sum: its node names (source first) and that sum in ns."""

    nodes: tuple[str, ...]
    total: int


def critical_path(budgets: Mapping[str, int], dag: nx.MultiDiGraph, order: Sequence[str]) -> CriticalPath:
    """The critical path of ``dag`` whose nodes, in topological ``order``, add ``budgets`` (ns)."""
    rank = {name: i for i, name in enumerate(order)}
    best: dict[str, tuple[int, int, int]] = {}  # node -> (sum, hops, rank) of the best path ending there
    came_from: dict[str, str | None] = {}
    for name in order:
        before = max(dag.predecessors(name), key=lambda p: best[p], default=None)
        total, hops = (0, 0) if before is None else best[before][:2]
        best[name] = (total + budgets[name], hops + 1, rank[name])
        came_from[name] = before
    if not best:
        return CriticalPath((), 0)
    end: str | None = max(best, key=lambda n: best[n])
    path: list[str] = []
    while end is not None:
        path.append(end)
        end = came_from[end]
    return CriticalPath(tuple(reversed(path)), best[path[0]][0])
