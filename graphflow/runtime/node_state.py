"""Per-node run-time bookkeeping: input queues, end-of-stream counting, the cancel scope."""

from __future__ import annotations

import asyncio
import inspect
from typing import TYPE_CHECKING

from graphflow.errors import NodeError
from graphflow.frames import EndOfStream
from graphflow.node import Node, NodeKind
from graphflow.runtime.cancel_scope import CancelScope
from graphflow.runtime.edge_queue import EdgeQueue
from graphflow.runtime.stats import LatencyStats, NodeStats

if TYPE_CHECKING:
    from graphflow.runtime.wiring import RunState


class NodeState:
    """What the scheduler tracks for one node during one run."""

    __slots__ = (
        "rt",
        "name",
        "node",
        "kind",
        "cancel_target",
        "queues",
        "open_edges",
        "finished",
        "task",
        "stop_requested",
        "scope",
        "flushing",
        "resume_waiters",
        "frames",
        "stale_dropped",
        "cancellations",
        "handler_time",
        "frame_age",
    )

    def __init__(self, rt: RunState, name: str, node: Node, kind: NodeKind, cancel_target: bool) -> None:
        self.rt = rt
        self.name = name
        self.node = node
        self.kind = kind
        self.cancel_target = cancel_target
        self.queues: list[EdgeQueue] = []
        self.open_edges = 0
        self.finished = False
        self.task: asyncio.Task[None] | None = None
        self.stop_requested = False
        # the async handler call in flight (scoped cancellation)
        self.scope = CancelScope()
        # between the two phases of a cancellation a queued target takes no new frame
        self.flushing = False
        self.resume_waiters: list[asyncio.Future[None]] = []
        # counters
        self.frames = 0
        self.stale_dropped = 0
        self.cancellations = 0
        self.handler_time: LatencyStats | None = None
        self.frame_age: LatencyStats | None = None

    # ------------------------------------------------------------ end of stream
    def edge_ended(self) -> None:
        """One incoming edge delivered end of stream; a sync node finishes on the last one."""
        self.open_edges -= 1
        if self.open_edges == 0 and self.kind is NodeKind.SYNC:
            self.finish_sync()

    def finish_sync(self) -> None:
        """Call ``on_end`` (synchronously) and send end of stream on every output."""
        if self.finished:
            return
        try:
            result = self.node.on_end()
        except NodeError:
            raise
        except Exception as exc:
            raise NodeError(self.name, phase="on_end", cause=exc) from exc
        if inspect.isawaitable(result):
            raise NodeError(
                self.name,
                phase="on_end",
                cause=TypeError("a synchronous node's on_end() must not be async"),
            )
        self.send_end_of_stream()

    async def finish_async(self) -> None:
        """Await ``on_end`` and send end of stream on every output."""
        if self.finished:
            return
        try:
            result = self.node.on_end()
            if inspect.isawaitable(result):
                await result
        except NodeError:
            raise
        except Exception as exc:
            raise NodeError(self.name, phase="on_end", cause=exc) from exc
        self.send_end_of_stream()

    def send_end_of_stream(self) -> None:
        """Push end of stream on every output, once."""
        if self.finished:
            return
        self.finished = True
        eos = EndOfStream()
        for port in self.node.outputs.values():
            port.push(eos)
        self.rt.node_finished(self)

    # ------------------------------------------------------------- cancellation
    def flush_queues(self, floor: int) -> int:
        """Flush frames older than ``floor`` from this node's input queues."""
        return sum(queue.flush(floor) for queue in self.queues)

    def start_flush(self) -> None:
        """Phase one: take no new frame until :meth:`stop_flush`."""
        self.flushing = True

    def stop_flush(self) -> None:
        """Phase two is over for this node: resume taking frames."""
        self.flushing = False
        waiters, self.resume_waiters = self.resume_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait_resumed(self) -> None:
        """Wait while a cancellation is between its two phases."""
        while self.flushing:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.resume_waiters.append(waiter)
            await waiter

    def stats(self) -> NodeStats:
        """Counters and (when traced) latencies of this node."""
        return NodeStats(
            node=self.name,
            frames=self.frames,
            stale_dropped=self.stale_dropped,
            cancellations=self.cancellations,
            handler=self.handler_time.summary() if self.handler_time else None,
            frame_age=self.frame_age.summary() if self.frame_age else None,
        )
