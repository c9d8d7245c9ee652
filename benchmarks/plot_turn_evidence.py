"""Draw the fused turn decision of a few cuts: the probability that the turn is over against the silence.

Reads the JSON of ``graphflow bench turns`` (each cut's evidence: the audio model's and the
text's probabilities, the combined logit, the silence it asked for) and draws, for a few
sentence ends and mid-sentence pauses, ``P(over | silence) = sigmoid((s - due) / scale)``
with the point where each turn ended (or was still held at the end of the tail).

    python benchmarks/plot_turn_evidence.py docs/results/turns.json docs/img/turn-evidence.png
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any


def pick(cuts: list[dict[str, Any]], label: str, count: int) -> list[dict[str, Any]]:
    """Cuts of ``label`` with evidence, spread over the range of their combined logit."""
    found = sorted((c for c in cuts if c["label"] == label and c["evidence"].get("due_ms")), key=_logit)
    if len(found) <= count:
        return found
    step = (len(found) - 1) / (count - 1)
    return [found[round(i * step)] for i in range(count)]


def _logit(cut: dict[str, Any]) -> float:
    return float(cut["evidence"].get("logit", 0.0))


def main(source: Path, target: Path) -> None:
    """Write the picture of ``source``'s evidence to ``target`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    doc = json.loads(source.read_text())
    cuts = doc["cuts"]["graphflow"]
    tail_ms = doc["options"]["tail_s"] * 1000
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), dpi=110, sharey=True)
    for ax, label, title in (
        (axes[0], "complete", "sentence ends (the turn is over)"),
        (axes[1], "incomplete", "pauses inside a sentence (hold)"),
    ):
        for cut in pick(cuts, label, 5):
            e = cut["evidence"]
            silence = [s * 10.0 for s in range(int(tail_ms / 10) + 1)]
            p = [1 / (1 + math.exp(-(s - e["due_ms"]) / e["scale_ms"])) for s in silence]
            name = f"{cut['text'][-28:]!r}  audio {e['audio']:.2f} · text {e['text']:.2f} ({e['text_rule']})"
            (line,) = ax.plot(silence, p, linewidth=1.4, label=name)
            if cut["decision_ms"] is not None:
                ax.plot([cut["decision_ms"]], [0.5], "o", color=line.get_color())
        ax.axhline(0.5, color="grey", linewidth=0.8, linestyle="--")
        ax.axvline(500 if label == "complete" else 1500, color="grey", linewidth=0.8, linestyle=":")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("silence after the end of speech (ms)")
        ax.legend(fontsize=6, loc="lower right")
    axes[0].set_ylabel("P(turn is over)")
    fig.suptitle("The fused decision: evidence sets where the probability crosses one half", fontsize=10)
    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target)
    plt.close(fig)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
