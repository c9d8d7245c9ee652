"""The turn detector's audio ring: reads by media time, and wakes a decision when audio reaches a time."""

from __future__ import annotations

import asyncio

import numpy as np

from graphflow.timebase import MS
from nodes.turn.ring import AudioRing


def samples(start: int, n: int) -> np.ndarray:
    """``n`` int16 samples counting up from ``start`` (so a read shows which samples it got)."""
    return (np.arange(start, start + n) % 30000).astype(np.int16)


def test_reads_by_media_time_and_forgets_the_oldest() -> None:
    ring = AudioRing(1600)  # 100 ms at 16 kHz
    for k in range(3):  # three 50 ms frames: the first falls out
        ring.write(samples(800 * k, 800), k * 50 * MS)
    assert ring.latest_end == 150 * MS
    assert np.array_equal(ring.read(100 * MS, 150 * MS), samples(1600, 800))
    assert np.array_equal(ring.read(0, 150 * MS), samples(800, 1600))  # only what is kept
    assert ring.read(150 * MS, 100 * MS).size == 0


def test_reached_resolves_when_the_audio_gets_there() -> None:
    async def scenario() -> None:
        ring = AudioRing(16000)
        before = ring.reached(0)
        assert not before.done()  # nothing written yet
        waiting = ring.reached(60 * MS)
        ring.write(samples(0, 800), 0)  # up to 50 ms
        assert before.done() and not waiting.done()
        ring.write(samples(800, 320), 50 * MS)  # up to 70 ms
        assert waiting.done()
        assert ring.reached(70 * MS).done()  # already there: done at once

    asyncio.run(scenario())


def test_release_wakes_every_waiter_and_clear_forgets_them() -> None:
    async def scenario() -> None:
        ring = AudioRing(16000)
        far = ring.reached(10_000 * MS)
        ring.release()  # no more audio will come
        assert far.done() and ring.reached(20_000 * MS).done()
        ring.clear()  # a new run: waiting works again, and clearing cancels the waiters
        again = ring.reached(10 * MS)
        assert not again.done()
        ring.clear()
        assert again.cancelled() and ring.latest_end is None

    asyncio.run(scenario())
