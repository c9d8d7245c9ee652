"""The last seconds of a session's audio, kept for the turn model to look back at.

A decision may need audio that has not come yet (the model's tail after a speech end):
:meth:`AudioRing.reached` gives a future that the ring resolves when its audio reaches a
media time, or when :meth:`AudioRing.release` says no more is coming.
"""

from __future__ import annotations

import asyncio

import numpy as np
import numpy.typing as npt

from graphflow.timebase import ns_to_samples, samples_to_ns

SAMPLE_RATE = 16000
"""The ring's rate (the turn model's)."""


class AudioRing:
    """A fixed-size ring of 16 kHz mono int16 samples addressed by media time."""

    __slots__ = ("latest_end", "_ring", "_written", "_waiters", "_released")

    def __init__(self, samples: int) -> None:
        self._ring = np.zeros(samples, dtype=np.int16)
        self._written = 0  # samples ever written
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._released = False
        self.latest_end: int | None = None
        """Media time just after the last sample written (None before the first)."""

    def clear(self) -> None:
        """Forget everything written, and whoever waited for it."""
        self._written = 0
        self.latest_end = None
        self._released = False
        for _, future in self._waiters:
            future.cancel()
        self._waiters.clear()

    def reached(self, pts: int) -> asyncio.Future[None]:
        """A future done once the audio reaches media time ``pts`` (at once if it has, or if released)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._released or (self.latest_end is not None and self.latest_end >= pts):
            future.set_result(None)
        else:
            self._waiters.append((pts, future))
        return future

    def release(self) -> None:
        """No more audio will come: resolve every waiter now and from now on."""
        self._released = True
        self._wake(None)

    def _wake(self, end: int | None) -> None:
        """Resolve the waiters whose time ``end`` has reached (all of them for None)."""
        waiting = []
        for pts, future in self._waiters:
            if end is None or end >= pts:
                if not future.done():
                    future.set_result(None)
            elif not future.done():
                waiting.append((pts, future))
        self._waiters = waiting

    def write(self, mono: npt.NDArray[np.int16], pts: int) -> None:
        """Add ``mono`` samples that start at media time ``pts`` (the oldest fall out)."""
        n, cap = len(mono), len(self._ring)
        if n > cap:
            self._written += n - cap
            mono, n = mono[-cap:], cap
        start = self._written % cap
        first = min(n, cap - start)
        self._ring[start : start + first] = mono[:first]
        if first < n:
            self._ring[: n - first] = mono[first:]
        self._written += n
        self.latest_end = pts + samples_to_ns(n, SAMPLE_RATE)
        if self._waiters:
            self._wake(self.latest_end)

    def read(self, start: int, end: int) -> npt.NDArray[np.int16]:
        """Copy of the kept audio between media times ``start`` and ``end``."""
        if self.latest_end is None or end <= start:
            return np.zeros(0, dtype=np.int16)
        cap = len(self._ring)
        hi = self._written - ns_to_samples(max(0, self.latest_end - end), SAMPLE_RATE)
        lo = self._written - ns_to_samples(max(0, self.latest_end - start), SAMPLE_RATE)
        lo = max(lo, self._written - cap, 0)
        if hi <= lo:
            return np.zeros(0, dtype=np.int16)
        idx = np.arange(lo, hi) % cap
        return self._ring[idx]
