"""The last seconds of a session's audio, kept for the turn model to look back at."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from graphflow.timebase import ns_to_samples, samples_to_ns

SAMPLE_RATE = 16000
"""The ring's rate (the turn model's)."""


class AudioRing:
    """A fixed-size ring of 16 kHz mono int16 samples addressed by media time."""

    __slots__ = ("latest_end", "_ring", "_written")

    def __init__(self, samples: int) -> None:
        self._ring = np.zeros(samples, dtype=np.int16)
        self._written = 0  # samples ever written
        self.latest_end: int | None = None
        """Media time just after the last sample written (None before the first)."""

    def clear(self) -> None:
        """Forget everything written."""
        self._written = 0
        self.latest_end = None

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
