"""Streaming sentence splitting and the shared base node of the text-to-speech providers.

The language model streams a reply a few characters at a time; :class:`SentenceTTS`
cuts that stream into speakable sentences as soon as each is complete
(:func:`split_sentences`), synthesizes one sentence at a time and sends it as 20 ms
:class:`~graphflow.frames.agent.SpeechAudio` frames before starting the next, so the
first audio leaves after the first sentence instead of after the whole reply.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import msgspec
import numpy as np

from graphflow.errors import ConfigError, FrameError, ProviderError
from graphflow.frames import AudioFormat, SampleFormat
from graphflow.frames.agent import ReplyDelta, ReplyEnd, SpeechAudio
from graphflow.models import ModelHub
from graphflow.node import Node
from graphflow.ports import Input, Output
from graphflow.runtime import CancelInfo
from graphflow.runtime.stats import LatencyStats
from graphflow.timebase import MS, samples_to_ns
from nodes.tts.options import SentenceTTSOptions
from nodes.tts.splitter import SentenceSplitter, speakable


class TTSStats:
    """Per-node synthesis figures for benchmarks (all in ns; RTF = synth time / audio time)."""

    __slots__ = ("first_audio", "synthesis", "audio_ns", "synth_ns")

    def __init__(self, keep: int = 1000) -> None:
        self.first_audio = LatencyStats(keep)
        """Clock time from a reply's first text to its first audio frame being sent."""
        self.synthesis = LatencyStats(keep)
        """Wall time of each sentence's synthesis call."""
        self.audio_ns = 0
        self.synth_ns = 0

    @property
    def real_time_factor(self) -> float:
        """Synthesis time divided by the duration of the audio it produced."""
        return self.synth_ns / self.audio_ns if self.audio_ns else 0.0


class _Reply:
    """What is known about the reply being spoken."""

    __slots__ = (
        "reply_id",
        "generation",
        "splitter",
        "seen",
        "started",
        "segment",
        "samples",
        "tail",
        "first",
    )

    def __init__(self, reply_id: str, generation: int, started: int, max_chars: int) -> None:
        self.reply_id = reply_id
        self.generation = generation
        self.splitter = SentenceSplitter(max_chars)
        self.seen = ""  # all delta text received
        self.started = started
        self.segment = 0
        self.samples = 0  # samples sent so far (the reply's own timeline)
        self.tail: SpeechAudio | None = None  # last frame, held until we know if it ends the reply
        self.first = True


FRAME_MS = 20
"""Length of each SpeechAudio frame."""


class SentenceTTS(Node):
    """Base of the TTS nodes: streamed reply text in, SpeechAudio sentence by sentence out.

    A :class:`~graphflow.errors.ProviderError` while synthesizing a sentence is reported
    to the run's observers (``NodeIssue``) and that sentence is skipped; the reply still
    ends with its ``last`` frame and the session goes on. Other errors fail the run.

    Subclasses set ``self.out.format`` (their native rate, mono, s16) in ``__init__``,
    load their model in ``setup`` and implement ``synthesize(text) -> int16 array``
    (called in a thread) or, for remote providers, ``async asynthesize(text)``. Options
    derived from :class:`~nodes.tts.options.SentenceTTSOptions` set the sentence length,
    the pause and the latency estimate.
    """

    Options: ClassVar[type[msgspec.Struct]] = SentenceTTSOptions
    inp = Input(ReplyDelta | ReplyEnd, doc="reply text as the language model streams it")
    out = Output(SpeechAudio, format=AudioFormat(None, 1, SampleFormat.S16), doc="20 ms frames")

    max_chars: int = 150
    """Longest run of text synthesized without a sentence end (subclasses take it from options)."""
    pause_ms: int = 0
    """Silence put in front of every sentence but a reply's first (for voices that have none)."""

    def __init__(
        self, options: msgspec.Struct | None = None, *, name: str | None = None, hub: ModelHub | None = None
    ) -> None:
        super().__init__(options, name=name)
        self.hub = hub or ModelHub()
        self.stats = TTSStats()
        self.failures = 0
        """Sentences not spoken because the provider failed (each reported to observers)."""
        self._reply: _Reply | None = None
        self.provider: SentenceTTS | None = None
        """Another TTS node that speaks instead of this one (an agent's own voice); its audio
        is resampled to this node's rate, so the output format never changes."""
        if isinstance(self.options, SentenceTTSOptions):
            self.configure(self.options.max_chars, self.options.pause_ms)

    def latency(self) -> int:
        """The first sentence's synthesis before any audio leaves: ``expected_first_audio_ms``."""
        if isinstance(self.options, SentenceTTSOptions):
            return self.options.expected_first_audio_ms * MS
        return 0

    def configure(self, max_chars: int, pause_ms: int) -> None:
        """Set the splitting length and the pause between sentences (ConfigError if out of range)."""
        if max_chars < 20 or not 0 <= pause_ms <= 2000:
            raise ConfigError(
                f"{type(self).__name__}: max_chars={max_chars}, pause_ms={pause_ms} out of range",
                hint="max_chars at least 20, pause_ms 0-2000",
            )
        self.max_chars = max_chars
        self.pause_ms = pause_ms

    @property
    def rate(self) -> int:
        """The output sample rate (set by the provider)."""
        rate = self.out.format.rate if self.out.format else None
        if rate is None:
            raise ConfigError(f"{type(self).__name__} did not set its output sample rate")
        return rate

    def synthesize(self, text: str) -> np.ndarray:
        """Speak ``text``: int16 mono samples at :attr:`rate` (blocking; runs in a thread)."""
        raise NotImplementedError

    async def asynthesize(self, text: str) -> np.ndarray:
        """Speak ``text`` without blocking the event loop (default: ``synthesize`` in a thread)."""
        return await asyncio.to_thread(self.synthesize, text)

    # ------------------------------------------------------------------ handlers
    async def on_frame(self, frame: ReplyDelta | ReplyEnd) -> None:
        """Speak the sentences ``frame`` completes; on ReplyEnd, the rest, ending the reply."""
        reply = self._reply_for(frame)
        try:
            await self._handle(reply, frame)
        except _Stale:
            self._reply = None

    async def _handle(self, reply: _Reply, frame: ReplyDelta | ReplyEnd) -> None:
        if isinstance(frame, ReplyDelta):
            reply.seen += frame.text
            if reply.tail is not None and frame.text.strip():
                await self._send(reply, reply.tail)  # more speech follows: not the last frame
                reply.tail = None
            for sentence in reply.splitter.push(frame.text):
                await self._speak(reply, sentence)
            if frame.mark:
                await self._mark(reply, frame.mark)
            return
        if frame.text.startswith(reply.seen):
            reply.splitter.buffer += frame.text[len(reply.seen) :]  # text no delta carried
        for sentence in reply.splitter.flush():
            await self._speak(reply, sentence)
        await self._finish(reply)

    async def on_end(self) -> None:
        """Input ended in the middle of a reply: speak what is left and end the reply."""
        reply = self._reply
        if reply is not None:
            try:
                await self._handle(reply, ReplyEnd(reply_id=reply.reply_id, text=reply.seen))
            except _Stale:
                self._reply = None

    def on_cancel(self, info: CancelInfo) -> object:
        """Forget the interrupted reply; report how far it had got."""
        reply, self._reply = self._reply, None
        if reply is None:
            return None
        return {"reply_id": reply.reply_id, "segments": reply.segment, "samples": reply.samples}

    # ------------------------------------------------------------------ internals
    def _reply_for(self, frame: ReplyDelta | ReplyEnd) -> _Reply:
        reply = self._reply
        if reply is None or reply.reply_id != frame.reply_id or reply.generation != frame.generation:
            # a new reply; one left unfinished (its generation was cancelled upstream) is dropped
            reply = _Reply(frame.reply_id, frame.generation, self.now(), self.max_chars)
            self._reply = reply
        return reply

    async def _speak(self, reply: _Reply, sentence: str) -> None:
        text = speakable(sentence)
        if not text:
            return
        began = time.perf_counter_ns()
        voice = self.provider
        try:
            pcm = await (voice or self).asynthesize(text)
        except ProviderError as exc:  # the session goes on: this sentence is not spoken
            self.failures += 1
            self.report(exc)
            return
        spent = time.perf_counter_ns() - began
        if voice is not None:
            pcm = at_rate(pcm, voice.rate, self.rate)
        pcm = _check_pcm(pcm, type(voice or self).__name__)
        self.stats.synthesis.add(spent)
        self.stats.synth_ns += spent
        self.stats.audio_ns += samples_to_ns(len(pcm), self.rate)
        if len(pcm) == 0:
            return
        if self.pause_ms > 0 and reply.segment > 0:
            pcm = np.concatenate([np.zeros(self.rate * self.pause_ms // 1000, np.int16), pcm])
        if reply.tail is not None:
            await self._send(reply, reply.tail)
            reply.tail = None
        held: SpeechAudio | None = None  # one frame behind: the last is kept as the tail
        for frame in self._frames(reply, sentence, pcm):  # made as sent: the first leaves at once
            if held is not None:
                await self._send(reply, held)
            held = frame
        reply.tail = held
        reply.segment += 1

    def _frames(self, reply: _Reply, sentence: str, pcm: np.ndarray) -> Iterator[SpeechAudio]:
        """``pcm`` as 20 ms frames of ``reply``, made one at a time (its sample count moves on at once)."""
        rate = self.rate
        step = rate * FRAME_MS // 1000
        total = len(pcm)
        column = pcm.reshape(-1, 1)
        base = reply.samples
        reply.samples += total
        segment, generation, reply_id = reply.segment, reply.generation, reply.reply_id
        for offset in range(0, total, step):
            chunk = column[offset : offset + step]
            start = base + offset
            pts = samples_to_ns(start, rate)
            yield SpeechAudio(
                samples=chunk,
                rate=rate,
                pts=pts,
                duration=samples_to_ns(start + len(chunk), rate) - pts,
                generation=generation,  # the reply's, carried over from its text
                reply_id=reply_id,
                text=sentence,
                segment=segment,
                offset=offset,
                total=total,
            )

    async def _send(self, reply: _Reply, frame: SpeechAudio) -> None:
        if reply.generation < self.floor or self._reply is not reply:
            raise _Stale  # cancelled while we worked: never speak for it
        if reply.first:
            reply.first = False
            self.stats.first_audio.add(self.now() - reply.started)
        await self.out.send(frame)

    async def _mark(self, reply: _Reply, mark: int) -> None:
        """Speak the reply's text so far, then send ``mark`` on its last frame (or on 20 ms of silence)."""
        for sentence in reply.splitter.flush():
            await self._speak(reply, sentence)
        carrier = reply.tail if reply.tail is not None else self._silence(reply)
        reply.tail = None
        await self._send(reply, msgspec.structs.replace(carrier, mark=mark))

    def _silence(self, reply: _Reply) -> SpeechAudio:
        """A 20 ms silent frame of ``reply`` (to carry its end or a mark when no speech does)."""
        silence = np.zeros(self.rate * FRAME_MS // 1000, np.int16)
        return next(self._frames(reply, "", silence))

    async def _finish(self, reply: _Reply) -> None:
        last = reply.tail
        if last is None:  # nothing spoken (or the last sentence gave no audio): a silent end
            last = self._silence(reply)
        reply.tail = None
        await self._send(reply, msgspec.structs.replace(last, last=True))
        self._reply = None


def at_rate(pcm: Any, rate: int, out_rate: int) -> Any:
    """``pcm`` (int16 mono at ``rate``) resampled to ``out_rate`` with soxr; other shapes as they are."""
    array = np.asarray(pcm)
    if rate == out_rate or array.dtype != np.int16 or len(array) == 0:
        return array
    if array.ndim == 2 and array.shape[1] == 1:
        array = array.reshape(-1)
    if array.ndim != 1:
        return array  # refused with a clear message by the node that checks it
    import soxr

    return soxr.resample(array, rate, out_rate)


class _Stale(Exception):
    """The reply's generation was cancelled: stop speaking it."""


def _check_pcm(pcm: Any, provider: str) -> np.ndarray:
    """``pcm`` as a 1-D int16 array, or a FrameError saying what is wrong with it."""
    array = np.asarray(pcm)
    if array.dtype != np.int16:
        raise FrameError(
            f"{provider} returned {array.dtype} samples", hint="synthesize() must return int16 PCM"
        )
    if array.ndim == 2 and array.shape[1] == 1:
        array = array.reshape(-1)
    if array.ndim != 1:
        raise FrameError(f"{provider} returned audio shaped {array.shape}", hint="return mono samples")
    return array
