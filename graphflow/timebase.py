"""The engine's one time base: integer nanoseconds, for media time and clock time alike.

Frames carry ``pts`` and ``duration`` in nanoseconds of media time; clocks report
nanoseconds too, so a frame's running time is ``base_time + pts`` on the same scale.
Audio timestamps are derived from sample counts (never summed from rounded durations),
so they stay exact over hours of audio.
"""

from __future__ import annotations

NS = 1
"""One nanosecond, the engine's unit."""
US = 1_000
"""One microsecond in engine units."""
MS = 1_000_000
"""One millisecond in engine units."""
SECOND = 1_000_000_000
"""One second in engine units."""


def samples_to_ns(samples: int, rate: int) -> int:
    """Media time of ``samples`` samples at ``rate`` Hz, rounded down to a nanosecond."""
    return samples * SECOND // rate


def ns_to_samples(ns: int, rate: int) -> int:
    """Number of whole samples at ``rate`` Hz that fit in ``ns`` nanoseconds."""
    return ns * rate // SECOND


def to_seconds(ns: int) -> float:
    """Nanoseconds as float seconds, for display and reports."""
    return ns / SECOND


def to_ms(ns: int) -> float:
    """Nanoseconds as float milliseconds, for display and reports."""
    return ns / MS


def from_seconds(seconds: float) -> int:
    """Float seconds as engine nanoseconds."""
    return round(seconds * SECOND)
