"""Survive: marks audio frames so that a cancellation's flush lets them through.

A sink is a cancellation target (a barge-in flushes the reply queued in front of it),
and a target drops frames of older generations, on every input. The user's audio on its
way to a sink's ``reference`` input belongs to no reply: without the mark, each barge-in
would drop the user's words queued there, the very words that interrupted.
"""

from __future__ import annotations

import msgspec

from graphflow.frames import AudioFrame
from graphflow.node import Node
from graphflow.ports import Input, Output


class Survive(Node):
    """Passes each frame on with ``survive`` set (fused: a function call, no copy of the samples)."""

    inp = Input(AudioFrame)
    out = Output(AudioFrame, follows="inp")

    def on_frame(self, frame: AudioFrame) -> None:
        """Mark ``frame`` and pass it on."""
        self.out.push(frame if frame.survive else msgspec.structs.replace(frame, survive=True))
