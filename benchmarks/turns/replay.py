"""Replay a ``graphflow bench turns`` run under other turn options, without playing audio again.

The bench's JSON keeps, per cut, what the turn detector was told and when (the VAD's
pauses, the final transcripts with their arrival times, the audio model's probability).
The fused decision depends only on those, so it can be recomputed for other
:class:`~nodes.turn.options.FusedOptions` (and for an edited
:func:`~nodes.turn.text_complete.lexical`) in a second, to tune on the whole
labelled set before one real run confirms::

    .venv/bin/python benchmarks/turns/replay.py docs/results/turns.json \\
        --set min_delay_ms=250 --set sure_delay_ms=300

It prints the scores of the recorded run, of its replay with the run's own options (they
should agree within a few ms: the check that the replay is faithful) and of the replay
with the options given, then the cuts whose verdict changed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from graphflow.bench.turns import CutResult, TurnBenchOptions, score
from nodes.turn.fused import FusedRule
from nodes.turn.options import FusedOptions

MODEL_MS = 35.0
"""Smart Turn's features and inference after the pause arrives (ms, 2 cores)."""
OWN_SPEECH_MS = 600.0
"""A pause belongs to the cut when its speech ended at most this long before the cut."""
MAX_DELAY_MS = 3000.0
"""The detector's fallback delay (``TurnOptions.max_delay_ms``)."""


def speech_end(cut: dict[str, Any]) -> float | None:
    """The speech end (ms from the cut) the detector decided this cut on: its last pause or stop."""
    ends = [
        e["pts_ms"]
        for e in cut["trace"].get("vad", [])
        if e["kind"] in ("SpeechPaused", "SpeechStopped") and e["pts_ms"] >= -OWN_SPEECH_MS
    ]
    return max(ends) if ends else None


def replay(cut: dict[str, Any], rule: FusedRule) -> float | None:
    """The decision time (ms from the cut) the fused rule would take on this cut's evidence."""
    end = speech_end(cut)
    evidence = cut.get("evidence") or {}
    if end is None or "audio" not in evidence or not cut.get("text"):
        return None  # no speech end near the cut, or no words: no turn under any options
    finals = [f for f in cut["trace"]["finals"] if f["start_ms"] < end <= f["end_ms"] and f["text"]]
    if not finals:
        return None
    text_at = min(f["at_ms"] for f in finals)
    pause_at = min((e["at_ms"] for e in cut["trace"]["vad"] if e["pts_ms"] == end), default=end)
    weighed = rule.weigh(evidence["audio"], cut["text"], evidence.get("adapted_ms", 0.0), MAX_DELAY_MS)
    return float(max(text_at, pause_at + MODEL_MS, end + weighed.due_ms))


def rescored(cuts: list[dict[str, Any]], rule: FusedRule) -> list[CutResult]:
    """The cuts as results of the replayed rule."""
    out = []
    for c in cuts:
        decided = replay(c, rule) if c.get("decision_ms") is not None else None
        out.append(CutResult(id=c["id"], label=c["label"], decision_ms=decided, text=c.get("text", "")))
    return out


def parse_sets(items: list[str]) -> dict[str, Any]:
    """``name=value`` pairs as FusedOptions fields."""
    fields = {f.name: f.type for f in msgspec.structs.fields(FusedOptions)}
    out: dict[str, Any] = {}
    for item in items:
        name, _, value = item.partition("=")
        if name not in fields:
            sys.exit(f"replay: FusedOptions has no field {name!r} (fields: {', '.join(fields)})")
        out[name] = json.loads(value)
    return out


def line(name: str, s: dict[str, Any]) -> str:
    """One row of scores."""
    d = s["decision_ms"]
    caught, held = s["caught"], s["held"]
    return f"{name:<10} caught {caught:4.0%}  p50 {d['p50']:5.0f}  p90 {d['p90']:5.0f}  held {held:4.0%}"


def main() -> None:
    """Print the recorded, replayed and re-optioned scores of one bench JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("json", type=Path, help="a `graphflow bench turns --json` file")
    parser.add_argument("--set", action="append", default=[], help="FusedOptions field=value (JSON)")
    args = parser.parse_args()
    doc = json.loads(args.json.read_text())
    cuts = doc["cuts"]["graphflow"]
    if not all("trace" in c for c in cuts):
        sys.exit("replay: this file has no traces; rerun `graphflow bench turns --json FILE`")
    options = TurnBenchOptions(**doc["options"])
    recorded = [msgspec.convert(c, CutResult) for c in cuts]
    same = rescored(cuts, FusedRule(FusedOptions()))
    print(line("recorded", score(recorded, options)))
    print(line("replayed", score(same, options)))
    if args.set:
        tuned = rescored(cuts, FusedRule(FusedOptions(**parse_sets(args.set))))
        print(line("options", score(tuned, options)))
        for before, after in zip(same, tuned, strict=True):
            if before.decision_ms != after.decision_ms:
                b = "-" if before.decision_ms is None else f"{before.decision_ms:.0f}"
                a = "-" if after.decision_ms is None else f"{after.decision_ms:.0f}"
                print(f"  {after.label[:4]} {b:>5} -> {a:>5}  {after.id}  {after.text[-40:]!r}")


if __name__ == "__main__":
    main()
