"""Hand-off: the first frames of a burst reach an idle consumer before the producer runs on."""

from __future__ import annotations

import asyncio

from graphflow import Frame, Graph, Input, Node, Output, QueueSpec, TextFrame
from graphflow.runtime.edge_queue import HANDOFF_BURST, EdgeQueue
from graphflow.timebase import MS

from .helpers import run_plan, text_frames


def order_of(n: int, pause_ms: int) -> list[str]:
    """Who did what, in order: a producer that waits ``pause_ms`` then sends ``n`` frames at once."""
    log: list[str] = []

    class Burst(Node):
        out = Output(Frame)

        async def run(self) -> None:
            await self.clock.sleep_until(self.now() + pause_ms * MS)
            for frame in text_frames(n):
                await self.out.send(frame)
                log.append(f"sent {frame.text}")

    class Consumer(Node):
        inp = Input(Frame)

        async def on_frame(self, frame: Frame) -> None:
            assert isinstance(frame, TextFrame)
            log.append(f"got {frame.text}")

    g = Graph().connect(Burst(name="src").out, Consumer(name="sink").inp, queue=QueueSpec.frames(64))
    run_plan(g.compile())
    return log


def test_an_idle_consumer_takes_the_first_frames_of_a_burst_at_once() -> None:
    n = 2 * HANDOFF_BURST + 8
    log = order_of(n, pause_ms=50)
    # the producer sends a frame, offers the next and yields in that send: the consumer takes both
    assert log[:4] == ["sent 0", "got 0", "got 1", "sent 1"]
    for i in range(0, 2 * HANDOFF_BURST, 2):
        assert log.index(f"got {i + 1}") < log.index(f"sent {i + 1}")
    # after the burst the queue batches again: the producer runs on without waiting
    tail = log[log.index(f"sent {2 * HANDOFF_BURST}") :]
    assert tail[:8] == [f"sent {i}" for i in range(2 * HANDOFF_BURST, n)]
    assert sorted(x for x in log if x.startswith("got")) == sorted(f"got {i}" for i in range(n))


def test_one_frame_per_wake_never_asks_the_producer_to_yield() -> None:
    clock = [0]
    pressure: list[EdgeQueue] = []
    queue = EdgeQueue("e", QueueSpec.frames(32), pressure, lambda: clock[0])

    async def stream() -> None:
        loop = asyncio.get_running_loop()
        for frame in text_frames(3):  # a paced stream: the consumer waits 20 ms for each frame
            queue.wait(loop.create_future())
            clock[0] += 20 * MS
            queue.offer(frame)
            assert pressure == [] and not queue.handoff
            queue.pop()
        queue.wait(loop.create_future())
        clock[0] += 20 * MS
        queue.offer(text_frames(1)[0])
        queue.offer(text_frames(1)[0])  # a second frame before the consumer ran: hand off
        assert pressure == [queue] and queue.handoff

    asyncio.run(stream())


def test_a_consumer_that_was_just_busy_gets_frames_in_batches() -> None:
    # no pause: the consumer has waited no time at all when the burst starts
    log = order_of(8, pause_ms=0)
    assert log[:8] == [f"sent {i}" for i in range(8)]
    assert log[8:] == [f"got {i}" for i in range(8)]
