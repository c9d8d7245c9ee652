"""The worker's load: what it actually measures, not a count of jobs.

Two figures, the larger wins: the CPU this process used over the last window (as a
fraction of the cores it may use) and the event loop's lag — how late a timer scheduled
every 10 ms fires, p99 over the window, against a budget. Audio frames are processed
on that loop, so its lag is the frame lag every session on this worker suffers. Only
this process's own CPU counts, so a busy neighbour does not make an idle worker refuse
jobs; a loop that is late is late whoever is to blame.
"""

from __future__ import annotations

import asyncio
import os
import time

import numpy as np

PROBE_INTERVAL_S = 0.01
"""How often the loop-lag probe fires."""


def usable_cores() -> int:
    """The number of cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class LoadMeter:
    """Measures process CPU and event-loop lag; ``sample()`` returns the load of the last window."""

    def __init__(self, lag_budget_ms: float = 40.0, cores: int | None = None) -> None:
        self.lag_budget_ms = lag_budget_ms
        self.cores = cores or usable_cores()
        self.cpu = 0.0
        """CPU of the last window, as a fraction of the usable cores."""
        self.lag_p99_ms = 0.0
        """Event-loop lag p99 of the last window, in ms."""
        self.smoothing = 0.5
        """Weight of the previous load in the moving average."""
        self.smoothed = 0.0
        self._lags: list[float] = []
        self._last_wall = time.monotonic()
        self._last_cpu = time.process_time()

    async def probe(self) -> None:
        """Run forever: measure how late a 10 ms timer fires (the owner cancels it)."""
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + PROBE_INTERVAL_S
            await asyncio.sleep(PROBE_INTERVAL_S)
            self._lags.append(max(0.0, loop.time() - due))
            if len(self._lags) > 10_000:
                del self._lags[:5_000]

    def sample(self) -> float:
        """The load since the previous sample, in [0, 1]."""
        wall, cpu = time.monotonic(), time.process_time()
        span = max(wall - self._last_wall, 1e-6)
        self.cpu = min(1.0, (cpu - self._last_cpu) / span / self.cores)
        self._last_wall, self._last_cpu = wall, cpu
        lags, self._lags = self._lags, []
        lag = float(np.percentile(lags, 99)) * 1000.0 if lags else 0.0
        self.lag_p99_ms = lag
        self.smoothed = self.smoothing * self.smoothed + (1 - self.smoothing) * self.instant
        return self.load

    @property
    def instant(self) -> float:
        """The larger of CPU and lag against its budget over the last window, capped at 1."""
        return min(1.0, max(self.cpu, self.lag_p99_ms / self.lag_budget_ms))

    @property
    def load(self) -> float:
        """The reported load: ``instant`` smoothed over recent windows (one spike does not flip it)."""
        return self.smoothed
