"""Audio of no reply for the room sink: a background layer's frames, cut into the sink's chunks.

Frames with ``reply_id == ""`` (the ambience and the thinking sound of
:class:`~nodes.audio.background.BackgroundMixer`) are played on the agent's track like
its speech, but they start, finish and report no reply and publish no transcription.
:class:`UnreportedAudio` converts them to the sink's rate with a resampler of their own
(kept from frame to frame, so the loop has no seam, and apart from a reply's, so a
thinking sound between two sentences leaves the reply's stream untouched). A pause or a
cancellation drops what was left of it: unlike a reply's rest, it is not played later.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from graphflow.frames import SpeechAudio


class UnreportedAudio:
    """Audio of no reply at ``rate`` in chunks of ``step`` samples; counts what was pushed."""

    def __init__(self, rate: int, step: int) -> None:
        self.rate, self.step = rate, step
        self.pushed = 0
        """Samples (at ``rate``) of audio of no reply handed to the room."""
        self._resampler: Any = None  # a soxr.ResampleStream from _resampler_rate
        self._resampler_rate = 0

    def chunks(self, frame: SpeechAudio) -> Iterator[tuple[int, int, np.ndarray]]:
        """``frame`` as ``(first, upto, out)``: ``out`` (at ``rate``) plays its samples ``first..upto``."""
        out = self._convert(mono16(frame), frame.rate)
        n, m = frame.samples_per_channel, len(out)
        for a in range(0, m, self.step):
            b = min(m, a + self.step)
            yield a * n // m, b * n // m, out[a:b]

    def reset(self) -> None:
        """Forget what the resampler holds (the sink fell silent)."""
        self._resampler = None

    def _convert(self, mono: np.ndarray, rate: int) -> np.ndarray:
        if rate == self.rate:
            return np.ascontiguousarray(mono)
        import soxr

        if self._resampler is None or self._resampler_rate != rate:
            self._resampler = soxr.ResampleStream(rate, self.rate, 1, dtype="int16")
            self._resampler_rate = rate
        return np.ascontiguousarray(self._resampler.resample_chunk(mono), dtype=np.int16)


def mono16(frame: SpeechAudio) -> np.ndarray:
    """``frame``'s samples as int16 mono."""
    samples = frame.samples
    mono = samples[:, 0] if samples.shape[1] == 1 else samples.mean(axis=1)
    if mono.dtype != np.int16:
        scale = 32767.0 if samples.dtype == np.float32 else 1.0
        mono = np.clip(mono * scale, -32768, 32767).astype(np.int16)
    return mono
