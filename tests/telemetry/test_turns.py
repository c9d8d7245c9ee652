"""The turn tracer and the report on what a clean session does not show: failures, typed turns, joins."""

from __future__ import annotations

import pytest

from graphflow.conversation.events import (
    AgentStartedSpeaking,
    AgentStoppedSpeaking,
    FunctionCalls,
    FunctionOutput,
    ReplyMetrics,
    SessionError,
    SessionEvent,
    TurnEnded,
    UserStartedSpeaking,
    UserTurnJoined,
)
from graphflow.frames import ToolCall, TurnKind, TurnReason
from graphflow.recording import build_report
from graphflow.telemetry import SpanList, TraceOptions
from graphflow.telemetry.spans import SpanRecord
from graphflow.telemetry.turns import TurnTracer

MS = 1_000_000


def traced(events: list[SessionEvent], content: bool = False) -> list[SpanRecord]:
    """The spans of ``events`` (media time 0 is clock time 0), all ended."""
    spans = SpanList()
    tracer = TurnTracer(spans, TraceOptions(content=content), lambda media: media)
    for event in events:
        tracer.on_event(event)
    tracer.close(events[-1].at + 1)
    return spans.spans


def failing_call() -> list[SessionEvent]:
    """A typed turn whose tool fails, then a stage failure that ends the session."""
    call = ToolCall(id="c1", name="book", arguments='{"card": "4242"}')
    return [
        TurnEnded(
            at=100 * MS,
            media=100 * MS,
            text="book it",
            reason=TurnReason.REQUEST,
            probability=1.0,
            kind=TurnKind.TYPED,
        ),
        FunctionCalls(at=150 * MS, reply_id="r1", calls=(call,)),
        FunctionOutput(
            at=180 * MS, reply_id="r1", call_id="c1", name="book", output="card 4242 declined", is_error=True
        ),
        ReplyMetrics(at=200 * MS, reply_id="r1", llm_ttft_ms=50.0, tool_calls=1, error="llm.timeout"),
        SessionError(at=300 * MS, node="tts", code="tts.failed", message="no voice", fatal=True),
    ]


def test_failures_set_error_statuses_without_leaking_content() -> None:
    spans = {s.name: s for s in traced(failing_call())}
    assert spans["execute_tool book"].error == "the tool call failed"  # not the output: it may hold content
    assert "4242" not in str([s.to_json() for s in spans.values()])
    assert spans["llm"].error == "llm.timeout" and spans["llm"].parent is spans["turn"]
    assert spans["turn"].attributes["graphflow.turn.kind"] == "typed"
    assert spans["turn"].attributes["graphflow.turn.answered"] is False  # ended by the session's end
    assert spans["session"].error == "[tts.failed] no voice"
    [error] = spans["turn"].events
    assert error.name == "error" and error.attributes["graphflow.error.node"] == "tts"
    with_content = {s.name: s for s in traced(failing_call(), content=True)}
    assert with_content["execute_tool book"].error == "card 4242 declined"


def test_the_report_counts_failed_calls_and_errors() -> None:
    report = build_report(failing_call())
    summary = report["summary"]
    assert (summary["tool_calls"], summary["tool_errors"], summary["errors"], summary["fatal"]) == (
        1,
        1,
        1,
        True,
    )
    assert report["tool_calls"][0]["duration_ms"] == 30.0 and report["tool_calls"][0]["is_error"]
    assert report["errors"] == [
        {"media_s": 0.0, "node": "tts", "code": "tts.failed", "message": "no voice", "fatal": True}
    ]
    assert summary["latency_ms"]["voice_to_voice"] is None  # nothing was heard


def test_a_fragment_that_joined_the_next_words_ends_unanswered() -> None:
    def turn(at: int, text: str) -> TurnEnded:
        return TurnEnded(at=at * MS, media=at * MS, text=text, reason=TurnReason.FUSED, probability=0.9)

    spans = traced(
        [
            UserStartedSpeaking(at=10 * MS, media=0),
            turn(500, "book a table"),
            UserStartedSpeaking(at=700 * MS, media=650 * MS),
            turn(1500, "for two"),
            UserTurnJoined(at=1500 * MS, text="book a table for two", parts=("book a table", "for two")),
            AgentStartedSpeaking(at=2000 * MS, media=2000 * MS, reply_id="r2"),
            AgentStoppedSpeaking(
                at=3000 * MS, media=3000 * MS, reply_id="r2", heard="done", interrupted=False
            ),
        ]
    )
    first, second = [s for s in spans if s.name == "turn"]
    assert first.attributes["graphflow.turn.joined"] is True and first.end == 1500 * MS
    assert second.attributes["graphflow.reply.id"] == "r2" and second.attributes["graphflow.turn.parts"] == 2
    assert second.end == 3000 * MS and second.start == 650 * MS


def test_a_failing_listener_never_reaches_the_session(caplog: pytest.LogCaptureFixture) -> None:
    from graphflow.agent.session import AgentSession
    from graphflow.telemetry import spans_of

    session = AgentSession()
    trace = spans_of(session, SpanList())

    def broken(event: SessionEvent) -> None:
        raise RuntimeError("exporter down")

    trace.listeners.append(broken)
    session.feed.emit(UserStartedSpeaking(at=1, media=0))  # the session goes on
    assert "tracing failed on UserStartedSpeaking" in caplog.text
    assert [type(e) for e in session.events] == [UserStartedSpeaking]
