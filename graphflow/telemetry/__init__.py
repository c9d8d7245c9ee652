"""Tracing sessions: spans per turn and metrics, exported through OpenTelemetry (the ``otel`` extra).

``trace_session(session, tracer_provider=..., meter_provider=..., options=TraceOptions())``
follows a session from outside, through its events; ``spans_of(session, sink)`` gives
the same spans to any :class:`SpanSink` without OpenTelemetry (a recording's
``trace.json``). See docs/telemetry.md.
"""

from graphflow.telemetry.attach import SessionTrace, spans_of, trace_session
from graphflow.telemetry.options import TraceOptions
from graphflow.telemetry.spans import SpanList, SpanRecord, SpanSink

__all__ = ["SessionTrace", "SpanList", "SpanRecord", "SpanSink", "TraceOptions", "spans_of", "trace_session"]
