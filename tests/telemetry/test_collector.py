"""The trace of a real offline voice session, exported over OTLP/HTTP to a real OpenTelemetry collector.

The collector (the OTLP receiver and the debug exporter, v0.165.0) is built once from
the Go module proxy into the cache by ``python -m graphflow.telemetry.collector``. Under
CI (``CI=true``) a missing collector fails the test; elsewhere it is skipped, saying how
to build it.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from graphflow.telemetry import TraceOptions, trace_session
from graphflow.telemetry.collector import Collector, binary_path

from .voice import mover_session, run

SPAN = re.compile(
    r"Span #\d+\s+Trace ID\s+: (?P<trace>\w+)\s+Parent ID\s+: (?P<parent>\w*)\s+ID\s+: (?P<id>\w+)\s+"
    r"Name\s+: (?P<name>[^\n]+)"
)


def collector_or_skip() -> None:
    """Skip (fail under CI) when the collector is not built."""
    if binary_path().is_file():
        return
    message = (
        f"the OpenTelemetry collector is not built ({binary_path()} is missing): "
        "run `python -m graphflow.telemetry.collector` (needs Go >= 1.26)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def test_a_collector_receives_the_sessions_spans_and_metrics(tmp_path: Path) -> None:
    collector_or_skip()
    with Collector(tmp_path / "collector") as collector:
        resource = Resource.create({"service.name": "graphflow-test"})
        tracer = TracerProvider(resource=resource)
        tracer.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{collector.endpoint}/v1/traces"))
        )
        reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=f"{collector.endpoint}/v1/metrics"), export_interval_millis=60_000
        )
        meter = MeterProvider(resource=resource, metric_readers=[reader])
        session = mover_session(tmp_path)
        with trace_session(session, tracer_provider=tracer, meter_provider=meter, options=TraceOptions()):
            run(session)
        tracer.shutdown()  # flushes the batch
        meter.shutdown()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "graphflow.turn.latency" not in collector.received():
            time.sleep(0.2)
        log = collector.received()
    spans = [m.groupdict() for m in SPAN.finditer(log)]
    names = sorted(s["name"] for s in spans)
    assert names.count("session") == 1 and names.count("turn") == 2
    for name in ("user_speech", "end_of_turn", "llm", "execute_tool move", "tts", "playout"):
        assert names.count(name) == 2, (name, names)
    assert names.count("interruption") == 1
    [root] = [s for s in spans if s["name"] == "session"]
    assert root["parent"] == "" and {s["trace"] for s in spans} == {root["trace"]}
    assert all(s["parent"] == root["id"] for s in spans if s["name"] == "turn")
    assert "service.name: Str(graphflow-test)" in log
    assert "graphflow.turn.reason: Str(fused)" in log  # the decision's attributes arrived
    assert "graphflow.turn.latency" in log and "graphflow.interruptions" in log  # and the metrics
    assert "go forward" not in log.lower()  # no content by default
