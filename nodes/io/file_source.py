"""Audio file source: decodes any file ``av`` (FFmpeg) can read and emits fixed-length frames.

Frames keep the file's own rate, channel count and 16-bit samples (a resampler downstream
converts them); their ``pts`` come from sample counts. Paced, a frame is sent when its
last sample would have been captured by a microphone (``base_time + pts + duration``);
unpaced, as fast as the graph takes them. ``base_time`` — the clock time of media time
zero — is published on the node for sinks that place audio on the same timeline.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import numpy as np

from graphflow.conversation.playout import Timeline
from graphflow.errors import ConfigError, FrameError
from graphflow.frames import AudioFrame
from graphflow.node import Node
from graphflow.ports import Output
from graphflow.timebase import MS, samples_to_ns


class FileSourceOptions(msgspec.Struct, frozen=True):
    """Which file, how long each frame is (10 or 20 ms), whether to pace in real time."""

    path: str
    frame_ms: int = 20
    paced: bool = True
    lead_silence_ms: int = 0
    tail_silence_ms: int = 0


class AudioFileError(FrameError):
    """The file cannot be decoded as audio (missing, corrupt, empty, unsupported)."""

    code = "audio.bad_file"


def decode_file(path: Path) -> tuple[np.ndarray, int]:
    """Decode ``path`` to int16 samples shaped ``(n, channels)`` and its sample rate."""
    import av

    if not path.is_file():
        raise AudioFileError(f"no such audio file: {path}", hint="check the path")
    if path.stat().st_size == 0:
        raise AudioFileError(f"{path} is empty (0 bytes)", hint="record or export the audio again")
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioFileError(f"{path} has no audio stream", hint="give a file with an audio track")
            stream = container.streams.audio[0]
            rate = stream.rate
            channels = stream.channels
            if not rate or not channels:
                raise AudioFileError(f"{path}: audio stream has no sample rate or channel count")
            resampler = av.AudioResampler(format="s16", layout=stream.layout.name, rate=rate)
            chunks = []
            for frame in container.decode(stream):
                for converted in resampler.resample(frame):
                    chunks.append(converted.to_ndarray().reshape(-1, channels))
            for converted in resampler.resample(None):
                chunks.append(converted.to_ndarray().reshape(-1, channels))
    except AudioFileError:
        raise
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise AudioFileError(
            f"cannot decode {path}: {exc}",
            hint="the file is corrupt or not an audio format FFmpeg knows",
        ) from exc
    if not chunks or sum(len(c) for c in chunks) == 0:
        raise AudioFileError(f"{path} decodes to no audio samples", hint="the file holds an empty stream")
    return np.ascontiguousarray(np.concatenate(chunks)), int(rate)


class FileSource(Node):
    """Emits a decoded audio file as frames of ``frame_ms``, paced in real time or not."""

    Options = FileSourceOptions
    options: FileSourceOptions
    out = Output(AudioFrame)

    def __init__(
        self, options: FileSourceOptions, *, name: str | None = None, timeline: Timeline | None = None
    ) -> None:
        super().__init__(options, name=name)
        self.timeline = timeline
        if options.frame_ms <= 0 or options.frame_ms > 1000:
            raise ConfigError(f"frame_ms must be 1..1000, got {options.frame_ms}")
        self.samples = np.zeros((0, 1), np.int16)
        self.rate = 0
        self.base_time: int | None = None

    async def setup(self) -> None:
        """Decode the whole file (in a thread) so bad input fails before the run starts."""
        samples, rate = await asyncio.to_thread(decode_file, Path(self.options.path))
        lead = np.zeros((rate * self.options.lead_silence_ms // 1000, samples.shape[1]), np.int16)
        tail = np.zeros((rate * self.options.tail_silence_ms // 1000, samples.shape[1]), np.int16)
        self.samples = np.concatenate([lead, samples, tail]) if len(lead) or len(tail) else samples
        self.rate = rate

    def latency(self) -> int:
        """One frame: a frame leaves when its last sample is captured, ``frame_ms`` after its first."""
        return self.options.frame_ms * MS

    @property
    def seconds(self) -> float:
        """Length of the (padded) audio in seconds."""
        return len(self.samples) / self.rate if self.rate else 0.0

    async def run(self) -> None:
        """Send the frames in order, each at its capture time when paced."""
        rate, samples = self.rate, self.samples
        step = rate * self.options.frame_ms // 1000
        if step == 0 or rate * self.options.frame_ms % 1000:
            raise ConfigError(f"{self.options.frame_ms} ms is not a whole number of samples at {rate} Hz")
        self.base_time = start = self.now()
        if self.timeline is not None:
            self.timeline.start(start)
        for first in range(0, len(samples), step):
            chunk = samples[first : first + step]
            pts = samples_to_ns(first, rate)
            duration = samples_to_ns(first + len(chunk), rate) - pts
            if self.options.paced:
                await self.clock.sleep_until(start + pts + duration)
            await self.out.send(AudioFrame(samples=chunk, rate=rate, pts=pts, duration=duration))
