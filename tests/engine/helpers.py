"""Small nodes and runners shared by the engine tests."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from graphflow import (
    CompiledGraph,
    Frame,
    GraphRunner,
    Input,
    Node,
    Output,
    RunOptions,
    TextFrame,
    VirtualClock,
)
from graphflow.timebase import MS

T = TypeVar("T")


def text_frames(n: int, *, generation: int = 0, step_ms: int = 20) -> list[TextFrame]:
    """``n`` text frames "0".."n-1" spaced ``step_ms`` apart in media time."""
    return [
        TextFrame(text=str(i), pts=i * step_ms * MS, duration=step_ms * MS, generation=generation)
        for i in range(n)
    ]


async def no_leaks(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro``, then check that it left no task behind, whether it failed or not."""
    try:
        return await coro
    finally:
        others: list[asyncio.Task[Any]] = []
        for _ in range(20):  # finalizers of libraries' abandoned async generators may still be running
            await asyncio.sleep(0)
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
            if not others:
                break
        ours = [t for t in others if "async_generator_athrow" not in repr(t.get_coro())]
        assert not ours, f"tasks left behind: {ours}"


def run_virtual(coro: Coroutine[Any, Any, T], clock: VirtualClock | None = None) -> T:
    """Run ``coro`` on a fresh virtual clock and check that no task is left behind."""
    return (clock or VirtualClock()).run(no_leaks(coro))


def run_plan(plan: CompiledGraph, *, trace: bool = False, clock: VirtualClock | None = None) -> GraphRunner:
    """Run ``plan`` to completion on a virtual clock (no task may be left behind)."""
    clock = clock or VirtualClock()
    return run_virtual(plan.run(RunOptions(clock=clock, trace=trace, keep_samples=10_000)), clock)


class SlowSink(Node):
    """Takes ``delay_ms`` of clock time per frame (an async handler), recording arrivals."""

    inp = Input(Frame)

    def __init__(self, delay_ms: float = 10.0, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.delay = delay_ms / 1000
        self.frames: list[Frame] = []
        self.times: list[int] = []

    async def on_frame(self, frame: Frame) -> None:
        await asyncio.sleep(self.delay)
        self.frames.append(frame)
        self.times.append(self.now())


class Boom(Node):
    """Raises on the frame whose text is ``on``."""

    inp = Input(TextFrame)
    out = Output(TextFrame)

    def __init__(self, on: str = "3", *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.on = on

    def on_frame(self, frame: TextFrame) -> None:
        if frame.text == self.on:
            raise ValueError(f"cannot take {frame.text}")
        self.out.push(frame)


class AsyncBoom(Boom):
    """Like :class:`Boom`, from an async handler."""

    async def on_frame(self, frame: TextFrame) -> None:  # type: ignore[override]
        await asyncio.sleep(0.001)
        Boom.on_frame(self, frame)
