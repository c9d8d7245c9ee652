"""What the user side of a conversation produces: voice activity, transcripts, turn ends."""

from __future__ import annotations

import enum

import msgspec

from graphflow.frames.base import Frame, TextFrame


class VADEvent(Frame, frozen=True, kw_only=True, gc=False):
    """A voice-activity decision; ``pts`` is its media time on the input's timeline."""

    probability: float = 0.0
    """Speech probability of the window that decided it."""


class SpeechStarted(VADEvent, frozen=True, kw_only=True, gc=False):
    """The user started speaking at ``pts`` (start of the first speech window)."""


class SpeechStopped(VADEvent, frozen=True, kw_only=True, gc=False):
    """The user stopped speaking at ``pts`` (end of the last window counted as speech).

    ``started`` is the media time of the matching :class:`SpeechStarted`.
    """

    started: int = 0


class SpeechPaused(VADEvent, frozen=True, kw_only=True, gc=False):
    """The user went quiet at ``pts`` (end of the last speech window), too briefly yet to call it a stop.

    Sent after ``pause_ms`` of quiet windows while speaking; a :class:`SpeechResumed` or
    a :class:`SpeechStopped` with the same ``pts`` follows. Stages may start their
    end-of-speech work early on it (a speculative final transcript, a turn decision).
    ``started`` is the media time of the segment's :class:`SpeechStarted`.
    """

    started: int = 0


class SpeechResumed(VADEvent, frozen=True, kw_only=True, gc=False):
    """Speech came back at ``pts`` after a :class:`SpeechPaused`: the segment goes on."""


class TurnEvidence(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What a turn decision weighed: each probability, the silence, and the rule that read the text."""

    audio: float = 0.0
    """The audio turn model's probability that the turn is complete."""
    text: float = 0.5
    """The transcript's words' score (0.5 when no text was there yet)."""
    text_rule: str = ""
    """Which text rule gave ``text`` (``plain``, ``dangling``, ``trailing``, ...)."""
    logit: float = 0.0
    """The combined evidence: ``logit(audio) + text_weight * logit(text)``."""
    due_ms: float = 0.0
    """The silence that evidence asked for (ms after the end of speech)."""
    adapted_ms: float = 0.0
    """Of ``due_ms``, what the user's own long pauses added."""
    silence_ms: float = 0.0
    """The silence when the turn was decided."""
    scale_ms: float = 1000.0
    """Silence that moves the fused probability by one logit unit."""

    def probability(self, silence_ms: float) -> float:
        """The fused probability that the turn is over after ``silence_ms`` of silence (0.5 at ``due_ms``)."""
        import math

        return 1.0 / (1.0 + math.exp(-(silence_ms - self.due_ms) / self.scale_ms))


class Transcript(TextFrame, frozen=True, kw_only=True, gc=False):
    """Recognised text of the user's speech; interim ones may change, a final one will not.

    ``start``/``end`` are the media times of the speech it covers; ``segment_id`` is the
    same for every interim and the final transcript of one stretch of speech.
    """

    final: bool = False
    start: int = 0
    end: int = 0
    segment_id: str = ""
    language: str = ""
    confidence: float = 0.0


class TurnKind(enum.StrEnum):
    """What kind of turn an :class:`EndOfTurn` is."""

    SPOKEN = "spoken"
    """The user spoke and a turn detector decided they are done."""
    TYPED = "typed"
    """The user typed it (no speech behind it)."""
    SAY = "say"
    """The program asks the agent to speak ``text`` as it is (no model call)."""
    GENERATE = "generate"
    """The program asks for a reply without user words (``text``: one-off instructions)."""
    PREEMPTIVE = "preemptive"
    """Tentative: the final transcript is in, the decision is not (a reply may start early)."""


class TurnReason(enum.StrEnum):
    """What decided that a turn is over."""

    FUSED = "fused"
    """The fused decision: turn model, transcript and silence weighed together."""
    MODEL = "model"
    """The turn model alone was sure enough."""
    TRANSCRIPT = "transcript"
    """The transcript read as complete while the model hesitated."""
    SILENCE = "silence"
    """A fixed silence passed (the silence mode)."""
    MAX_DELAY = "max_delay"
    """The longest wait ran out."""
    PENDING = "pending"
    """Nothing yet: a preemptive turn, sent before its decision."""
    REQUEST = "request"
    """No detector: the turn came whole (typed, or asked for by the program)."""


class EndOfTurn(Frame, frozen=True, kw_only=True, gc=False):
    """The user's turn is over: ``text`` is what they said; the agent may answer now.

    ``kind`` says what kind of turn it is and ``reason`` what decided it;
    ``speech_end`` is the media time the user stopped speaking and ``probability`` the
    turn model's belief that the turn was complete. ``reply_id`` names the reply a
    program asked for (``say``, ``generate``); empty, the language model names it.
    """

    text: str = ""
    kind: TurnKind = TurnKind.SPOKEN
    speech_end: int = 0
    reason: TurnReason = TurnReason.REQUEST
    probability: float = 0.0
    reply_id: str = ""
    evidence: TurnEvidence | None = None
    """What the decision weighed (the ``fused`` decision fills it in)."""
