"""Pipecat 1.14 peer of graphflow's latency benchmark, with fixed-delay stand-in services.

Each fixture is fed at real-time pace (20 ms frames) into a real Pipecat pipeline:
paced mic → STT stand-in → user aggregator (SileroVADAnalyzer + LocalSmartTurnAnalyzerV3)
→ LLM stand-in → TTS stand-in → playing speaker → assistant aggregator. Once the agent's
audio has played for 1 s, a second utterance barges in. See README.md for definitions.

    .venv-peers/bin/python benchmarks/peers/pipecat_bench.py [--fixtures F ...] [--runs N]
        [--sessions-sweep 1,4,8,16] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import platform
import re
import sys
import time
import wave
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pipecat_load
from loguru import logger
from pipecat_parts import FRAME, LLM_TTFT_S, RATE, TTS_FIRST_AUDIO_S, SessionLog, build_session, settings

FIXTURES_DIR = Path(__file__).resolve().parents[1] / "fixtures"
DEFAULT_FIXTURES = tuple(  # the set graphflow's own bench runs by default
    line.strip()
    for line in (FIXTURES_DIR / "bench-set.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
)
INTERRUPTION = "cmd_go_forward_ten_meters.wav"  # the utterance that barges in (as graphflow)
BARGE_AFTER_S = 1.0  # after the agent's first audio frame played
TAIL_S = 3.0  # silence after the fixture (scaling) / after the interruption (latency)
GIVE_UP_S = 10.0  # of silence after the fixture with no agent audio
METRICS = (
    "end_of_turn_ms",
    "voice_to_voice_ms",
    "engine_added_ms",
    "engine_added_configured_ms",
    "barge_in_ms",
)


def read_pcm(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (RATE, 1, 2):
            raise SystemExit(f"{path.name}: fixtures must be 16 kHz mono 16-bit WAV")
        return np.frombuffer(w.readframes(w.getnframes()), "<i2")


def transcripts() -> dict[str, str]:
    rows = (FIXTURES_DIR / "manifest.tsv").read_text().splitlines()
    col = rows[0].split("\t").index("transcript")
    return {r.split("\t")[0]: r.split("\t")[col] for r in rows[1:]}


def percentiles(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0, "p50": None, "p90": None, "p99": None, "max": None, "samples": []}
    a = np.asarray(values)
    pct = {f"p{q}": float(np.percentile(a, q)) for q in (50, 90, 99)}
    return {"count": len(values), **pct, "max": float(a.max()), "samples": [round(v, 3) for v in values]}


# ------------------------------------------------------------------- latency
class BargeInFeed:
    """What the mic plays: the fixture, silence, then the interruption 1 s into the agent's reply."""

    def __init__(self, log: SessionLog, pcm: np.ndarray, interruption: np.ndarray) -> None:
        self.log, self.pcm, self.intr = log, pcm, interruption
        self.fixture_frames = math.ceil(len(pcm) / FRAME)
        self.start: int | None = None  # frame index at which the interruption starts
        self.tail = int(TAIL_S * RATE / FRAME)

    def __call__(self, k: int) -> np.ndarray | None:
        if k < self.fixture_frames:
            return _slice(self.pcm, k)
        if self.start is None and self.log.t0 is not None:
            playing = self.log.run_at(time.perf_counter())  # the reply playing now, if any
            if playing is not None:
                self.start = max(k, math.ceil((playing[0] + BARGE_AFTER_S - self.log.t0) * RATE / FRAME))
        if self.start is None:
            return _silence() if k < self.fixture_frames + GIVE_UP_S * RATE / FRAME else None
        if k < self.start:
            return _silence()
        self.log.utterance = 1
        j = k - self.start
        if j * FRAME < len(self.intr):
            return _slice(self.intr, j)
        return _silence() if j < math.ceil(len(self.intr) / FRAME) + self.tail else None


def _slice(pcm: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros(FRAME, np.int16)
    chunk = pcm[k * FRAME : (k + 1) * FRAME]
    out[: len(chunk)] = chunk
    return out


def _silence() -> np.ndarray:
    return np.zeros(FRAME, np.int16)


async def run_session(log: SessionLog, feed: Callable[[int], np.ndarray | None]) -> SessionLog:
    await build_session(log, feed).run()
    return log


def measure(log: SessionLog) -> dict[str, list[float]]:
    """Every exchange's figures and every barge-in of one session, in ms (as graphflow counts).

    An exchange is a turn decision (``LLMContextFrame`` at the LLM); its reply is the first
    agent chunk played after it and before the next decision (none if it was cut off).
    A barge-in is a VAD onset while agent audio was playing.
    """
    out: dict[str, list[float]] = {m: [] for m in METRICS}
    bounds = [*log.turns[1:], math.inf]
    for decided, next_decided in zip(log.turns, bounds, strict=True):
        end = log.speech_end(decided)
        if end is None:
            continue
        out["end_of_turn_ms"].append((decided - end) * 1000)
        first = next((s for s, _ in log.played if decided <= s < next_decided), None)
        if first is not None:
            v2v = (first - end) * 1000
            out["voice_to_voice_ms"].append(v2v)
            eot = out["end_of_turn_ms"][-1]
            out["engine_added_configured_ms"].append(v2v - eot - (LLM_TTFT_S + TTS_FIRST_AUDIO_S) * 1000)
            model = _inside(log.llm_timed, decided, first) + _inside(log.tts_timed, decided, first)
            out["engine_added_ms"].append((first - decided - model) * 1000)
    for onset in log.onsets:
        playing = log.run_at(onset)
        if playing is not None:
            out["barge_in_ms"].append((playing[1] - onset) * 1000)
    return out


def _inside(calls: list[tuple[float, float]], lo: float, hi: float) -> float:
    """Seconds of the last stand-in call that answered in [lo, hi], clipped to it (as graphflow counts)."""
    call = next((c for c in reversed(calls) if lo < c[1] <= hi), None)
    return 0.0 if call is None else max(0.0, min(call[1], hi) - max(call[0], lo))


def latency(fixtures: list[str], runs: int, progress: Callable[[str], None]) -> dict[str, Any]:
    script = transcripts()
    interruption = read_pcm(FIXTURES_DIR / INTERRUPTION)
    samples: dict[str, list[float]] = {m: [] for m in METRICS}
    per_run: list[dict[str, Any]] = []
    for run in range(runs):
        for name in fixtures:
            log = SessionLog(transcripts=[script.get(name, ""), script.get(INTERRUPTION, "")])
            asyncio.run(run_session(log, BargeInFeed(log, read_pcm(FIXTURES_DIR / name), interruption)))
            figures = measure(log)
            for m in METRICS:
                samples[m].extend(figures[m])
            per_run.append({"fixture": name, "run": run, **figures, "interrupted": log.utterance == 1})
            shown = "; ".join(
                f"{m.removesuffix('_ms')} " + "/".join(f"{v:.0f}" for v in vs)
                for m, vs in figures.items()
                if vs
            )
            progress(f"run {run + 1}/{runs} {name}: {shown or 'no turn'}")
    return {"metrics": {m: percentiles(v) for m, v in samples.items()}, "sessions": per_run}


# ------------------------------------------------------------------- settings
def session_settings(vad_placement: str) -> dict[str, Any]:
    """The settings a session runs with (built, not run), next to Pipecat's defaults."""

    async def describe() -> dict[str, Any]:
        return settings(build_session(SessionLog(), lambda k: None))

    out = asyncio.run(describe())
    out["logging"] = "WARNING (loguru's default is DEBUG, which logs per frame event)"
    if vad_placement in ("processor", "both"):
        out["scaling_vad_processor"] = (
            "the same VAD analyzer and params in a VADProcessor right after the mic; the user "
            "aggregator then has no vad_analyzer (sessions sweep only)"
        )
    return out


class WarningLog:
    """A loguru sink counting Pipecat's warnings and errors (instance numbers folded)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def __call__(self, message: Any) -> None:
        record = message.record
        self.counts[f"{record['level'].name}: {re.sub(r'#[0-9]+', '#n', record['message'])}"] += 1

    def summary(self) -> list[dict[str, Any]]:
        return [{"message": m, "count": n} for m, n in self.counts.most_common()]

    @classmethod
    def installed(cls) -> WarningLog:
        """Pipecat's log cut to warnings on stderr (it logs DEBUG per frame event by default),
        and a new WarningLog counting them."""
        logger.remove()
        logger.add(sys.stderr, level="WARNING")
        log = cls()
        logger.add(log, level="WARNING")
        return log


# --------------------------------------------------------------------- output
def machine() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": len(__import__("os").sched_getaffinity(0)),
        "onnxruntime": onnxruntime.__version__,
        "numpy": np.__version__,
    }


def print_table(result: dict[str, Any]) -> None:
    print(f"\nPipecat {result['version']} with fixed-delay stand-ins ({len(result['fixtures'])} fixtures)")
    print(f"{'ms':<20} {'n':>4} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}")
    for m in METRICS:
        s = result.get(m)
        if s and s["count"]:
            print(
                f"{m:<20} {s['count']:>4} {s['p50']:>8.1f} {s['p90']:>8.1f} {s['p99']:>8.1f} {s['max']:>8.1f}"
            )
    if "per_hop_us" in result:
        hops = result["per_hop_us"]
        print("per hop (µs CPU/frame/hop): " + "  ".join(f"{h}: {hops[h]:.2f}" for h in ("1", "10", "50")))
    for key in ("scaling", "scaling_vad_processor"):
        if not result.get(key):
            continue
        placement = "processor" if key.endswith("processor") else result.get("scaling_vad_in", "aggregator")
        where = "VADProcessor after the mic" if placement == "processor" else "VAD in the user aggregator"
        print(f"\nframe lag at the VAD, N sessions in one process ({where})")
        print(f"{'sessions':>8} {'lag p50':>8} {'lag p99':>8} {'lag max':>8} {'CPU %':>7}")
        for p in result[key]:
            print(
                f"{p['sessions']:>8} {p['lag_p50_ms']:>8.1f} {p['lag_p99_ms']:>8.1f}"
                f" {p['lag_max_ms']:>8.1f} {p['cpu_percent']:>7.0f}"
            )
        print(f"sessions at p99 lag <= 20 ms: {result[key.replace('scaling', 'sessions_at_lag_20ms')]}")


def print_settings(result: dict[str, Any]) -> None:
    vad = result["settings"]["vad"]["params"]
    print("\nVAD: " + ", ".join(f"{k}={v}" for k, v in vad.items()))
    print("not Pipecat's defaults:")
    for row in result["settings"]["not_default"]:
        print(f"  {row['setting']} = {row['value']} (default {row['default']})")
    found = result.get("pipecat_warnings") or []
    print(f"Pipecat warnings logged: {sum(w['count'] for w in found)}")
    for w in found:
        print(f"  {w['count']}x {w['message'][:160]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fixtures", nargs="+", default=list(DEFAULT_FIXTURES), metavar="NAME")
    parser.add_argument("--runs", type=int, default=2, help="repetitions of each fixture")
    parser.add_argument("--sessions-sweep", default="1,4,8,16", help="comma-separated; empty to skip")
    parser.add_argument("--hop-frames", type=int, default=3000)
    parser.add_argument("--hop-repeats", type=int, default=5, help="0 to skip the per-hop figure")
    parser.add_argument(
        "--vad-placement",
        choices=("aggregator", "processor", "both"),
        default="both",
        help="where the scaling sweep runs the VAD (latency runs always use the aggregator)",
    )
    parser.add_argument("--json", type=Path, help="write every figure here (updated after each phase)")
    args = parser.parse_args(argv)
    warnings = WarningLog.installed()

    def progress(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    result: dict[str, Any] = {"peer": "pipecat", "version": __import__("pipecat").version()}
    result |= {"machine": machine(), "fixtures": args.fixtures, "runs": args.runs}
    result["settings"] = session_settings(args.vad_placement)

    def save() -> None:
        result["pipecat_warnings"] = warnings.summary()
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(result, indent=2))

    lat = latency(args.fixtures, args.runs, progress)
    result |= lat["metrics"] | {"sessions": lat["sessions"]}
    save()
    if args.hop_repeats > 0:
        hops = pipecat_load.per_hop(args.hop_frames, args.hop_repeats, progress)
        result["per_hop_us"] = {h: hops[h] for h in ("1", "10", "50")}
        result["per_hop"] = hops
        save()
    counts = [int(c) for c in args.sessions_sweep.split(",") if c.strip()]
    if counts:
        clips = [(read_pcm(FIXTURES_DIR / f), transcripts().get(f, "")) for f in args.fixtures]
        if args.vad_placement in ("aggregator", "both"):
            result["scaling"] = pipecat_load.scaling(clips, counts, TAIL_S, progress)
            result["sessions_at_lag_20ms"] = pipecat_load.sessions_at_budget(result["scaling"])
            save()
        if args.vad_placement in ("processor", "both"):
            points = pipecat_load.scaling(clips, counts, TAIL_S, progress, "processor")
            key = "scaling" if args.vad_placement == "processor" else "scaling_vad_processor"
            if key == "scaling":
                result["scaling_vad_in"] = "processor"
            result[key] = points
            result[key.replace("scaling", "sessions_at_lag_20ms")] = pipecat_load.sessions_at_budget(points)
    result["notes"] = NOTES
    save()
    print_table(result)
    print_settings(result)
    if args.json:
        print(f"\nwrote {args.json}")
    return 0


NOTES = (
    "Stand-ins: STT final transcript 150 ms after each VAD stop; LLM whole reply 200 ms after the "
    "LLMContextFrame; TTS first audio 100 ms after run_tts, then 4 s of 20 ms frames. VAD: "
    "SileroVADAnalyzer(VADParams()) - Pipecat's defaults, the values it recommends with Smart Turn "
    "(confidence=0.7, start_secs=0.2, stop_secs=0.2, min_volume=0.6) - in "
    "LLMUserAggregatorParams.vad_analyzer; turn: Pipecat's default strategies "
    "(start: VAD, transcription; stop: TurnAnalyzerUserTurnStopStrategy(LocalSmartTurnAnalyzerV3()), "
    "default SmartTurnParams). End of speech = end of the last 32 ms window pipecat counted as speech "
    "(confidence >= 0.7 and volume >= 0.6). Output plays 40 ms chunks (audio_out_10ms_chunks=4) back to "
    "back at real-time pace; barge-in ends when the chunk playing at VAD onset has finished. Pipecat "
    "logging at WARNING, RTVI off. Every setting that is not Pipecat's default: settings.not_default."
)

if __name__ == "__main__":
    sys.exit(main())
