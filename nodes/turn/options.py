"""The turn detector's options: how long to wait after speech, and what may end a turn sooner."""

from __future__ import annotations

from typing import Literal

import msgspec

from graphflow.errors import ConfigError


class FusedOptions(msgspec.Struct, frozen=True):
    """The fused decision: evidence ``z = logit(p_audio) + text_weight * logit(p_text)`` asks for a
    silence that falls as ``z`` rises, through two anchors (tuned on benchmarks/turns, see
    docs/nodes/turn.md): ``z >= sure_logit`` ends the turn by ``sure_delay_ms`` of silence,
    ``z <= doubt_logit`` holds it past ``doubt_delay_ms``; linear in between and beyond,
    clamped to [``min_delay_ms``, the detector's ``max_delay_ms``]."""

    min_delay_ms: int = 200
    """Earliest end of turn after the end of speech, however sure the evidence. People also
    pause 200-400 ms between the sentences of one turn: when they go on, the reply is cut
    before it is heard and the two fragments join into one message (see docs/agents.md)."""
    model_tail_ms: int = 0
    """Silence after the end of speech in Smart Turn's audio: the model holds most cut
    sentences with none, and calls them complete once it hears 200 ms of silence."""
    text_weight: float = 2.0
    """Weight of the transcript's words (``lexical``) against the audio model's logit."""
    sure_logit: float = -1.9
    """Evidence at which the turn ends by ``sure_delay_ms``."""
    sure_delay_ms: int = 250
    """Silence that evidence at ``sure_logit`` waits for."""
    doubt_logit: float = -2.3
    """Evidence at which the turn waits ``doubt_delay_ms``."""
    doubt_delay_ms: int = 1600
    """Silence that evidence at ``doubt_logit`` waits for."""
    adapt: bool = True
    """Wait longer on doubtful evidence for a user who pauses long inside their turns."""
    adapt_max_ms: int = 600
    """The most the user's own pauses may add."""


class TurnOptions(msgspec.Struct, frozen=True):
    """How the turn detector decides (delays in ms from the end of speech)."""

    mode: Literal["fused", "smart", "silence"] = "fused"
    """``fused``: one probability from the audio model, the transcript's words and the
    silence (see :class:`FusedOptions`); ``smart``: the audio model first, then the
    transcript's punctuation, then ``max_delay_ms``; ``silence``: a fixed silence only."""
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
    fused: FusedOptions = FusedOptions()
    """The ``fused`` mode's settings."""


def validate(options: TurnOptions) -> None:
    """Raise ConfigError when ``options`` are out of range (checked when the detector is made)."""
    if options.mode not in ("fused", "smart", "silence"):
        raise ConfigError(f"TurnOptions.mode must be 'fused', 'smart' or 'silence', got {options.mode!r}")
    f = options.fused
    if f.min_delay_ms < 0 or f.model_tail_ms < 0 or f.adapt_max_ms < 0 or f.text_weight < 0:
        raise ConfigError(f"FusedOptions: delays and the text weight must be >= 0, got {f}")
    if not (f.doubt_logit < f.sure_logit and f.sure_delay_ms < f.doubt_delay_ms):
        raise ConfigError(
            "FusedOptions: doubt_logit must be below sure_logit and doubt_delay_ms above sure_delay_ms",
            hint="more doubtful evidence waits longer",
        )
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
