"""Drawing compiled graphs: DOT and Mermaid text, SVG and PNG through Graphviz."""

from __future__ import annotations

from graphflow.compiler.plan import CompiledGraph
from graphflow.errors import ConfigError
from graphflow.render.describe import GraphView, describe
from graphflow.render.dot import to_dot
from graphflow.render.image import GraphvizMissing, to_image
from graphflow.render.mermaid import to_mermaid

FORMATS = ("dot", "mermaid", "svg", "png")
"""Formats ``render`` can produce."""

__all__ = [
    "FORMATS",
    "GraphView",
    "GraphvizMissing",
    "describe",
    "render",
    "to_dot",
    "to_image",
    "to_mermaid",
]


def render(plan: CompiledGraph, fmt: str = "dot", *, latency: bool = False) -> bytes:
    """``plan`` drawn in ``fmt`` (one of :data:`FORMATS`), as bytes; ``latency`` adds the budgets."""
    view = describe(plan, latency=latency)
    if fmt == "dot":
        return to_dot(view).encode()
    if fmt == "mermaid":
        return to_mermaid(view).encode()
    if fmt in ("svg", "png"):
        return to_image(to_dot(view), fmt)
    raise ConfigError(f"unknown render format {fmt!r}", hint=f"use one of: {', '.join(FORMATS)}")
