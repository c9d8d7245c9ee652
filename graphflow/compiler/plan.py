"""The compiled plan: an immutable, validated description of a graph, ready to run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from graphflow.frames import AudioFormat
from graphflow.node import Node, NodeKind
from graphflow.queue_spec import QueueSpec

if TYPE_CHECKING:
    from graphflow.runtime.runner import GraphRunner, RunOptions


@dataclass(frozen=True)
class PortPlan:
    """A port as compiled: its frame type and, for audio, its resolved format."""

    name: str
    frame_type: str
    format: AudioFormat | None
    required: bool = True


@dataclass(frozen=True)
class NodePlan:
    """A node as compiled: qualified name, how it is driven, its ports, its group path, its latency (ns)."""

    name: str
    node: Node
    kind: NodeKind
    inputs: tuple[PortPlan, ...]
    outputs: tuple[PortPlan, ...]
    group: tuple[str, ...]
    cancel_target: bool
    latency_budget: int


@dataclass(frozen=True)
class EdgePlan:
    """A data edge: fused (``queue is None``: a function call) or a bounded queue."""

    src: str
    src_port: str
    dst: str
    dst_port: str
    frame_type: str
    queue: QueueSpec | None

    @property
    def fused(self) -> bool:
        """True when frames cross this edge as a direct call."""
        return self.queue is None

    @property
    def label(self) -> str:
        """``src.port -> dst.port``."""
        return f"{self.src}.{self.src_port} -> {self.dst}.{self.dst_port}"


@dataclass(frozen=True)
class CancelPlan:
    """Cancellation edges of one trigger: the nodes it flushes when it fires."""

    trigger: str
    targets: tuple[str, ...]


@dataclass(frozen=True)
class CompiledGraph:
    """Immutable plan: nodes in topological order, edges, cancellation edges, latency budget.

    ``latency_budget`` is the largest sum of the nodes' declared latencies along a data
    path (ns) and ``critical_path`` the names of the nodes on that path, source first.
    """

    name: str
    nodes: tuple[NodePlan, ...]
    edges: tuple[EdgePlan, ...]
    cancels: tuple[CancelPlan, ...]
    latency_budget: int
    critical_path: tuple[str, ...]

    @property
    def budgets(self) -> dict[str, int]:
        """Each node's declared latency in ns, by qualified name (topological order)."""
        return {plan.name: plan.latency_budget for plan in self.nodes}

    def node(self, name: str) -> NodePlan:
        """The plan of the node called ``name`` (qualified)."""
        for plan in self.nodes:
            if plan.name == name:
                return plan
        raise KeyError(name)

    def runner(self, options: RunOptions | None = None) -> GraphRunner:
        """A runner for one run of this plan."""
        from graphflow.runtime.runner import GraphRunner

        return GraphRunner(self, options)

    async def run(self, options: RunOptions | None = None) -> GraphRunner:
        """Run this plan to completion; returns the finished runner (with its stats)."""
        runner = self.runner(options)
        await runner.run()
        return runner
