"""The frame every port carries, and the control frames the engine itself understands."""

from __future__ import annotations

from typing import ClassVar

import msgspec

UNSET_GENERATION = -1
"""The ``generation`` of a frame not stamped yet (the output port that sends it stamps it)."""


class Frame(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """An immutable, timestamped record moving along an edge.

    ``pts`` and ``duration`` are media time and ``created`` is clock time, all in the
    engine's nanoseconds (see :mod:`graphflow.timebase`). ``generation`` is the turn
    epoch the frame belongs to: a cancellation flushes frames of older generations from
    its targets unless ``survive`` is set (text already played, for example).

    A node leaves ``created`` (0) and ``generation`` (:data:`UNSET_GENERATION`) unset and
    the output port stamps them as it sends the frame: the clock time, and the run's
    generation at that moment. A node sets ``generation`` itself only to carry an input
    frame's generation over (a reply keeps its turn's).
    """

    pts: int = 0
    duration: int = 0
    created: int = 0
    generation: int = UNSET_GENERATION
    survive: bool = False

    CONTROL: ClassVar[bool] = False
    """True for frames the engine routes itself (never dropped by an overflow policy)."""


class ControlFrame(Frame, frozen=True, kw_only=True, gc=False):
    """Base of frames that steer the flow rather than carry data; they survive flushes."""

    CONTROL: ClassVar[bool] = True
    survive: bool = True


class EndOfStream(ControlFrame, frozen=True, kw_only=True, gc=False):
    """No more frames will follow on this edge; the engine propagates it downstream in order."""


class TextFrame(Frame, frozen=True, kw_only=True, gc=False):
    """A piece of text: a transcript, a reply delta, a sentence to speak."""

    text: str
