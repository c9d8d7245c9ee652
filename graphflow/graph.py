"""Building graphs in Python: add nodes, connect ports, declare cancellation edges, nest.

``Graph.chain(a, b, c)`` connects default ports in a line; ``Graph.connect(a.out, b.inp)``
connects named ports (fan-out and fan-in are just more connections). A graph can expose
ports of its inner nodes (``expose_input``/``expose_output``) and be added to another graph
as a sub-graph, like a GStreamer bin. ``compile()`` validates and freezes it into a plan.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from graphflow.errors import ConfigError
from graphflow.node import Node
from graphflow.ports import InputPort, OutputPort
from graphflow.queue_spec import QueueSpec

if TYPE_CHECKING:
    from graphflow.compiler.plan import CompiledGraph


@dataclass(frozen=True)
class Connection:
    """One data edge as declared: ``queue=None`` lets the compiler decide (fuse or default queue)."""

    src: OutputPort[Any]
    dst: InputPort[Any]
    queue: QueueSpec | None = None


@dataclass(frozen=True)
class CancelEdges:
    """A trigger node and the nodes its cancellation reaches."""

    trigger: Node
    targets: tuple[Node, ...]


class Graph:
    """A mutable description of nodes, edges and cancellation edges; ``compile()`` checks it."""

    def __init__(self, name: str = "graph") -> None:
        self.name = name
        self.members: list[Node | Graph] = []
        self.connections: list[Connection] = []
        self.cancel_edges: list[CancelEdges] = []
        self.exposed_inputs: dict[str, InputPort[Any]] = {}
        self.exposed_outputs: dict[str, OutputPort[Any]] = {}
        self._used_names: set[str] = set()

    # ------------------------------------------------------------------ building
    def add(self, *members: Node | Graph) -> Graph:
        """Add nodes or sub-graphs; unnamed nodes get a name unique in this graph."""
        for member in members:
            if self._holds(member):
                continue
            if isinstance(member, Node) and not member.name:
                member.name = self._fresh_name(member.default_name())
            self._used_names.add(member.name)
            self.members.append(member)
        return self

    def connect(
        self,
        src: OutputPort[Any],
        dst: InputPort[Any],
        *,
        queue: QueueSpec | None = None,
    ) -> Graph:
        """Connect an output port to an input port (adding their nodes if needed).

        ``queue`` sets the edge's bound and overflow policy; without it an edge into a
        synchronous node is fused (a function call) and any other edge gets the default queue.
        """
        if not isinstance(src, OutputPort):
            raise ConfigError(f"connect() source must be an output port, got {src!r}")
        if not isinstance(dst, InputPort):
            raise ConfigError(f"connect() destination must be an input port, got {dst!r}")
        for node in (src.node, dst.node):
            if not self._holds(node):
                self.add(node)
        self.connections.append(Connection(src, dst, queue))
        return self

    def chain(self, *members: Node | Graph, queue: QueueSpec | None = None) -> Graph:
        """Add ``members`` and connect each one's default output to the next one's default input."""
        self.add(*members)
        for upstream, downstream in itertools.pairwise(members):
            self.connect(upstream.default_output(), downstream.default_input(), queue=queue)
        return self

    def cancels(self, trigger: Node, *targets: Node | Graph) -> Graph:
        """Declare cancellation edges: when ``trigger`` fires, ``targets`` are flushed."""
        flat: list[Node] = []
        for target in targets:
            flat.extend(target.nodes() if isinstance(target, Graph) else [target])
        self.cancel_edges.append(CancelEdges(trigger, tuple(flat)))
        return self

    def expose_input(self, name: str, port: InputPort[Any]) -> Graph:
        """Make an inner input port reachable from outside as ``self.input(name)``."""
        self.add(port.node)
        self.exposed_inputs[name] = port
        return self

    def expose_output(self, name: str, port: OutputPort[Any]) -> Graph:
        """Make an inner output port reachable from outside as ``self.output(name)``."""
        self.add(port.node)
        self.exposed_outputs[name] = port
        return self

    def input(self, name: str) -> InputPort[Any]:
        """The inner input port exposed under ``name``."""
        try:
            return self.exposed_inputs[name]
        except KeyError:
            raise ConfigError(
                f"graph {self.name!r} exposes no input {name!r} "
                f"(it exposes: {', '.join(self.exposed_inputs) or 'none'})"
            ) from None

    def output(self, name: str) -> OutputPort[Any]:
        """The inner output port exposed under ``name``."""
        try:
            return self.exposed_outputs[name]
        except KeyError:
            raise ConfigError(
                f"graph {self.name!r} exposes no output {name!r} "
                f"(it exposes: {', '.join(self.exposed_outputs) or 'none'})"
            ) from None

    def default_input(self) -> InputPort[Any]:
        """The only exposed input, so a sub-graph can stand in ``chain()``."""
        return _only(self, self.exposed_inputs, "input")

    def default_output(self) -> OutputPort[Any]:
        """The only exposed output, so a sub-graph can stand in ``chain()``."""
        return _only(self, self.exposed_outputs, "output")

    # ------------------------------------------------------------------- reading
    def nodes(self) -> Iterator[Node]:
        """Every node of this graph and its sub-graphs, depth first."""
        for member in self.members:
            if isinstance(member, Graph):
                yield from member.nodes()
            else:
                yield member

    def compile(self) -> CompiledGraph:
        """Validate this graph and freeze it into an immutable, runnable plan."""
        from graphflow.compiler import compile_graph

        return compile_graph(self)

    # ------------------------------------------------------------------- helpers
    def _holds(self, member: Node | Graph) -> bool:
        return any(
            mine is member or (isinstance(mine, Graph) and mine._holds(member)) for mine in self.members
        )

    def _fresh_name(self, base: str) -> str:
        name, n = base, 1
        while name in self._used_names:
            n += 1
            name = f"{base}_{n}"
        return name

    def __repr__(self) -> str:
        return f"<Graph {self.name}: {len(self.members)} members, {len(self.connections)} edges>"


P = TypeVar("P")


def _only(graph: Graph, ports: dict[str, P], what: str) -> P:
    if len(ports) == 1:
        return next(iter(ports.values()))
    raise ConfigError(
        f"graph {graph.name!r} exposes {len(ports)} {what}s; name the one to connect",
        hint=f"use graph.{what}(NAME) with one of: {', '.join(ports) or 'none (expose one first)'}",
    )
