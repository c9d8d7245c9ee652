"""Mermaid flowchart text, ready to paste into a Markdown file."""

from __future__ import annotations

import json
import re

from graphflow.render.describe import GraphView, ViewNode

CANCEL_COLOR = "#d62728"
"""Colour of cancellation edges."""
CRITICAL_COLOR = "#e6550d"
"""Colour of the critical path's edges (with ``--latency``)."""
CRITICAL_FILL = "#fdd9bf"
"""Fill of the nodes on the critical path."""


def _id(name: str) -> str:
    return "n_" + re.sub(r"\W", "_", name)


def _text(text: str) -> str:
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def _label(node: ViewNode) -> str:
    parts = [f"<b>{_text(node.name)}</b>", f"<i>{_text(node.type_name)} · {node.kind}</i>"]
    if node.budget:
        parts.append(f"budget {_text(node.budget)}")
    parts += [f"in {_text(p.name)}: {_text(p.label)}" for p in node.inputs]
    parts += [f"out {_text(p.name)}: {_text(p.label)}" for p in node.outputs]
    return "<br/>".join(parts)


def to_mermaid(view: GraphView) -> str:
    """The graph as a Mermaid ``flowchart LR`` (sub-graphs become Mermaid subgraphs).

    With a title (``--latency``) it opens with a front-matter block naming the total budget.
    """
    lines = ["---", f"title: {json.dumps(view.title)}", "---"] if view.title else []
    lines.append("flowchart LR")
    groups: dict[tuple[str, ...], list[ViewNode]] = {}
    for node in view.nodes:
        groups.setdefault(node.group, []).append(node)
    for group, members in groups.items():
        indent = "    "
        if group:
            lines.append(f'    subgraph {_id("group_" + ".".join(group))}["{_text(".".join(group))}"]')
            indent = "        "
        for node in members:
            lines.append(f'{indent}{_id(node.name)}["{_label(node)}"]')
        if group:
            lines.append("    end")
    link = 0
    cancel_links = []
    critical_links = []
    for edge in view.edges:
        arrow = "-->" if edge.fused else "==>"
        lines.append(f'    {_id(edge.src)} {arrow}|"{_text(edge.label)}"| {_id(edge.dst)}')
        if edge.critical:
            critical_links.append(str(link))
        link += 1
    for cancel in view.cancels:
        lines.append(f'    {_id(cancel.trigger)} -.->|"cancel"| {_id(cancel.target)}')
        cancel_links.append(str(link))
        link += 1
    if cancel_links:
        lines.append(f"    linkStyle {','.join(cancel_links)} stroke:{CANCEL_COLOR},stroke-dasharray:5 5")
    if critical_links:
        lines.append(f"    linkStyle {','.join(critical_links)} stroke:{CRITICAL_COLOR},stroke-width:3px")
    targets = [_id(n.name) for n in view.nodes if n.cancel_target]
    if targets:
        lines.append(f"    classDef cancelTarget stroke:{CANCEL_COLOR},stroke-width:2px")
        lines.append(f"    class {','.join(targets)} cancelTarget")
    critical = [_id(n.name) for n in view.nodes if n.critical]
    if critical:
        lines.append(f"    classDef critical fill:{CRITICAL_FILL}")
        lines.append(f"    class {','.join(critical)} critical")
    return "\n".join(lines) + "\n"
