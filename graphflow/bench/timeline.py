"""A picture per recording: where each turn's time went, as a waterfall from the end of speech.

Each turn is one row of bars laid end to end on one axis that starts when the user's
speech ended: the VAD's end of speech, the final transcript, the turn decision, the
model's first token, the first synthesized audio and the moment the user hears it.
A stage that did not happen in a turn (no reply, a cut reply) is left out of its row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from graphflow.conversation.events import TurnMetrics

MILESTONES = (
    ("vad", "VAD end of speech"),
    ("transcript", "final transcript"),
    ("decision", "turn decision"),
    ("first_token", "first token"),
    ("first_audio", "first audio"),
    ("heard", "heard"),
)
"""The milestones of a turn, in pipeline order, with their labels."""
COLORS = ("#8da0cb", "#66c2a5", "#fc8d62", "#e78ac3", "#a6d854", "#ffd92f")
"""One colour per milestone (a colour-blind-safe qualitative palette)."""


@dataclass(frozen=True)
class TurnTimeline:
    """Milestones of one turn in ms after the end of the user's speech (None where none happened)."""

    label: str
    at: dict[str, float | None]


def milestones(turn: TurnMetrics) -> dict[str, float | None]:
    """The turn's milestones, each in ms after the end of speech, from its per-stage metrics."""
    decision = turn.end_of_turn_ms
    first_token = _add(decision, turn.llm_ttft_ms)
    return {
        "vad": turn.vad_ms,
        "transcript": turn.transcript_ms,
        "decision": decision,
        "first_token": first_token,
        "first_audio": _add(first_token, turn.tts_ttfb_ms),
        "heard": turn.voice_to_voice_ms,
    }


def _add(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def safe_name(name: str) -> str:
    """A file name made from a recording's name (no folders, no odd characters)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "recording"


def draw(title: str, turns: list[TurnTimeline], path: Path) -> Path:
    """Write the waterfall of ``turns`` as a PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    height = 1.9 + 0.5 * max(1, len(turns))
    fig, ax = plt.subplots(figsize=(9, height), dpi=110)
    shown: set[str] = set()
    for row, turn in enumerate(reversed(turns)):
        start = 0.0
        for (key, label), color in zip(MILESTONES, COLORS, strict=True):
            end = turn.at.get(key)
            if end is None:
                continue
            width = max(end - start, 0.0)
            ax.barh(
                row, width, left=start, color=color, edgecolor="white", label=None if key in shown else label
            )
            shown.add(key)
            if width >= 40:
                ax.text(start + width / 2, row, f"{width:.0f}", ha="center", va="center", fontsize=7)
            start = max(start, end)
        ax.text(start + 8, row, f"{start:.0f} ms", va="center", fontsize=8)
    ax.set_yticks(range(len(turns)), [t.label for t in reversed(turns)], fontsize=8)
    ax.set_xlabel("ms after the end of the user's speech")
    ax.set_title(title, fontsize=10)
    ax.axvline(0, color="black", linewidth=0.8)
    if shown:
        ax.legend(
            fontsize=7, ncols=len(shown), loc="upper center", bbox_to_anchor=(0.5, -0.32), frameon=False
        )
    else:
        ax.text(0.5, 0.5, "no turn was taken", transform=ax.transAxes, ha="center", va="center")
    ax.set_xlim(
        left=0, right=max([100.0, *(max(filter(None, t.at.values()), default=0) for t in turns)]) * 1.15
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


__all__ = ["MILESTONES", "TurnTimeline", "draw", "milestones", "safe_name"]
