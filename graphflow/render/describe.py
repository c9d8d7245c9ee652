"""One frozen description of a compiled graph; every render format is drawn from it."""

from __future__ import annotations

from dataclasses import dataclass

from graphflow.compiler.plan import CompiledGraph, PortPlan


@dataclass(frozen=True)
class ViewPort:
    """A port as drawn: name and what it carries."""

    name: str
    label: str


@dataclass(frozen=True)
class ViewNode:
    """A node as drawn: name, class, how it runs, its ports, its sub-graph path."""

    name: str
    type_name: str
    kind: str
    group: tuple[str, ...]
    inputs: tuple[ViewPort, ...]
    outputs: tuple[ViewPort, ...]
    cancel_target: bool


@dataclass(frozen=True)
class ViewEdge:
    """A data edge as drawn: its ports and its queue (or ``fused``)."""

    src: str
    src_port: str
    dst: str
    dst_port: str
    label: str
    fused: bool


@dataclass(frozen=True)
class ViewCancel:
    """A cancellation edge as drawn."""

    trigger: str
    target: str


@dataclass(frozen=True)
class GraphView:
    """Everything a renderer needs, nothing it must compute."""

    name: str
    nodes: tuple[ViewNode, ...]
    edges: tuple[ViewEdge, ...]
    cancels: tuple[ViewCancel, ...]


def _port(port: PortPlan) -> ViewPort:
    label = port.frame_type
    if port.format is not None:
        label += f" {port.format}"
    return ViewPort(port.name, label)


def describe(plan: CompiledGraph) -> GraphView:
    """The drawable description of ``plan``."""
    nodes = tuple(
        ViewNode(
            name=n.name,
            type_name=type(n.node).__name__,
            kind=n.kind.value,
            group=n.group,
            inputs=tuple(_port(p) for p in n.inputs),
            outputs=tuple(_port(p) for p in n.outputs),
            cancel_target=n.cancel_target,
        )
        for n in plan.nodes
    )
    edges = tuple(
        ViewEdge(
            e.src,
            e.src_port,
            e.dst,
            e.dst_port,
            "fused" if e.queue is None else e.queue.label(),
            e.queue is None,
        )
        for e in plan.edges
    )
    cancels = tuple(ViewCancel(c.trigger, t) for c in plan.cancels for t in c.targets)
    return GraphView(plan.name, nodes, edges, cancels)
