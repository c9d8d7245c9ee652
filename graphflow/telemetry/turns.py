"""Spans per turn, built from a session's events.

:class:`TurnTracer` follows the :class:`~graphflow.conversation.events.SessionEvent`
stream of one session and opens and ends :class:`~graphflow.telemetry.spans.SpanRecord`
spans on a :class:`~graphflow.telemetry.spans.SpanSink`::

    session
    └── turn                       user speech start → the reply stops being heard
        ├── user_speech            what the VAD heard (media times, on the engine clock)
        ├── end_of_turn            end of speech → the turn decided (reason, probability, evidence)
        ├── llm                    turn decided → reply text complete (first token as an event)
        │   └── execute_tool NAME  each tool call, to its output
        ├── tts                    first token → first synthesized audio
        ├── playout                the reply being heard
        └── interruption           the user talked over it: paused → cut, or → resumed

A reply the program asked for (``say``, ``generate_reply``) has a turn of its own with
no user speech. What was said (user text, agent text, tool arguments and results) is
added only with ``TraceOptions(content=True)``; sizes are always there.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from graphflow.conversation.events import (
    AgentHandoff,
    AgentPaused,
    AgentResumed,
    AgentStartedSpeaking,
    AgentStoppedSpeaking,
    FunctionCalls,
    FunctionOutput,
    ReplyMetrics,
    SessionError,
    SessionEvent,
    TurnEnded,
    TurnMetrics,
    UserStartedSpeaking,
    UserStoppedSpeaking,
    UserTranscript,
    UserTurnJoined,
)
from graphflow.telemetry.attributes import evidence_attributes, reply_attributes
from graphflow.telemetry.options import TraceOptions
from graphflow.telemetry.spans import AttributeValue, SpanEvent, SpanRecord, SpanSink
from graphflow.timebase import to_ms

MS = 1_000_000
"""Nanoseconds in a millisecond."""


@dataclass
class Turn:
    """The spans of one exchange: the user's turn and the reply to it."""

    span: SpanRecord
    speech: SpanRecord | None = None
    decided_at: int | None = None
    reply_id: str = ""
    llm: SpanRecord | None = None
    playout: SpanRecord | None = None
    interruption: SpanRecord | None = None
    tools: dict[str, SpanRecord] = field(default_factory=dict)


class TurnTracer:
    """Turns a session's events into spans on ``sink`` (see the module docstring).

    ``media_clock`` maps a media time on the input's timeline to the engine clock.
    """

    def __init__(self, sink: SpanSink, options: TraceOptions, media_clock: Callable[[int], int]) -> None:
        self.sink, self.options, self.media_clock = sink, options, media_clock
        self.session: SpanRecord | None = None
        self.speaking: Turn | None = None
        """The user's turn in progress (speech heard, not decided yet)."""
        self.pending: deque[Turn] = deque()
        """Turns decided, waiting for the reply that answers them."""
        self.replies: dict[str, Turn] = {}
        self.last_at = 0

    # ------------------------------------------------------------------ events
    def on_event(self, event: SessionEvent) -> None:
        """Follow one session event."""
        self.last_at = max(self.last_at, event.at)
        if self.session is None:
            self.session = self._open("session", self.media_clock(0), None, dict(self.options.attributes))
        if isinstance(event, UserStartedSpeaking):
            self._user_started(event)
        elif isinstance(event, UserStoppedSpeaking):
            self._user_stopped(event)
        elif isinstance(event, UserTranscript) and event.final and self.speaking is not None:
            attrs: dict[str, AttributeValue] = {"graphflow.transcript.characters": len(event.text)}
            self._content(attrs, "graphflow.user.text", event.text)
            self.speaking.span.events.append(SpanEvent("final_transcript", event.at, attrs))
        elif isinstance(event, TurnEnded):
            self._turn_ended(event)
        elif isinstance(event, UserTurnJoined):
            self._joined(event)
        elif isinstance(event, FunctionCalls):
            self._calls(event)
        elif isinstance(event, FunctionOutput):
            self._output(event)
        elif isinstance(event, ReplyMetrics):
            self._reply_done(event)
        elif isinstance(event, TurnMetrics):
            self._turn_metrics(event)
        elif isinstance(event, AgentStartedSpeaking):
            turn = self._reply(event.reply_id, event.at)
            turn.playout = self._open("playout", event.at, turn.span, {"graphflow.reply.id": event.reply_id})
        elif isinstance(event, AgentPaused):
            self._paused(event)
        elif isinstance(event, AgentResumed):
            self._resumed(event)
        elif isinstance(event, AgentStoppedSpeaking):
            self._stopped(event)
        elif isinstance(event, AgentHandoff):
            attrs = {"graphflow.handoff.from": event.from_agent, "graphflow.handoff.to": event.to_agent}
            self._latest().events.append(
                SpanEvent("handoff", event.at, {**attrs, "graphflow.done": event.done})
            )
        elif isinstance(event, SessionError):
            self._error(event)

    def close(self, at: int) -> None:
        """End every open span at ``at`` (the session is over)."""
        at = max(at, self.last_at)
        turns = [t for t in (self.speaking, *self.pending, *self.replies.values()) if t is not None]
        for turn in turns:
            self._end_turn(turn, at, unfinished=True)
        self.speaking, self.pending, self.replies = None, deque(), {}
        if self.session is not None and self.session.open:
            self._end(self.session, at)

    # ------------------------------------------------------------------ user side
    def _user_started(self, event: UserStartedSpeaking) -> None:
        start = self.media_clock(event.media)
        turn = self.speaking
        if turn is None:
            turn = self.speaking = Turn(
                self._open("turn", start, self.session, {"graphflow.turn.kind": "user"})
            )
        if turn.speech is None or not turn.speech.open:
            attrs: dict[str, AttributeValue] = {"graphflow.media.start_s": event.media / 1e9}
            turn.speech = self._open("user_speech", start, turn.span, attrs)
            turn.speech.attributes["graphflow.vad.start_delay_ms"] = to_ms(event.at - start)

    def _user_stopped(self, event: UserStoppedSpeaking) -> None:
        turn = self.speaking
        if turn is not None and turn.speech is not None and turn.speech.open:
            end = self.media_clock(event.media)
            turn.speech.attributes["graphflow.media.end_s"] = event.media / 1e9
            turn.speech.attributes["graphflow.vad.stop_delay_ms"] = to_ms(event.at - end)
            self._end(turn.speech, end)

    def _turn_ended(self, event: TurnEnded) -> None:
        turn, self.speaking = self.speaking, None
        speech_end = self.media_clock(event.media) if event.media else event.at
        if turn is None:  # typed: no speech behind it
            turn = Turn(self._open("turn", event.at, self.session, {"graphflow.turn.kind": str(event.kind)}))
        if turn.speech is not None and turn.speech.open:
            self._end(turn.speech, min(speech_end, event.at))
        attrs: dict[str, AttributeValue] = {
            "graphflow.turn.kind": str(event.kind),
            "graphflow.turn.reason": str(event.reason),
            "graphflow.turn.probability": event.probability,
            "graphflow.turn.delay_ms": to_ms(event.at - min(speech_end, event.at)),
            "graphflow.user.characters": len(event.text),
            **evidence_attributes(event.evidence),
        }
        self._content(attrs, "graphflow.user.text", event.text)
        decision = self._open("end_of_turn", min(speech_end, event.at), turn.span, attrs)
        self._end(decision, event.at)
        turn.span.attributes["graphflow.turn.kind"] = str(event.kind)
        turn.decided_at = event.at
        self.pending.append(turn)

    def _joined(self, event: UserTurnJoined) -> None:
        """Earlier fragments became one message with the latest: their turns end here, unanswered."""
        latest = self.pending[-1] if self.pending else None
        for turn in [t for t in (*self.pending, *self.replies.values()) if t is not latest]:
            if turn.playout is None:  # cut before it was heard: the fragment joined the next turn
                turn.span.attributes["graphflow.turn.joined"] = True
                self._forget(turn)
                self._end_turn(turn, event.at, unfinished=True)
        if latest is not None:
            latest.span.attributes["graphflow.turn.parts"] = len(event.parts)

    # ------------------------------------------------------------------ agent side
    def _reply(self, reply_id: str, at: int) -> Turn:
        """The turn ``reply_id`` answers: known, the oldest decided one, or a turn of its own."""
        turn = self.replies.get(reply_id)
        if turn is not None:
            return turn
        if self.pending:
            turn = self.pending.popleft()
        else:  # asked for by the program (say, generate_reply)
            turn = Turn(self._open("turn", at, self.session, {"graphflow.turn.kind": "agent"}))
        turn.reply_id = reply_id
        turn.span.attributes["graphflow.reply.id"] = reply_id
        attrs: dict[str, AttributeValue] = {"graphflow.reply.id": reply_id}
        turn.llm = self._open("llm", turn.decided_at if turn.decided_at is not None else at, turn.span, attrs)
        self.replies[reply_id] = turn
        return turn

    def _calls(self, event: FunctionCalls) -> None:
        turn = self._reply(event.reply_id, event.at)
        for call in event.calls:
            attrs: dict[str, AttributeValue] = {"gen_ai.tool.name": call.name, "gen_ai.tool.call.id": call.id}
            self._content(attrs, "gen_ai.tool.call.arguments", call.arguments)
            turn.tools[call.id] = self._open(f"execute_tool {call.name}", event.at, turn.llm, attrs)

    def _output(self, event: FunctionOutput) -> None:
        turn = self.replies.get(event.reply_id)
        span = turn.tools.pop(event.call_id, None) if turn is not None else None
        if span is None:
            return
        span.attributes["graphflow.tool.output_characters"] = len(event.output)
        self._content(span.attributes, "gen_ai.tool.call.result", event.output)
        if event.is_error:
            span.error = "the tool call failed" if not self.options.content else event.output
        self._end(span, event.at)

    def _reply_done(self, event: ReplyMetrics) -> None:
        turn = self._reply(event.reply_id, event.at)
        if turn.llm is None or not turn.llm.open:
            return
        turn.llm.attributes.update(reply_attributes(event))
        if event.llm_ttft_ms is not None:
            first = turn.llm.start + round(event.llm_ttft_ms * MS)
            turn.llm.events.append(SpanEvent("first_token", first))
        turn.llm.error = event.error
        self._end(turn.llm, max(event.at, turn.llm.start))

    def _turn_metrics(self, event: TurnMetrics) -> None:
        turn = self._reply(event.reply_id, event.at)
        base = turn.decided_at if turn.decided_at is not None else (turn.llm.start if turn.llm else event.at)
        if event.tts_ttfb_ms is not None:
            first_token = base + round((event.llm_ttft_ms or 0.0) * MS)
            first_audio = first_token + round(event.tts_ttfb_ms * MS)
            attrs: dict[str, AttributeValue] = {"graphflow.tts.ttfb_ms": event.tts_ttfb_ms}
            self._end(self._open("tts", first_token, turn.span, attrs), first_audio)
        for name in ("vad_ms", "end_of_turn_ms", "transcript_ms", "llm_ttft_ms", "tts_ttfb_ms", "sink_ms"):
            value = getattr(event, name)
            if value is not None:
                turn.span.attributes[f"graphflow.latency.{name}"] = value
        if event.voice_to_voice_ms is not None:
            turn.span.attributes["graphflow.latency.voice_to_voice_ms"] = event.voice_to_voice_ms

    def _paused(self, event: AgentPaused) -> None:
        turn = self._playing()
        if turn is not None and turn.interruption is None:
            attrs: dict[str, AttributeValue] = {"graphflow.media.start_s": event.media / 1e9}
            turn.interruption = self._open("interruption", event.at, turn.span, attrs)

    def _resumed(self, event: AgentResumed) -> None:
        turn = self._playing()
        if turn is not None and turn.interruption is not None:
            turn.interruption.attributes["graphflow.interruption.resumed"] = True
            self._end(turn.interruption, event.at)
            turn.interruption = None

    def _stopped(self, event: AgentStoppedSpeaking) -> None:
        turn = self._reply(event.reply_id, event.at)
        if event.interrupted:
            if turn.interruption is None:  # cut without a pause first (the program interrupted)
                turn.interruption = self._open("interruption", event.at, turn.span, {})
            turn.interruption.attributes["graphflow.interruption.resumed"] = False
            self._end(turn.interruption, event.at)
            turn.interruption = None
        if turn.playout is not None and turn.playout.open:
            attrs = turn.playout.attributes
            attrs["graphflow.playout.interrupted"] = event.interrupted
            attrs["graphflow.agent.heard_characters"] = len(event.heard)
            self._content(attrs, "graphflow.agent.text", event.heard)
            self._end(turn.playout, event.at)
        turn.span.attributes["graphflow.turn.interrupted"] = event.interrupted
        self._forget(turn)
        self._end_turn(turn, event.at, unfinished=False)

    def _error(self, event: SessionError) -> None:
        attrs: dict[str, AttributeValue] = {
            "graphflow.error.node": event.node,
            "graphflow.error.code": event.code,
            "graphflow.error.fatal": event.fatal,
            "graphflow.error.message": event.message,
        }
        self._latest().events.append(SpanEvent("error", event.at, attrs))
        if event.fatal and self.session is not None:
            self.session.error = f"[{event.code}] {event.message}"

    # ------------------------------------------------------------------ helpers
    def _playing(self) -> Turn | None:
        return next((t for t in self.replies.values() if t.playout is not None and t.playout.open), None)

    def _latest(self) -> SpanRecord:
        """The span an instant event belongs to: the newest open turn, else the session."""
        turns = [t for t in (*self.replies.values(), *self.pending, self.speaking) if t is not None]
        newest = max(turns, key=lambda t: t.span.start, default=None)
        if newest is not None:
            return newest.span
        assert self.session is not None
        return self.session

    def _forget(self, turn: Turn) -> None:
        if turn.reply_id:
            self.replies.pop(turn.reply_id, None)
        if turn in self.pending:
            self.pending.remove(turn)

    def _end_turn(self, turn: Turn, at: int, *, unfinished: bool) -> None:
        for span in (turn.speech, *turn.tools.values(), turn.llm, turn.playout, turn.interruption):
            if span is not None and span.open:
                span.attributes["graphflow.unfinished"] = True
                self._end(span, max(at, span.start))
        if unfinished:
            turn.span.attributes.setdefault("graphflow.turn.answered", False)
        if turn.span.open:
            self._end(turn.span, max(at, turn.span.start))

    def _content(self, attrs: dict[str, AttributeValue], key: str, text: str) -> None:
        if self.options.content:
            attrs[key] = text

    def _open(
        self, name: str, start: int, parent: SpanRecord | None, attrs: dict[str, AttributeValue]
    ) -> SpanRecord:
        span = SpanRecord(name, start, parent, attributes=attrs)
        self.sink.started(span)
        return span

    def _end(self, span: SpanRecord, at: int) -> None:
        span.end = at
        self.sink.ended(span)
