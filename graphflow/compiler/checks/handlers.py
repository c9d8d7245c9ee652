"""Check: handler nodes implement the handler each input names; ``follows`` names an input."""

from __future__ import annotations

import networkx as nx

from graphflow.compiler.flatten import FlatGraph
from graphflow.errors import CompileIssue
from graphflow.node import NodeKind


def check(flat: FlatGraph, dag: nx.MultiDiGraph) -> list[CompileIssue]:
    """Report missing handler methods and ``follows`` that point nowhere."""
    issues = []
    for name, node in flat.nodes.items():
        kind = node.kind()
        for port in node.inputs.values():
            if kind is not NodeKind.RUN and not callable(getattr(node, port.handler, None)):
                issues.append(
                    CompileIssue(
                        "node.missing_handler",
                        f"{type(node).__name__} {name!r} has no method {port.handler}() for input "
                        f"{port.qualname} and no run()",
                        nodes=(name,),
                        ports=(port.qualname,),
                        hint=f"implement {port.handler}(self, frame) or run(self)",
                    )
                )
        if kind is not NodeKind.RUN and not node.inputs:
            issues.append(
                CompileIssue(
                    "node.no_work",
                    f"{type(node).__name__} {name!r} has no inputs and no run(): it can never do anything",
                    nodes=(name,),
                    hint="a source node implements run(self)",
                )
            )
        for oport in node.outputs.values():
            if oport.follows is not None and oport.follows not in node.inputs:
                issues.append(
                    CompileIssue(
                        "node.bad_follows",
                        f"output {oport.qualname} follows the format of {oport.follows!r}, "
                        f"which is not an input of {name!r}",
                        nodes=(name,),
                        ports=(oport.qualname,),
                    )
                )
    return issues
