"""Check: data edges form no cycle (cancellation edges are not data edges and may go back)."""

from __future__ import annotations

import networkx as nx

from graphflow.compiler.flatten import FlatGraph
from graphflow.errors import CompileIssue


def check(flat: FlatGraph, dag: nx.MultiDiGraph) -> list[CompileIssue]:
    """Report one cycle per strongly connected group, with its path through the ports."""
    issues = []
    for component in nx.strongly_connected_components(dag):
        sub = dag.subgraph(component)
        if len(component) == 1 and not sub.number_of_edges():
            continue
        cycle = nx.find_cycle(sub)
        hops = [f"{dag.edges[u, v, key]['src']} -> {dag.edges[u, v, key]['dst']}" for u, v, key in cycle]
        issues.append(
            CompileIssue(
                "graph.cycle",
                "data edges form a cycle: " + ", ".join(hops),
                nodes=tuple(u for u, _, _ in cycle),
                ports=tuple(h for hop in hops for h in hop.split(" -> ")),
                hint="frames may not flow back upstream; use a cancellation edge or an event instead",
            )
        )
    return issues
