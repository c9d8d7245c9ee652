"""The turn detector's options: how long to wait after speech, and what may end a turn sooner."""

from __future__ import annotations

from typing import Literal

import msgspec

from graphflow.errors import ConfigError


class TurnOptions(msgspec.Struct, frozen=True):
    """How the turn detector decides (delays in ms from the end of speech)."""

    mode: Literal["smart", "silence"] = "smart"
    """``smart``: audio model + transcript + delays; ``silence``: a fixed silence only."""
    min_delay_ms: int = 500
    """Earliest end of turn after the speech end (model or transcript says complete)."""
    max_delay_ms: int = 3000
    """Latest end of turn after the speech end, whatever the model and text say."""
    threshold: float = 0.5
    """Smart Turn probability at or above which the turn is complete."""
    statement_threshold: float = 0.25
    """Model probability still needed when the transcript is a complete-looking statement
    (a question or exclamation needs none)."""
    use_transcript: bool = True
    """Let a complete-looking final transcript end the turn when the model says no."""
    transcript_wait_ms: int = 1500
    """After deciding, how long to wait for the last segment's final transcript."""
    silence_delay_ms: int = 800
    """``silence`` mode: the silence that ends a turn."""
    preemptive: bool = True
    """Send a tentative turn (reason ``preemptive``) as soon as the final transcript is in
    while the decision is pending, so the language model can start; the real turn follows."""
    model_tail_ms: int = 200
    """Silence after the speech end included in the model's audio (as pipecat's VAD stop)."""
    pre_speech_ms: int = 500
    """Audio before the turn's first speech included in the model's window."""


def validate(options: TurnOptions) -> None:
    """Raise ConfigError when ``options`` are out of range (checked when the detector is made)."""
    if options.mode not in ("smart", "silence"):
        raise ConfigError(f"TurnOptions.mode must be 'smart' or 'silence', got {options.mode!r}")
    if not 0.0 <= options.threshold <= 1.0:
        raise ConfigError(f"TurnOptions.threshold must be within [0, 1], got {options.threshold}")
    delays = (
        "min_delay_ms",
        "max_delay_ms",
        "transcript_wait_ms",
        "silence_delay_ms",
        "model_tail_ms",
        "pre_speech_ms",
    )
    for field in delays:
        if getattr(options, field) < 0:
            raise ConfigError(f"TurnOptions.{field} must be >= 0, got {getattr(options, field)}")
    if options.max_delay_ms < options.min_delay_ms:
        raise ConfigError(
            f"TurnOptions.max_delay_ms ({options.max_delay_ms}) is below "
            f"min_delay_ms ({options.min_delay_ms})",
            hint="the fallback delay must be at least the minimum delay",
        )
