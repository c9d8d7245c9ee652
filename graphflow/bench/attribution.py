"""Engine-added latency: what is left of an exchange once model calls and configured waits are taken out.

The product spec defines it as voice-to-voice minus the time spent inside model calls
minus configured waits. Voice-to-voice is end of speech → turn decision → first audio
playing; everything up to the turn decision is the endpointing the spec counts as
configured waiting (VAD silence, the minimum delay, Smart Turn, the final transcript),
so per exchange::

    engine_added = (first audio playing - turn decided) - measured model time

where the measured model time is the span of the two provider calls on the reply's path,
each from the moment its stage handed the work over to the moment the provider answered:
the LLM call whose first chunk started the reply (→ its first chunk) and the TTS call that
made the first audio (→ its audio). Both are clipped to [turn decided, playing], so a
reply generated ahead of the turn (preemptive generation) is not subtracted twice.

``engine_added_configured`` is the older figure, which subtracts the stand-ins' configured
delays instead: it also counts every timer overshoot of the stand-ins as engine cost.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphflow.bench.standins import ProviderCall
from graphflow.conversation.events import TurnMetrics
from graphflow.timebase import MS, to_ms


@dataclass(frozen=True)
class Attribution:
    """One exchange split into engine and model time (ms)."""

    engine_added_ms: float
    model_ms: float
    overshoot_ms: float
    """How much later than configured the two stand-ins answered (their timers' overshoot)."""


def reply_window(metrics: TurnMetrics) -> tuple[int, int] | None:
    """Clock times (ns) of the turn decision and of the first audio playing, if both happened."""
    if metrics.voice_to_voice_ms is None or metrics.end_of_turn_ms is None:
        return None
    played = metrics.at
    return played - round((metrics.voice_to_voice_ms - metrics.end_of_turn_ms) * MS), played


def _clipped(call: ProviderCall, lo: int, hi: int) -> int:
    return max(0, min(call.end, hi) - max(call.start, lo))


def attribute(
    metrics: TurnMetrics, llm_calls: list[ProviderCall], tts_calls: list[ProviderCall]
) -> Attribution | None:
    """Split one exchange's turn → playing time; None if no TTS call made its first audio."""
    window = reply_window(metrics)
    if window is None:
        return None
    turn, played = window
    tts = next((c for c in reversed(tts_calls) if turn < c.end <= played), None)
    if tts is None:
        return None
    llm = next((c for c in reversed(llm_calls) if c.end <= tts.start), None)
    model = _clipped(tts, turn, played)
    overshoot = tts.overshoot
    if llm is not None and llm.end > turn:
        model += _clipped(llm, turn, played)
        overshoot += llm.overshoot
    return Attribution(to_ms(played - turn - model), to_ms(model), to_ms(overshoot))


def configured_engine_added(
    metrics: TurnMetrics, llm_ttft_ms: float, tts_first_byte_ms: float
) -> float | None:
    """The older figure: voice-to-voice - end of turn - the configured LLM and TTS delays."""
    if metrics.voice_to_voice_ms is None or metrics.end_of_turn_ms is None:
        return None
    return metrics.voice_to_voice_ms - metrics.end_of_turn_ms - llm_ttft_ms - tts_first_byte_ms
