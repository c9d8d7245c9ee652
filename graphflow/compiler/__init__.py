"""Compiling a graph: flatten, run every check, resolve formats, freeze into a plan.

Every problem is collected before anything raises, so one :class:`CompileError` lists
all of them, each naming the nodes and ports involved.
"""

from __future__ import annotations

import networkx as nx

from graphflow.compiler.checks import STRUCTURE_CHECKS, port_types
from graphflow.compiler.flatten import FlatGraph, flatten
from graphflow.compiler.latency import critical_path
from graphflow.compiler.negotiate import negotiate
from graphflow.compiler.plan import CancelPlan, CompiledGraph, EdgePlan, NodePlan, PortPlan
from graphflow.errors import CompileError, CompileIssue
from graphflow.frames.types import type_name
from graphflow.graph import Graph
from graphflow.node import NodeKind
from graphflow.queue_spec import DEFAULT_QUEUE

__all__ = ["CompiledGraph", "compile_graph"]


def compile_graph(graph: Graph) -> CompiledGraph:
    """Validate ``graph`` and return its immutable plan, or raise :class:`CompileError`."""
    flat = flatten(graph)
    issues: list[CompileIssue] = list(flat.issues)
    issues += _foreign_nodes(flat)
    dag = _data_graph(flat)
    for check in STRUCTURE_CHECKS:
        issues += check(flat, dag)
    if any(issue.code == "graph.cycle" for issue in issues):
        raise CompileError(issues)
    order = list(nx.topological_sort(dag))
    carried = negotiate([flat.nodes[n] for n in order], flat.connections)
    issues += port_types.check(flat, carried.types)
    issues += carried.issues
    if issues:
        raise CompileError(issues)

    targets = {flat.name_of(t) for edge in flat.cancel_edges for t in edge.targets}
    budgets = {name: flat.nodes[name].latency() for name in order}
    nodes = []
    for name in order:
        node = flat.nodes[name]
        inputs = tuple(
            PortPlan(p.name, type_name(p.frame_type), p.format, p.required) for p in node.inputs.values()
        )
        outputs = tuple(
            PortPlan(p.name, type_name(carried.types[p]), carried.formats.get(p))
            for p in node.outputs.values()
        )
        nodes.append(
            NodePlan(
                name=name,
                node=node,
                kind=node.kind(),
                inputs=inputs,
                outputs=outputs,
                group=flat.groups[name],
                cancel_target=name in targets,
                latency_budget=budgets[name],
            )
        )
    rank = {name: i for i, name in enumerate(order)}
    connections = sorted(
        flat.connections, key=lambda c: (rank[c.src.node.qualname], rank[c.dst.node.qualname])
    )
    edges = []
    for conn in connections:
        fused = conn.queue is None and conn.dst.node.kind() is NodeKind.SYNC
        edges.append(
            EdgePlan(
                src=conn.src.node.qualname,
                src_port=conn.src.name,
                dst=conn.dst.node.qualname,
                dst_port=conn.dst.name,
                frame_type=type_name(carried.types[conn.src]),
                queue=None if fused else (conn.queue or DEFAULT_QUEUE),
            )
        )
    slowest = critical_path(budgets, dag, order)
    cancels = tuple(
        CancelPlan(edge.trigger.qualname, tuple(t.qualname for t in edge.targets))
        for edge in flat.cancel_edges
    )
    return CompiledGraph(
        name=graph.name,
        nodes=tuple(nodes),
        edges=tuple(edges),
        cancels=cancels,
        latency_budget=slowest.total,
        critical_path=slowest.nodes,
    )


def _foreign_nodes(flat: FlatGraph) -> list[CompileIssue]:
    issues = []
    for conn in flat.connections:
        for port in (conn.src, conn.dst):
            if flat.name_of(port.node) is None:
                issues.append(
                    CompileIssue(
                        "graph.foreign_node",
                        f"edge {conn.src.qualname} -> {conn.dst.qualname} uses a node that is not "
                        f"in graph {flat.name!r}: {port.node!r}",
                        nodes=(port.node.name,),
                        ports=(port.qualname,),
                        hint="add the node (or the sub-graph holding it) to this graph",
                    )
                )
    return issues


def _data_graph(flat: FlatGraph) -> nx.MultiDiGraph:
    dag = nx.MultiDiGraph()
    dag.add_nodes_from(flat.nodes)
    for conn in flat.connections:
        src, dst = flat.name_of(conn.src.node), flat.name_of(conn.dst.node)
        if src is not None and dst is not None:
            dag.add_edge(src, dst, src=conn.src.qualname, dst=conn.dst.qualname)
    return dag
