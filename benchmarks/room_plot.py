"""The plot of ``make bench-room``: voice-to-voice and barge-in through the room, cut in parts."""

from __future__ import annotations

from pathlib import Path

Summary = dict[str, dict[str, float]]

VOICE = (
    ("way in", ("in_ms", "clock_vs_pts_ms"), "#8172b2"),
    ("Silero's end after the last loud 10 ms", ("silero_vs_loud_ms",), "#cccccc"),
    ("end of turn", ("end_of_turn_ms",), "#4c72b0"),
    ("reply: LLM, TTS", ("agent_side_voice_to_voice_ms", "-end_of_turn_ms"), "#55a868"),
    ("reply's quiet start", ("quiet_start_ms", "out_queue_ms"), "#e0e0a0"),
    ("way out", ("out_wire_ms",), "#c44e52"),
)
BARGE_IN = (
    ("way in", ("barge_in_in_ms",), "#8172b2"),
    ("Silero's start of speech", ("barge_in_vad_ms",), "#4c72b0"),
    ("pause", ("barge_in_pause_ms",), "#55a868"),
    ("already sent: way out", ("barge_in_drain_ms",), "#c44e52"),
)


def _part(result: Summary, keys: tuple[str, ...]) -> float:
    total = 0.0
    for key in keys:
        sign, name = (-1.0, key[1:]) if key.startswith("-") else (1.0, key)
        total += sign * result.get(name, {}).get("p50", 0.0)
    return max(0.0, total)


def plot(result: Summary, path: Path, before: Summary | None = None) -> None:
    """Stacked p50 parts of voice-to-voice and barge-in, with the measured p50 total beside each bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [("before", before), ("after", result)] if before is not None else [("this run", result)]
    fig, axes = plt.subplots(2, 1, figsize=(11, 4.8))
    for ax, parts, total_key, title in (
        (axes[0], VOICE, "voice_to_voice_ms", "voice-to-voice as the participant hears it (p50 of each)"),
        (axes[1], BARGE_IN, "barge_in_ms", "barge-in: the participant talks → the agent falls silent"),
    ):
        for y, (_, summary) in enumerate(runs):
            left = 0.0
            for name, keys, color in parts:
                width = _part(summary, keys)
                ax.barh(y, width, left=left, color=color, edgecolor="white", label=name if y == 0 else None)
                left += width
            total = summary.get(total_key, {}).get("p50")
            if total is not None:
                ax.text(left + 8, y, f"{total:.0f} ms measured", va="center", fontsize=8)
        ax.set_yticks(range(len(runs)), [label for label, _ in runs])
        ax.invert_yaxis()
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("ms", fontsize=8)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
        ax.set_xlim(0, max(_total(s, total_key) for _, s in runs) * 1.2 + 1)
    fig.suptitle("Through a real LiveKit room (loopback), local models", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def _total(summary: Summary, key: str) -> float:
    return summary.get(key, {}).get("p50", 0.0)
