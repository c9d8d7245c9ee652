"""The load a worker reports comes from what it measures: event-loop lag and its own CPU."""

from __future__ import annotations

import asyncio
import contextlib
import time

from graphflow.worker.load import LoadMeter


async def test_a_blocked_loop_is_full_load_and_an_idle_one_is_not() -> None:
    meter = LoadMeter(lag_budget_ms=40.0, cores=1)
    probe = asyncio.ensure_future(meter.probe())
    try:
        await asyncio.sleep(0.2)
        meter.sample()
        await asyncio.sleep(0.3)
        idle = meter.sample()
        assert meter.lag_p99_ms < 40.0 or idle < 1.0
        time.sleep(0.15)  # the loop is blocked: every timer fires late  # noqa: ASYNC251
        await asyncio.sleep(0.05)
        meter.sample()
        assert meter.lag_p99_ms >= 100.0
        assert meter.instant == 1.0
        assert 0.0 < meter.load < 1.0  # smoothed: one bad window does not make it full at once
        for _ in range(6):
            time.sleep(0.1)  # noqa: ASYNC251
            await asyncio.sleep(0.02)
            meter.sample()
        assert meter.load > 0.9
    finally:
        probe.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await probe


def test_cpu_counts_only_this_process() -> None:
    meter = LoadMeter(cores=1)
    meter.sample()
    time.sleep(0.2)
    assert meter.sample() < 0.5  # sleeping uses no CPU
    deadline = time.monotonic() + 0.2
    while time.monotonic() < deadline:
        pass
    meter.sample()
    assert meter.cpu > 0.5
