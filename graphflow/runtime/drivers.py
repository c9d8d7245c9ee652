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
        await _feed(state, task)
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


async def _feed(state: NodeState, task: asyncio.Task[Any]) -> None:
    """The hot loop: take the next frame, drop it if stale, call the handler of its queue.

    Several queues are served round robin (the queue just served goes to the back); one
    queue, the common case, is read without that bookkeeping. Each async handler call runs
    in the node's cancel scope, so a cancellation ends that call and the loop goes on.
    """
    rt = state.rt
    node = state.node
    target = state.cancel_target
    loop = asyncio.get_running_loop()
    eos = EndOfStream
    scope = state.scope
    scope.bind(task)
    queues = [q for q in state.queues if not q.ended]
    inline_pop = all(type(q) is EdgeQueue for q in queues)
    while queues:
        queue = queues[0]
        items = queue.items
        handler: Any = queue.handler
        is_async = queue.handler_async
        several = len(queues) > 1
        while True:
            if state.flushing:
                await state.wait_resumed()
            if several:
                found = next((q for q in queues if q.items), None)
                if found is not None:
                    if found is not queue:
                        queue, items = found, found.items
                        handler, is_async = found.handler, found.handler_async
                    queues.remove(queue)  # round robin: the queue served goes to the back
                    queues.append(queue)
            if not items:
                waiter: asyncio.Future[None] = loop.create_future()
                for candidate in queues:
                    candidate.wait(waiter)
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
                queues.remove(queue)
                state.edge_ended()
                break
            if target and frame.generation < node.floor and not frame.survive:
                state.stale_dropped += 1
                continue
            state.frames += 1
            if not is_async:
                _call_sync(state, handler, frame)
            else:
                scope.frame = frame  # enter the cancel scope (attribute writes: no call per frame)
                try:
                    await handler(frame)
                except asyncio.CancelledError:
                    if not scope.absorb():
                        raise
                except NodeError:
                    raise
                except Exception as exc:
                    raise NodeError(
                        state.name, phase="on_frame", frame_type=type(frame).__name__, cause=exc
                    ) from exc
                finally:
                    scope.frame = None  # leave it; exit() when a cancel or a waiter watches the call
                    if scope.watched:
                        scope.exit()
            if rt.pressure:
                await rt.relieve_pressure()


def _call_sync(state: NodeState, handler: Any, frame: Frame) -> None:
    try:
        handler(frame)
    except NodeError:
        raise
    except Exception as exc:
        raise NodeError(state.name, phase="on_frame", frame_type=type(frame).__name__, cause=exc) from exc
