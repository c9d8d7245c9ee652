"""Check: every edge carries a frame type its input port accepts (after negotiation)."""

from __future__ import annotations

from typing import Any

from graphflow.compiler.flatten import FlatGraph
from graphflow.errors import CompileIssue
from graphflow.frames.types import FrameType, accepts, type_name
from graphflow.ports import OutputPort


def check(flat: FlatGraph, carried: dict[OutputPort[Any], FrameType]) -> list[CompileIssue]:
    """Report connections whose carried frame type is not a subtype of the input's type."""
    issues = []
    for conn in flat.connections:
        src, dst = conn.src, conn.dst
        emitted = carried.get(src, src.frame_type)
        if not accepts(dst.frame_type, emitted):
            issues.append(
                CompileIssue(
                    "graph.type_mismatch",
                    f"{src.qualname} emits {type_name(emitted)} but {dst.qualname} "
                    f"accepts {type_name(dst.frame_type)}",
                    nodes=(src.node.qualname, dst.node.qualname),
                    ports=(src.qualname, dst.qualname),
                    hint="connect ports of matching frame types, or convert in between",
                )
            )
    return issues
