"""Pass-through nodes: forward every frame unchanged (fused, or behind a queue)."""

from __future__ import annotations

from graphflow.frames import Frame
from graphflow.node import Node
from graphflow.ports import Input, Output


class Passthrough(Node):
    """Forwards frames as a synchronous handler: fused into its upstream's task."""

    inp = Input(Frame)
    out = Output(Frame, follows="inp")

    def on_frame(self, frame: Frame) -> None:
        """Forward ``frame``."""
        self.out.push(frame)


class AsyncPassthrough(Node):
    """Forwards frames from an async handler: gets its own bounded queue and task."""

    inp = Input(Frame)
    out = Output(Frame, follows="inp")

    async def on_frame(self, frame: Frame) -> None:
        """Forward ``frame``, waiting while the downstream queue is full."""
        await self.out.send(frame)
