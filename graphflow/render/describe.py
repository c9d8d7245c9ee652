"""One frozen description of a compiled graph; every render format is drawn from it."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from graphflow.compiler.plan import CompiledGraph, PortPlan
from graphflow.timebase import MS, to_ms


@dataclass(frozen=True)
class ViewPort:
    """A port as drawn: name and what it carries."""

    name: str
    label: str


@dataclass(frozen=True)
class ViewNode:
    """A node as drawn: name, class, how it runs, its ports, its sub-graph path, its budget."""

    name: str
    type_name: str
    kind: str
    group: tuple[str, ...]
    inputs: tuple[ViewPort, ...]
    outputs: tuple[ViewPort, ...]
    cancel_target: bool
    budget: str = ""
    """Its declared latency (``"352 ms"``), or ``""`` when latency is not drawn."""
    critical: bool = False
    """On the critical path (only when latency is drawn)."""


@dataclass(frozen=True)
class ViewEdge:
    """A data edge as drawn: its ports, its queue (or ``fused``), whether it is on the critical path."""

    src: str
    src_port: str
    dst: str
    dst_port: str
    label: str
    fused: bool
    critical: bool = False


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
    title: str = ""
    """The graph's caption: its total latency budget, or ``""`` when latency is not drawn."""


def ms(ns: int) -> str:
    """``ns`` as milliseconds for a label: ``"352 ms"``, ``"0.5 ms"``."""
    return f"{ns // MS} ms" if ns % MS == 0 else f"{to_ms(ns):.1f} ms"


def _port(port: PortPlan) -> ViewPort:
    label = port.frame_type
    if port.format is not None:
        label += f" {port.format}"
    return ViewPort(port.name, label)


def describe(plan: CompiledGraph, *, latency: bool = False) -> GraphView:
    """The drawable description of ``plan``; ``latency`` adds budgets and the critical path."""
    path = plan.critical_path if latency else ()
    hops = set(itertools.pairwise(path))
    nodes = tuple(
        ViewNode(
            name=n.name,
            type_name=type(n.node).__name__,
            kind=n.kind.value,
            group=n.group,
            inputs=tuple(_port(p) for p in n.inputs),
            outputs=tuple(_port(p) for p in n.outputs),
            cancel_target=n.cancel_target,
            budget=ms(n.latency_budget) if latency else "",
            critical=n.name in path,
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
            (e.src, e.dst) in hops,
        )
        for e in plan.edges
    )
    cancels = tuple(ViewCancel(c.trigger, t) for c in plan.cancels for t in c.targets)
    title = f"{plan.name}: latency budget {ms(plan.latency_budget)} on the critical path" if latency else ""
    return GraphView(plan.name, nodes, edges, cancels, title)
