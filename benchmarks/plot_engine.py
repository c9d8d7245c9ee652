"""Plot the engine benchmark's JSON: per-hop cost by chain length, graphflow vs asyncio.Queue.

python benchmarks/plot_engine.py docs/results/engine.json docs/img/engine-per-hop.png
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def plot(result_path: Path, out: Path) -> None:
    """Grouped bars: µs per frame per hop for each chain length and variant."""
    result = json.loads(result_path.read_text())
    hop = result["per_hop"]
    chains = [k for k in hop["fused"] if k.isdigit()]
    variants = [
        ("fused", "graphflow fused"),
        ("queued", "graphflow queued"),
        ("baseline", "asyncio.Queue chain"),
    ]
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=120)
    width = 0.26
    for i, (key, label) in enumerate(variants):
        values = [hop[key][c]["per_hop_us"] for c in chains]
        bars = ax.bar([x + (i - 1) * width for x in range(len(chains))], values, width, label=label)
        ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.set_xticks(range(len(chains)), [f"{c} node{'s' if c != '1' else ''}" for c in chains])
    ax.set_ylabel("µs CPU per frame per hop")
    ax.set_title(f"Cost of one hop, 20 ms audio frames (median of {result['repeats']} runs)")
    ax.legend(fontsize=8, loc="upper left")
    ax.margins(y=0.2)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)


if __name__ == "__main__":
    plot(Path(sys.argv[1]), Path(sys.argv[2]))
