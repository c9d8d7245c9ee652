"""Audio frames and the audio format a port declares (rate, channels, sample type)."""

from __future__ import annotations

import enum

import msgspec
import numpy as np

from graphflow.errors import FrameError
from graphflow.frames.base import UNSET_GENERATION, Frame
from graphflow.timebase import samples_to_ns


class SampleFormat(enum.Enum):
    """Sample type of PCM audio."""

    S16 = "s16"
    F32 = "f32"

    @property
    def dtype(self) -> np.dtype[np.generic]:
        """The numpy dtype holding samples of this format."""
        return np.dtype(np.int16) if self is SampleFormat.S16 else np.dtype(np.float32)

    @classmethod
    def of(cls, dtype: np.dtype[np.generic]) -> SampleFormat:
        """The sample format stored in an array of ``dtype``."""
        if dtype == np.int16:
            return cls.S16
        if dtype == np.float32:
            return cls.F32
        raise FrameError(
            f"unsupported sample dtype {dtype}",
            hint="audio frames hold int16 (s16) or float32 (f32) samples",
        )


class AudioFormat(msgspec.Struct, frozen=True):
    """What an audio port carries; ``None`` in a field means "any" (decided upstream)."""

    rate: int | None = None
    channels: int | None = None
    sample_format: SampleFormat | None = None

    def mismatches(self, required: AudioFormat) -> list[str]:
        """The fields of ``required`` that this (produced) format does not guarantee."""
        problems = []
        for field in ("rate", "channels", "sample_format"):
            want = getattr(required, field)
            have = getattr(self, field)
            if want is not None and have != want:
                problems.append(f"{field} {_show(have)} != {_show(want)}")
        return problems

    def merged(self, other: AudioFormat) -> AudioFormat:
        """This format with its unknown fields taken from ``other``."""
        return AudioFormat(
            rate=self.rate if self.rate is not None else other.rate,
            channels=self.channels if self.channels is not None else other.channels,
            sample_format=self.sample_format if self.sample_format is not None else other.sample_format,
        )

    def __str__(self) -> str:
        return f"{_show(self.rate)}Hz/{_show(self.channels)}ch/{_show(self.sample_format)}"


def _show(value: object) -> str:
    if value is None:
        return "any"
    if isinstance(value, SampleFormat):
        return value.value
    return str(value)


ANY_AUDIO = AudioFormat()
"""An audio format that accepts (or promises) nothing in particular."""


class AudioFrame(Frame, frozen=True, kw_only=True, gc=False):
    """PCM audio: ``samples`` is a numpy array shaped ``(samples_per_channel, channels)``."""

    samples: np.ndarray
    rate: int

    @classmethod
    def from_pcm(
        cls,
        samples: np.ndarray,
        rate: int,
        *,
        pts: int = 0,
        created: int = 0,
        generation: int = UNSET_GENERATION,
    ) -> AudioFrame:
        """Build a frame from a 1-D (mono) or 2-D ``(n, channels)`` array, without copying.

        ``created`` and ``generation`` left unset are stamped by the port that sends it.
        """
        if samples.ndim == 1:
            samples = samples.reshape(-1, 1)
        elif samples.ndim != 2:
            raise FrameError(f"audio samples must be 1-D or 2-D, got shape {samples.shape}")
        SampleFormat.of(samples.dtype)
        return cls(
            samples=samples,
            rate=rate,
            pts=pts,
            duration=samples_to_ns(samples.shape[0], rate),
            created=created,
            generation=generation,
        )

    @property
    def channels(self) -> int:
        """Number of interleaved channels."""
        return int(self.samples.shape[1])

    @property
    def samples_per_channel(self) -> int:
        """Number of samples in each channel."""
        return int(self.samples.shape[0])

    @property
    def sample_format(self) -> SampleFormat:
        """Sample type of ``samples``."""
        return SampleFormat.of(self.samples.dtype)

    @property
    def format(self) -> AudioFormat:
        """This frame's rate, channels and sample format."""
        return AudioFormat(self.rate, self.channels, self.sample_format)

    def __repr__(self) -> str:
        return (
            f"AudioFrame(pts={self.pts}, duration={self.duration}, generation={self.generation}, "
            f"{self.samples_per_channel}x{self.channels} {self.samples.dtype} @ {self.rate} Hz)"
        )
