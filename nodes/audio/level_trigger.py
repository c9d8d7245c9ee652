"""Level trigger: passes audio on and fires its cancellation edges when the level crosses a threshold."""

from __future__ import annotations

import msgspec
import numpy as np

from graphflow.frames import AudioFrame
from graphflow.node import Node
from graphflow.ports import Input, Output


class LevelTriggerOptions(msgspec.Struct, frozen=True):
    """Fire when a frame's RMS level rises above ``threshold_dbfs`` after ``quiet_frames`` below it."""

    threshold_dbfs: float = -30.0
    quiet_frames: int = 5


class LevelTrigger(Node):
    """A crude energy barge-in: audio passes through; loud onsets fire ``cancel()``."""

    Options = LevelTriggerOptions
    options: LevelTriggerOptions
    inp = Input(AudioFrame)
    out = Output(AudioFrame, follows="inp")

    def __init__(self, options: LevelTriggerOptions | None = None, *, name: str | None = None) -> None:
        super().__init__(options, name=name)
        self.quiet = self.options.quiet_frames
        self.fired = 0

    def on_frame(self, frame: AudioFrame) -> None:
        """Forward ``frame``; fire on a loud frame that follows enough quiet ones."""
        samples = frame.samples.astype(np.float32)
        if frame.samples.dtype == np.int16:
            samples /= 32768.0
        rms = float(np.sqrt(np.mean(samples * samples))) if samples.size else 0.0
        level = 20 * np.log10(rms) if rms > 0 else -120.0
        if level > self.options.threshold_dbfs:
            if self.quiet >= self.options.quiet_frames:
                self.fired += 1
                self.cancel(f"level {level:.1f} dBFS")
            self.quiet = 0
        else:
            self.quiet += 1
        self.out.push(frame)
