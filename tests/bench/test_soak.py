"""The short soak: sessions start and end for a minute in one process, and leave nothing behind."""

from __future__ import annotations

import os

import pytest

from graphflow.bench.latency import LatencyOptions
from graphflow.bench.recordings import REPOSITORY_FIXTURES, resolve
from graphflow.bench.soak import SoakOptions, soak

from ..fixtures import model_cache


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_a_minute_of_sessions_leaves_no_task_thread_or_descriptor() -> None:
    model_cache()
    recordings = tuple(resolve([], fixtures_dir=REPOSITORY_FIXTURES))
    options = SoakOptions(slots=6, seconds=60.0, every_s=5.0)
    result = await soak(options, LatencyOptions(recordings=recordings, barge_in=False))
    assert result.sessions > options.slots  # sessions ended and others took their place
    assert result.exchanges > 0 and result.errors == 0
    assert len(result.samples) >= 10 and max(s.running for s in result.samples) == options.slots
    before, after = result.before, result.after
    assert (after.tasks, after.threads, after.fds) == (before.tasks, before.threads, before.fds)
    assert after.pool_threads <= min(32, (os.cpu_count() or 1) + 4)  # the loop's default pool's bound
