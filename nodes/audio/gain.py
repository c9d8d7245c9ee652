"""Gain: scale audio by a fixed factor in decibels (saturating for 16-bit samples)."""

from __future__ import annotations

import msgspec
import numpy as np

from graphflow.frames import AudioFrame
from graphflow.node import Node
from graphflow.ports import Input, Output


class GainOptions(msgspec.Struct, frozen=True):
    """``db``: gain in decibels (negative attenuates)."""

    db: float = 0.0


class Gain(Node):
    """Multiplies samples by ``10 ** (db / 20)``; keeps the frame's format and timestamps."""

    Options = GainOptions
    options: GainOptions
    inp = Input(AudioFrame)
    out = Output(AudioFrame, follows="inp")

    def __init__(self, options: GainOptions | None = None, *, name: str | None = None) -> None:
        super().__init__(options, name=name)
        self.factor = float(10 ** (self.options.db / 20))

    def on_frame(self, frame: AudioFrame) -> None:
        """Scale ``frame``."""
        samples = frame.samples
        if samples.dtype == np.int16:
            scaled = np.clip(samples * self.factor, -32768, 32767).astype(np.int16)
        else:
            scaled = (samples * self.factor).astype(samples.dtype)
        self.out.push(msgspec.structs.replace(frame, samples=scaled))
