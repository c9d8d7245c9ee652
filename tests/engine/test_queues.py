"""Bounded queues: each overflow policy, time bounds, and backpressure that really blocks."""

from __future__ import annotations

import asyncio

from graphflow import EndOfStream, Frame, Graph, Input, Node, Overflow, QueueSpec, TextFrame
from graphflow.runtime.edge_queue import EdgeQueue
from graphflow.timebase import MS
from nodes.memory import FrameSource

from .helpers import SlowSink, run_plan, text_frames


def texts(frames: list[Frame]) -> list[str]:
    return [f.text for f in frames if isinstance(f, TextFrame)]


def test_block_policy_keeps_every_frame_and_bounds_depth() -> None:
    sink = SlowSink(delay_ms=5, name="sink")
    g = Graph().connect(FrameSource(text_frames(50), name="src").out, sink.inp, queue=QueueSpec.frames(4))
    runner = run_plan(g.compile())
    assert texts(sink.frames) == [str(i) for i in range(50)]
    edge = runner.stats().edge("src.out -> sink.inp")
    assert edge.dropped == 0
    assert edge.high_water <= 5  # the bound, plus the one frame that found it full


def test_backpressure_blocks_a_fast_producer() -> None:
    sent_at: list[int] = []

    class Producer(FrameSource):
        async def run(self) -> None:
            for frame in self.frames:
                await self.out.send(frame)
                sent_at.append(self.now())

    sink = SlowSink(delay_ms=10, name="sink")
    g = Graph().connect(Producer(text_frames(20), name="src").out, sink.inp, queue=QueueSpec.frames(2))
    run_plan(g.compile())
    # Without backpressure all 20 sends would finish at t=0; with a bound of 2 the producer
    # can run at most ~3 frames ahead of a consumer that takes 10 ms per frame.
    assert sent_at[-1] >= (20 - 4) * 10 * MS
    assert len(sink.frames) == 20


def test_drop_newest_keeps_the_first_frames() -> None:
    sink = SlowSink(delay_ms=100, name="sink")
    spec = QueueSpec.frames(3, Overflow.DROP_NEWEST)
    g = Graph().connect(FrameSource(text_frames(10), name="src").out, sink.inp, queue=spec)
    runner = run_plan(g.compile())
    assert texts(sink.frames) == ["0", "1", "2"]
    assert runner.stats().edge("src.out -> sink.inp").dropped == 7


def test_drop_oldest_keeps_the_last_frames() -> None:
    sink = SlowSink(delay_ms=100, name="sink")
    spec = QueueSpec.frames(3, Overflow.DROP_OLDEST)
    g = Graph().connect(FrameSource(text_frames(10), name="src").out, sink.inp, queue=spec)
    runner = run_plan(g.compile())
    assert texts(sink.frames) == ["7", "8", "9"]
    assert runner.stats().edge("src.out -> sink.inp").dropped == 7


def test_time_bound_counts_media_time() -> None:
    queue = EdgeQueue("e", QueueSpec.time_ms(60, Overflow.DROP_OLDEST), [])
    for frame in text_frames(10, step_ms=20):
        queue.offer(frame)
    assert texts(list(queue.items)) == ["7", "8", "9"]
    assert queue.queued_time == 60 * MS


def test_control_frames_are_never_dropped() -> None:
    queue = EdgeQueue("e", QueueSpec.frames(1, Overflow.DROP_NEWEST), [])
    queue.offer(TextFrame(text="a"))
    queue.offer(EndOfStream())
    queue.offer(TextFrame(text="b"))
    assert [type(f).__name__ for f in queue.items] == ["TextFrame", "EndOfStream"]
    assert queue.dropped == 1


def test_block_policy_registers_pressure_once_per_burst() -> None:
    pressure: list[EdgeQueue] = []
    queue = EdgeQueue("e", QueueSpec.frames(1), pressure)
    for frame in text_frames(5):
        queue.offer(frame)
    assert pressure == [queue] and queue.full()

    async def drain() -> None:
        waiter = asyncio.ensure_future(queue.wait_space())
        await asyncio.sleep(0)
        assert not waiter.done()
        while len(queue.items) > 1:
            queue.pop()
        await waiter

    asyncio.run(drain())


def test_end_of_stream_arrives_after_every_frame() -> None:
    seen: list[str] = []

    class Recorder(Node):
        inp = Input(Frame)

        async def on_frame(self, frame: Frame) -> None:
            seen.append(frame.text if isinstance(frame, TextFrame) else "?")

        async def on_end(self) -> None:
            seen.append("END")

    g = Graph().chain(FrameSource(text_frames(5)), Recorder())
    run_plan(g.compile())
    assert seen == ["0", "1", "2", "3", "4", "END"]
