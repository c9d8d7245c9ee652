"""Tracing a session from outside: :func:`trace_session` subscribes to its events.

Nothing inside the session changes: the trace is one more subscriber of its event feed.
Call :meth:`SessionTrace.close` once the session's run is over (or use the trace as a
context manager around the run) to end the spans still open.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

from graphflow.conversation.events import SessionEvent
from graphflow.telemetry.options import TraceOptions
from graphflow.telemetry.spans import SpanSink
from graphflow.telemetry.turns import TurnTracer

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

    from graphflow.agent.session import AgentSession


class SessionTrace:
    """One session's turn tracer and metrics, fed by its events."""

    def __init__(self, session: AgentSession, tracer: TurnTracer) -> None:
        self.session, self.tracer = session, tracer
        self.listeners: list[Callable[[SessionEvent], None]] = []
        """Also called with every event (the metrics, a recording)."""
        self.closed = False
        session.subscribe(self.on_event)

    def on_event(self, event: SessionEvent) -> None:
        """Hand one session event to the tracer and the listeners (a failure is logged, never raised)."""
        if self.closed:
            return
        try:  # watching a call must never break it
            self.tracer.on_event(event)
            for listener in self.listeners:
                listener(event)
        except Exception:
            log.exception("tracing failed on %s", type(event).__name__)

    def close(self) -> None:
        """End every span still open (the session is over); later events are ignored."""
        if not self.closed:
            self.closed = True
            self.tracer.close(self.session.now())

    def __enter__(self) -> SessionTrace:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def spans_of(session: AgentSession, sink: SpanSink, options: TraceOptions | None = None) -> SessionTrace:
    """Follow ``session`` and hand its spans to ``sink`` (no OpenTelemetry needed)."""
    tracer = TurnTracer(sink, options or TraceOptions(), lambda media: _media_clock(session, media))
    return SessionTrace(session, tracer)


def trace_session(
    session: AgentSession,
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    options: TraceOptions | None = None,
) -> SessionTrace:
    """Export ``session``'s spans and metrics through OpenTelemetry (the ``otel`` extra).

    The providers default to OpenTelemetry's global ones. The session's span is a child of
    the span current when this is called, if any.
    """
    from graphflow.telemetry.otel import OtelMetrics, OtelSpans, require_otel

    require_otel()
    from opentelemetry import context

    sink = OtelSpans(tracer_provider, session.now, context.get_current())
    trace = spans_of(session, sink, options)
    trace.listeners.append(OtelMetrics(meter_provider).on_event)
    return trace


def _media_clock(session: AgentSession, media: int) -> int:
    base = session.playout.timeline.base
    return base + media if base is not None else session.now()
