"""Span attributes of a turn decision's evidence and a reply's costs (never content)."""

from __future__ import annotations

from graphflow.conversation.events import ReplyMetrics
from graphflow.frames.speech import TurnEvidence
from graphflow.telemetry.spans import AttributeValue

EVIDENCE_FIELDS = ("audio", "text", "text_rule", "logit", "due_ms", "adapted_ms", "silence_ms", "scale_ms")
"""The fields of :class:`TurnEvidence` a decision's span carries, as ``graphflow.turn.evidence.*``."""


def evidence_attributes(evidence: TurnEvidence | None) -> dict[str, AttributeValue]:
    """What the turn detector weighed, as attributes (none when the decision had no evidence)."""
    if evidence is None:
        return {}
    values: dict[str, AttributeValue] = {}
    for name in EVIDENCE_FIELDS:
        value = getattr(evidence, name)
        if isinstance(value, str | int | float):
            values[f"graphflow.turn.evidence.{name}"] = value
    return values


def reply_attributes(metrics: ReplyMetrics) -> dict[str, AttributeValue]:
    """What a reply cost the language model and the TTS, as attributes."""
    values: dict[str, AttributeValue] = {
        "graphflow.reply.tokens": metrics.tokens,
        "graphflow.reply.tts_characters": metrics.tts_characters,
        "graphflow.reply.tool_calls": metrics.tool_calls,
    }
    for name in ("llm_ttft_ms", "llm_duration_ms", "tokens_per_s"):
        value = getattr(metrics, name)
        if value is not None:
            values[f"graphflow.reply.{name}"] = value
    if metrics.error:
        values["graphflow.reply.error"] = metrics.error
    return values
