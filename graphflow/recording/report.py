"""``report.json``: what a session came to — turns, replies, latencies, interruptions, tool calls, errors.

Built from the session's events alone, so a recording's report can be made again from
its ``events.jsonl``. Times are seconds on the input's timeline (``media_s``, where the
audio file has them) and, for the turn decisions, also on the engine clock (``at_s``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np

from graphflow.conversation.events import (
    AgentStartedSpeaking,
    AgentStoppedSpeaking,
    FunctionCalls,
    FunctionOutput,
    ReplyMetrics,
    SessionError,
    SessionEvent,
    TurnEnded,
    TurnMetrics,
)
from graphflow.telemetry.otel import STAGES
from graphflow.timebase import to_seconds

REPORT_FORMAT = 1
"""The version of the recording's layout (bumped when a file or a field changes meaning)."""


def build_report(events: Sequence[SessionEvent]) -> dict[str, Any]:
    """The report of a session that emitted ``events`` (see the module docstring)."""
    metrics = [e for e in events if isinstance(e, TurnMetrics)]
    stopped = [e for e in events if isinstance(e, AgentStoppedSpeaking)]
    outputs = [e for e in events if isinstance(e, FunctionOutput)]
    errors = [e for e in events if isinstance(e, SessionError)]
    return {
        "summary": {
            "turns": sum(isinstance(e, TurnEnded) for e in events),
            "replies_heard": len(stopped),
            "interruptions": sum(e.interrupted for e in stopped),
            "tool_calls": len(outputs),
            "tool_errors": sum(e.is_error for e in outputs),
            "errors": len(errors),
            "fatal": any(e.fatal for e in errors),
            "latency_ms": {stage: _stats([getattr(m, f"{stage}_ms") for m in metrics]) for stage in STAGES},
        },
        "turns": [_turn(e) for e in events if isinstance(e, TurnEnded)],
        "replies": _replies(events),
        "tool_calls": _tool_calls(events),
        "errors": [
            {
                "media_s": to_seconds(e.media),
                "node": e.node,
                "code": e.code,
                "message": e.message,
                "fatal": e.fatal,
            }
            for e in errors
        ],
    }


def _turn(event: TurnEnded) -> dict[str, Any]:
    """One turn decision: what was said, when, what decided it and on what evidence."""
    return {
        "media_s": to_seconds(event.media),
        "at_s": to_seconds(event.at),
        "text": event.text,
        "kind": str(event.kind),
        "reason": str(event.reason),
        "probability": event.probability,
        "evidence": msgspec.to_builtins(event.evidence) if event.evidence is not None else None,
    }


def _replies(events: Sequence[SessionEvent]) -> list[dict[str, Any]]:
    """Each reply that was heard: when, what of it, cut or not, its latencies and costs."""
    replies: dict[str, dict[str, Any]] = {}
    for e in events:
        if isinstance(e, AgentStartedSpeaking):
            replies[e.reply_id] = {"reply_id": e.reply_id, "started_s": to_seconds(e.media)}
        elif isinstance(e, AgentStoppedSpeaking) and e.reply_id in replies:
            reply = replies[e.reply_id]
            reply.update(stopped_s=to_seconds(e.media), heard=e.heard, interrupted=e.interrupted)
        elif isinstance(e, TurnMetrics) and e.reply_id in replies:
            figures = msgspec.to_builtins(e)
            replies[e.reply_id]["latency_ms"] = {
                k: figures[f"{k}_ms"] for k in STAGES if f"{k}_ms" in figures
            }
    for e in events:
        if isinstance(e, ReplyMetrics) and e.reply_id in replies:
            replies[e.reply_id]["llm"] = {
                k: v for k, v in msgspec.to_builtins(e).items() if k not in ("at", "media")
            }
    return list(replies.values())


def _tool_calls(events: Sequence[SessionEvent]) -> list[dict[str, Any]]:
    """Each tool call: its reply, name, arguments, output, whether it failed, and how long it took."""
    called: dict[str, tuple[int, str]] = {}
    for e in events:
        if isinstance(e, FunctionCalls):
            called.update({c.id: (e.at, c.arguments) for c in e.calls})
    calls = []
    for e in events:
        if isinstance(e, FunctionOutput):
            at, arguments = called.get(e.call_id, (e.at, ""))
            calls.append(
                {
                    "reply_id": e.reply_id,
                    "call_id": e.call_id,
                    "name": e.name,
                    "arguments": arguments,
                    "output": e.output,
                    "is_error": e.is_error,
                    "duration_ms": (e.at - at) / 1e6,
                }
            )
    return calls


def _stats(values: Sequence[float | None]) -> dict[str, float | int] | None:
    """Count, mean, p50, p90 and max of the values that are there (None: none were)."""
    present = np.array([v for v in values if v is not None], dtype=np.float64)
    if present.size == 0:
        return None
    return {
        "count": int(present.size),
        "mean": float(present.mean()),
        "p50": float(np.percentile(present, 50)),
        "p90": float(np.percentile(present, 90)),
        "max": float(present.max()),
    }
