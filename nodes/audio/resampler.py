"""Streaming resampler: converts rate (soxr), channel count and sample format; pts stay exact.

The soxr stream keeps its filter state across frames, so there are no clicks at frame
boundaries; output timestamps are computed from the number of samples produced since
the first frame, never from rounded durations.
"""

from __future__ import annotations

import msgspec
import numpy as np

from graphflow.errors import FrameError
from graphflow.frames import UNSET_GENERATION, AudioFormat, AudioFrame, SampleFormat
from graphflow.node import Node
from graphflow.ports import Input, Output
from graphflow.timebase import MS, samples_to_ns

FILTER_DELAY_MS = {"QQ": 0, "LQ": 12, "MQ": 23, "HQ": 23, "VHQ": 47}
"""Audio a soxr stream holds back, by quality (ms, mean): measured converting 22.05-48 kHz
to 16 kHz in 10 and 20 ms frames (soxr 1.1); 8 kHz input holds about 64 ms."""


class ResamplerOptions(msgspec.Struct, frozen=True):
    """Target format and soxr quality (``QQ``, ``LQ``, ``MQ``, ``HQ``, ``VHQ``)."""

    rate: int = 16000
    channels: int = 1
    sample_format: SampleFormat = SampleFormat.S16
    quality: str = "HQ"


class Resampler(Node):
    """Any audio in; audio in the configured format out."""

    Options = ResamplerOptions
    options: ResamplerOptions
    inp = Input(AudioFrame)
    out = Output(AudioFrame)

    def __init__(self, options: ResamplerOptions | None = None, *, name: str | None = None) -> None:
        super().__init__(options, name=name)
        o = self.options
        if o.rate <= 0 or o.channels not in (1, 2):
            raise FrameError(f"resampler target {o.rate} Hz / {o.channels} ch is not supported")
        self.out.format = AudioFormat(o.rate, o.channels, o.sample_format)
        self._stream: object | None = None
        self._in_format: tuple[int, int] | None = None
        self._origin = 0
        self._produced = 0
        self._generation = UNSET_GENERATION

    def latency(self) -> int:
        """soxr's filter delay at the configured quality (:data:`FILTER_DELAY_MS`), when the rate changes."""
        return FILTER_DELAY_MS.get(self.options.quality, max(FILTER_DELAY_MS.values())) * MS

    def on_frame(self, frame: AudioFrame) -> None:
        """Convert ``frame`` and push whatever output samples are ready."""
        o = self.options
        samples = frame.samples
        if samples.dtype == np.float32 and not np.isfinite(samples).all():
            raise FrameError(f"audio frame at pts {frame.pts} holds NaN or infinite samples")
        if self._in_format != (frame.rate, frame.channels):
            self._restart(frame)
        mono_or_stereo = _channels(samples, o.channels)
        if frame.rate == o.rate:
            converted = mono_or_stereo
        else:
            converted = self._resample(_as_float(mono_or_stereo), last=False)
        self._emit(converted, frame)

    def on_end(self) -> None:
        """Flush the filter's tail."""
        if self._stream is not None and self._in_format and self._in_format[0] != self.options.rate:
            tail = self._resample(np.zeros((0, self.options.channels), np.float32), last=True)
            if len(tail):
                self._emit(tail, None)

    def _restart(self, frame: AudioFrame) -> None:
        import soxr

        o = self.options
        if self._in_format is not None:
            self.on_end()  # flush what the old stream still holds
        self._in_format = (frame.rate, frame.channels)
        self._stream = (
            soxr.ResampleStream(frame.rate, o.rate, o.channels, dtype="float32", quality=o.quality)
            if frame.rate != o.rate
            else None
        )
        self._origin = frame.pts
        self._produced = 0

    def _resample(self, samples: np.ndarray, last: bool) -> np.ndarray:
        stream = self._stream
        assert stream is not None
        out: np.ndarray = np.asarray(stream.resample_chunk(samples, last=last))  # type: ignore[attr-defined]
        return out.reshape(-1, self.options.channels)

    def _emit(self, samples: np.ndarray, source: AudioFrame | None) -> None:
        if len(samples) == 0:
            return
        o = self.options
        out = _to_format(samples, o.sample_format)
        start = self._produced
        self._produced += len(out)
        pts = self._origin + samples_to_ns(start, o.rate)
        end = self._origin + samples_to_ns(self._produced, o.rate)
        created = 0  # the filter's tail: made now
        if source is not None:  # converted audio keeps its input's times and generation
            created, self._generation = source.created, source.generation
        self.out.push(
            AudioFrame(
                samples=out,
                rate=o.rate,
                pts=pts,
                duration=end - pts,
                created=created,
                generation=self._generation,
            )
        )


def _channels(samples: np.ndarray, channels: int) -> np.ndarray:
    have = samples.shape[1]
    if have == channels:
        return samples
    if channels == 1:
        mixed: np.ndarray = samples.astype(np.float32).mean(axis=1, keepdims=True)
        return mixed.astype(samples.dtype) if samples.dtype == np.int16 else mixed
    return np.repeat(samples[:, :1], channels, axis=1)


def _as_float(samples: np.ndarray) -> np.ndarray:
    if samples.dtype == np.float32:
        return samples
    return samples.astype(np.float32) / 32768.0


def _to_format(samples: np.ndarray, fmt: SampleFormat) -> np.ndarray:
    if fmt is SampleFormat.F32:
        return samples if samples.dtype == np.float32 else samples.astype(np.float32) / 32768.0
    if samples.dtype == np.int16:
        return samples
    return np.clip(np.rint(samples * 32768.0), -32768, 32767).astype(np.int16)
