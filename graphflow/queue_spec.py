"""How an edge buffers frames: its bound (frames and/or media time) and overflow policy."""

from __future__ import annotations

import enum

import msgspec

from graphflow.errors import ConfigError
from graphflow.timebase import MS, to_ms


class Overflow(enum.Enum):
    """What a full queue does with one more frame."""

    BLOCK = "block"
    """The producer waits until there is room (backpressure)."""
    DROP_OLDEST = "drop-oldest"
    """The oldest queued data frame is dropped to make room (leaky downstream)."""
    DROP_NEWEST = "drop-newest"
    """The incoming data frame is dropped (leaky upstream)."""


class QueueSpec(msgspec.Struct, frozen=True):
    """Bounds of one edge's queue: at most ``max_frames`` frames and, if set, ``max_time`` ns.

    Control frames (end of stream, flush) are never dropped and may exceed the bound.
    Nothing is unbounded: ``max_frames`` is always at least one.
    """

    max_frames: int = 32
    max_time: int = 0
    overflow: Overflow = Overflow.BLOCK

    def __post_init__(self) -> None:
        if self.max_frames < 1:
            raise ConfigError(
                f"queue max_frames must be >= 1, got {self.max_frames}",
                hint="every edge is bounded; pick a capacity in frames (and optionally max_time)",
            )
        if self.max_time < 0:
            raise ConfigError(f"queue max_time must be >= 0 ns, got {self.max_time}")

    @classmethod
    def frames(cls, n: int, overflow: Overflow = Overflow.BLOCK) -> QueueSpec:
        """A queue bounded to ``n`` frames."""
        return cls(max_frames=n, overflow=overflow)

    @classmethod
    def time_ms(cls, ms: float, overflow: Overflow = Overflow.BLOCK, max_frames: int = 1024) -> QueueSpec:
        """A queue bounded to ``ms`` milliseconds of media (and ``max_frames`` as a backstop)."""
        return cls(max_frames=max_frames, max_time=round(ms * MS), overflow=overflow)

    def label(self) -> str:
        """Short human description, e.g. ``"32 frames, block"``."""
        bound = f"{self.max_frames} frames"
        if self.max_time:
            bound = f"{to_ms(self.max_time):g} ms / {bound}"
        return f"{bound}, {self.overflow.value}"


DEFAULT_QUEUE = QueueSpec()
"""The queue an edge gets when its connection names none."""
