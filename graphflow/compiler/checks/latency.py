"""Check: every node declares its latency as a whole, non-negative number of nanoseconds."""

from __future__ import annotations

import networkx as nx

from graphflow.compiler.flatten import FlatGraph
from graphflow.errors import CompileIssue

HINT = "return nanoseconds from latency(), e.g. self.options.delay_ms * MS (graphflow.timebase.MS)"
"""What a node with a bad latency should do instead."""


def check(flat: FlatGraph, dag: nx.MultiDiGraph) -> list[CompileIssue]:
    """Report nodes whose ``latency()`` raises or is not an ``int`` >= 0."""
    issues = []
    for name, node in flat.nodes.items():
        what = f"{type(node).__name__} {name!r}"
        try:
            value = node.latency()
        except Exception as exc:
            message = f"{what}: latency() raised {type(exc).__name__}: {exc}"
        else:
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                continue
            message = f"{what} declares a latency of {value!r}; it must be a whole number of ns >= 0"
        issues.append(CompileIssue("node.bad_latency", message, nodes=(name,), hint=HINT))
    return issues
