"""The graph a viewer draws: the session's compiled graph as ``graphflow render`` describes it.

The message carries an SVG Graphviz draws from the description ``graphflow render``
draws from (:func:`graphflow.render.describe`), laid out compactly for a page — a box
per node with its class, top to bottom, the queue on each edge, cancellation edges dashed
red — and the edges in DOT order: Graphviz numbers its edge elements ``edge1``,
``edge2``… in that order, which is how the page finds the element of each queue and of
each cancellation edge. Without Graphviz the SVG is empty and the page lists the nodes.
"""

from __future__ import annotations

import logging

import msgspec

from graphflow.compiler.plan import CompiledGraph
from graphflow.errors import GraphflowError
from graphflow.render import GraphView, describe, to_image
from graphflow.render.dot import CANCEL_COLOR

log = logging.getLogger("graphflow.playground")

FIGURES_LINE = " " * 26
"""The blank last line of a node's label, where the page writes its figures."""


class DrawnEdge(msgspec.Struct, frozen=True):
    """A data edge: its stats label (``src.port -> dst.port``) and its endpoints."""

    label: str
    src: str
    dst: str
    queue: str


class DrawnCancel(msgspec.Struct, frozen=True):
    """A cancellation edge."""

    trigger: str
    target: str


class DrawnGraph(msgspec.Struct, frozen=True):
    """What the page needs to draw and animate the graph."""

    name: str
    nodes: list[str]
    edges: list[DrawnEdge]
    cancels: list[DrawnCancel]
    svg: str
    v: int = 1


def draw(plan: CompiledGraph) -> DrawnGraph:
    """``plan`` drawn for the page (SVG through Graphviz when it is installed)."""
    view = describe(plan)
    try:
        svg = to_image(compact_dot(view), "svg").decode()
    except GraphflowError as exc:
        log.warning("the playground draws no graph image: %s", exc.message)
        svg = ""
    edges = [
        DrawnEdge(f"{e.src}.{e.src_port} -> {e.dst}.{e.dst_port}", e.src, e.dst, e.label) for e in view.edges
    ]
    cancels = [DrawnCancel(c.trigger, c.target) for c in view.cancels]
    return DrawnGraph(view.name, [n.name for n in view.nodes], edges, cancels, svg)


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def compact_dot(view: GraphView) -> str:
    """``view`` as DOT for the page: plain boxes, top to bottom, data edges before cancellations."""
    lines = [
        f"digraph {_q(view.name)} {{",
        "  rankdir=TB; nodesep=0.25; ranksep=0.35;",
        '  node [shape=box, style="rounded,filled", fillcolor="#e8eef7", fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=8, color="#555555"];',
    ]
    for node in view.nodes:
        border = f', color="{CANCEL_COLOR}"' if node.cancel_target else ""
        # a third, blank line, wide enough for the node's live figures (the page writes them)
        label = _q(f"{node.name}\n{node.type_name}\n{FIGURES_LINE}").replace("\n", "\\n")
        lines.append(f"  {_q(node.name)} [label={label}{border}];")
    for edge in view.edges:
        style = "" if edge.fused else ", penwidth=1.6"
        lines.append(f"  {_q(edge.src)} -> {_q(edge.dst)} [label={_q(edge.label)}{style}];")
    for cancel in view.cancels:
        lines.append(
            f"  {_q(cancel.trigger)} -> {_q(cancel.target)} "
            f'[style=dashed, color="{CANCEL_COLOR}", constraint=false, arrowsize=0.6];'
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def encode(graph: DrawnGraph) -> str:
    """The message the page reads from the graph topic."""
    return msgspec.json.encode(graph).decode()
