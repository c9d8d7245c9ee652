"""SegmentedSTT: speech-to-text on VAD-delimited speech, with interim and final transcripts.

The input is one ordered stream of 16 kHz mono audio interleaved with the VAD's
:class:`SpeechStarted` / :class:`SpeechStopped` events. The node keeps a short history of
audio (so speech can start ~300 ms before the VAD's decision point), copies each stretch
of speech into a preallocated buffer, and asks a provider (:meth:`SegmentedSTT.recognize`)
for text in a background worker, so recognition never holds up the audio stream:

* while the user speaks, an interim transcript every ``interim_interval_ms`` of new
  speech (skipped while one is still queued or running);
* on ``SpeechStopped``, the final transcript of the whole segment
  (``start - preroll`` .. ``end + end_pad``);
* on ``SpeechPaused`` (the VAD heard a short quiet, before it calls it a stop), the same
  final is recognized *speculatively*: when it is ready and speech has not resumed, it is
  emitted as the segment's final at once, so the final no longer waits for the VAD's
  stop and then a whole recognition. Speech that resumes before it is ready withdraws
  it (the segment goes on); speech that resumes after it was emitted opens a new segment.

Transcripts of one segment share a ``segment_id``; the worker handles one job at a time
in order, so segments come out in order and a segment's final follows all its interims.
A final with empty text is emitted when the provider hears no words (unless
``emit_empty_finals`` is off) so downstream knows the segment is closed.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import ClassVar

import msgspec
import numpy as np

from graphflow.errors import ConfigError, FrameError, ProviderError
from graphflow.frames import (
    AudioFormat,
    AudioFrame,
    SampleFormat,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    SpeechStopped,
    Transcript,
    VADEvent,
)
from graphflow.models import ModelHub
from graphflow.node import Node
from graphflow.ports import Input, Output
from graphflow.runtime.stats import LatencyStats
from graphflow.timebase import MS, ns_to_samples, samples_to_ns

RATE = 16_000
"""Sample rate every provider receives (Hz)."""
LOOKBACK_MS = 2_000
"""How late a ``SpeechStarted`` may arrive after its ``pts`` and still get its pre-roll."""


MIN_SAMPLES = RATE // 10
"""Segments shorter than 100 ms hold no words: they are not sent to the provider."""


class SegmentedSTTOptions(msgspec.Struct, frozen=True):
    """Segmentation settings shared by every STT provider."""

    interim_interval_ms: int = 1_000
    """An interim transcript per this much new speech; 0 turns interims off."""
    preroll_ms: int = 300
    """Audio kept before ``SpeechStarted.pts`` (the VAD detects onsets late)."""
    end_pad_ms: int = 100
    """Audio kept after ``SpeechStopped.pts`` when available."""
    max_segment_ms: int = 30_000
    """Longer speech is cut here: a final is emitted and a new segment continues."""
    max_backlog: int = 8
    """Finals waiting for recognition before the node fails (recognition cannot keep up)."""
    emit_empty_finals: bool = True
    """Emit a final with ``text=''`` when a segment has no words."""
    speculative_finals: bool = True
    """Recognize the final at the VAD's pause, before its stop (see the module docs)."""
    expected_recognition_ms: int = 500
    """Estimated time to recognize a segment, for the latency budget only (default: Whisper base
    int8 on 2 cores, 374 ms mean measured); set it for your provider and machine."""


class Recognition(msgspec.Struct, frozen=True):
    """What a provider heard in one piece of audio."""

    text: str
    language: str = ""
    confidence: float = 0.0
    """Provider's confidence in [0, 1]; 0.0 when it does not report one."""


class _Segment:
    """One stretch of speech: its id, media times and the generation that started it."""

    __slots__ = ("id", "start", "generation", "stopped", "guess")

    def __init__(self, id: str, start: int, generation: int) -> None:
        self.id = id
        self.start = start
        self.generation = generation
        self.stopped = False
        self.guess: _Job | None = None  # the speculative final of a pause, while it may stand


class _Job(msgspec.Struct):
    """Work for the recognizer: an interim of the live segment, or a segment's final."""

    segment: _Segment
    final: bool
    pcm: np.ndarray | None = None
    end: int = 0
    generation: int = 0
    speculative: bool = False
    """A final recognized at a pause, before the VAD called the stop."""
    withdrawn: bool = False
    """Speech resumed before the speculative final was ready: it is not emitted."""
    until: int = 0
    """Media time just after the last sample of a speculative final's audio."""


class SegmentedSTT(Node):
    """Base of STT nodes: buffers speech between VAD events; subclasses implement ``recognize``."""

    Options: ClassVar[type[msgspec.Struct]] = SegmentedSTTOptions
    options: SegmentedSTTOptions
    inp = Input(AudioFrame | VADEvent, format=AudioFormat(RATE, 1, SampleFormat.S16))
    out = Output(Transcript)

    def __init__(
        self,
        options: SegmentedSTTOptions | None = None,
        *,
        name: str | None = None,
        hub: ModelHub | None = None,
    ) -> None:
        super().__init__(options, name=name)
        o = self.options
        durations = (o.interim_interval_ms, o.preroll_ms, o.end_pad_ms, o.expected_recognition_ms)
        if min(durations) < 0 or o.max_segment_ms < 1_000:
            raise ConfigError(
                f"bad {type(o).__name__}: {o}",
                hint="durations are >= 0 ms and max_segment_ms >= 1000",
            )
        if o.max_backlog < 1:
            raise ConfigError("max_backlog must be >= 1")
        self.hub = hub or ModelHub()
        self.recognition_time = LatencyStats(keep=10_000)
        """Wall time of each provider call (interim and final), in ns."""
        self._preroll = ns_to_samples(o.preroll_ms * MS, RATE)
        self._interval = ns_to_samples(o.interim_interval_ms * MS, RATE)
        self._ring = np.zeros(self._preroll + ns_to_samples(LOOKBACK_MS * MS, RATE), np.int16)
        self._written = 0  # samples ever written into the ring
        self._buf = np.zeros(self._preroll + ns_to_samples(o.max_segment_ms * MS, RATE), np.int16)
        self._len = 0  # samples of the live segment in _buf
        self._buf_pts = 0  # media time of _buf[0]
        self._end_pts = 0  # media time just after the last audio received
        self._seg: _Segment | None = None
        self._count = 0
        self._last_interim = 0
        self._interim_queued = False
        self._jobs: deque[_Job] = deque()
        self._finals = 0
        self._wake: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._ending = False
        self._guessed_until = 0  # media time up to which a guess's final recognized the audio
        self.provider: SegmentedSTT | None = None
        """Another STT node that recognizes instead of this one (an agent's own model); this
        node still does the segmenting."""

    def latency(self) -> int:
        """The final comes one recognition after ``SpeechStopped``: ``expected_recognition_ms``.

        The ``end_pad_ms`` of audio after the speech end is already buffered by then (the VAD
        waited longer than that for silence), so it adds no wait.
        """
        return self.options.expected_recognition_ms * MS

    # ------------------------------------------------------------ provider API
    async def recognize(self, pcm: np.ndarray) -> Recognition:
        """Text of ``pcm`` (float32 mono 16 kHz in [-1, 1]); providers override this."""
        raise NotImplementedError

    # ------------------------------------------------------------------ input
    async def on_frame(self, frame: AudioFrame | VADEvent) -> None:
        """Buffer audio, open/close segments on VAD events (cheap; never awaits the model).

        Async only so that ``on_end`` may wait for the last transcripts before end of
        stream goes downstream (a synchronous node's ``on_end`` cannot await).
        """
        if self._worker is None:
            self._wake = asyncio.Event()
            self._worker = self.spawn(self._work(), "recognize")
        if isinstance(frame, AudioFrame):
            self._audio(frame)
        elif isinstance(frame, SpeechStarted):
            self._start(frame)
        elif isinstance(frame, SpeechStopped):
            self._stop(frame.pts, frame.generation)
        elif isinstance(frame, SpeechPaused):
            self._pause(frame)
        elif isinstance(frame, SpeechResumed):
            self._resume(frame)

    async def on_end(self) -> None:
        """Close a segment still open at end of stream, then wait for every transcript."""
        if self._seg is not None:
            self._stop(self._end_pts, self._seg.generation)
        self._ending = True
        if self._worker is not None and self._wake is not None:
            self._wake.set()
            await self._worker

    def _audio(self, frame: AudioFrame) -> None:
        samples = frame.samples
        if frame.rate != RATE or samples.shape[1] != 1:
            raise FrameError(
                f"{self.name} takes 16 kHz mono audio, got {frame.rate} Hz / {samples.shape[1]} ch",
                hint="resample and downmix before the STT node",
            )
        mono = samples[:, 0]
        if mono.dtype != np.int16:
            if not np.isfinite(mono).all():
                raise FrameError(
                    f"audio frame at pts {frame.pts} has NaN or infinite samples",
                    hint="check the source or the processing before the STT node",
                )
            mono = (np.clip(mono, -1.0, 1.0) * 32767).astype(np.int16)
        n = mono.shape[0]
        self._end_pts = frame.pts + frame.duration
        size = self._ring.shape[0]
        tail = mono
        if n > size:
            self._written += n - size
            tail = mono[-size:]
        at = self._written % size
        first = min(tail.shape[0], size - at)
        self._ring[at : at + first] = tail[:first]
        self._ring[: tail.shape[0] - first] = tail[first:]
        self._written += tail.shape[0]
        if self._seg is None:
            return
        room = self._buf.shape[0] - self._len
        if n > room:  # longest segment reached: close it, the speech goes on in a new one
            seg = self._seg
            self._stop(frame.pts, seg.generation)
            self._open(frame.pts, seg.generation, back=0)
            self._buf_pts = frame.pts
        self._buf[self._len : self._len + n] = mono
        self._len += n
        if self._interval and not self._interim_queued and self._len - self._last_interim >= self._interval:
            self._last_interim = self._len
            self._interim_queued = True
            self._submit(_Job(self._seg, final=False))

    def _start(self, event: SpeechStarted) -> None:
        if self._seg is not None:
            return  # already in speech: a repeated start changes nothing
        back = ns_to_samples(max(self._end_pts - event.pts, 0), RATE) + self._preroll
        self._open(event.pts, event.generation, back)

    def _open(self, start: int, generation: int, back: int) -> None:
        size = self._ring.shape[0]
        back = min(back, size, self._written)
        if back:
            idx = (self._written - back + np.arange(back)) % size
            self._buf[:back] = self._ring[idx]
        self._len = back
        self._last_interim = back
        self._buf_pts = self._end_pts - samples_to_ns(back, RATE)
        self._count += 1
        self._seg = _Segment(f"{self.qualname or self.name}:{self._count}", start, generation)

    def _pause(self, event: SpeechPaused) -> None:
        """Recognize the segment up to the pause now; it becomes the final unless speech resumes."""
        seg = self._seg
        if seg is None or seg.guess is not None or not self.options.speculative_finals:
            return
        cut = ns_to_samples(max(event.pts + self.options.end_pad_ms * MS - self._buf_pts, 0), RATE)
        pcm = self._buf[: min(cut, self._len)].copy()
        # interims still waiting would only delay it: the guess covers the same speech and more
        self._jobs = deque(j for j in self._jobs if j.final or j.speculative or j.segment is not seg)
        self._interim_queued = any(not j.final and not j.speculative for j in self._jobs)
        seg.guess = _Job(
            seg, final=False, pcm=pcm, end=max(event.pts, seg.start), generation=event.generation
        )
        seg.guess.speculative = True
        seg.guess.until = self._buf_pts + samples_to_ns(pcm.shape[0], RATE)
        self._submit(seg.guess)

    def _resume(self, event: SpeechResumed) -> None:
        """Speech came back: withdraw a guess not yet emitted, or open a new segment after one."""
        seg = self._seg
        if seg is not None:
            if seg.guess is not None:
                seg.guess.withdrawn = True
                seg.guess = None
            return
        # the guess was emitted as the final and closed the segment: the speech goes on in a new one,
        # from where the guess's audio ended (its pre-roll must not hear the same words twice)
        start = max(event.pts - self.options.preroll_ms * MS, self._guessed_until)
        self._open(event.pts, event.generation, ns_to_samples(max(self._end_pts - start, 0), RATE))

    def _stop(self, end: int, generation: int) -> None:
        seg = self._seg
        if seg is None:
            return  # a stop without a start (e.g. the stream began mid-speech), or a guess ended it
        if seg.guess is not None and seg.guess.end == max(end, seg.start):
            seg.stopped = True  # the guess of this very pause is the final
            self._seg = None
            self._len = 0
            return
        if seg.guess is not None:  # a stop elsewhere (end of stream, longest segment): recognize it all
            seg.guess.withdrawn = True
            seg.guess = None
        seg.stopped = True
        self._seg = None
        cut = ns_to_samples(max(end + self.options.end_pad_ms * MS - self._buf_pts, 0), RATE)
        pcm = self._buf[: min(cut, self._len)].copy()
        self._len = 0
        if self._finals >= self.options.max_backlog:
            raise ProviderError(
                f"{self.name}: {self._finals} segments are waiting for recognition",
                hint="the STT provider is slower than the speech; use a faster model or more CPU",
                retryable=True,
            )
        self._finals += 1
        self._submit(_Job(seg, final=True, pcm=pcm, end=max(end, seg.start), generation=generation))

    def _submit(self, job: _Job) -> None:
        self._jobs.append(job)
        if self._wake is not None:
            self._wake.set()

    # ----------------------------------------------------------------- worker
    async def _work(self) -> None:
        assert self._wake is not None
        while True:
            if not self._jobs:
                if self._ending:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            job = self._jobs.popleft()
            seg = job.segment
            if job.speculative:
                await self._guess(job)
                continue
            if job.final:
                assert job.pcm is not None
                rec = await self._recognize(job.pcm)
                self._finals -= 1
                if rec.text or self.options.emit_empty_finals:
                    await self._emit(rec, seg, job.end, job.generation, final=True)
                continue
            if seg.stopped:  # the segment ended while this interim waited: its final is queued
                self._interim_queued = False
                continue
            n = self._len
            end = self._buf_pts + samples_to_ns(n, RATE)
            try:
                rec = await self._recognize(self._buf[:n])
            except ProviderError as exc:  # interims are best effort: report, let the final decide
                self.report(exc)
                continue
            finally:
                self._interim_queued = False
            if rec.text and not seg.stopped:
                await self._emit(rec, seg, end, seg.generation, final=False)

    async def _guess(self, job: _Job) -> None:
        """Recognize a pause's speculative final; emit it as the final if speech did not resume."""
        if job.withdrawn:
            return
        assert job.pcm is not None
        try:
            rec = await self._recognize(job.pcm)
        except ProviderError as exc:
            if job.withdrawn or job.segment.guess is not job:
                self.report(exc)
                return
            raise
        seg = job.segment
        if job.withdrawn or seg.guess is not job:
            return
        if self._seg is seg:  # the VAD has not called the stop yet: the guess ends the segment
            seg.stopped = True
            self._seg = None
            self._len = 0
            self._guessed_until = job.until
        if rec.text or self.options.emit_empty_finals:
            await self._emit(rec, seg, job.end, job.generation, final=True)

    async def _recognize(self, pcm: np.ndarray) -> Recognition:
        if pcm.shape[0] < MIN_SAMPLES:
            return Recognition(text="")
        began = time.perf_counter_ns()
        try:
            return await (self.provider or self).recognize(pcm.astype(np.float32) / 32768.0)
        finally:
            self.recognition_time.add(time.perf_counter_ns() - began)

    async def _emit(self, rec: Recognition, seg: _Segment, end: int, generation: int, *, final: bool) -> None:
        await self.out.send(
            Transcript(
                text=rec.text,
                final=final,
                start=seg.start,
                end=end,
                segment_id=seg.id,
                language=rec.language,
                confidence=rec.confidence,
                pts=seg.start,
                duration=max(end - seg.start, 0),
                generation=generation,  # the segment's: the generation of the speech it heard
            )
        )
