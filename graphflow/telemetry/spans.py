"""The spans of a session, as plain records: what a turn tracer builds and what exporters read.

A :class:`SpanRecord` has a name, a start and an end on the engine's clock (ns), a parent,
attributes and timed events. Whoever consumes them implements :class:`SpanSink`: it is
told when a span starts (its parent has started before it) and when it ends (its
attributes are complete then). The OpenTelemetry exporter and the recording's
``trace.json`` are two such sinks, so both show the same spans.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Protocol

AttributeValue = str | bool | int | float
"""What an attribute holds (OpenTelemetry's scalar attribute types)."""

_ids = itertools.count(1)


@dataclass
class SpanEvent:
    """Something that happened at one instant inside a span."""

    name: str
    at: int
    attributes: dict[str, AttributeValue] = field(default_factory=dict)


@dataclass
class SpanRecord:
    """One span: ``start``/``end`` on the engine clock (ns; ``end`` None while open)."""

    name: str
    start: int
    parent: SpanRecord | None = None
    end: int | None = None
    attributes: dict[str, AttributeValue] = field(default_factory=dict)
    events: list[SpanEvent] = field(default_factory=list)
    error: str = ""
    """Set when the span's work failed (the span's status is then an error)."""
    id: int = field(default_factory=lambda: next(_ids))

    @property
    def open(self) -> bool:
        """Not ended yet."""
        return self.end is None

    def to_json(self) -> dict[str, object]:
        """The span as plain JSON values (times in ns on the engine clock)."""
        return {
            "id": self.id,
            "parent": self.parent.id if self.parent is not None else None,
            "name": self.name,
            "start": self.start,
            "end": self.end,
            "attributes": dict(self.attributes),
            "events": [{"name": e.name, "at": e.at, "attributes": dict(e.attributes)} for e in self.events],
            "error": self.error,
        }


class SpanSink(Protocol):
    """Receives spans as they start and end."""

    def started(self, span: SpanRecord) -> None:
        """``span`` started (its parent, if any, started before it)."""
        ...

    def ended(self, span: SpanRecord) -> None:
        """``span`` ended; its attributes, events and error are final."""
        ...


class SpanList:
    """A sink that keeps every ended span, in the order they ended."""

    def __init__(self) -> None:
        self.spans: list[SpanRecord] = []

    def started(self, span: SpanRecord) -> None:
        """Nothing to do until it ends."""

    def ended(self, span: SpanRecord) -> None:
        """Keep ``span``."""
        self.spans.append(span)

    def to_json(self) -> list[dict[str, object]]:
        """Every span as plain JSON values, by start time."""
        return [s.to_json() for s in sorted(self.spans, key=lambda s: (s.start, s.id))]
