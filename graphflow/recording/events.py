"""A session's events and transcript as JSON lines; events read back as the same event structs.

Each line is one event: ``{"type": "TurnEnded", "at": ..., "media": ..., ...}`` — the
struct's fields as plain JSON values and its class name. :func:`read_events` turns the
lines back into :class:`~graphflow.conversation.events.SessionEvent` objects (what a
replay compares a new run against).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import msgspec

from graphflow.conversation import events as kinds
from graphflow.conversation.events import SessionEvent, Utterance


def event_types() -> dict[str, type[SessionEvent]]:
    """Every session event class, by name."""
    found: dict[str, type[SessionEvent]] = {}
    for name in dir(kinds):
        value = getattr(kinds, name)
        if isinstance(value, type) and issubclass(value, SessionEvent):
            found[name] = value
    return found


def event_line(event: SessionEvent) -> str:
    """``event`` as one JSON line (without the newline)."""
    values = msgspec.to_builtins(event)
    assert isinstance(values, dict)
    return json.dumps({"type": type(event).__name__, **values}, ensure_ascii=False)


def write_events(path: Path, events: Iterable[SessionEvent]) -> int:
    """Write ``events`` to ``path``, one JSON line each; returns how many."""
    count = 0
    with path.open("w") as out:
        for event in events:
            out.write(event_line(event) + "\n")
            count += 1
    return count


def write_transcript(path: Path, transcript: Iterable[Utterance]) -> None:
    """Write the utterances to ``path`` by start time, one JSON object a line (``--transcript``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        for utterance in sorted(transcript, key=lambda u: u.start):
            out.write(json.dumps(msgspec.to_builtins(utterance)) + "\n")


def read_events(path: Path) -> list[SessionEvent]:
    """The events of an ``events.jsonl`` file, as the structs they were (unknown types are skipped)."""
    types = event_types()
    found: list[SessionEvent] = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        values = json.loads(line)
        kind = types.get(values.pop("type", ""))
        if kind is not None:
            found.append(msgspec.convert(values, kind))
    return found
