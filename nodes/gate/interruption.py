"""Interruption gate: agent audio passes to the sink until the user talks over the agent.

When the user starts speaking while the agent is speaking — or preparing a reply (a turn
ended and no audio came yet) — playout pauses at once. If
the speech lasts ``min_duration_ms`` (and brings ``min_words``, when set), it is a real
interruption: the gate fires the graph's cancellation edges (LLM, TTS and sink flush
the old reply; the sink reports what was heard) and playout resumes for whatever comes
next. If the speech stops sooner, it was a false interruption (a cough, a "mm-hm"):
after ``false_interruption_timeout_ms`` with no further speech, the agent carries on
where it paused — or, with ``resume_false_interruption`` off, the reply is cancelled.
"""

from __future__ import annotations

import asyncio

import msgspec

from graphflow.conversation.playout import Playout, PlayoutEvent
from graphflow.frames import (
    AudioFrame,
    EndOfTurn,
    SpeechAudio,
    SpeechResumed,
    SpeechStarted,
    SpeechStopped,
    Transcript,
    TurnKind,
    VADEvent,
)
from graphflow.node import Node
from graphflow.ports import Input, Output
from graphflow.runtime.cancellation import CancelHandle
from graphflow.timebase import MS

JOIN_BELOW_WORDS = 1
"""Default: only a reply cut before a single word of it was heard leaves the user's message open.

Conservative on purpose: a barge-in after one or two words is as often a new turn as the
rest of a sentence (in ``conv_katie_steve_diarization.wav`` the next speaker cuts every
reply after one or two words, and each cut starts a turn of its own). Raise it (3 or 4:
about a second of speech) to also join replies cut in their first words.
"""


class GateOptions(msgspec.Struct, frozen=True):
    """When speech over the agent counts as an interruption, and what a false one does."""

    min_duration_ms: int = 300
    min_words: int = 0
    false_interruption_timeout_ms: int = 2000
    resume_false_interruption: bool = True
    join_below_words: int = JOIN_BELOW_WORDS
    """A reply cut after fewer heard words than this leaves the user's turn open to their next words."""


class InterruptionGate(Node):
    """Passes agent audio on; pauses, resumes or cancels it when the user barges in.

    Latency 0: agent audio is forwarded in the call that brings it.
    """

    Options = GateOptions
    options: GateOptions
    audio = Input(SpeechAudio, handler="on_audio")
    vad = Input(AudioFrame | VADEvent, handler="on_vad")
    transcripts = Input(Transcript, required=False, handler="on_transcript")
    turns = Input(EndOfTurn, required=False, handler="on_turn")
    out = Output(SpeechAudio, follows="audio")

    def __init__(
        self, options: GateOptions | None = None, *, name: str | None = None, playout: Playout | None = None
    ) -> None:
        super().__init__(options, name=name)
        self.playout = playout or Playout()
        self.playout.listeners.append(self._on_playout)
        self.queued: set[str] = set()
        self.thinking = False
        self.candidate: SpeechStarted | SpeechResumed | None = None
        self.words = 0
        self.timer: asyncio.Task[None] | None = None
        self.interruptions = 0
        self.false_interruptions = 0

    # ------------------------------------------------------------------ inputs
    def on_audio(self, frame: SpeechAudio) -> None:
        """Forward agent audio to the sink."""
        self.thinking = False
        self.queued.add(frame.reply_id)
        self.out.push(frame)

    def on_turn(self, frame: EndOfTurn) -> None:
        """A user turn ended: a reply is on its way (speech from now on may interrupt it)."""
        if frame.kind != TurnKind.PREEMPTIVE:  # a tentative turn is not decided: the user may go on
            self.thinking = True

    def on_vad(self, frame: AudioFrame | VADEvent) -> None:
        """Watch the user's voice activity (audio frames are ignored)."""
        if isinstance(frame, SpeechStarted):
            self._speech_started(frame)
        elif isinstance(frame, SpeechResumed):
            # speech after a pause that ended the turn: to the reply on its way, a new start
            if self.candidate is None:
                self._speech_started(frame)
        elif isinstance(frame, SpeechStopped):
            self._speech_stopped(frame)

    def on_transcript(self, frame: Transcript) -> None:
        """Count the words of speech over the agent (for ``min_words``)."""
        if self.candidate is not None and frame.text.strip():
            self.words = max(self.words, len(frame.text.split()))
            if self._confirmed(self.now()):
                self._interrupt()

    # ------------------------------------------------------------------- logic
    @property
    def agent_speaking(self) -> bool:
        """True while a reply is being prepared, plays, is paused, or waits in front of the sink."""
        return self.thinking or self.playout.speaking or bool(self.queued)

    def _speech_started(self, event: SpeechStarted | SpeechResumed) -> None:
        if self.candidate is not None:
            self._cancel_timer()  # speech resumed within a false-interruption wait
            self.candidate = event if self.playout.paused else None
            if self.candidate is not None:
                self._start_timer(self._confirm_later(), "confirm")
            return
        if not self.agent_speaking or not self.playout.interruptible:
            return
        self.candidate = event
        self.words = 0
        self._publish(self.playout.pause(self.now()))
        self._start_timer(self._confirm_later(), "confirm")

    def _speech_stopped(self, event: SpeechStopped) -> None:
        candidate = self.candidate
        if candidate is None:
            return
        self._cancel_timer()
        if event.pts - candidate.pts >= self.options.min_duration_ms * MS and self._enough_words():
            self._interrupt()
            return
        self._start_timer(self._false_interruption(), "false-interruption")

    def _confirmed(self, now: int) -> bool:
        candidate = self.candidate
        return (
            candidate is not None
            and now - candidate.created >= self.options.min_duration_ms * MS
            and self._enough_words()
        )

    def _enough_words(self) -> bool:
        return self.words >= self.options.min_words

    async def _confirm_later(self) -> None:
        candidate = self.candidate
        if candidate is None:
            return
        await self.clock.sleep_until(candidate.created + self.options.min_duration_ms * MS)
        if self.candidate is candidate and self._enough_words():
            self._interrupt()

    async def _false_interruption(self) -> None:
        await asyncio.sleep(self.options.false_interruption_timeout_ms / 1000)
        self.false_interruptions += 1
        self.candidate = None
        if self.options.resume_false_interruption:
            self._publish(self.playout.resume(self.now()))
        else:
            self._interrupt()

    def interrupt(self) -> None:
        """Stop the agent now (as a confirmed barge-in would), if it is answering at all."""
        if self.agent_speaking:
            self._interrupt()

    def _interrupt(self) -> None:
        self._cancel_timer(keep_current=True)
        self.candidate = None
        self.interruptions += 1
        self.queued.clear()
        self.thinking = False
        handle = self.cancel("barge-in")
        self.spawn(self._resume_after(handle), "resume")

    async def _resume_after(self, handle: CancelHandle) -> None:
        """Resume playout for what comes next once the sink has reported what was heard."""
        await handle
        self._publish(self.playout.resume(self.now()))

    # ----------------------------------------------------------------- helpers
    def _start_timer(self, work: object, name: str) -> None:
        self._cancel_timer()
        self.timer = self.spawn(work, name)  # type: ignore[arg-type]

    def _cancel_timer(self, keep_current: bool = False) -> None:
        timer, self.timer = self.timer, None
        if timer is not None and not timer.done() and not (keep_current and timer is asyncio.current_task()):
            timer.cancel()

    def _publish(self, event: PlayoutEvent | None) -> None:
        if event is not None:
            self.publish(event)

    def _on_playout(self, event: PlayoutEvent) -> None:
        if event.kind == "finished":
            self.queued.discard(event.reply_id)
