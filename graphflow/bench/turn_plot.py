"""The picture of ``graphflow bench turns``: decision times on complete and incomplete cuts, per side."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_turns(doc: dict[str, Any], path: Path) -> Path:
    """Two panels: when sentence ends were answered; when mid-sentence pauses were (wrongly) answered."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    options = doc["options"]
    tail_ms = options["tail_s"] * 1000
    sides = list(doc["cuts"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 2.2 + 0.6 * len(sides)), dpi=110)
    panels = (
        ("complete", "sentence ends: end of speech → decision", options["within_ms"]),
        ("incomplete", "mid-sentence pauses: end of speech → answer", options["hold_s"] * 1000),
    )
    for ax, (label, title, line) in zip(axes, panels, strict=True):
        for row, side in enumerate(sides):
            cuts = [c for c in doc["cuts"][side] if c["label"] == label]
            times = [c["decision_ms"] if c["decision_ms"] is not None else tail_ms for c in cuts]
            jitter = [row + 0.25 * ((i * 0.618) % 1 - 0.5) for i in range(len(times))]
            ax.scatter(times, jitter, s=14, alpha=0.7, label=side)
            score = doc["scores"][side]
            share = score["caught"] if label == "complete" else score["held"]
            what = "caught" if label == "complete" else "held"
            ax.text(tail_ms * 1.02, row, f"{100 * share:.0f}% {what}", va="center", fontsize=8)
        ax.axvline(line, color="grey", linestyle="--", linewidth=1)
        ax.set_yticks(range(len(sides)), sides)
        ax.set_xlim(0, tail_ms * 1.25)
        ax.set_xlabel("ms (never = end of the tail)")
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
