"""A session tap: a fused node that lets the session see frames passing on an edge."""

from __future__ import annotations

from collections.abc import Callable

from graphflow.frames import Frame
from graphflow.node import Node
from graphflow.ports import Input


class SessionTap(Node):
    """Hands every frame it receives to ``see`` (a function call; it forwards nothing)."""

    inp = Input(Frame)

    def __init__(self, see: Callable[[Frame], None], *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.see = see

    def on_frame(self, frame: Frame) -> None:
        """Show ``frame`` to the session."""
        self.see(frame)
