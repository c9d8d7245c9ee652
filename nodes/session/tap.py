"""A session tap: a fused node that publishes the frames passing on the edges it is connected to."""

from __future__ import annotations

from graphflow.frames import Frame
from graphflow.node import Node
from graphflow.ports import Input


class SessionTap(Node):
    """Publishes every frame it receives to the run's observers (it forwards nothing)."""

    inp = Input(Frame)

    def on_frame(self, frame: Frame) -> None:
        """Show ``frame`` to whoever watches the run (the session)."""
        self.publish(frame)
