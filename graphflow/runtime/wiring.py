"""Wiring a compiled plan for one run: queues on queued edges, direct calls on fused ones.

:class:`RunState` is everything one run shares: its clock, current generation, the list
of full queues a producer must wait for, node states and observers. :func:`wire` turns
each edge of the plan into a ``deliver(frame)`` callable on the source port: a bound
``EdgeQueue.offer`` for a queued edge, or a closure calling the destination's handler
for a fused one (with the generation check when the destination is a cancellation target).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from graphflow.compiler.plan import CompiledGraph, EdgePlan
from graphflow.errors import ConfigError, NodeError
from graphflow.frames import EndOfStream, Frame
from graphflow.node import Node, NodeKind
from graphflow.ports import InputPort
from graphflow.runtime.cancellation import CancelHandle, CancelInfo, CancelReport, fire
from graphflow.runtime.clock import Clock, RealtimeClock
from graphflow.runtime.edge_queue import EdgeQueue, TracedEdgeQueue
from graphflow.runtime.events import CancelCompleted, CancelFired, NodeFinished, Observer, RunEvent
from graphflow.runtime.node_state import NodeState
from graphflow.runtime.stats import LatencyStats

log = logging.getLogger("graphflow.runtime")

Deliver = Callable[[Frame], None]


@dataclass(frozen=True)
class RunOptions:
    """How to run a plan: which clock, whether to trace latencies, who observes."""

    clock: Clock = field(default_factory=RealtimeClock)
    trace: bool = False
    keep_samples: int = 0
    observers: tuple[Observer, ...] = ()


class RunState:
    """State shared by everything in one run of a plan."""

    def __init__(self, plan: CompiledGraph, options: RunOptions) -> None:
        self.plan = plan
        self.options = options
        self.clock = options.clock
        self.generation = 0
        self.pressure: list[EdgeQueue] = []
        self.states: dict[str, NodeState] = {}
        self.queues: list[EdgeQueue] = []
        self.fused_counts: dict[str, list[int]] = {}
        self.cancel_targets: dict[str, list[NodeState]] = {}
        self.cancel_reports: list[CancelReport] = []
        self.cancel_propagation = LatencyStats(options.keep_samples)
        self.task_group: asyncio.TaskGroup | None = None
        # an already-completed future: awaiting it returns at once (cheaper than a coroutine)
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.ready.set_result(None)
        self.stopping = ""

    # ------------------------------------------------------------- backpressure
    def relieve_pressure(self) -> Awaitable[None]:
        """Take the queues the current task filled and wait until each has room again;
        yield once if one of them woke an idle consumer (a hand-off, see ``edge_queue``)."""
        queues = self.pressure[:]
        self.pressure.clear()
        handoff = False
        blocked = []
        for queue in dict.fromkeys(queues):
            if queue.handoff:
                queue.handoff = False
                handoff = True
            if queue.full():
                blocked.append(queue)
        if blocked:
            return _wait_space(blocked)
        if handoff:
            return asyncio.sleep(0)
        return self.ready

    # ------------------------------------------------------------ run-node reads
    async def read_port(self, port: InputPort[Any]) -> Frame:
        """Next frame for a ``run`` node's ``port``, skipping stale generations."""
        state = self.states[port.node.qualname]
        node = state.node
        queues = port._queues
        loop = asyncio.get_running_loop()
        while True:
            if state.flushing:
                await state.wait_resumed()
            open_queues = [q for q in queues if not q.ended]
            if not open_queues:
                return EndOfStream(created=self.clock.now(), generation=self.generation)
            for queue in open_queues:
                while queue.items:
                    frame = queue.pop()
                    if type(frame) is EndOfStream:
                        queue.ended = True
                        state.open_edges -= 1
                        break
                    if state.cancel_target and frame.generation < node.floor and not frame.survive:
                        state.stale_dropped += 1
                        continue
                    state.frames += 1
                    return frame
            if all(q.ended for q in queues):
                continue
            waiter: asyncio.Future[None] = loop.create_future()
            for queue in open_queues:
                queue.wait(waiter)
            await waiter

    # ------------------------------------------------------------- cancellation
    def cancel_from(self, node: Node, reason: str) -> CancelHandle:
        """Fire the cancellation edges whose trigger is ``node``."""
        targets = self.cancel_targets.get(node.qualname)
        if not targets:
            raise ConfigError(
                f"node {node.qualname!r} has no cancellation edges",
                hint="declare them with graph.cancels(trigger, *targets)",
            )
        return fire(self, node.qualname, targets, reason)

    def record_cancel(self, report: CancelReport) -> None:
        """Keep a finished cancellation's report and tell observers."""
        self.cancel_reports.append(report)
        self.cancel_propagation.add(report.propagation_ns)
        self.emit(
            CancelCompleted(
                at=report.completed_at,
                trigger=report.info.trigger,
                new_generation=report.info.new_generation,
                reports=report.reports,
            )
        )

    def emit_cancel_fired(self, info: CancelInfo, flushed: int) -> None:
        """Tell observers that phase one of a cancellation is done."""
        self.emit(
            CancelFired(
                at=self.clock.now(),
                trigger=info.trigger,
                reason=info.reason,
                old_generation=info.old_generation,
                new_generation=info.new_generation,
                flushed=flushed,
            )
        )

    # -------------------------------------------------------------------- misc
    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Start a task owned by the run's task group."""
        if self.task_group is None:
            raise ConfigError("the run has not started")
        try:
            return self.task_group.create_task(coro, name=name)
        except RuntimeError as exc:  # the task group has finished: the run is over
            raise ConfigError(f"the run is over; cannot start {name}") from exc

    def node_finished(self, state: NodeState) -> None:
        """A node sent its end of stream."""
        if self.options.observers:
            self.emit(NodeFinished(at=self.clock.now(), node=state.name))

    def emit(self, event: RunEvent) -> None:
        """Hand ``event`` to every observer; an observer's error is logged, not raised."""
        for observer in self.options.observers:
            try:
                observer.on_event(event)
            except Exception:
                log.exception("observer %r failed on %s", observer, type(event).__name__)


async def _wait_space(blocked: list[EdgeQueue]) -> None:
    for queue in blocked:
        await queue.wait_space()


def wire(plan: CompiledGraph, rt: RunState) -> None:
    """Connect the plan's nodes for this run (see the module docstring)."""
    for nplan in plan.nodes:
        node = nplan.node
        if node._rt is not None:
            raise ConfigError(
                f"node {nplan.name!r} is already part of a running graph",
                hint="build a fresh graph (new node instances) for each concurrent run",
            )
        state = NodeState(rt, nplan.name, node, nplan.kind, nplan.cancel_target)
        if rt.options.trace:
            state.handler_time = LatencyStats(rt.options.keep_samples)
            state.frame_age = LatencyStats(rt.options.keep_samples)
        rt.states[nplan.name] = state
        node._rt = rt
        node.now = rt.clock.now
        node.floor = 0
        for port in node.inputs.values():
            port._rt = rt
            port._queues = []
        for oport in node.outputs.values():
            oport._rt = rt
    targets: dict[int, list[Deliver]] = {}
    for edge in plan.edges:
        src = rt.states[edge.src].node.outputs[edge.src_port]
        dst_state = rt.states[edge.dst]
        dst_port = dst_state.node.inputs[edge.dst_port]
        dst_state.open_edges += 1
        if edge.queue is None:
            deliver = _fused_deliver(rt, dst_state, dst_port, edge)
        else:
            queue = _make_queue(rt, edge)
            queue.handler = _handler(rt, dst_state, dst_port)
            queue.handler_async = asyncio.iscoroutinefunction(queue.handler)
            dst_port._queues.append(queue)
            dst_state.queues.append(queue)
            rt.queues.append(queue)
            deliver = queue.offer
        targets.setdefault(id(src), []).append(deliver)
    for state in rt.states.values():
        for oport in state.node.outputs.values():
            oport.connect_targets(tuple(targets.get(id(oport), ())))
    for cancel in plan.cancels:
        rt.cancel_targets.setdefault(cancel.trigger, []).extend(rt.states[t] for t in cancel.targets)


def unwire(rt: RunState) -> None:
    """Detach every node of the run so they can be inspected (or reused in a new graph)."""
    for state in rt.states.values():
        node = state.node
        node._rt = None
        for port in node.inputs.values():
            port._rt = None
            port._queues = []
        for oport in node.outputs.values():
            oport._rt = None
            oport.connect_targets(())


def _make_queue(rt: RunState, edge: EdgePlan) -> EdgeQueue:
    assert edge.queue is not None
    if rt.options.trace:
        return TracedEdgeQueue(edge.label, edge.queue, rt.pressure, rt.clock.now, rt.options.keep_samples)
    return EdgeQueue(edge.label, edge.queue, rt.pressure, rt.clock.now)


def _handler(rt: RunState, state: NodeState, port: InputPort[Any]) -> Callable[[Frame], Any]:
    """The destination's handler for ``port``; wrapped to time it when tracing."""
    if state.kind is NodeKind.RUN:
        return _no_handler
    handler: Callable[[Frame], Any] = getattr(state.node, port.handler)
    if not rt.options.trace:
        return handler
    now = rt.clock.now
    handler_time, frame_age = state.handler_time, state.frame_age
    assert handler_time is not None and frame_age is not None
    if asyncio.iscoroutinefunction(handler):

        async def traced_async(frame: Frame) -> None:
            start = now()
            frame_age.add(start - frame.created)
            try:
                await handler(frame)
            finally:
                handler_time.add(now() - start)

        return traced_async

    def traced(frame: Frame) -> None:
        start = now()
        frame_age.add(start - frame.created)
        try:
            handler(frame)
        finally:
            handler_time.add(now() - start)

    return traced


def _no_handler(frame: Frame) -> None:
    raise AssertionError("run nodes read their ports themselves")


def _fused_deliver(rt: RunState, state: NodeState, port: InputPort[Any], edge: EdgePlan) -> Deliver:
    """A direct call into a synchronous node's handler, with EOS counting and error naming."""
    handler = _handler(rt, state, port)
    eos = EndOfStream
    name = state.name
    node = state.node
    if rt.options.trace:
        counter = rt.fused_counts[edge.label] = [0]
        inner = handler

        def handler(frame: Frame) -> None:
            counter[0] += 1
            state.frames += 1
            inner(frame)

    if state.cancel_target:

        def deliver_target(frame: Frame) -> None:
            if frame.__class__ is eos:
                state.edge_ended()
                return
            if frame.generation < node.floor and not frame.survive:
                state.stale_dropped += 1
                return
            try:
                handler(frame)
            except NodeError:
                raise
            except Exception as exc:
                raise NodeError(name, phase="on_frame", frame_type=type(frame).__name__, cause=exc) from exc

        return deliver_target

    def deliver(frame: Frame) -> None:
        if frame.__class__ is eos:
            state.edge_ended()
            return
        try:
            handler(frame)
        except NodeError:
            raise
        except Exception as exc:
            raise NodeError(name, phase="on_frame", frame_type=type(frame).__name__, cause=exc) from exc

    return deliver
