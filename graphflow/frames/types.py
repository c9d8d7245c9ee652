"""Frame types of ports: one frame class, or a union of them (``AudioFrame | VADEvent``).

A union lets one port carry an ordered, in-band stream of several kinds of frame (audio
interleaved with the voice-activity events about it), while the compiler still checks
that every kind a producer emits is one the consumer accepts.
"""

from __future__ import annotations

import functools
import operator
import types
from typing import Any, TypeAlias, get_args

from graphflow.frames.audio import AudioFrame
from graphflow.frames.base import Frame

FrameType: TypeAlias = Any
"""A frame class or a union of frame classes (``type[Frame] | types.UnionType``)."""


def members(frame_type: FrameType) -> tuple[type[Frame], ...]:
    """The frame classes a port type stands for."""
    if isinstance(frame_type, types.UnionType):
        return tuple(get_args(frame_type))
    return (frame_type,)


def is_frame_type(frame_type: object) -> bool:
    """True for a Frame subclass or a union of them."""
    try:
        return all(isinstance(m, type) and issubclass(m, Frame) for m in members(frame_type))
    except TypeError:
        return False


def accepts(accepted: FrameType, carried: FrameType) -> bool:
    """True when every class in ``carried`` is a subclass of some class in ``accepted``."""
    allowed = members(accepted)
    return all(issubclass(m, allowed) for m in members(carried))


def union(classes: list[type[Frame]]) -> FrameType:
    """One class, or the union of several (duplicates removed, order kept)."""
    unique = list(dict.fromkeys(classes))
    if len(unique) == 1:
        return unique[0]
    return functools.reduce(operator.or_, unique)


def type_name(frame_type: FrameType) -> str:
    """``"AudioFrame"`` or ``"AudioFrame | VADEvent"``."""
    return " | ".join(m.__name__ for m in members(frame_type))


def carries_audio(frame_type: FrameType) -> bool:
    """True when some class of the port type is audio (so an audio format applies)."""
    return any(issubclass(m, AudioFrame) for m in members(frame_type))
