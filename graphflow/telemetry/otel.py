"""OpenTelemetry export: span records as OTel spans, session events as OTel metrics.

Only the OpenTelemetry API is used here, imported when a trace is attached (the ``otel``
extra brings it with the SDK and the OTLP exporters); the caller hands in the tracer and
meter providers it configured with the SDK. Times are the engine clock's, placed on the
wall clock once, when the first span starts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from graphflow.conversation.events import (
    AgentStoppedSpeaking,
    FunctionOutput,
    SessionError,
    SessionEvent,
    TurnEnded,
    TurnMetrics,
)
from graphflow.errors import ConfigError
from graphflow.telemetry.options import TRACER_NAME
from graphflow.telemetry.spans import SpanRecord

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Span, TracerProvider

LATENCY_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10)
"""Bucket bounds of ``graphflow.turn.latency`` (s), those of the Prometheus stage latency."""

STAGES = ("vad", "end_of_turn", "transcript", "llm_ttft", "tts_ttfb", "sink", "voice_to_voice")
"""The stages of an exchange whose latency is recorded (the ``TurnMetrics`` figures)."""


def require_otel() -> None:
    """Fail with one clear line when the OpenTelemetry packages are not installed."""
    try:
        import opentelemetry.metrics
        import opentelemetry.trace  # noqa: F401
    except ImportError:
        raise ConfigError(
            "OpenTelemetry is not installed: pip install 'graphflow[otel]'", code="config.missing_extra"
        ) from None


class OtelSpans:
    """A span sink that makes each record an OpenTelemetry span with the record's own times."""

    def __init__(self, provider: TracerProvider | None, now: Callable[[], int], parent: Context) -> None:
        from opentelemetry import trace

        self.tracer = (provider or trace.get_tracer_provider()).get_tracer(TRACER_NAME)
        self.now, self.parent = now, parent
        self.spans: dict[int, Span] = {}
        self.offset: int | None = None

    def wall(self, clock_ns: int) -> int:
        """Wall-clock ns (since the epoch) of an engine clock time."""
        if self.offset is None:
            self.offset = time.time_ns() - self.now()
        return clock_ns + self.offset

    def started(self, span: SpanRecord) -> None:
        """Start the OTel span, under its parent's."""
        from opentelemetry import trace

        parent = self.spans.get(span.parent.id) if span.parent is not None else None
        context = trace.set_span_in_context(parent) if parent is not None else self.parent
        self.spans[span.id] = self.tracer.start_span(span.name, context, start_time=self.wall(span.start))

    def ended(self, span: SpanRecord) -> None:
        """Set the attributes, events and status, and end the OTel span at the record's end."""
        from opentelemetry.trace import Status, StatusCode

        otel = self.spans.pop(span.id, None)
        if otel is None:
            return
        otel.set_attributes(span.attributes)
        for event in span.events:
            otel.add_event(event.name, event.attributes, timestamp=self.wall(event.at))
        if span.error:
            otel.set_status(Status(StatusCode.ERROR, span.error))
        otel.end(end_time=self.wall(span.end if span.end is not None else span.start))


class OtelMetrics:
    """Records a session's turn latencies, turns, interruptions, tool calls and errors."""

    def __init__(self, provider: MeterProvider | None) -> None:
        from opentelemetry import metrics

        meter = (provider or metrics.get_meter_provider()).get_meter(TRACER_NAME)
        self.latency = meter.create_histogram(
            "graphflow.turn.latency",
            unit="s",
            description="Latency of each stage of an exchange (see TurnMetrics).",
            explicit_bucket_boundaries_advisory=list(LATENCY_BUCKETS_S),
        )
        self.turns = meter.create_counter("graphflow.turns", unit="{turn}", description="User turns decided.")
        self.interruptions = meter.create_counter(
            "graphflow.interruptions",
            unit="{interruption}",
            description="Replies cut by the user barging in.",
        )
        self.tool_calls = meter.create_counter(
            "graphflow.tool_calls", unit="{call}", description="Tool calls answered, by tool and outcome."
        )
        self.errors = meter.create_counter(
            "graphflow.errors", unit="{error}", description="Stage failures, by node and code."
        )

    def on_event(self, event: SessionEvent) -> None:
        """Record what ``event`` adds to the metrics."""
        if isinstance(event, TurnMetrics):
            for stage in STAGES:
                value = getattr(event, f"{stage}_ms")
                if value is not None:
                    self.latency.record(value / 1000.0, {"graphflow.stage": stage})
        elif isinstance(event, TurnEnded):
            self.turns.add(
                1, {"graphflow.turn.kind": str(event.kind), "graphflow.turn.reason": str(event.reason)}
            )
        elif isinstance(event, AgentStoppedSpeaking) and event.interrupted:
            self.interruptions.add(1)
        elif isinstance(event, FunctionOutput):
            self.tool_calls.add(1, {"gen_ai.tool.name": event.name, "graphflow.tool.error": event.is_error})
        elif isinstance(event, SessionError):
            attrs: dict[str, Any] = {"graphflow.error.node": event.node, "graphflow.error.code": event.code}
            self.errors.add(1, {**attrs, "graphflow.error.fatal": event.fatal})
