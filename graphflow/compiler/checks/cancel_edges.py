"""Check: cancellation edges start and end at nodes of this graph, and never at the trigger itself."""

from __future__ import annotations

import networkx as nx

from graphflow.compiler.flatten import FlatGraph
from graphflow.errors import CompileIssue


def check(flat: FlatGraph, dag: nx.MultiDiGraph) -> list[CompileIssue]:
    """Report triggers or targets that are not in the graph, and self-cancelling triggers."""
    issues = []
    for edge in flat.cancel_edges:
        trigger = flat.name_of(edge.trigger)
        trigger_label = trigger or edge.trigger.name or repr(edge.trigger)
        if trigger is None:
            issues.append(
                CompileIssue(
                    "graph.cancel_unknown_node",
                    f"cancellation trigger {trigger_label!r} is not a node of graph {flat.name!r}",
                    nodes=(trigger_label,),
                    hint="add the trigger node to the graph before declaring its cancellation edges",
                )
            )
        if not edge.targets:
            issues.append(
                CompileIssue(
                    "graph.cancel_no_targets",
                    f"cancellation edges of {trigger_label!r} name no target",
                    nodes=(trigger_label,),
                )
            )
        for target in edge.targets:
            name = flat.name_of(target)
            if name is None:
                label = target.name or repr(target)
                issues.append(
                    CompileIssue(
                        "graph.cancel_unknown_node",
                        f"cancellation edge {trigger_label} -> {label}: {label!r} is not a node of "
                        f"graph {flat.name!r}",
                        nodes=(trigger_label, label),
                        hint="add the target to the graph, or drop it from cancels()",
                    )
                )
            elif target is edge.trigger:
                issues.append(
                    CompileIssue(
                        "graph.cancel_self",
                        f"{name!r} would cancel itself",
                        nodes=(name,),
                        hint="a trigger cancels the work downstream of it, not its own",
                    )
                )
    return issues
