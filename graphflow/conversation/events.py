"""Session events: plain records of what happens in a conversation, to iterate or subscribe to.

The agent layer emits most of them; a stage may publish one through the run (a fallback
node's provider going down), and the session passes it on.

Every event has ``at`` (engine clock, ns) and ``media`` (time on the conversation's
input timeline, ns: where in the recording — or the live call — it happened).
"""

from __future__ import annotations

import msgspec

from graphflow.frames.agent import ToolCall
from graphflow.frames.speech import TurnEvidence, TurnKind, TurnReason


class SessionEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every session event."""

    at: int
    media: int = 0


class UserStartedSpeaking(SessionEvent, frozen=True, kw_only=True):
    """The VAD heard the user start speaking (``at``: when the VAD said so)."""


class UserStoppedSpeaking(SessionEvent, frozen=True, kw_only=True):
    """The VAD heard the user stop speaking (``media`` is the end of speech)."""


class UserTranscript(SessionEvent, frozen=True, kw_only=True):
    """Recognised text of the user's speech, interim or final."""

    text: str
    final: bool
    start: int = 0
    end: int = 0


class TurnEnded(SessionEvent, frozen=True, kw_only=True):
    """The user's turn is over; ``media`` is the end of their speech."""

    text: str
    reason: TurnReason
    """What decided it (``fused``, ``model``, ...; ``request`` for a typed turn)."""
    probability: float
    evidence: TurnEvidence | None = None
    """What the turn detector weighed (audio and text probabilities, the silence, the rule)."""
    kind: TurnKind = TurnKind.SPOKEN
    """Spoken, or typed by the user."""


class UserTurnJoined(SessionEvent, frozen=True, kw_only=True):
    """The user's words joined their previous message (its reply was cut before it said anything).

    ``parts`` are the fragments in order, as the user said them; ``text`` is the one user
    message the history now holds in their place (what the next reply answers).
    """

    text: str
    parts: tuple[str, ...]


class AgentStartedSpeaking(SessionEvent, frozen=True, kw_only=True):
    """The first audio of a reply is being played."""

    reply_id: str


class AgentStoppedSpeaking(SessionEvent, frozen=True, kw_only=True):
    """A reply stopped playing; ``heard`` is what the user heard of it."""

    reply_id: str
    heard: str
    interrupted: bool


class AgentPaused(SessionEvent, frozen=True, kw_only=True):
    """Playout paused because the user started talking over the agent."""


class AgentResumed(SessionEvent, frozen=True, kw_only=True):
    """Playout resumed (a false interruption, or after a real one)."""


class TurnMetrics(SessionEvent, frozen=True, kw_only=True):
    """Latencies of one exchange, in ms (``None`` when a stage did not happen).

    ``vad_ms``: end of user speech → the VAD's end-of-speech event; ``end_of_turn_ms``:
    end of user speech → turn decided; ``transcript_ms``: end of speech → final
    transcript; ``llm_ttft_ms``: turn decided → first reply token; ``tts_ttfb_ms``: first
    token → first synthesized audio; ``sink_ms``: first synthesized audio → it starts
    playing; ``voice_to_voice_ms``: end of user speech → agent audio starts playing.
    """

    reply_id: str
    vad_ms: float | None = None
    end_of_turn_ms: float | None = None
    transcript_ms: float | None = None
    llm_ttft_ms: float | None = None
    tts_ttfb_ms: float | None = None
    sink_ms: float | None = None
    voice_to_voice_ms: float | None = None
    turn_evidence: TurnEvidence | None = None
    """What the turn detector weighed to end the turn (see :class:`TurnEvidence`)."""


class ReplyMetrics(SessionEvent, frozen=True, kw_only=True):
    """What one reply cost the language model and the TTS (sent when the reply text is complete).

    ``llm_ttft_ms``: turn decided → first token; ``llm_duration_ms``: turn decided → reply
    complete (tool steps included); ``tokens``: streamed chunks (one token each for
    OpenAI-compatible servers); ``tokens_per_s`` after the first; ``tts_characters``: the
    characters sent to speech synthesis; ``tool_calls``: calls made in the reply.
    """

    reply_id: str
    llm_ttft_ms: float | None = None
    llm_duration_ms: float | None = None
    tokens: int = 0
    tokens_per_s: float | None = None
    tts_characters: int = 0
    tool_calls: int = 0
    error: str = ""


class SessionError(SessionEvent, frozen=True, kw_only=True):
    """A stage failed; ``fatal`` when the session had to stop."""

    node: str
    code: str
    message: str
    retryable: bool = False
    fatal: bool = False


class FunctionCalls(SessionEvent, frozen=True, kw_only=True):
    """The model asked for tool calls in reply ``reply_id`` (``text``: what it said with them)."""

    reply_id: str
    calls: tuple[ToolCall, ...]
    text: str = ""


class FunctionOutput(SessionEvent, frozen=True, kw_only=True):
    """A tool call's result, as the model will read it."""

    reply_id: str
    call_id: str
    name: str
    output: str
    is_error: bool = False


class AgentHandoff(SessionEvent, frozen=True, kw_only=True):
    """The conversation moved from one agent to another (``done`` False if it did not complete)."""

    from_agent: str
    to_agent: str
    done: bool = True


class AgentMessage(SessionEvent, frozen=True, kw_only=True):
    """A complete reply text of the agent (what it said; in voice, what was heard of it)."""

    reply_id: str
    text: str
    interrupted: bool = False


class UserStateChanged(SessionEvent, frozen=True, kw_only=True):
    """The user went from ``old`` to ``new``: ``speaking``, ``listening`` or ``away`` (silent too long)."""

    old: str
    new: str


class AgentStateChanged(SessionEvent, frozen=True, kw_only=True):
    """The agent went from ``old`` to ``new``: ``listening``, ``thinking`` or ``speaking``."""

    old: str
    new: str


class Utterance(msgspec.Struct, frozen=True, kw_only=True):
    """One line of the conversation, times in seconds on the input's timeline."""

    role: str
    text: str
    start: float
    end: float
    interrupted: bool = False
