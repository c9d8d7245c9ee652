"""Mermaid flowchart text, ready to paste into a Markdown file."""

from __future__ import annotations

import re

from graphflow.render.describe import GraphView, ViewNode

CANCEL_COLOR = "#d62728"
"""Colour of cancellation edges."""


def _id(name: str) -> str:
    return "n_" + re.sub(r"\W", "_", name)


def _text(text: str) -> str:
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def _label(node: ViewNode) -> str:
    parts = [f"<b>{_text(node.name)}</b>", f"<i>{_text(node.type_name)} · {node.kind}</i>"]
    parts += [f"in {_text(p.name)}: {_text(p.label)}" for p in node.inputs]
    parts += [f"out {_text(p.name)}: {_text(p.label)}" for p in node.outputs]
    return "<br/>".join(parts)


def to_mermaid(view: GraphView) -> str:
    """The graph as a Mermaid ``flowchart LR`` (sub-graphs become Mermaid subgraphs)."""
    lines = ["flowchart LR"]
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
    for edge in view.edges:
        arrow = "-->" if edge.fused else "==>"
        lines.append(f'    {_id(edge.src)} {arrow}|"{_text(edge.label)}"| {_id(edge.dst)}')
        link += 1
    for cancel in view.cancels:
        lines.append(f'    {_id(cancel.trigger)} -.->|"cancel"| {_id(cancel.target)}')
        cancel_links.append(str(link))
        link += 1
    if cancel_links:
        lines.append(f"    linkStyle {','.join(cancel_links)} stroke:{CANCEL_COLOR},stroke-dasharray:5 5")
    targets = [_id(n.name) for n in view.nodes if n.cancel_target]
    if targets:
        lines.append(f"    classDef cancelTarget stroke:{CANCEL_COLOR},stroke-width:2px")
        lines.append(f"    class {','.join(targets)} cancelTarget")
    return "\n".join(lines) + "\n"
