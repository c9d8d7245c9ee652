"""The task bodies that drive nodes: a ``run`` coroutine, or a loop feeding handlers.

Every node task is created by the runner inside one ``asyncio.TaskGroup``; errors come out
as :class:`~graphflow.errors.NodeError` naming the node and the frame type it handled.
"""

from __future__ import annotations

import asyncio
from typing import Any

from graphflow.errors import NodeError
from graphflow.frames import EndOfStream, Frame
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
    task = asyncio.current_task()
    assert task is not None
    try:
        if len(state.queues) == 1:
            await _feed_one(state, state.queues[0], task)
        else:
            await _feed_many(state, task)
    except asyncio.CancelledError:
        if not state.stop_requested or task.uncancel() > 0:
            raise
        return
    if state.kind is NodeKind.ASYNC:
        await state.finish_async()
    elif state.open_edges == 0:
        state.finish_sync()
    if state.rt.pressure:
        await state.rt.relieve_pressure()


async def _feed_one(state: NodeState, queue: EdgeQueue, task: asyncio.Task[Any]) -> None:
    """The common case, kept tight: one input queue."""
    rt = state.rt
    node = state.node
    items = queue.items
    handler: Any = queue.handler
    is_async = queue.handler_async
    target = state.cancel_target
    loop = asyncio.get_running_loop()
    eos = EndOfStream
    inline_pop = type(queue) is EdgeQueue
    while True:
        if state.flushing:
            await state.wait_resumed()
        if not items:
            waiter: asyncio.Future[None] = loop.create_future()
            queue.wait(waiter)
            await waiter
            continue
        if inline_pop:  # EdgeQueue.pop, inlined on the hot path
            frame = items.popleft()
            queue.queued_time -= frame.duration
            if queue.space_waiters and len(items) <= queue.low_water:
                queue._wake_producers()
        else:
            frame = queue.pop()
        if frame.__class__ is eos:
            queue.ended = True
            state.edge_ended()
            return
        if target and frame.generation < node.floor and not frame.survive:
            state.stale_dropped += 1
            continue
        state.frames += 1
        if is_async:
            # inlined _call_async: one coroutine less per frame on the hot path
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
                state.current = None
                if state.idle_waiters:
                    state.became_idle()
            if state.flush_cancel:
                state.flush_cancel = False
                task.uncancel()
        else:
            _call_sync(state, handler, frame)
        if rt.pressure:
            await rt.relieve_pressure()


async def _feed_many(state: NodeState, task: asyncio.Task[Any]) -> None:
    """Several input queues, served round robin."""
    rt = state.rt
    node = state.node
    loop = asyncio.get_running_loop()
    eos = EndOfStream
    open_queues = [q for q in state.queues if not q.ended]
    while open_queues:
        if state.flushing:
            await state.wait_resumed()
        queue = next((q for q in open_queues if q.items), None)
        if queue is None:
            waiter: asyncio.Future[None] = loop.create_future()
            for candidate in open_queues:
                candidate.wait(waiter)
            await waiter
            continue
        frame = queue.pop()
        open_queues.remove(queue)  # round robin: the queue just served goes to the back
        if frame.__class__ is eos:
            queue.ended = True
            state.edge_ended()
            continue
        open_queues.append(queue)
        if state.cancel_target and frame.generation < node.floor and not frame.survive:
            state.stale_dropped += 1
            continue
        state.frames += 1
        if queue.handler_async:
            await _call_async(state, queue.handler, frame, task)
        else:
            _call_sync(state, queue.handler, frame)
        if rt.pressure:
            await rt.relieve_pressure()


async def _call_async(state: NodeState, handler: Any, frame: Frame, task: asyncio.Task[Any]) -> None:
    """Await one async handler call as a cancellation scope of its own."""
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
        raise NodeError(state.name, phase="on_frame", frame_type=type(frame).__name__, cause=exc) from exc
    finally:
        state.current = None
        if state.idle_waiters:
            state.became_idle()
    if state.flush_cancel:
        # the handler swallowed the scoped cancel: withdraw it
        state.flush_cancel = False
        task.uncancel()


def _call_sync(state: NodeState, handler: Any, frame: Frame) -> None:
    try:
        handler(frame)
    except NodeError:
        raise
    except Exception as exc:
        raise NodeError(state.name, phase="on_frame", frame_type=type(frame).__name__, cause=exc) from exc
