"""The scheduler: fan-out and fan-in, fused chains, errors that name the node, clean stops."""

from __future__ import annotations

import asyncio

import pytest

from graphflow import (
    ConfigError,
    EndOfStream,
    Frame,
    Graph,
    Input,
    Node,
    NodeError,
    NodeKind,
    Output,
    RunOptions,
    TextFrame,
    VirtualClock,
)
from graphflow.timebase import MS
from nodes.audio.tone import ToneOptions, ToneSource
from nodes.memory import FrameSink, FrameSource
from nodes.passthrough import AsyncPassthrough, Passthrough

from ..waiting import WAIT, within
from .helpers import AsyncBoom, Boom, SlowSink, no_leaks, run_plan, run_virtual, text_frames


def test_fused_chain_runs_without_queues() -> None:
    sink = FrameSink(name="sink")
    g = Graph().chain(FrameSource(text_frames(3)), Passthrough(), Passthrough(), sink)
    plan = g.compile()
    assert all(edge.fused for edge in plan.edges)
    assert [n.kind for n in plan.nodes] == [NodeKind.RUN, NodeKind.SYNC, NodeKind.SYNC, NodeKind.SYNC]
    run_plan(plan)
    assert [f.text for f in sink.frames if isinstance(f, TextFrame)] == ["0", "1", "2"]


def test_fan_out_and_fan_in() -> None:
    src = FrameSource(text_frames(4), name="src")
    left, right = Passthrough(name="left"), AsyncPassthrough(name="right")
    sink = FrameSink(name="sink")
    g = Graph()
    g.connect(src.out, left.inp).connect(src.out, right.inp)
    g.connect(left.out, sink.inp).connect(right.out, sink.inp)
    run_plan(g.compile())
    got = sorted(f.text for f in sink.frames if isinstance(f, TextFrame))
    assert got == sorted([str(i) for i in range(4)] * 2)


def test_an_async_node_serves_its_input_queues_round_robin() -> None:
    class Merge(Node):
        a = Input(TextFrame)
        b = Input(TextFrame)
        out = Output(TextFrame)

        async def on_frame(self, frame: TextFrame) -> None:
            await asyncio.sleep(0.001)
            await self.out.send(frame)

    merge, sink = Merge(name="merge"), FrameSink(name="sink")
    first = FrameSource([TextFrame(text=f"a{i}") for i in range(4)], name="first")
    second = FrameSource([TextFrame(text=f"b{i}") for i in range(2)], name="second")
    g = Graph().connect(first.out, merge.a).connect(second.out, merge.b).connect(merge.out, sink.inp)
    run_plan(g.compile())
    assert [f.text for f in sink.frames if isinstance(f, TextFrame)] == ["a0", "b0", "a1", "b1", "a2", "a3"]


def test_sync_node_behind_an_explicit_queue_gets_a_task() -> None:
    from graphflow import QueueSpec

    sink = FrameSink(name="sink")
    g = Graph().connect(FrameSource(text_frames(3), name="src").out, sink.inp, queue=QueueSpec.frames(1))
    plan = g.compile()
    assert not plan.edges[0].fused
    run_plan(plan)
    assert len(sink.frames) == 3


@pytest.mark.parametrize("boom", [Boom, AsyncBoom])
def test_node_error_names_node_and_frame_type_and_leaves_no_task(boom: type[Boom]) -> None:
    closed: list[str] = []

    class Closing(FrameSink):
        async def close(self) -> None:
            closed.append(self.name)

    slow = SlowSink(delay_ms=1000, name="slow")
    src = FrameSource(text_frames(10), name="src")
    g = Graph().chain(src, Passthrough(name="p"), boom(on="3", name="boom"), Closing(name="sink"))
    g.connect(src.out, slow.inp)
    with pytest.raises(NodeError) as info:
        run_plan(g.compile())
    err = info.value
    assert err.node == "boom" and err.frame_type == "TextFrame" and err.phase == "on_frame"
    assert isinstance(err.__cause__, ValueError)
    assert "cannot take 3" in str(err)
    assert closed == ["sink"]


def test_setup_failure_names_the_node_and_closes_what_was_set_up() -> None:
    closed: list[str] = []

    class Tracked(Passthrough):
        async def close(self) -> None:
            closed.append(self.name)

    class BadSetup(FrameSink):
        async def setup(self) -> None:
            raise RuntimeError("model file missing")

    g = Graph().chain(FrameSource([], name="src"), Tracked(name="t"), BadSetup(name="bad"))
    with pytest.raises(NodeError, match="'bad' failed in setup"):
        run_plan(g.compile())
    assert closed == ["t"]


def test_run_node_error_is_named() -> None:
    class Broken(FrameSource):
        async def run(self) -> None:
            raise OSError("device gone")

    g = Graph().chain(Broken([], name="mic"), FrameSink())
    with pytest.raises(NodeError, match="'mic' failed in run: OSError: device gone"):
        run_plan(g.compile())


def test_stop_drains_what_is_in_flight() -> None:
    sink = SlowSink(delay_ms=5, name="sink")
    tone = ToneSource(ToneOptions(seconds=3600.0), name="mic")
    g = Graph().chain(tone, AsyncPassthrough(name="p"), sink)
    runner = g.compile().runner(RunOptions(clock=(clock := VirtualClock())))

    async def main() -> None:
        task = asyncio.create_task(runner.run())
        await asyncio.sleep(0.1)
        runner.stop()
        await task

    run_virtual(main(), clock)
    assert 4 <= len(sink.frames) <= 7
    assert all(f.generation == 0 for f in sink.frames)


def test_abort_cancels_every_task() -> None:
    sink = SlowSink(delay_ms=1000, name="sink")
    g = Graph().chain(ToneSource(ToneOptions(seconds=3600.0), name="mic"), sink)
    clock = VirtualClock()
    runner = g.compile().runner(RunOptions(clock=clock))

    async def main() -> None:
        task = asyncio.create_task(runner.run())
        await asyncio.sleep(0.05)
        runner.stop(drain=False)
        await task

    run_virtual(main(), clock)
    assert sink.frames == []


def test_cancelling_the_caller_cancels_the_run_cleanly() -> None:
    g = Graph().chain(ToneSource(ToneOptions(seconds=3600.0)), SlowSink(delay_ms=1))

    async def main() -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await g.compile().run(RunOptions(clock=clock))

    clock = VirtualClock()
    run_virtual(main(), clock)


def test_a_node_runs_in_one_graph_at_a_time() -> None:
    sink = FrameSink()
    g1 = Graph().chain(ToneSource(ToneOptions(seconds=1.0)), sink)
    g2 = Graph().chain(ToneSource(ToneOptions(seconds=1.0)), sink)
    clock = VirtualClock()

    async def main() -> None:
        first = asyncio.create_task(g1.compile().run(RunOptions(clock=clock)))
        await asyncio.sleep(0.01)
        with pytest.raises(ConfigError, match="already part of a running graph"):
            await g2.compile().run(RunOptions(clock=clock))
        await first

    run_virtual(main(), clock)


def test_pts_stays_monotonic_through_fused_and_queued_hops() -> None:
    sink = FrameSink()
    g = Graph().chain(
        ToneSource(ToneOptions(seconds=1.0)), Passthrough(), AsyncPassthrough(), Passthrough(), sink
    )
    run_plan(g.compile())
    pts = [f.pts for f in sink.frames]
    assert pts == sorted(pts) and len(pts) == 50
    assert pts[1] - pts[0] == 20 * MS


def test_run_node_reads_ports_and_sees_end_of_stream() -> None:
    got: list[str] = []

    class Reader(Node):
        inp = Input(TextFrame)
        out = Output(TextFrame)

        async def run(self) -> None:
            # virtual time: if the end of the stream never came, the clock would jump to the deadline
            async with within(WAIT, "the end of the stream"):
                while True:
                    frame = await self.inp.get()
                    if isinstance(frame, EndOfStream):
                        break
                    assert isinstance(frame, TextFrame)
                    got.append(frame.text)
                    await self.out.send(frame)

    sink = FrameSink()
    run_plan(Graph().chain(FrameSource(text_frames(4)), Reader(), sink).compile())
    assert got == ["0", "1", "2", "3"]
    assert len(sink.frames) == 4


def test_async_iteration_over_a_port() -> None:
    got: list[Frame] = []

    class Reader(Node):
        inp = Input(Frame)

        async def run(self) -> None:
            async for frame in self.inp:
                got.append(frame)

    run_plan(Graph().chain(FrameSource(text_frames(3)), Reader()).compile())
    assert len(got) == 3


def test_runner_runs_once() -> None:
    runner = Graph().chain(FrameSource([]), FrameSink()).compile().runner()

    async def main() -> None:
        await runner.run()
        with pytest.raises(ConfigError, match="runs once"):
            await runner.run()

    asyncio.run(no_leaks(main()))
