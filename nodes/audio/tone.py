"""A sine-tone audio source: synthetic audio at a fixed format, paced in real time or not."""

from __future__ import annotations

import msgspec
import numpy as np

from graphflow.frames import AudioFormat, AudioFrame, SampleFormat
from graphflow.node import Node
from graphflow.ports import Output
from graphflow.timebase import MS, ns_to_samples, samples_to_ns


class ToneOptions(msgspec.Struct, frozen=True):
    """Tone frequency and level, output format, frame size, length and pacing."""

    frequency: float = 440.0
    amplitude: float = 0.2
    rate: int = 16000
    frame_ms: int = 20
    seconds: float = 1.0
    paced: bool = True


class ToneSource(Node):
    """Emits ``seconds`` of a sine tone as 16-bit mono frames of ``frame_ms`` each."""

    Options = ToneOptions
    options: ToneOptions
    out = Output(AudioFrame)

    def __init__(self, options: ToneOptions | None = None, *, name: str | None = None) -> None:
        super().__init__(options, name=name)
        self.out.format = AudioFormat(self.options.rate, 1, SampleFormat.S16)

    async def run(self) -> None:
        """Generate and send frames, sleeping until each one's time when paced."""
        opts = self.options
        per_frame = ns_to_samples(opts.frame_ms * MS, opts.rate)
        total = int(opts.seconds * opts.rate)
        start = self.now()
        phase = 2 * np.pi * opts.frequency / opts.rate
        for first in range(0, total, per_frame):
            n = min(per_frame, total - first)
            t = np.arange(first, first + n)
            samples = (np.sin(phase * t) * opts.amplitude * 32767).astype(np.int16)
            pts = samples_to_ns(first, opts.rate)
            if opts.paced:
                await self.clock.sleep_until(start + pts)
            await self.out.send(AudioFrame.from_pcm(samples, opts.rate, pts=pts))
