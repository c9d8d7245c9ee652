"""The scheduler: runs one compiled plan on asyncio with structured concurrency.

Nodes are set up in topological order, then one task per node that needs one (``run``
nodes, async handler nodes, and sync nodes behind an explicit queue) is started in a
single ``asyncio.TaskGroup``; fused sync nodes run inside their upstream's task. The run
ends when every node has sent end of stream, or with the first node error (every other
task is cancelled and awaited first: nothing is left behind). Nodes are closed in reverse
order whatever happened.
"""

from __future__ import annotations

import asyncio

from graphflow.compiler.plan import CompiledGraph
from graphflow.errors import ConfigError, GraphflowError, NodeError
from graphflow.node import NodeKind
from graphflow.runtime.cancellation import CancelReport
from graphflow.runtime.drivers import drive_handlers, drive_run_node
from graphflow.runtime.events import RunFinished, RunStarted
from graphflow.runtime.node_state import NodeState
from graphflow.runtime.stats import EdgeStats, RunStats
from graphflow.runtime.wiring import RunOptions, RunState, unwire, wire

__all__ = ["GraphRunner", "RunOptions"]


class GraphRunner:
    """Runs a compiled plan once; ``stats()`` and ``cancellations`` stay readable afterwards."""

    def __init__(self, plan: CompiledGraph, options: RunOptions | None = None) -> None:
        self.plan = plan
        self.options = options or RunOptions()
        self._rt: RunState | None = None
        self._started = False

    @property
    def state(self) -> RunState:
        """The run's shared state (clock, generation, node states)."""
        if self._rt is None:
            raise ConfigError("the runner has not started")
        return self._rt

    def now(self) -> int:
        """The run's clock time (0 before the run started)."""
        return self._rt.clock.now() if self._rt is not None else 0

    async def run(self) -> None:
        """Set up, run until every node finished, close; raise the first node error."""
        if self._started:
            raise ConfigError("a GraphRunner runs once; compile or build a new graph to run again")
        self._started = True
        rt = self._rt = RunState(self.plan, self.options)
        wire(self.plan, rt)
        ready: list[NodeState] = []
        error: BaseException | None = None
        try:
            for state in rt.states.values():
                try:
                    await state.node.setup()
                except Exception as exc:
                    raise NodeError(state.name, phase="setup", cause=exc) from exc
                ready.append(state)
            rt.emit(RunStarted(at=rt.clock.now(), graph=self.plan.name))
            await self._run_tasks(rt)
        except BaseException as exc:
            error = exc
            raise
        finally:
            close_error = await _close_all(ready)
            unwire(rt)
            rt.emit(
                RunFinished(
                    at=rt.clock.now(),
                    graph=self.plan.name,
                    error=str(error or close_error) if (error or close_error) else None,
                )
            )
            if close_error is not None and error is None:
                raise close_error

    async def _run_tasks(self, rt: RunState) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                rt.task_group = group
                for state in rt.states.values():
                    if state.kind is NodeKind.RUN:
                        state.task = group.create_task(drive_run_node(state), name=f"node:{state.name}")
                    elif state.queues:
                        state.task = group.create_task(drive_handlers(state), name=f"node:{state.name}")
                    elif state.open_edges == 0:
                        # nothing feeds it (all inputs optional and unconnected): it is done
                        if state.kind is NodeKind.SYNC:
                            state.finish_sync()
                        else:
                            state.task = group.create_task(state.finish_async(), name=f"node:{state.name}")
        except BaseExceptionGroup as group_error:
            primary = _primary(group_error)
            primary.__suppress_context__ = True  # keep its own __cause__, hide the group
            raise primary  # noqa: B904 - `from` would replace the node error's own cause
        finally:
            rt.task_group = None

    def stop(self, *, drain: bool = True) -> None:
        """End the run: ``drain`` stops sources and lets frames in flight reach the sinks;
        otherwise every node task is cancelled at once."""
        rt = self.state
        rt.stopping = "drain" if drain else "abort"
        for state in rt.states.values():
            if state.task is None or state.task.done():
                continue
            if drain and (state.kind is not NodeKind.RUN or state.node.inputs):
                continue
            state.stop_requested = True
            state.task.cancel()

    @property
    def cancellations(self) -> list[CancelReport]:
        """Reports of every cancellation that completed during the run."""
        return list(self.state.cancel_reports)

    def stats(self) -> RunStats:
        """Counters (and latencies when traced) of every edge and node of the run."""
        rt = self.state
        edges = [queue.stats() for queue in rt.queues]
        for edge in self.plan.edges:
            if edge.fused:
                count = rt.fused_counts.get(edge.label)
                edges.append(
                    EdgeStats(
                        edge=edge.label,
                        fused=True,
                        capacity=0,
                        pushed=count[0] if count else 0,
                        dropped=0,
                        flushed=0,
                        high_water=0,
                        depth=0,
                        latency=None,
                    )
                )
        return RunStats(
            edges=tuple(edges),
            nodes=tuple(state.stats() for state in rt.states.values()),
            cancellations=len(rt.cancel_reports),
            cancel_propagation=rt.cancel_propagation.summary() if rt.cancel_reports else None,
        )


def _primary(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error to raise for a failed task group: the first node error, else the first error."""
    leaves: list[BaseException] = []

    def collect(error: BaseException) -> None:
        if isinstance(error, BaseExceptionGroup):
            for inner in error.exceptions:
                collect(inner)
        else:
            leaves.append(error)

    collect(group)
    for leaf in leaves:
        if isinstance(leaf, NodeError):
            for other in leaves:
                if other is not leaf:
                    leaf.add_note(f"also: {type(other).__name__}: {other}")
            return leaf
    return leaves[0]


async def _close_all(states: list[NodeState]) -> GraphflowError | None:
    first: GraphflowError | None = None
    for state in reversed(states):
        try:
            await state.node.close()
        except Exception as exc:
            if first is None:
                first = NodeError(state.name, phase="close", cause=exc)
                first.__cause__ = exc
    return first
