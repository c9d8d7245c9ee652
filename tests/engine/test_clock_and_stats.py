"""Clocks and tracing: virtual time is deterministic; traced latencies come out right."""

from __future__ import annotations

import asyncio

import msgspec

from graphflow import Frame, Graph, Input, Node, Output, RealtimeClock, RunOptions, VirtualClock
from graphflow.runtime.stats import LatencyStats
from graphflow.timebase import MS, SECOND
from nodes.audio.tone import ToneOptions, ToneSource
from nodes.memory import FrameSink, FrameSource, FrameSourceOptions

from .helpers import SlowSink, run_plan, run_virtual, text_frames


def test_virtual_clock_jumps_to_the_next_timer() -> None:
    clock = VirtualClock()

    async def main() -> list[int]:
        seen = []
        for delay in (0.5, 0.25, 10.0):
            await asyncio.sleep(delay)
            seen.append(clock.now())
        return seen

    assert run_virtual(main(), clock) == [500 * MS, 750 * MS, int(10.75 * SECOND)]


def test_virtual_clock_stands_still_while_threads_work() -> None:
    import time

    clock = VirtualClock()

    async def main() -> int:
        before = clock.now()
        await asyncio.to_thread(time.sleep, 0.05)
        return clock.now() - before

    assert run_virtual(main(), clock) == 0


def test_paced_tone_arrives_on_schedule_in_virtual_time() -> None:
    sink = FrameSink()
    clock = VirtualClock(start=7 * SECOND)
    run_plan(Graph().chain(ToneSource(ToneOptions(seconds=0.2)), sink).compile(), clock=clock)
    assert [t - 7 * SECOND for t in sink.arrivals] == [i * 20 * MS for i in range(10)]


def test_realtime_clock_reads_monotonic_ns() -> None:
    clock = RealtimeClock()
    a = clock.now()
    asyncio.run(clock.sleep_until(a + 2 * MS))
    assert clock.now() - a >= 2 * MS


def test_traced_run_measures_queue_wait_and_handler_time() -> None:
    class Stamp(Node):
        """Restamps frames with the time they pass (so age is measured from here)."""

        inp = Input(Frame)
        out = Output(Frame, follows="inp")

        def on_frame(self, frame: Frame) -> None:
            self.out.push(msgspec.structs.replace(frame, created=self.now()))

    sink = SlowSink(delay_ms=10, name="sink")
    src = FrameSource(text_frames(5), FrameSourceOptions(paced=False), name="src")
    runner = run_plan(Graph().chain(src, Stamp(name="stamp"), sink).compile(), trace=True)
    stats = runner.stats()
    queue = stats.edge("stamp.out -> sink.inp")
    assert queue.latency is not None
    # all five frames arrive at t=0; the consumer takes 10 ms each: waits of 0..40 ms
    assert queue.latency.count == 5
    assert queue.latency.max_us == 40_000 and queue.latency.min_us == 0
    sink_stats = stats.node("sink")
    assert sink_stats.handler is not None and sink_stats.handler.p50_us == 10_000
    assert sink_stats.frame_age is not None and sink_stats.frame_age.max_us == 40_000
    assert stats.edge("src.out -> stamp.inp").pushed == 5


def test_untraced_run_keeps_cheap_counters_only() -> None:
    sink = SlowSink(delay_ms=1, name="sink")
    runner = run_plan(Graph().chain(FrameSource(text_frames(3), name="src"), sink).compile())
    edge = runner.stats().edge("src.out -> sink.inp")
    assert (edge.pushed, edge.latency) == (4, None)  # three frames and the end of stream


def test_latency_stats_percentiles() -> None:
    exact = LatencyStats(keep=1000)
    approx = LatencyStats()
    for v in range(1, 101):
        exact.add(v * 1000)
        approx.add(v * 1000)
    assert exact.summary().p50_us == 51.0 and exact.summary().p99_us == 100.0
    s = approx.summary()
    assert s.count == 100 and s.max_us == 100.0 and 32 <= s.p50_us <= 65.6  # power-of-two bucket


def test_run_options_default_to_the_realtime_clock() -> None:
    assert isinstance(RunOptions().clock, RealtimeClock)
