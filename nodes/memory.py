"""In-memory source and sink: feed a graph from a list of frames, collect what comes out."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from graphflow.frames import AudioFrame, Frame
from graphflow.frames.types import FrameType
from graphflow.node import Node
from graphflow.ports import Input, Output


class FrameSourceOptions(msgspec.Struct, frozen=True):
    """``paced``: emit each frame at its ``pts`` on the run's clock (real-time pace)."""

    paced: bool = False


class FrameSource(Node):
    """Emits the given frames in order, then ends the stream; its port carries their common type.

    The frames are one recording: a frame that leaves ``generation`` unset belongs to the
    generation the source started in (a cancellation meanwhile makes the rest stale at its
    targets); the port stamps an unset ``created`` as the frame leaves.
    """

    Options = FrameSourceOptions
    options: FrameSourceOptions
    out = Output(Frame)

    def __init__(
        self,
        frames: Iterable[Frame],
        options: FrameSourceOptions | None = None,
        *,
        name: str | None = None,
        frame_type: FrameType | None = None,
    ) -> None:
        super().__init__(options, name=name)
        self.frames = list(frames)
        self.out.frame_type = frame_type or _common_type(self.frames)
        formats = {f.format for f in self.frames if isinstance(f, AudioFrame)}
        if len(formats) == 1 and all(isinstance(f, AudioFrame) for f in self.frames):
            self.out.format = formats.pop()

    async def run(self) -> None:
        """Send every frame, paced by ``pts`` if asked, in the generation the source started in."""
        start = self.now()
        generation = self.generation
        paced = self.options.paced
        for frame in self.frames:
            if paced:
                await self.clock.sleep_until(start + frame.pts)
            if frame.generation < 0:  # in place, as the port stamps: the frame is not out yet
                msgspec.structs.force_setattr(frame, "generation", generation)
            await self.out.send(frame)


def _common_type(frames: list[Frame]) -> type[Frame]:
    """The most specific frame class every one of ``frames`` is an instance of."""
    if not frames:
        return Frame
    for candidate in type(frames[0]).__mro__:
        if issubclass(candidate, Frame) and all(isinstance(f, candidate) for f in frames):
            return candidate
    return Frame


class FrameSink(Node):
    """Collects every frame it receives into ``frames`` (with the clock time of arrival)."""

    inp = Input(Frame)

    def __init__(self, options: msgspec.Struct | None = None, *, name: str | None = None) -> None:
        super().__init__(options, name=name)
        self.frames: list[Frame] = []
        self.arrivals: list[int] = []

    def on_frame(self, frame: Frame) -> None:
        """Keep ``frame``."""
        self.frames.append(frame)
        self.arrivals.append(self.now())
