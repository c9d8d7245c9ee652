"""Check: every required input port has at least one incoming edge."""

from __future__ import annotations

import networkx as nx

from graphflow.compiler.flatten import FlatGraph
from graphflow.errors import CompileIssue
from graphflow.frames.types import type_name


def check(flat: FlatGraph, dag: nx.MultiDiGraph) -> list[CompileIssue]:
    """Report required inputs that nothing feeds."""
    fed = {id(conn.dst) for conn in flat.connections}
    issues = []
    for name, node in flat.nodes.items():
        for port in node.inputs.values():
            if port.required and id(port) not in fed:
                issues.append(
                    CompileIssue(
                        "graph.unconnected_input",
                        f"required input {port.qualname} ({type_name(port.frame_type)}) is not connected",
                        nodes=(name,),
                        ports=(port.qualname,),
                        hint="connect an output to it, or declare it Input(..., required=False)",
                    )
                )
    return issues
