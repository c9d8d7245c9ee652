"""Silero VAD: forwards 16 kHz mono audio and inserts SpeechStarted / SpeechStopped in-band.

Audio is cut into 32 ms windows (512 samples) whatever the frame size; each window's
speech probability comes from the process's shared :class:`SileroExecutor`, which
batches the windows of every session into one ONNX call. Decisions use hysteresis:

* speech **starts** once ``min_speech_ms`` of consecutive windows have ``p >= neg_threshold``
  and one of them ``p >= threshold`` (a quiet "yes" peaks once and hovers near 0.5);
  ``SpeechStarted.pts`` is the start of the first of those windows;
* while speaking, a window with ``p >= neg_threshold`` counts as speech; speech **stops**
  once ``min_silence_ms`` of windows have ``p < neg_threshold``; ``SpeechStopped.pts`` is
  the end of the last window counted as speech and ``started`` the matching start;
* on the way there, after ``pause_ms`` of quiet windows, a ``SpeechPaused`` (same ``pts``)
  tells the stages that the speech may be over, so they can start their end-of-speech
  work early; a speech window before the stop sends ``SpeechResumed``.

Each event follows, on the same port, the audio frame whose window decided it.
"""

from __future__ import annotations

import math

import msgspec
import numpy as np

from graphflow.errors import ConfigError, FrameError
from graphflow.frames import UNSET_GENERATION, AudioFormat, AudioFrame, Frame, SampleFormat, VADEvent
from graphflow.frames.speech import SpeechPaused, SpeechResumed, SpeechStarted, SpeechStopped
from graphflow.models import ModelHub
from graphflow.node import Node
from graphflow.ports import Input, Output
from graphflow.timebase import MS, samples_to_ns

from .silero_executor import RATE, WINDOW, SileroExecutor, SileroStream

FORMAT = AudioFormat(RATE, 1, SampleFormat.S16)
"""The audio the node takes: 16 kHz, mono, 16-bit."""
_SCALE = np.float32(1 / 32768)


class SileroOptions(msgspec.Struct, frozen=True):
    """Decision thresholds and durations (defaults measured on the recorded fixtures).

    ``threshold``: probability at which a window counts as the start of speech.
    ``neg_threshold``: while speaking, windows at or above it still count as speech
    (hysteresis). ``min_speech_ms``: consecutive windows at or above ``threshold`` needed
    to report speech (rounded up to whole 32 ms windows). ``min_silence_ms``: windows
    below ``neg_threshold`` needed to report the end of speech (rounded up likewise).
    """

    threshold: float = 0.5
    neg_threshold: float = 0.35
    min_speech_ms: int = 160
    """160 ms (5 windows): a lone "yes" scores 0.5-0.75 over about that long (measured on
    cmd_yes.wav; 250 ms missed it). Noise that passes is left to the STT's no-speech check."""
    min_silence_ms: int = 300
    pause_ms: int = 64
    """Quiet before ``SpeechPaused`` (whole windows; 0 sends none). Gaps between words are
    mostly shorter; a pause this long is worth a speculative end-of-speech."""


def _windows(ms: int) -> int:
    """Whole 32 ms windows covering ``ms`` (at least one)."""
    return max(1, math.ceil(ms * MS / samples_to_ns(WINDOW, RATE)))


class SileroVAD(Node):
    """Voice activity from Silero VAD v5 (ONNX): audio passes through, VAD events in-band."""

    Options = SileroOptions
    options: SileroOptions
    inp = Input(AudioFrame, format=FORMAT, doc="16 kHz mono s16 audio, any frame size")
    # format= rather than follows="inp": the input format is fixed anyway, and negotiation
    # narrows a following union output to the received type (it would drop VADEvent).
    out: Output[Frame] = Output(
        AudioFrame | VADEvent, format=FORMAT, doc="every input frame, then the events it decided"
    )

    def __init__(
        self,
        options: SileroOptions | None = None,
        *,
        name: str | None = None,
        hub: ModelHub | None = None,
    ) -> None:
        super().__init__(options, name=name)
        o = self.options
        if not 0.0 < o.neg_threshold <= o.threshold <= 1.0:
            raise ConfigError(
                f"SileroVAD needs 0 < neg_threshold <= threshold <= 1, got "
                f"neg_threshold={o.neg_threshold}, threshold={o.threshold}",
                hint="the defaults are threshold=0.5, neg_threshold=0.35",
            )
        if o.min_speech_ms < 0 or o.min_silence_ms < 0 or o.pause_ms < 0:
            raise ConfigError(
                f"SileroVAD durations must be >= 0 ms, got min_speech_ms={o.min_speech_ms}, "
                f"min_silence_ms={o.min_silence_ms}, pause_ms={o.pause_ms}"
            )
        self.hub = hub or ModelHub()
        self.executor: SileroExecutor | None = None
        self.stream = SileroStream()
        self._start_windows = _windows(o.min_speech_ms)
        self._stop_windows = _windows(o.min_silence_ms)
        self._pause_windows = _windows(o.pause_ms) if o.pause_ms > 0 else 0
        self._paused = False
        self._window = np.empty(WINDOW, np.float32)
        self._fill = 0
        self._base: int | None = None  # pts of sample 0 of the timeline
        self._received = 0  # samples received since sample 0
        self._windows = 0  # windows computed since sample 0
        self._speaking = False
        self._run = 0  # consecutive windows >= threshold (not speaking) / < neg (speaking)
        self._run_start = 0  # pts of the first window of the run above neg_threshold
        self._run_peak = 0.0  # highest probability of that run
        self._started = 0  # pts of the current speech start
        self._speech_end = 0  # pts of the end of the last window counted as speech
        self._last_p = 0.0

    def latency(self) -> int:
        """A 32 ms window, then ``min_silence_ms`` (in whole windows) before ``SpeechStopped``."""
        return samples_to_ns(WINDOW, RATE) * (1 + self._stop_windows)

    async def setup(self) -> None:
        """Get the shared executor (raises ModelMissing if the model is not downloaded)."""
        self.executor = SileroExecutor.shared(self.hub)

    async def on_frame(self, frame: AudioFrame) -> None:
        """Forward ``frame``, then the SpeechStarted/SpeechStopped its windows decided."""
        x = self._pcm(frame)
        if self._base is None:
            self._base = frame.pts
        elif frame.pts != self._base + samples_to_ns(self._received, RATE):
            # a gap or overlap upstream (dropped frames): keep the media timeline exact
            self._base = frame.pts - samples_to_ns(self._received, RATE)
        self._received += x.shape[0]
        events: list[VADEvent] = []
        pos, n = 0, x.shape[0]
        while pos < n:
            take = min(WINDOW - self._fill, n - pos)
            self._window[self._fill : self._fill + take] = x[pos : pos + take]
            self._fill += take
            pos += take
            if self._fill == WINDOW:
                window, self._window, self._fill = self._window, np.empty(WINDOW, np.float32), 0
                assert self.executor is not None and self._base is not None
                start = self._base + samples_to_ns(self._windows * WINDOW, RATE)
                self._windows += 1  # before the await: a cancelled call keeps the timeline
                end = self._base + samples_to_ns(self._windows * WINDOW, RATE)
                p = await self.executor.probability(self.stream, window)
                event = self._decide(p, start, end, frame.generation)
                if event is not None:
                    events.append(event)
        await self.out.send(frame)
        for event in events:
            await self.out.send(event)

    async def on_end(self) -> None:
        """Input ended while speaking: close the speech with a SpeechStopped."""
        if self._speaking:
            self._speaking = self._paused = False
            await self.out.send(self._stopped())

    # ------------------------------------------------------------------ internals
    def _pcm(self, frame: AudioFrame) -> np.ndarray:
        samples = frame.samples
        if samples.dtype.kind == "f" and not np.isfinite(samples).all():
            raise FrameError(
                f"SileroVAD {self.name!r} got a frame with NaN/inf samples at pts {frame.pts}",
                hint="fix the audio source or the node before it; samples must be finite",
            )
        if samples.dtype != np.int16 or frame.rate != RATE or samples.ndim != 2 or samples.shape[1] != 1:
            raise FrameError(
                f"SileroVAD {self.name!r} takes {FORMAT} audio, got a frame of "
                f"{frame.rate}Hz, shape {samples.shape}, {samples.dtype}",
                hint="resample / convert to 16 kHz mono int16 before the VAD",
            )
        return samples[:, 0].astype(np.float32) * _SCALE

    def _decide(self, p: float, start: int, end: int, generation: int) -> VADEvent | None:
        """Advance the hysteresis with the window [start, end) of probability ``p``."""
        self._last_p = p
        o = self.options
        if not self._speaking:
            if p < o.neg_threshold:
                self._run, self._run_peak = 0, 0.0
                return None
            if self._run == 0:
                self._run_start = start
            self._run += 1
            self._run_peak = max(self._run_peak, p)
            if self._run < self._start_windows or self._run_peak < o.threshold:
                return None
            self._speaking, self._run, self._run_peak = True, 0, 0.0
            self._started, self._speech_end = self._run_start, end
            return SpeechStarted(pts=self._started, probability=p, generation=generation)
        if p >= o.neg_threshold:
            self._run = 0
            self._speech_end = end
            if self._paused:
                self._paused = False
                return SpeechResumed(pts=start, probability=p, generation=generation)
            return None
        self._run += 1
        if self._run < self._stop_windows:
            if self._run == self._pause_windows:
                self._paused = True
                return SpeechPaused(
                    pts=self._speech_end, started=self._started, probability=p, generation=generation
                )
            return None
        self._speaking, self._run, self._paused = False, 0, False
        return self._stopped(generation)

    def _stopped(self, generation: int = UNSET_GENERATION) -> SpeechStopped:
        """The end of the speech, in the generation of the audio that ended it (unset: the port's)."""
        return SpeechStopped(
            pts=self._speech_end, started=self._started, probability=self._last_p, generation=generation
        )
