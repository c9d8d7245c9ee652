"""Check: every edge carries a frame type its input port accepts (after negotiation)."""

from __future__ import annotations

from typing import Any

from graphflow.compiler.flatten import FlatGraph
from graphflow.errors import CompileIssue
from graphflow.frames import Frame
from graphflow.ports import OutputPort


def check(flat: FlatGraph, carried: dict[OutputPort[Any], type[Frame]]) -> list[CompileIssue]:
    """Report connections whose carried frame type is not a subtype of the input's type."""
    issues = []
    for conn in flat.connections:
        src, dst = conn.src, conn.dst
        emitted = carried.get(src, src.frame_type)
        if not issubclass(emitted, dst.frame_type):
            issues.append(
                CompileIssue(
                    "graph.type_mismatch",
                    f"{src.qualname} emits {emitted.__name__} but {dst.qualname} "
                    f"accepts {dst.frame_type.__name__}",
                    nodes=(src.node.qualname, dst.node.qualname),
                    ports=(src.qualname, dst.qualname),
                    hint="connect ports of matching frame types, or convert in between",
                )
            )
    return issues
