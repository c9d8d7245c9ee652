"""The fused turn decision: one probability from the audio model, the transcript's words and the silence.

Evidence is a logit: ``z = logit(p_audio) + text_weight * logit(p_text)``, where
``p_audio`` is Smart Turn's probability on the audio up to the end of speech and
``p_text`` is :func:`~nodes.turn.text_complete.lexical` on the turn's transcript
(a recognizer's final period or question mark is not trusted; its trailing ``...`` is).
The probability that the turn is over rises with the silence ``s`` since the end of
speech, ``P(s) = sigmoid((s - due(z)) / scale)``, and the turn ends when it reaches 0.5:
after ``due(z)`` of silence. ``due`` falls linearly with ``z`` through two anchors — sure
evidence ends by ``sure_delay_ms``, doubtful evidence waits ``doubt_delay_ms`` — clamped
to the minimum and maximum delays: a finished sentence ends at 200-450 ms, an unfinished
one holds toward the maximum. A user who pauses long inside their turns gets more time
on doubtful evidence (:class:`PauseMemory`).
"""

from __future__ import annotations

import math

from graphflow.frames.speech import TurnEvidence
from graphflow.timebase import to_ms
from nodes.turn.options import FusedOptions
from nodes.turn.text_complete import lexical

NO_TEXT = 0.5
"""The text's score before any transcript came: it weighs nothing either way."""


def logit(p: float) -> float:
    """log(p / (1 - p)), with ``p`` kept within [0.005, 0.995]."""
    p = min(max(p, 0.005), 0.995)
    return math.log(p / (1.0 - p))


class FusedRule:
    """Turns a turn's evidence into the silence it needs (see the module docs)."""

    def __init__(self, options: FusedOptions) -> None:
        self.options = options
        self.scale_ms = (options.doubt_delay_ms - options.sure_delay_ms) / (
            options.sure_logit - options.doubt_logit
        )
        """Silence per logit unit of evidence (ms)."""

    def due_ms(self, z: float, max_delay_ms: float, adapted_ms: float = 0.0) -> float:
        """Silence after the end of speech that evidence ``z`` asks for, within the delays."""
        o = self.options
        due = o.sure_delay_ms + (o.sure_logit - z) * self.scale_ms
        if z < o.sure_logit:
            due += adapted_ms
        return min(max(due, o.min_delay_ms), max_delay_ms)

    def weigh(self, audio: float, text: str | None, adapted_ms: float, max_delay_ms: float) -> TurnEvidence:
        """The evidence of a Smart Turn probability and the turn's text (None: not in yet)."""
        verdict = lexical(text) if text is not None else None
        p_text = verdict.score if verdict is not None else NO_TEXT
        z = logit(audio) + (self.options.text_weight * logit(p_text) if verdict is not None else 0.0)
        return TurnEvidence(
            audio=audio,
            text=p_text,
            text_rule=verdict.rule if verdict is not None else "",
            logit=z,
            due_ms=self.due_ms(z, max_delay_ms, adapted_ms),
            adapted_ms=adapted_ms if z < self.options.sure_logit else 0.0,
            scale_ms=self.scale_ms,
        )


class PauseMemory:
    """The user's pauses inside their turns (speech that resumed after a quiet), smoothed."""

    BASE_MS = 300.0
    """Pauses up to this long are everyone's: they add nothing."""
    ALPHA = 0.3
    """Weight of the newest pause in the running average."""

    def __init__(self) -> None:
        self.average_ms: float | None = None
        """Running average of the pauses seen (ms), None before the first."""

    def add(self, gap_ns: int) -> None:
        """Remember a pause of ``gap_ns`` that the speaker resumed after."""
        gap = to_ms(max(gap_ns, 0))
        self.average_ms = (
            gap if self.average_ms is None else self.ALPHA * gap + (1 - self.ALPHA) * self.average_ms
        )

    def extra_ms(self, options: FusedOptions) -> float:
        """What this speaker's pauses add to a doubtful decision's wait."""
        if self.average_ms is None:
            return 0.0
        return min(max(self.average_ms - self.BASE_MS, 0.0), float(options.adapt_max_ms))
