"""Cancellation edges at run time: a two-phase flush, like GStreamer's FLUSH_START/STOP.

Phase one runs synchronously inside ``node.cancel()``: the generation advances, every
target's floor is raised so frames of older generations are dropped on arrival, the
frames of older generations already queued in front of targets are flushed (frames that
``survive`` stay), each target's in-flight async handler is cancelled — a scoped cancel
of that one call (:class:`~graphflow.runtime.cancel_scope.CancelScope`), the node's task
lives on — and queued targets stop taking frames.
Fused synchronous targets have no work in flight: their ``on_cancel`` runs right here.
Phase two runs in a task owned by the run: it waits until each remaining target has
unwound, calls its ``on_cancel`` hook, and lets it take frames again; what the hooks
return (e.g. the text already spoken) is collected into a :class:`CancelReport`.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import msgspec

from graphflow.errors import NodeError
from graphflow.node import NodeKind

if TYPE_CHECKING:
    from graphflow.runtime.node_state import NodeState
    from graphflow.runtime.wiring import RunState


class CancelInfo(msgspec.Struct, frozen=True):
    """What a target is told: who fired, why, and which generations are involved."""

    trigger: str
    reason: str
    old_generation: int
    new_generation: int
    fired_at: int


class CancelReport(msgspec.Struct, frozen=True):
    """Outcome of one cancellation: frames flushed per target, their reports, timings (ns)."""

    info: CancelInfo
    flushed: dict[str, int]
    reports: dict[str, object]
    flushed_at: int
    completed_at: int

    @property
    def propagation_ns(self) -> int:
        """Time from the trigger firing until the last target was flushed (phase one)."""
        return self.flushed_at - self.info.fired_at


class CancelHandle:
    """Returned by ``Node.cancel()``: phase one is done; await it for the full report."""

    __slots__ = ("info", "flushed", "_future")

    def __init__(
        self, info: CancelInfo, flushed: dict[str, int], future: asyncio.Future[CancelReport]
    ) -> None:
        self.info = info
        self.flushed = flushed
        self._future = future

    def __await__(self) -> Generator[Any, None, CancelReport]:
        return self._future.__await__()

    def done(self) -> bool:
        """True once phase two has finished."""
        return self._future.done()


def fire(rt: RunState, trigger: str, targets: list[NodeState], reason: str) -> CancelHandle:
    """Run phase one now and schedule phase two; see the module docstring."""
    fired_at = rt.clock.now()
    old = rt.generation
    new = old + 1
    rt.generation = new
    info = CancelInfo(trigger, reason, old, new, fired_at)
    flushed: dict[str, int] = {}
    early: dict[str, object] = {}
    for state in targets:
        state.node.floor = new
        flushed[state.name] = state.flush_queues(new)
        if state.kind is NodeKind.SYNC and not state.queues:
            early[state.name] = _hook(state, info)
        else:
            state.start_flush()
            state.scope.cancel(new)
    flushed_at = rt.clock.now()
    rt.emit_cancel_fired(info, sum(flushed.values()))
    future: asyncio.Future[CancelReport] = asyncio.get_running_loop().create_future()
    rt.spawn(_complete(rt, info, targets, flushed, early, flushed_at, future), name=f"cancel:{trigger}:{new}")
    return CancelHandle(info, flushed, future)


def _hook(state: NodeState, info: CancelInfo) -> object:
    state.cancellations += 1
    try:
        return state.node.on_cancel(info)
    except Exception as exc:
        raise NodeError(state.name, phase="on_cancel", cause=exc) from exc


async def _complete(
    rt: RunState,
    info: CancelInfo,
    targets: list[NodeState],
    flushed: dict[str, int],
    early: dict[str, object],
    flushed_at: int,
    future: asyncio.Future[CancelReport],
) -> None:
    reports: dict[str, object] = {}
    for state in targets:
        if state.name in early:
            report = early[state.name]
        else:
            await state.scope.wait_exited()
            report = _hook(state, info)
        try:
            if inspect.isawaitable(report):
                report = await report
        except Exception as exc:
            raise NodeError(state.name, phase="on_cancel", cause=exc) from exc
        finally:
            state.stop_flush()
        if report is not None:
            reports[state.name] = report
    result = CancelReport(info, flushed, reports, flushed_at, rt.clock.now())
    rt.record_cancel(result)
    if not future.done():
        future.set_result(result)
