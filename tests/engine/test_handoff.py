"""Hand-off: the first frames of a burst reach an idle consumer before the producer runs on."""

from __future__ import annotations

from graphflow import Frame, Graph, Input, Node, Output, QueueSpec, TextFrame
from graphflow.runtime.edge_queue import HANDOFF_BURST
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
    log = order_of(HANDOFF_BURST + 8, pause_ms=50)
    # each of the burst's first frames is taken before the producer makes the next one
    for i in range(HANDOFF_BURST - 1):
        assert log.index(f"got {i}") < log.index(f"sent {i + 1}")
    # then the queue batches again: the producer runs on without waiting for the consumer
    tail = log[log.index(f"sent {HANDOFF_BURST}") :]
    assert tail[:8] == [f"sent {i}" for i in range(HANDOFF_BURST, HANDOFF_BURST + 8)]
    assert sorted(x for x in log if x.startswith("got")) == sorted(f"got {i}" for i in range(HANDOFF_BURST + 8))


def test_a_consumer_that_was_just_busy_gets_frames_in_batches() -> None:
    # no pause: the consumer has waited no time at all when the burst starts
    log = order_of(8, pause_ms=0)
    assert log[:8] == [f"sent {i}" for i in range(8)]
    assert log[8:] == [f"got {i}" for i in range(8)]
