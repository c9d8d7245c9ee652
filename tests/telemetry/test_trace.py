"""A real offline voice session traced through the OpenTelemetry SDK and read back from memory."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from graphflow.agent.session import AgentSession
from graphflow.conversation.events import (
    AgentStoppedSpeaking,
    FunctionOutput,
    ReplyMetrics,
    TurnEnded,
    TurnMetrics,
)
from graphflow.telemetry import TraceOptions, trace_session

from .voice import ANSWER, SAID, mover_session, run

CONTENT_KEYS = {
    "graphflow.user.text",
    "graphflow.agent.text",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
}


class Traced:
    """A session's spans (by name) and metrics, from one tracer and one meter provider."""

    def __init__(self, session: AgentSession, options: TraceOptions) -> None:
        self.exporter = InMemorySpanExporter()
        tracer = TracerProvider()
        tracer.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        meter = MeterProvider(metric_readers=[self.reader])
        self.trace = trace_session(session, tracer_provider=tracer, meter_provider=meter, options=options)

    def spans(self, name: str) -> list[ReadableSpan]:
        """The ended spans called ``name``, by start time."""
        found = [s for s in self.exporter.get_finished_spans() if s.name == name]
        return sorted(found, key=lambda s: s.start_time or 0)

    def metric(self, name: str) -> list[tuple[dict[str, Any], float]]:
        """Each data point of metric ``name``: its attributes and its sum (counters) or count (histograms)."""
        data = self.reader.get_metrics_data()
        assert data is not None
        points = []
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        for p in metric.data.data_points:
                            assert isinstance(p, HistogramDataPoint | NumberDataPoint)
                            value = p.count if isinstance(p, HistogramDataPoint) else p.value
                            points.append((dict(p.attributes or {}), float(value)))
        return points


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> tuple[AgentSession, Traced, Traced]:
    """One session, traced twice: with the defaults, and with content."""
    session = mover_session(tmp_path_factory.mktemp("trace"))
    plain = Traced(session, TraceOptions())
    full = Traced(session, TraceOptions(content=True, attributes={"deployment": "test"}))
    run(session)
    plain.trace.close()
    full.trace.close()
    return session, plain, full


def parent_of(span: ReadableSpan, candidates: Sequence[ReadableSpan]) -> ReadableSpan:
    """The span among ``candidates`` that is ``span``'s parent."""
    assert span.parent is not None, span.name
    [parent] = [c for c in candidates if c.context is not None and c.context.span_id == span.parent.span_id]
    return parent


def start(span: ReadableSpan) -> int:
    """The span's start (ns since the epoch)."""
    assert span.start_time is not None
    return span.start_time


def end(span: ReadableSpan) -> int:
    """The span's end (ns since the epoch)."""
    assert span.end_time is not None
    return span.end_time


def test_each_turn_has_its_spans_under_the_session(traced: tuple[AgentSession, Traced, Traced]) -> None:
    session, plain, _ = traced
    [root] = plain.spans("session")
    turns = plain.spans("turn")
    assert root.parent is None and len(turns) == 2
    assert all(parent_of(t, [root]) is root for t in turns)
    assert len({s.context.trace_id for s in plain.exporter.get_finished_spans() if s.context}) == 1
    for name in ("user_speech", "end_of_turn", "llm", "tts", "playout"):
        spans = plain.spans(name)
        assert len(spans) == 2, name
        assert [parent_of(s, turns) for s in spans] == turns, name
    [interruption] = plain.spans("interruption")
    assert parent_of(interruption, turns) is turns[0]  # the second utterance cut the first answer
    tools = plain.spans("execute_tool move")
    assert [parent_of(t, plain.spans("llm")) for t in tools] == plain.spans("llm")
    assert all(t.attributes is not None and t.attributes["gen_ai.tool.name"] == "move" for t in tools)
    assert all(s.status.status_code != StatusCode.ERROR for s in plain.exporter.get_finished_spans())
    replies = [e.reply_id for e in session.events if isinstance(e, ReplyMetrics)]
    assert [t.attributes and t.attributes["graphflow.reply.id"] for t in turns] == replies


def test_spans_follow_the_conversation_in_time(traced: tuple[AgentSession, Traced, Traced]) -> None:
    session, plain, _ = traced
    turns, speech, decided = plain.spans("turn"), plain.spans("user_speech"), plain.spans("end_of_turn")
    llm, tools, tts, playout = (
        plain.spans("llm"),
        plain.spans("execute_tool move"),
        plain.spans("tts"),
        plain.spans("playout"),
    )
    for i in range(2):
        assert start(turns[i]) == start(speech[i]) < end(speech[i]) <= start(decided[i]) + 1
        assert start(decided[i]) < end(decided[i]) == start(llm[i])
        assert start(llm[i]) <= start(tools[i]) < end(tools[i]) <= end(llm[i])
        assert (
            start(llm[i])
            < start(tts[i])
            < end(tts[i])
            <= start(playout[i])
            < end(playout[i])
            == end(turns[i])
        )
    [interruption] = plain.spans("interruption")
    # the user spoke first, then the agent paused, then the reply was cut
    assert start(speech[1]) < start(interruption) < end(interruption) == end(playout[0])
    # the durations are the session's own figures
    figures = [e for e in session.events if isinstance(e, TurnMetrics)]
    costs = [e for e in session.events if isinstance(e, ReplyMetrics)]
    for i in range(2):
        assert (end(decided[i]) - start(decided[i])) / 1e6 == pytest.approx(figures[i].end_of_turn_ms, abs=1)
        assert (end(tts[i]) - start(tts[i])) / 1e6 == pytest.approx(figures[i].tts_ttfb_ms, abs=1)
        assert (end(llm[i]) - start(llm[i])) / 1e6 == pytest.approx(costs[i].llm_duration_ms, abs=1)
        voice = (start(playout[i]) - end(speech[i])) / 1e6
        assert voice == pytest.approx(figures[i].voice_to_voice_ms, abs=1)
        assert (end(tools[i]) - start(tools[i])) / 1e6 == pytest.approx(250, abs=1)  # the tool's own wait


def test_the_decision_carries_its_evidence(traced: tuple[AgentSession, Traced, Traced]) -> None:
    session, plain, _ = traced
    ended = [e for e in session.events if isinstance(e, TurnEnded)]
    for span, turn in zip(plain.spans("end_of_turn"), ended, strict=True):
        attrs = dict(span.attributes or {})
        assert attrs["graphflow.turn.reason"] == str(turn.reason)
        assert attrs["graphflow.turn.probability"] == pytest.approx(turn.probability)
        assert turn.evidence is not None  # the fused decision weighed audio, text and silence
        assert attrs["graphflow.turn.evidence.audio"] == pytest.approx(turn.evidence.audio)
        assert attrs["graphflow.turn.evidence.text_rule"] == turn.evidence.text_rule
        assert attrs["graphflow.turn.evidence.due_ms"] == pytest.approx(turn.evidence.due_ms)
    cut, whole = plain.spans("playout")
    assert cut.attributes and cut.attributes["graphflow.playout.interrupted"] is True
    assert whole.attributes and whole.attributes["graphflow.playout.interrupted"] is False
    [interruption] = plain.spans("interruption")
    assert interruption.attributes and interruption.attributes["graphflow.interruption.resumed"] is False


def test_content_is_left_out_unless_asked_for(traced: tuple[AgentSession, Traced, Traced]) -> None:
    _, plain, full = traced
    said = [SAID, ANSWER, "Moving forward", '"distance"']
    for span in plain.exporter.get_finished_spans():
        attrs = dict(span.attributes or {})
        events = [dict(e.attributes or {}) for e in span.events]
        assert not CONTENT_KEYS & set(attrs), span.name
        values = [str(v) for a in [attrs, *events] for v in a.values()]
        assert not any(text in v for text in said for v in values), span.name
    assert plain.spans("end_of_turn")[0].attributes["graphflow.user.characters"] == len(SAID)  # type: ignore[index]
    # with content on, the same spans say what was said
    decided = full.spans("end_of_turn")[0].attributes or {}
    assert decided["graphflow.user.text"] == SAID
    tool = full.spans("execute_tool move")[0].attributes or {}
    assert (
        tool["gen_ai.tool.call.arguments"] == '{"distance": "ten"}'
        and tool["gen_ai.tool.call.result"] == ANSWER
    )
    whole = full.spans("playout")[1].attributes or {}
    assert whole["graphflow.agent.text"] == ANSWER
    assert (full.spans("session")[0].attributes or {})["deployment"] == "test"


def test_metrics_count_turns_latencies_interruptions_and_tool_calls(
    traced: tuple[AgentSession, Traced, Traced],
) -> None:
    session, plain, _ = traced
    latency = {str(a["graphflow.stage"]): n for a, n in plain.metric("graphflow.turn.latency")}
    assert latency["voice_to_voice"] == len(session.metrics) == 2
    assert latency["end_of_turn"] == 2 and latency["llm_ttft"] == 2
    [(_, interruptions)] = plain.metric("graphflow.interruptions")
    cut = [e for e in session.events if isinstance(e, AgentStoppedSpeaking) and e.interrupted]
    assert interruptions == len(cut) == 1
    [(tool, calls)] = plain.metric("graphflow.tool_calls")
    assert tool == {"gen_ai.tool.name": "move", "graphflow.tool.error": False}
    assert calls == len([e for e in session.events if isinstance(e, FunctionOutput)]) == 2
    [(kind, turns)] = plain.metric("graphflow.turns")
    assert turns == 2 and kind["graphflow.turn.kind"] == "spoken"
    assert plain.metric("graphflow.errors") == [] and session.errors == []


def test_a_missing_extra_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import builtins

    from graphflow.errors import ConfigError

    real_import = builtins.__import__

    def no_otel(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("opentelemetry"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    session = mover_session(tmp_path)
    monkeypatch.setattr(builtins, "__import__", no_otel)
    with pytest.raises(ConfigError) as failure:
        trace_session(session)
    line = str(failure.value)
    assert line == "[config.missing_extra] OpenTelemetry is not installed: pip install 'graphflow[otel]'"


def test_the_core_does_not_import_opentelemetry() -> None:
    import subprocess
    import sys

    code = (
        "import sys, graphflow.telemetry, graphflow.recording, graphflow.cli.run; "
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"  # the SDK is imported when a trace is attached, not before
