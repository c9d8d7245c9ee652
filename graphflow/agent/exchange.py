"""The timing marks of each exchange (a user turn and the reply to it), and the metrics they give.

:class:`ExchangeLog` follows the frames a session sees and keeps one :class:`Exchange`
per reply; when the reply starts playing it gives the turn's :class:`TurnMetrics`, when
its text is complete the :class:`ReplyMetrics`, and it keeps the figures of both for
the chat message that will hold the reply.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphflow.conversation.events import ReplyMetrics, TurnMetrics
from graphflow.conversation.playout import PlayoutEvent
from graphflow.frames import EndOfTurn, ReplyDelta, ReplyEnd, SpeechAudio
from graphflow.frames.speech import TurnEvidence
from graphflow.timebase import to_ms, to_seconds


@dataclass
class Exchange:
    """Timing marks of one user turn and the reply to it (clock ns)."""

    speech_end: int = 0
    vad_at: int | None = None
    final_at: int | None = None
    turn_at: int | None = None
    first_token: int | None = None
    last_token: int = 0
    tokens: int = 0
    first_audio: int | None = None
    reply_id: str = ""
    replies: list[str] = field(default_factory=list)
    typed: bool = False
    """The turn was typed: no speech, so no figure measured from the end of speech."""
    evidence: TurnEvidence | None = None
    """What the turn detector weighed to end the turn."""


def _ms(a: int | None, b: int | None) -> float | None:
    return None if a is None or b is None else to_ms(a - b)


def turn_metrics(exchange: Exchange, started: PlayoutEvent, timeline_base: int) -> TurnMetrics:
    """The latencies of ``exchange``, now that its reply ``started`` playing."""
    if exchange.typed:
        return TurnMetrics(
            at=started.at,
            media=started.media_at,
            reply_id=started.reply_id,
            llm_ttft_ms=_ms(exchange.first_token, exchange.turn_at),
            tts_ttfb_ms=_ms(exchange.first_audio, exchange.first_token),
            sink_ms=_ms(started.at, exchange.first_audio),
        )
    end_clock = timeline_base + exchange.speech_end
    return TurnMetrics(
        at=started.at,
        media=started.media_at,
        reply_id=started.reply_id,
        vad_ms=_ms(exchange.vad_at, end_clock),
        end_of_turn_ms=_ms(exchange.turn_at, end_clock),
        transcript_ms=_ms(exchange.final_at, end_clock),
        llm_ttft_ms=_ms(exchange.first_token, exchange.turn_at),
        tts_ttfb_ms=_ms(exchange.first_audio, exchange.first_token),
        sink_ms=_ms(started.at, exchange.first_audio),
        voice_to_voice_ms=_ms(started.media_at, exchange.speech_end),
        turn_evidence=exchange.evidence,
    )


def reply_metrics(exchange: Exchange, end: ReplyEnd) -> ReplyMetrics:
    """What the reply ``end`` closes cost the language model and the TTS."""
    first = exchange.first_token
    span = to_seconds(exchange.last_token - first) if first is not None else 0.0
    turn_at = exchange.turn_at
    return ReplyMetrics(
        at=end.created,
        reply_id=end.reply_id,
        llm_ttft_ms=_ms(first, turn_at) if turn_at else None,
        llm_duration_ms=_ms(end.created, turn_at) if turn_at else None,
        tokens=exchange.tokens,
        tokens_per_s=(exchange.tokens - 1) / span if span > 0 else None,
        tts_characters=len(end.text),
        tool_calls=len(end.tool_calls),
        error=end.error,
    )


class ExchangeLog:
    """The exchange being built from the user's turn, and those whose replies are under way."""

    def __init__(self) -> None:
        self.current = Exchange()
        """The user's turn in progress (VAD stop, final transcript so far)."""
        self._pending: Exchange | None = None
        self._speech_end: int | None = None  # the last speech end the VAD reported
        self._by_reply: dict[str, Exchange] = {}
        self._figures: dict[str, dict[str, float]] = {}

    def speech_ended(self, pts: int, at: int) -> None:
        """The VAD reported the speech ended at media time ``pts`` (clock ``at``): its pause, then
        its stop. The first report counts — the turn may have been decided in between."""
        if pts == self._speech_end:
            return
        self._speech_end = pts
        self.current.speech_end = pts
        self.current.vad_at = at

    def turn_ended(self, turn: EndOfTurn, *, typed: bool = False) -> None:
        """The user's turn was decided (or typed): its exchange waits for the reply that answers it."""
        if typed:  # the spoken turn in progress, if any, goes on
            self._pending = Exchange(turn_at=turn.created, typed=True)
            return
        exchange = self.current
        exchange.speech_end = turn.speech_end
        exchange.turn_at = turn.created
        exchange.evidence = turn.evidence
        self.current = Exchange()
        self._pending = exchange

    def token(self, delta: ReplyDelta) -> None:
        """A piece of reply text was streamed."""
        exchange = self._for(delta.reply_id)
        if exchange.first_token is None:
            exchange.first_token = delta.created
        exchange.tokens += 1
        exchange.last_token = delta.created

    def audio(self, frame: SpeechAudio) -> None:
        """Reply audio was synthesized."""
        exchange = self._for(frame.reply_id)
        if exchange.first_audio is None:
            exchange.first_audio = frame.created

    def started(self, event: PlayoutEvent, timeline_base: int | None) -> TurnMetrics | None:
        """The reply started playing: the latencies of its exchange (None if unknown)."""
        exchange = self._by_reply.get(event.reply_id)
        if exchange is None or timeline_base is None:
            return None
        metrics = turn_metrics(exchange, event, timeline_base)
        self._record(event.reply_id, metrics)
        return metrics

    def ended(self, end: ReplyEnd) -> ReplyMetrics | None:
        """The reply's text is complete: what it cost (None if the reply is unknown)."""
        exchange = self._by_reply.get(end.reply_id)
        if exchange is None:
            return None
        metrics = reply_metrics(exchange, end)
        self._record(end.reply_id, metrics)
        return metrics

    def figures(self, reply_id: str) -> dict[str, float]:
        """The figures recorded for ``reply_id`` (taken: asked once, when the reply is heard)."""
        self._by_reply.pop(reply_id, None)
        return self._figures.pop(reply_id, {})

    def _for(self, reply_id: str) -> Exchange:
        exchange = self._by_reply.get(reply_id)
        if exchange is None:  # the first frame of a reply: it answers the pending turn, if any
            exchange = self._pending or Exchange()
            self._pending = None
            exchange.reply_id = reply_id
            self._by_reply[reply_id] = exchange
        return exchange

    def _record(self, reply_id: str, metrics: TurnMetrics | ReplyMetrics) -> None:
        figures = self._figures.setdefault(reply_id, {})
        for name in metrics.__struct_fields__:
            value = getattr(metrics, name)
            if isinstance(value, int | float) and not isinstance(value, bool) and name not in ("at", "media"):
                figures[name] = float(value)
