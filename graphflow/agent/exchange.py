"""The timing marks of one exchange (a user turn and the reply to it), and the metrics they give."""

from __future__ import annotations

from dataclasses import dataclass, field

from graphflow.agent.events import ReplyMetrics, TurnMetrics
from graphflow.agent.playout import PlayoutEvent
from graphflow.frames import ReplyEnd
from graphflow.timebase import MS


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


def _ms(a: int | None, b: int | None) -> float | None:
    return None if a is None or b is None else (a - b) / MS


def turn_metrics(exchange: Exchange, started: PlayoutEvent, timeline_base: int) -> TurnMetrics:
    """The latencies of ``exchange``, now that its reply ``started`` playing."""
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
    )


def reply_metrics(exchange: Exchange, end: ReplyEnd) -> ReplyMetrics:
    """What the reply ``end`` closes cost the language model and the TTS."""
    first = exchange.first_token
    span = (exchange.last_token - first) / 1e9 if first is not None else 0.0
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
