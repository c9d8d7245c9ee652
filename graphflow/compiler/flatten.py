"""Flattening: a graph with sub-graphs becomes one set of qualified nodes and edges."""

from __future__ import annotations

from dataclasses import dataclass, field

from graphflow.errors import CompileIssue
from graphflow.graph import CancelEdges, Connection, Graph
from graphflow.node import Node


@dataclass
class FlatGraph:
    """Every node with its qualified name and group path, every edge, every cancel edge."""

    name: str
    nodes: dict[str, Node] = field(default_factory=dict)
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    connections: list[Connection] = field(default_factory=list)
    cancel_edges: list[CancelEdges] = field(default_factory=list)
    issues: list[CompileIssue] = field(default_factory=list)

    def name_of(self, node: Node) -> str | None:
        """Qualified name of ``node`` if it belongs to this graph."""
        name = node.qualname
        return name if self.nodes.get(name) is node else None


def flatten(graph: Graph) -> FlatGraph:
    """Collect nodes (qualified ``group.node``), edges and cancel edges of ``graph``."""
    flat = FlatGraph(graph.name)
    _walk(graph, (), flat)
    return flat


def _walk(graph: Graph, group: tuple[str, ...], flat: FlatGraph) -> None:
    seen: dict[str, str] = {}
    for member in graph.members:
        kind = "sub-graph" if isinstance(member, Graph) else type(member).__name__
        if member.name in seen:
            where = f" in sub-graph {'.'.join(group)!r}" if group else ""
            flat.issues.append(
                CompileIssue(
                    "graph.duplicate_name",
                    f"two members are named {member.name!r}{where}: a {seen[member.name]} and a {kind}",
                    nodes=(".".join((*group, member.name)),),
                    hint="give each node a unique name, or leave names out to get unique ones",
                )
            )
            continue
        seen[member.name] = kind
        if isinstance(member, Graph):
            _walk(member, (*group, member.name), flat)
        else:
            qualname = ".".join((*group, member.name))
            member.qualname = qualname
            flat.nodes[qualname] = member
            flat.groups[qualname] = group
    flat.connections.extend(graph.connections)
    flat.cancel_edges.extend(graph.cancel_edges)
