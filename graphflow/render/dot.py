"""Graphviz DOT: nodes as tables of ports, queues on edges, cancellation edges dashed red."""

from __future__ import annotations

import html

from graphflow.render.describe import GraphView, ViewNode

CANCEL_COLOR = "#d62728"
"""Colour of cancellation edges (and the border of their targets)."""
CRITICAL_COLOR = "#e6550d"
"""Colour of the critical path's edges and of its nodes' budgets (with ``--latency``)."""
CRITICAL_FILL = "#fdd9bf"
"""Header colour of the nodes on the critical path."""


def _id(name: str) -> str:
    return '"' + name.replace('"', r"\"") + '"'


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _node_label(node: ViewNode) -> str:
    fill = CRITICAL_FILL if node.critical else "#e8eef7"
    color = CRITICAL_COLOR if node.critical else "#555555"
    budget = (
        f'<BR/><FONT POINT-SIZE="9" COLOR="{color}">budget {_esc(node.budget)}</FONT>' if node.budget else ""
    )
    rows = [
        f'<TR><TD COLSPAN="2" BGCOLOR="{fill}"><B>{_esc(node.name)}</B><BR/>'
        f'<FONT POINT-SIZE="9">{_esc(node.type_name)} · {_esc(node.kind)}</FONT>{budget}</TD></TR>'
    ]
    ins, outs = list(node.inputs), list(node.outputs)
    for i in range(max(len(ins), len(outs))):
        cells = []
        for ports, side in ((ins, "in"), (outs, "out")):
            if i < len(ports):
                p = ports[i]
                cells.append(
                    f'<TD PORT="{side}_{_esc(p.name)}" ALIGN="{"LEFT" if side == "in" else "RIGHT"}">'
                    f'<FONT POINT-SIZE="9">{_esc(p.name)}: {_esc(p.label)}</FONT></TD>'
                )
            else:
                cells.append("<TD></TD>")
        rows.append("<TR>" + "".join(cells) + "</TR>")
    return '<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4">' + "".join(rows) + "</TABLE>>"


def to_dot(view: GraphView) -> str:
    """The graph as DOT source (sub-graphs become clusters)."""
    lines = [
        f"digraph {_id(view.name)} {{",
        "  rankdir=LR;",
        '  node [shape=plaintext, fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    groups: dict[tuple[str, ...], list[ViewNode]] = {}
    for node in view.nodes:
        groups.setdefault(node.group, []).append(node)
    for group, members in groups.items():
        indent = "  "
        if group:
            cluster = "cluster_" + "_".join(group)
            lines.append(f"  subgraph {_id(cluster)} {{ label={_id('.'.join(group))}; style=rounded;")
            indent = "    "
        for node in members:
            border = f', color="{CANCEL_COLOR}"' if node.cancel_target else ""
            lines.append(f"{indent}{_id(node.name)} [label={_node_label(node)}{border}];")
        if group:
            lines.append("  }")
    for edge in view.edges:
        style = ", style=bold" if not edge.fused else ""
        if edge.critical:
            style += f", color={_id(CRITICAL_COLOR)}, fontcolor={_id(CRITICAL_COLOR)}, penwidth=3"
        head = f"{_id(edge.src)}:{_id('out_' + edge.src_port)}:e"
        tail = f"{_id(edge.dst)}:{_id('in_' + edge.dst_port)}:w"
        lines.append(f"  {head} -> {tail} [label={_id(edge.label)}{style}];")
    for cancel in view.cancels:
        lines.append(
            f"  {_id(cancel.trigger)} -> {_id(cancel.target)} [style=dashed, color={_id(CANCEL_COLOR)}, "
            f'fontcolor={_id(CANCEL_COLOR)}, label="cancel", constraint=false];'
        )
    if view.title:  # after the clusters, which would otherwise inherit it
        lines.append(f'  label={_id(view.title)}; labelloc=t; fontname="Helvetica";')
    lines.append("}")
    return "\n".join(lines) + "\n"
