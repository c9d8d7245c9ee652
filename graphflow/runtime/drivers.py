"""The task bodies that drive nodes: a ``run`` coroutine, or a loop feeding handlers.

Every node task is created by the runner inside one ``asyncio.TaskGroup``; errors come out
as :class:`~graphflow.errors.NodeError` naming the node and the frame type it handled.
"""

from __future__ import annotations

import asyncio
from typing import Any

from graphflow.errors import NodeError
from graphflow.frames import EndOfStream
from graphflow.node import NodeKind
from graphflow.runtime.edge_queue import EdgeQueue
from graphflow.runtime.node_state import NodeState


async def drive_run_node(state: NodeState) -> None:
    """Run a node's ``run()``; a requested stop ends it like a normal return."""
    try:
        await state.node.run()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if not state.stop_requested or task is None or task.uncancel() > 0:
            raise
        if state.rt.stopping == "abort":
            return
    except NodeError:
        raise
    except Exception as exc:
        raise NodeError(state.name, phase="run", cause=exc) from exc
    state.send_end_of_stream()


async def drive_handlers(state: NodeState) -> None:
    """Feed frames from the node's input queues to its handlers until every edge ended."""
    rt = state.rt
    node = state.node
    queues = state.queues
    is_async = state.kind is NodeKind.ASYNC
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    eos = EndOfStream
    open_queues = [q for q in queues if not q.ended]
    try:
        while open_queues:
            if state.flushing:
                await state.wait_resumed()
            frame = None
            queue: EdgeQueue | None = None
            for candidate in open_queues:
                if candidate.items:
                    queue = candidate
                    frame = candidate.pop()
                    break
            if queue is None or frame is None:
                waiter: asyncio.Future[None] = loop.create_future()
                for candidate in open_queues:
                    candidate.consumer = waiter
                await waiter
                continue
            if len(open_queues) > 1:
                # round robin: the queue just served goes to the back
                open_queues.remove(queue)
                open_queues.append(queue)
            if frame.__class__ is eos:
                queue.ended = True
                open_queues.remove(queue)
                state.edge_ended()
                continue
            if state.cancel_target and frame.generation < node.floor and not frame.survive:
                state.stale_dropped += 1
                continue
            state.frames += 1
            handler: Any = queue.handler
            if is_async:
                state.busy = True
                state.current = frame
                try:
                    await handler(frame)
                except asyncio.CancelledError:
                    if not state.flush_cancel:
                        raise
                    state.flush_cancel = False
                    if task.uncancel() > 0:
                        raise
                except NodeError:
                    raise
                except Exception as exc:
                    raise NodeError(
                        state.name, phase="on_frame", frame_type=type(frame).__name__, cause=exc
                    ) from exc
                finally:
                    state.busy = False
                    state.current = None
                    if state.idle_waiters:
                        state.became_idle()
                if state.flush_cancel:
                    # the handler swallowed the scoped cancel: withdraw it
                    state.flush_cancel = False
                    task.uncancel()
            else:
                try:
                    handler(frame)
                except NodeError:
                    raise
                except Exception as exc:
                    raise NodeError(
                        state.name, phase="on_frame", frame_type=type(frame).__name__, cause=exc
                    ) from exc
            if rt.pressure:
                await rt.relieve_pressure()
    except asyncio.CancelledError:
        if not state.stop_requested or task.uncancel() > 0:
            raise
        return
    if is_async:
        await state.finish_async()
    elif state.open_edges == 0:
        state.finish_sync()
    if rt.pressure:
        await rt.relieve_pressure()
