"""The benchmark's outputs: a table, JSON with every raw figure and a summary, PNG plots.

``summary`` keys (each ``{"p50", "p90", "p99", "max", "count", "samples"}``, in ms):
``vad_ms`` (end of user speech → VAD end-of-speech event), ``transcript_ms`` (→ final
transcript), ``end_of_turn_ms`` (→ turn decision), ``llm_ttft_ms`` (turn → first token),
``tts_ttfb_ms`` (first token → first audio), ``sink_ms`` (first audio → playing),
``voice_to_voice_ms`` (end of user speech → agent audio playing), ``engine_added_ms``
(stand-in mode: voice-to-voice - end of turn - the measured time inside the LLM and TTS
calls on the reply's path, see :mod:`graphflow.bench.attribution`), ``model_ms`` (that
measured model time), ``standin_overshoot_ms`` (how much later than configured those two
calls answered), ``engine_added_configured_ms`` (the older figure: voice-to-voice - end
of turn - the configured LLM and TTS delays, which counts the stand-ins' overshoot too),
``barge_in_ms`` (VAD onset of speech over the agent → playout silent),
``cancel_propagation_ms`` (trigger → last target flushed), ``frame_lag_ms``.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import sys
from pathlib import Path
from typing import Any

import msgspec

import graphflow
from graphflow.bench.latency import LatencyOptions, RunResult
from graphflow.bench.scaling import ScalePoint, max_sessions
from graphflow.bench.stats import percentiles
from graphflow.bench.wer import word_errors
from graphflow.redact import mask_secrets

STAGES = (
    "vad_ms",
    "transcript_ms",
    "end_of_turn_ms",
    "llm_ttft_ms",
    "tts_ttfb_ms",
    "sink_ms",
    "voice_to_voice_ms",
)
"""Per-exchange metrics taken from the session, in pipeline order."""
RUN_FIGURES = (
    "engine_added_ms",
    "engine_added_configured_ms",
    "model_ms",
    "standin_overshoot_ms",
    "barge_in_ms",
    "cancel_propagation_ms",
    "frame_lag_ms",
)
"""Figures each run collects itself (see :class:`~graphflow.bench.latency.RunResult`)."""


ENGINE_ADDED = ("engine_added_ms", "engine_added_configured_ms")
"""The two engine-added figures a peer may report (measured model time, configured delays)."""


OVER_SLACK_MS = 5.0
"""A stage is over its budget when its median exceeds it by more than this or 10 %, whichever is more."""
BUDGET_STAGES = (
    ("VAD end of speech", ("vad",), "vad_ms", None),
    ("final transcript", ("stt",), "transcript_ms", "vad_ms"),
    ("turn decision", ("turn",), "end_of_turn_ms", "transcript_ms"),
    ("first token", ("llm",), "llm_ttft_ms", None),
    ("first audio", ("tts",), "tts_ttfb_ms", None),
    ("playing", ("gate", "sink"), "sink_ms", None),
)
"""Each stage's row in the budget table: label, the nodes whose budgets add up, the metric
that ends it and the metric it starts from (None: the metric is the stage's own time)."""


def budget_rows(results: list[RunResult]) -> list[dict[str, Any]]:
    """Each stage's declared budget beside its measured time (p50, p99), flagged when over."""
    budgets = next((r.budgets_ms for r in results if r.budgets_ms), {})
    rows = []
    for label, nodes, metric, since in BUDGET_STAGES:
        spans = []
        for r in results:
            for m in r.turns:
                end, start = getattr(m, metric), getattr(m, since) if since else 0.0
                if end is not None and start is not None:
                    spans.append(end - start)
        budget = sum(budgets.get(n, 0.0) for n in nodes)
        measured = percentiles(spans)
        p50 = measured["p50"]
        over = isinstance(p50, float) and p50 > budget + max(OVER_SLACK_MS, 0.1 * budget)
        rows.append(
            {"stage": label, "nodes": list(nodes), "budget_ms": budget, "measured_ms": measured, "over": over}
        )
    return rows


def summarize(results: list[RunResult]) -> dict[str, Any]:
    """Percentiles of every figure over every run and turn."""
    summary: dict[str, Any] = {}
    for stage in STAGES:
        summary[stage] = percentiles(getattr(m, stage) for r in results for m in r.turns)
    for key in RUN_FIGURES:
        summary[key] = percentiles(v for r in results for v in getattr(r, key))
    return summary


def document(
    options: LatencyOptions,
    results: list[RunResult],
    scaling: list[ScalePoint],
    compute: dict[str, Any],
    peers: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole JSON document."""
    doc: dict[str, Any] = {
        "graphflow": graphflow.__version__,
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpu": platform.machine(),
        },
        "options": mask_secrets(msgspec.to_builtins(options)),
        "summary": summarize(results),
        "wer": word_error_rates(results) if options.mode == "models" else None,
        "budget": budget_rows(results),
        "compute_ms": compute,
        "runs": [
            {
                "recording": r.recording,
                "run": r.run,
                "reference": r.reference,
                "heard": r.heard,
                "turns": [msgspec.to_builtins(m) for m in r.turns],
                "engine_added_ms": r.engine_added_ms,
                "engine_added_configured_ms": r.engine_added_configured_ms,
                "model_ms": r.model_ms,
                "standin_overshoot_ms": r.standin_overshoot_ms,
                "barge_in_ms": r.barge_in_ms,
                "cancel_propagation_ms": r.cancel_propagation_ms,
                "interrupted": r.interrupted,
            }
            for r in results
        ],
        "scaling": [dataclasses.asdict(p) for p in scaling],
        "sessions_at_lag_20ms": max_sessions(scaling) if scaling else None,
    }
    if peers:
        doc["peers"] = peers
    return doc


def word_error_rates(results: list[RunResult]) -> dict[str, Any] | None:
    """Word error rate of what the pipeline heard, over every run with a reference, and per recording."""
    per: dict[str, list[int]] = {}
    for r in results:
        if r.reference:
            errors, words = word_errors(r.reference, r.heard)
            totals = per.setdefault(r.recording, [0, 0])
            totals[0] += errors
            totals[1] += words
    if not per:
        return None
    errors = sum(e for e, _ in per.values())
    words = sum(w for _, w in per.values())
    return {
        "overall": errors / max(words, 1),
        "words": words,
        "per_recording": {name: e / max(w, 1) for name, (e, w) in per.items()},
    }


def ratios(doc: dict[str, Any], engine: dict[str, Any] | None = None) -> dict[str, dict[str, float | None]]:
    """graphflow / peer for each figure both sides measured (lower is better for graphflow)."""
    out: dict[str, dict[str, float | None]] = {}
    ours = doc["summary"]
    for peer, theirs in (doc.get("peers") or {}).items():
        row: dict[str, float | None] = {}
        for key in ("end_of_turn_ms", "voice_to_voice_ms", *ENGINE_ADDED, "barge_in_ms"):
            # a peer that only measured the configured-delay figure is compared on that figure
            mine = key
            if key == "engine_added_ms" and "engine_added_configured_ms" not in theirs:
                mine = "engine_added_configured_ms" if "engine_added_configured_ms" in ours else key
            for q in ("p50", "p99"):
                a, b = ours.get(mine, {}).get(q), (theirs.get(key) or {}).get(q)
                row[f"{key}.{q}"] = a / b if a is not None and b else None
        hop = (theirs.get("per_hop_us") or {}).get("10")
        if engine is not None and hop:
            row["per_hop_us"] = engine["per_hop_us"] / hop
            row["fused_per_hop_us"] = engine["fused_per_hop_us"] / hop
        n, m = doc.get("sessions_at_lag_20ms"), theirs.get("sessions_at_lag_20ms")
        row["sessions_at_lag_20ms"] = n / m if n is not None and m else None
        out[peer] = row
    return out


def table(doc: dict[str, Any]) -> str:
    """The terminal table."""
    lines = [f"{'figure (ms)':<24} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8} {'n':>5}"]
    for key, value in doc["summary"].items():
        if value["count"]:
            lines.append(
                f"{key:<24} {value['p50']:>8.2f} {value['p90']:>8.2f} {value['p99']:>8.2f} "
                f"{value['max']:>8.2f} {value['count']:>5}"
            )
    for key, value in doc.get("compute_ms", {}).items():
        if value.get("count"):
            lines.append(
                f"{'compute: ' + key:<24} {value['p50']:>8.2f} {value['p90']:>8.2f} {value['p99']:>8.2f} "
                f"{value['max']:>8.2f} {value['count']:>5}"
            )
    if doc.get("budget"):
        lines.append("")
        lines.append(f"{'stage (ms)':<24} {'budget':>8} {'p50':>8} {'p99':>8}")
        for row in doc["budget"]:
            m = row["measured_ms"]
            if m["count"]:
                flag = "  OVER BUDGET" if row["over"] else ""
                lines.append(
                    f"{row['stage']:<24} {row['budget_ms']:>8.0f} {m['p50']:>8.1f} {m['p99']:>8.1f}{flag}"
                )
    if doc.get("wer"):
        wer = doc["wer"]
        lines.append(
            f"{'word error rate':<24} {100 * wer['overall']:>7.1f}% over {wer['words']} reference words"
        )
    if doc["scaling"]:
        lines.append("")
        lines.append(
            f"{'sessions':>8} {'procs':>5} {'lag p50':>8} {'lag p99':>8} {'CPU %':>6} {'MB/sess':>8}"
        )
        for p in doc["scaling"]:
            lines.append(
                f"{p['sessions']:>8} {p['processes']:>5} {p['lag_p50_ms']:>8.2f} {p['lag_p99_ms']:>8.2f} "
                f"{p['cpu_percent']:>6.1f} {p['rss_per_session_mb']:>8.1f}"
            )
        lines.append(f"sessions with p99 frame lag <= 20 ms: {doc['sessions_at_lag_20ms']}")
    for peer, row in doc.get("ratios", {}).items():
        lines.append("")
        lines.append(f"graphflow / {peer} (same fixtures, same stand-ins; < 1 means graphflow is lower)")
        for key, value in row.items():
            lines.append(f"  {key:<28} {'-' if value is None else f'{value:.3f}'}")
    return "\n".join(lines)


def write_json(doc: dict[str, Any], path: Path) -> None:
    """Write the document (NaN written as null)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(doc), indent=1))


def _clean(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def plot(doc: dict[str, Any], path: Path) -> None:
    """Stacked bars of the median latency per stage; lag and CPU against sessions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = doc["summary"]
    parts = [
        ("end_of_turn_ms", "end of speech → turn"),
        ("llm_ttft_ms", "LLM first token"),
        ("tts_ttfb_ms", "TTS first audio"),
        ("sink_ms", "to the sink"),
    ]
    has_scaling = bool(doc["scaling"])
    fig, axes = plt.subplots(1, 2 if has_scaling else 1, figsize=(11 if has_scaling else 6, 4), dpi=110)
    ax = axes[0] if has_scaling else axes
    bottom = 0.0
    for key, label in parts:
        value = summary[key]["p50"] if summary[key]["count"] else 0.0
        ax.bar(["voice-to-voice (p50)"], [value], bottom=bottom, label=f"{label}: {value:.0f} ms")
        bottom += value
    ax.set_ylabel("ms")
    ax.set_title(f"Latency per stage ({doc['options']['mode']} mode)")
    ax.legend(fontsize=8)
    if has_scaling:
        right = axes[1]
        sessions = [p["sessions"] for p in doc["scaling"]]
        right.plot(sessions, [p["lag_p99_ms"] for p in doc["scaling"]], "o-", label="frame lag p99 (ms)")
        right.axhline(20, color="grey", linestyle="--", linewidth=1, label="20 ms budget")
        right.set_yscale("log")  # a saturated point is 100x the others: keep the budget readable
        right.set_xlabel("sessions in one process")
        right.set_ylabel("ms (log)")
        cpu = right.twinx()
        cpu.plot(
            sessions, [p["cpu_percent"] for p in doc["scaling"]], "s-", color="tab:orange", label="CPU %"
        )
        cpu.set_ylabel("CPU % (one core = 100)")
        right.set_title("Sessions vs frame lag and CPU")
        right.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
