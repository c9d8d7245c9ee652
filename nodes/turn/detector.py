"""TurnDetector: decides when the user's turn is over, from the audio model, silence and text.

Inputs: ``audio`` carries 16 kHz mono s16 :class:`AudioFrame` interleaved with the VAD's
:class:`SpeechStarted` / :class:`SpeechStopped`; ``transcripts`` carries the STT's
:class:`Transcript` frames. Output: one :class:`EndOfTurn` per user turn.

Decision rule, for each ``SpeechStopped`` (speech end ``E`` on the media timeline):

* ``mode="smart"``: Smart Turn v3.2 scores the turn's audio up to ``E + model_tail_ms``
  (last 8 s, from ``pre_speech_ms`` before the turn's first speech). The turn ends at
  ``E + min_delay`` if ``p >= threshold`` (reason ``model``); otherwise as soon as the
  final transcript of that speech reads complete (:mod:`.text_complete`, reason
  ``transcript``, never before ``E + min_delay``) — a question or exclamation on its own,
  a statement only if ``p >= statement_threshold`` too (Whisper ends every clause with a
  period, so a period alone must not end a turn the model thinks goes on); otherwise at
  ``E + max_delay`` (reason ``max_delay``).
* ``mode="silence"``: the turn ends at ``E + silence_delay_ms`` (reason ``silence``).

A ``SpeechStarted`` before the decision drops it: the turn goes on, and later speech
belongs to the same turn. Delays count from ``E``: the silence already seen on the media
timeline (audio after ``E``) is subtracted and the rest is waited on the run's clock. The
``EndOfTurn`` text is every final transcript of the turn (by media time), waiting up to
``transcript_wait_ms`` for the last segment's final; a turn whose text is still empty is
not emitted (a VAD false positive on noise, say; a final that comes later for it joins
the next turn's text).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from dataclasses import dataclass

import msgspec
import numpy as np

from graphflow.errors import FrameError, ProviderError
from graphflow.frames import AudioFormat, AudioFrame, Frame, SampleFormat
from graphflow.frames.speech import (
    EndOfTurn,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    SpeechStopped,
    Transcript,
    TurnEvidence,
    TurnKind,
    TurnReason,
    VADEvent,
)
from graphflow.models import ModelHub
from graphflow.node import Node
from graphflow.ports import Input, Output
from graphflow.runtime.stats import LatencyStats
from graphflow.timebase import MS, samples_to_ns, to_ms
from nodes.turn.features import SAMPLE_RATE, WINDOW_SAMPLES
from nodes.turn.fused import FusedRule, PauseMemory
from nodes.turn.options import TurnOptions, validate
from nodes.turn.ring import AudioRing
from nodes.turn.smart_turn import SmartTurnExecutor
from nodes.turn.text_complete import TextVerdict, assess
from nodes.turn.texts import TurnTexts

log = logging.getLogger("nodes.turn")

RING_SAMPLES = WINDOW_SAMPLES + 4 * SAMPLE_RATE
"""Audio kept: the model's 8 s plus 4 s for the VAD's delay in reporting a speech end."""


@dataclass
class TurnDecision:
    """What one ``SpeechStopped`` led to (kept in ``TurnDetector.decisions`` for reports)."""

    speech_end: int
    probability: float = 0.0
    reason: str = ""
    """``model``/``transcript``/``silence``/``max_delay``, ``resumed`` when speech came back."""
    text_rule: str = ""
    decided_at: int = 0
    emitted: bool = False
    evidence: TurnEvidence | None = None


@dataclass
class _Job:
    speech_end: int
    segment_start: int
    turn_start: int
    anchor: int  # clock time of the speech end
    record: TurnDecision


class TurnDetector(Node):
    """Ends the user's turn from Smart Turn, endpointing delays and the transcript."""

    Options = TurnOptions
    options: TurnOptions
    audio = Input(
        AudioFrame | VADEvent, format=AudioFormat(SAMPLE_RATE, 1, SampleFormat.S16), handler="on_audio"
    )
    transcripts = Input(Transcript, handler="on_transcript")
    out = Output(EndOfTurn)

    def __init__(
        self, options: TurnOptions | None = None, *, name: str | None = None, hub: ModelHub | None = None
    ) -> None:
        super().__init__(options, name=name)
        validate(self.options)
        self.hub = hub
        self.executor: SmartTurnExecutor | None = None
        self.decisions: collections.deque[TurnDecision] = collections.deque(maxlen=1000)
        """The last 1000 decisions, including the ones dropped because speech resumed."""
        self.decision_time = LatencyStats(keep=10_000)
        """Wall time of features + model per smart decision, in ns."""
        self.empty_turns = 0
        """Turns not emitted because no transcript text came."""
        self._audio = AudioRing(RING_SAMPLES)
        self._rule = FusedRule(self.options.fused)
        self._pauses = PauseMemory()
        self._reset()

    def _reset(self) -> None:
        """Per-run state: buffered audio, the open turn, transcripts, pending work."""
        self._audio.clear()
        self._turn_start: int | None = None
        self._segment_start: int | None = None
        self._texts = TurnTexts()
        self._pending: asyncio.Task[None] | None = None  # decision not yet taken
        self._pending_job: _Job | None = None
        self._preempted = ""  # text of the last tentative turn sent
        self._emitting: asyncio.Task[None] | None = None  # decided, emitting
        self._inputs_done = False

    @property
    def late_transcripts(self) -> int:
        """Final transcripts that arrived after their turn was emitted (dropped)."""
        return self._texts.late

    def latency(self) -> int:
        """The earliest end of turn after the speech end: ``min_delay_ms`` (silence: ``silence_delay_ms``).

        The delay counts from the speech end, so in a running graph it overlaps the VAD's
        and the STT's own waits: summed after them, it makes the budget an upper bound.
        """
        o = self.options
        return (o.silence_delay_ms if o.mode == "silence" else o.min_delay_ms) * MS

    # ----------------------------------------------------------------- lifecycle
    async def setup(self) -> None:
        """Get the shared Smart Turn executor (``ModelMissing`` says how to download it)."""
        self._reset()
        if self.options.mode != "silence":
            self.executor = SmartTurnExecutor.shared(self.hub or ModelHub())
            await self.executor.warmup()

    async def on_end(self) -> None:
        """Inputs ended: decide pending turns now (no more audio or text can change them)."""
        self._inputs_done = True
        self._texts.arrived.set()
        self._audio.release()
        tasks = {t for t in (self._pending, self._emitting) if t is not None and not t.done()}
        if tasks:
            await asyncio.wait(tasks)

    async def close(self) -> None:
        """Wait for a model call still running on this loop."""
        if self.executor is not None:
            await self.executor.drain()

    # ------------------------------------------------------------------ handlers
    async def on_audio(self, frame: Frame) -> None:
        """Keep audio in the ring buffer; start or drop decisions on VAD events."""
        if isinstance(frame, AudioFrame):
            self._add_audio(frame)
        elif isinstance(frame, SpeechStarted):
            if self._pending is not None and not self._pending.done():
                self._pending.cancel()
                if self._pending_job is not None:  # a long pause inside the turn
                    self._pauses.add(frame.pts - self._pending_job.speech_end)
            self._pending = None
            if self._turn_start is None:
                self._turn_start = frame.pts
            self._segment_start = frame.pts
        elif isinstance(frame, SpeechPaused):
            self._speech_stopped(frame)  # the decision starts at the pause: the stop may never be needed
        elif isinstance(frame, SpeechResumed):
            if self._pending is not None and not self._pending.done():
                self._pending.cancel()
                if self._pending_job is not None:  # a pause inside the turn: the user's own rhythm
                    self._pauses.add(frame.pts - self._pending_job.speech_end)
            self._pending = None
            if self._turn_start is None:  # the pause ended a turn: this speech begins the next
                self._turn_start = self._segment_start = frame.pts
        elif isinstance(frame, SpeechStopped) and not self._deciding(frame.pts):
            self._speech_stopped(frame)

    async def on_transcript(self, frame: Transcript) -> None:
        """Keep final transcripts of the open turn; wake a decision waiting for text."""
        if not frame.final:
            return
        if not self._texts.add(frame):
            log.warning("%s: final transcript %r came after its turn ended; dropped", self.name, frame.text)
            return
        await self._preempt()

    async def _preempt(self) -> None:
        """While a decision is pending, send its text as a tentative turn (once per text)."""
        job = self._pending_job
        if not self.options.preemptive or job is None or self._pending is None or self._pending.done():
            return
        text = self._texts.text(job.speech_end)
        if not text or text == self._preempted:
            return
        self._preempted = text
        await self.out.send(
            EndOfTurn(
                text=text,
                speech_end=job.speech_end,
                kind=TurnKind.PREEMPTIVE,
                reason=TurnReason.PENDING,
                pts=job.speech_end,
            )
        )

    # --------------------------------------------------------------------- audio
    def _add_audio(self, frame: AudioFrame) -> None:
        samples = frame.samples
        if frame.rate != SAMPLE_RATE or samples.dtype != np.int16 or samples.shape[1] != 1:
            raise FrameError(
                f"TurnDetector takes 16000 Hz mono s16 audio, got {frame.format}",
                hint="resample to 16 kHz mono s16 before the turn detector",
            )
        self._audio.write(samples[:, 0], frame.pts)

    # ------------------------------------------------------------------ decisions
    def _deciding(self, speech_end: int) -> bool:
        """This speech end is being decided, or was, since its pause."""
        job = self._pending_job
        pending = self._pending is not None and not self._pending.done()
        if pending and job is not None and job.speech_end == speech_end:
            return True
        return any(d.speech_end == speech_end and d.decided_at for d in self.decisions)

    def _speech_stopped(self, frame: SpeechStopped | SpeechPaused) -> None:
        if self._pending is not None and not self._pending.done():
            self._pending.cancel()
        segment_start = self._segment_start if self._segment_start is not None else frame.started
        if self._turn_start is None:
            self._turn_start = segment_start
        seen = max(0, (self._audio.latest_end or frame.pts) - frame.pts)
        job = _Job(frame.pts, segment_start, self._turn_start, self.now() - seen, TurnDecision(frame.pts))
        self.decisions.append(job.record)
        self._pending = self.spawn(self._decide(job), "turn-decision")
        self._pending_job, self._preempted = job, ""

    async def _decide(self, job: _Job) -> None:
        opts = self.options
        verdict: TextVerdict | None = None
        try:
            if opts.mode == "silence":
                await self.clock.sleep_until(job.anchor + opts.silence_delay_ms * MS)
                reason = TurnReason.SILENCE
            elif opts.mode == "fused":
                reason = await self._fused(job)
            else:
                job.record.probability = p = await self._probability(job)
                await self.clock.sleep_until(job.anchor + opts.min_delay_ms * MS)
                if p >= opts.threshold:
                    reason = TurnReason.MODEL
                else:
                    reason, verdict = await self._wait_text_or_max(job, p)
        except asyncio.CancelledError:
            job.record.reason = "resumed"
            raise
        # decided: from here on, new speech starts a new turn
        job.record.reason, job.record.decided_at = reason, self.now()
        job.record.text_rule = verdict.rule if verdict else ""
        if self._pending is asyncio.current_task():
            self._pending = None
        previous, self._emitting = self._emitting, asyncio.current_task()
        self._turn_start = self._segment_start = None
        await self._wait_final_text(job)
        if previous is not None and not previous.done():
            await asyncio.wait({previous})
        text = self._texts.text(job.speech_end)
        if not text:
            self.empty_turns += 1
            return
        self._texts.close(job.speech_end)
        job.record.emitted = True
        eot = EndOfTurn(
            text=text,
            speech_end=job.speech_end,
            reason=reason,
            probability=job.record.probability,
            evidence=job.record.evidence,
            pts=job.speech_end,
        )
        await self.out.send(eot)

    async def _fused(self, job: _Job) -> TurnReason:
        """Decide by the fused evidence: ``fused`` once the silence it asks for has passed (with the
        turn's text in), ``max_delay`` at the latest."""
        f = self.options.fused
        job.record.probability = p = await self._probability(job, f.model_tail_ms, f.min_delay_ms)
        deadline = job.anchor + self.options.max_delay_ms * MS
        adapted = self._pauses.extra_ms(f) if f.adapt else 0.0
        while True:
            text = self._texts.text(job.speech_end) if self._texts.covers(job.speech_end) else None
            evidence = self._rule.weigh(p, text, adapted, self.options.max_delay_ms)
            job.record.evidence = evidence
            due = job.anchor + round(evidence.due_ms * MS)
            now = self.now()
            if text is not None and now >= due:
                job.record.text_rule = evidence.text_rule
                job.record.evidence = msgspec.structs.replace(evidence, silence_ms=to_ms(now - job.anchor))
                return TurnReason.FUSED
            if now >= deadline or self._inputs_done:
                job.record.evidence = msgspec.structs.replace(evidence, silence_ms=to_ms(now - job.anchor))
                return TurnReason.MAX_DELAY
            await self._wait(self._texts.arrived, min(due, deadline) if text is not None else deadline)

    async def _probability(self, job: _Job, tail_ms: int | None = None, wait_ms: int | None = None) -> float:
        """Smart Turn's belief that the turn is complete, on audio up to the speech end + tail."""
        assert self.executor is not None
        tail = self.options.model_tail_ms if tail_ms is None else tail_ms
        tail_end = job.speech_end + tail * MS
        wait = self.options.min_delay_ms if wait_ms is None else wait_ms
        await self._wait(self._audio.reached(tail_end), job.anchor + wait * MS)
        latest = self._audio.latest_end
        end = min(tail_end, latest if latest is not None else job.speech_end)
        start = max(
            job.turn_start - self.options.pre_speech_ms * MS, end - samples_to_ns(WINDOW_SAMPLES, 16000)
        )
        window = self._audio.read(start, end)
        began = time.perf_counter_ns()
        try:
            features = await self.executor.features(window)
            p = await self.executor.predict(features)
        except ProviderError as exc:
            log.warning("%s: Smart Turn failed (%s); deciding by transcript and delays", self.name, exc)
            return 0.0
        self.decision_time.add(time.perf_counter_ns() - began)
        return p

    async def _wait_text_or_max(self, job: _Job, p: float) -> tuple[TurnReason, TextVerdict | None]:
        """``transcript`` once the speech's final reads complete enough, else ``max_delay``."""
        deadline = job.anchor + self.options.max_delay_ms * MS
        while True:
            if self.options.use_transcript and self._texts.covers(job.speech_end):
                verdict = assess(self._texts.text(job.speech_end))
                if self._text_ends(verdict, p):
                    return TurnReason.TRANSCRIPT, verdict
            if self.now() >= deadline or self._inputs_done:
                return TurnReason.MAX_DELAY, None
            if not self.options.use_transcript:
                await self.clock.sleep_until(deadline)
            else:
                await self._wait(self._texts.arrived, deadline)

    def _text_ends(self, verdict: TextVerdict, p: float) -> bool:
        """A question or exclamation ends the turn on its own; a statement that merely ends
        with a period (Whisper adds one to every clause) also needs the model's
        ``statement_threshold``, so a real pause after a complete-looking clause holds."""
        if not verdict.complete:
            return False
        if verdict.rule in STRONG_TEXT_RULES:
            return True
        return p >= self.options.statement_threshold

    async def _wait_final_text(self, job: _Job) -> None:
        """Wait up to ``transcript_wait_ms`` for the final transcript of the last segment."""
        deadline = self.now() + self.options.transcript_wait_ms * MS
        while not self._texts.covers(job.speech_end) and not self._inputs_done and self.now() < deadline:
            await self._wait(self._texts.arrived, deadline)

    async def _wait(self, what: asyncio.Event | asyncio.Future[None], deadline: int) -> None:
        """Wait for ``what`` (an event or a future) or the clock reaching ``deadline``."""
        if self.now() >= deadline:
            return
        waiter = asyncio.ensure_future(
            what.wait() if isinstance(what, asyncio.Event) else asyncio.shield(what)
        )
        timer = asyncio.ensure_future(self.clock.sleep_until(deadline))
        try:
            await asyncio.wait({waiter, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            timer.cancel()


STRONG_TEXT_RULES = frozenset({"question_mark", "question_form", "exclamation"})
"""Text rules that end a turn without the audio model's agreement."""
