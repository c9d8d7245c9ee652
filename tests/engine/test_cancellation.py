"""Cancellation edges: flush exactly the old generation, keep survivors, abort in-flight work."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from graphflow import (
    CancelInfo,
    CancelReport,
    ConfigError,
    Frame,
    Graph,
    Input,
    Node,
    NodeError,
    Output,
    TextFrame,
)
from graphflow.runtime.cancel_scope import CancelScope
from graphflow.runtime.events import CancelCompleted, CancelFired, RunEvent
from graphflow.timebase import MS
from nodes.memory import FrameSink, FrameSource, FrameSourceOptions

from .helpers import run_plan, run_virtual


def t(text: str, ms: int = 0, *, survive: bool = False) -> TextFrame:
    return TextFrame(text=text, pts=ms * MS, survive=survive)


class Trigger(Node):
    """Fires on "STOP"; stamps every other frame with the current generation."""

    inp = Input(TextFrame)
    out = Output(TextFrame)

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.reports: list[CancelReport] = []

    async def on_frame(self, frame: TextFrame) -> None:
        if frame.text == "STOP":
            handle = self.cancel("barge-in")
            self.reports.append(await handle)
            return
        await self.out.send(msgspec.structs.replace(frame, generation=self.generation))


class Worker(Node):
    """Takes 50 ms per frame; reports which frames it finished when cancelled."""

    inp = Input(TextFrame)
    out = Output(TextFrame)

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.done: list[str] = []
        self.cancelled_during: list[str] = []
        self.infos: list[CancelInfo] = []

    async def on_frame(self, frame: TextFrame) -> None:
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            self.cancelled_during.append(frame.text)
            raise
        self.done.append(frame.text)
        await self.out.send(frame)

    def on_cancel(self, info: CancelInfo) -> object:
        self.infos.append(info)
        return list(self.done)


def build(frames: list[TextFrame]) -> tuple[Graph, Trigger, Worker, FrameSink]:
    trigger, worker, sink = Trigger(name="trigger"), Worker(name="worker"), FrameSink(name="sink")
    source = FrameSource(frames, FrameSourceOptions(paced=True), name="src")
    g = Graph().chain(source, trigger, worker, sink).cancels(trigger, worker, sink)
    return g, trigger, worker, sink


def texts(frames: list[Frame]) -> list[str]:
    return [f.text for f in frames if isinstance(f, TextFrame)]


def test_cancel_flushes_old_generation_keeps_survivors_and_aborts_in_flight_work() -> None:
    frames = [t(f"a{i}") for i in range(6)] + [
        t("keep", survive=True),
        t("STOP", 120),
        t("b0", 130),
        t("b1", 130),
    ]
    g, trigger, worker, sink = build(frames)
    run_plan(g.compile())

    [report] = trigger.reports
    assert report.info.old_generation == 0 and report.info.new_generation == 1
    assert report.info.reason == "barge-in" and report.info.trigger == "trigger"
    assert report.flushed == {"worker": 3, "sink": 0}  # a3, a4, a5 were queued; "keep" survived
    assert report.reports["worker"] == ["a0", "a1"]  # what had been done before the cancel
    assert worker.cancelled_during == ["a2"]  # in flight at 120 ms, aborted (scoped cancel)
    assert texts(sink.frames) == ["a0", "a1", "keep", "b0", "b1"]
    assert [f.generation for f in sink.frames] == [0, 0, 0, 1, 1]
    assert worker.infos[0].fired_at == 120 * MS


def test_node_task_survives_a_scoped_cancel_and_handles_the_next_generation() -> None:
    frames = [t("a0"), t("STOP", 10), t("b0", 20), t("STOP", 100), t("c0", 110)]
    g, trigger, worker, sink = build(frames)
    runner = run_plan(g.compile())
    assert [r.info.new_generation for r in trigger.reports] == [1, 2]
    assert worker.cancelled_during == ["a0"]
    assert texts(sink.frames) == ["b0", "c0"]
    assert runner.stats().node("worker").cancellations == 2
    assert runner.stats().cancellations == 2


def test_stale_frames_arriving_later_are_dropped_at_targets() -> None:
    class NoStamp(Trigger):
        async def on_frame(self, frame: TextFrame) -> None:
            if frame.text == "STOP":
                self.reports.append(await self.cancel("x"))
            else:
                await self.out.send(frame)  # keeps generation 0

    trigger, worker, sink = NoStamp(name="trigger"), Worker(name="worker"), FrameSink(name="sink")
    src = FrameSource([t("STOP"), t("late", 10)], FrameSourceOptions(paced=True))
    g = Graph().chain(src, trigger, worker, sink).cancels(trigger, worker, sink)
    runner = run_plan(g.compile())
    assert sink.frames == []
    assert runner.stats().node("worker").stale_dropped == 1


def test_sync_targets_drop_stale_frames_inline() -> None:
    class SyncTrigger(Node):
        inp = Input(TextFrame)
        out = Output(TextFrame)

        def on_frame(self, frame: TextFrame) -> None:
            if frame.text == "STOP":
                self.cancel("now")
            else:
                self.out.push(frame)

    trigger, sink = SyncTrigger(name="trigger"), FrameSink(name="sink")
    g = Graph().chain(FrameSource([t("a"), t("STOP"), t("old")]), trigger, sink).cancels(trigger, sink)
    runner = run_plan(g.compile())
    assert texts(sink.frames) == ["a"]
    assert runner.stats().node("sink").stale_dropped == 1
    assert runner.stats().cancellations == 1


def test_observers_see_both_phases() -> None:
    events: list[RunEvent] = []

    class Collect:
        def on_event(self, event: RunEvent) -> None:
            events.append(event)

    from graphflow import RunOptions, VirtualClock

    frames = [t("a0"), t("a1"), t("STOP", 10)]
    g, *_ = build(frames)
    clock = VirtualClock()
    clock.run(g.compile().run(RunOptions(clock=clock, observers=(Collect(),))))
    fired = [e for e in events if isinstance(e, CancelFired)]
    completed = [e for e in events if isinstance(e, CancelCompleted)]
    assert len(fired) == 1 and fired[0].flushed == 1 and fired[0].new_generation == 1
    assert len(completed) == 1 and completed[0].reports == {"worker": []}


def test_only_declared_triggers_may_cancel() -> None:
    class Rogue(Node):
        inp = Input(TextFrame)

        def on_frame(self, frame: TextFrame) -> None:
            self.cancel("no edges")

    g = Graph().chain(FrameSource([t("x")]), Rogue(name="rogue"))
    with pytest.raises(NodeError) as info:
        run_plan(g.compile())
    assert isinstance(info.value.__cause__, ConfigError)
    assert "has no cancellation edges" in str(info.value)


def test_a_handler_that_swallows_its_cancel_goes_on_and_the_cancel_is_withdrawn() -> None:
    class Stubborn(Node):
        """Swallows the cancel of its call, then finishes it; records its task's pending cancels."""

        inp = Input(TextFrame)
        out = Output(TextFrame)

        def __init__(self) -> None:
            super().__init__(name="stubborn")
            self.swallowed: list[str] = []
            self.cancelling: list[int] = []

        async def on_frame(self, frame: TextFrame) -> None:
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                self.swallowed.append(frame.text)
            await asyncio.sleep(0.01)  # not cancelled again
            task = asyncio.current_task()
            assert task is not None
            self.cancelling.append(task.cancelling())
            await self.out.send(frame)

    trigger, stubborn, sink = Trigger(name="trigger"), Stubborn(), FrameSink(name="sink")
    source = FrameSource([t("a0"), t("STOP", 10), t("b0", 20)], FrameSourceOptions(paced=True))
    g = Graph().chain(source, trigger, stubborn, sink).cancels(trigger, stubborn)
    runner = run_plan(g.compile())
    assert stubborn.swallowed == ["a0"]
    assert texts(sink.frames) == ["a0", "b0"]  # the sink is no target: the old frame arrives
    # the swallowed cancel stays pending until that call ends; the scope then withdraws it
    assert stubborn.cancelling == [1, 0]
    assert runner.stats().node("stubborn").cancellations == 1


def test_the_cancel_scope_cancels_only_an_older_call_once() -> None:
    async def main() -> None:
        scope = CancelScope()
        assert not scope.cancel(1)  # nothing in flight
        task = asyncio.create_task(asyncio.sleep(1))
        scope.bind(task)
        scope.frame = TextFrame(text="kept", generation=0, survive=True)
        assert not scope.cancel(1)
        scope.frame = TextFrame(text="new", generation=1)
        assert not scope.cancel(1)
        scope.frame = TextFrame(text="old", generation=0)
        assert scope.cancel(1)
        assert (scope.cancelled_generation, scope.watched, task.cancelling()) == (1, True, 1)
        assert not scope.cancel(2)  # once
        scope.frame = None
        scope.exit()  # the call ended without the cancel reaching it: withdrawn
        assert (scope.cancelled_generation, scope.watched, task.cancelling()) == (0, False, 0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run_virtual(main())
