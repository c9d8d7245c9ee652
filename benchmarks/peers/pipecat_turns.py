"""Pipecat 1.14 peer of ``graphflow bench turns``: its turn stack on the labelled turn cuts.

Each cut of ``benchmarks/turns/cuts.tsv`` (a recording cut just after a word, then 3 s of the
clip's own room tone) is played at real-time pace (20 ms frames) into Pipecat's listening half,
with its recommended settings: paced mic → STT stand-in → user aggregator
(``SileroVADAnalyzer(VADParams())`` + ``TurnAnalyzerUserTurnStopStrategy(LocalSmartTurnAnalyzerV3())``,
default start strategies) → probe. Pipecat's decision is the ``UserStoppedSpeakingFrame`` the
user aggregator broadcasts when the user turn ends; it is timed where it reaches the probe.

The cuts' audio is rendered by ``graphflow.bench.cuts.cut_audio`` in graphflow's own venv
(``.venv/bin/python``, run as a subprocess), so this venv never imports graphflow.

    .venv-peers/bin/python benchmarks/peers/pipecat_turns.py --json docs/results/turns-pipecat.json
        [--cuts FILE] [--fixtures-dir DIR] [--limit N] [--only TEXT] [--stt-delay-ms MS]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pipecat.audio.turn.base_turn_analyzer import EndOfTurnState
from pipecat.audio.turn.smart_turn.base_smart_turn import SmartTurnParams
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.frames.frames import (
    Frame,
    LLMContextFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.metrics.metrics import MetricsData, TurnMetricsData
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.turns.user_stop import TurnAnalyzerUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import (
    UserTurnStrategies,
    default_user_turn_start_strategies,
    default_user_turn_stop_strategies,
)
from pipecat.utils.time import time_now_iso8601
from pipecat.workers.runner import WorkerRunner
from pipecat_bench import WarningLog, machine, read_pcm
from pipecat_parts import (
    FRAME,
    RATE,
    STT_TTFS_P99_S,
    InstrumentedSileroVAD,
    PacedInput,
    SessionLog,
    StandInSTT,
)

ROOT = Path(__file__).resolve().parents[2]
CUTS = ROOT / "benchmarks" / "turns" / "cuts.tsv"
FIXTURES = ROOT / "benchmarks" / "fixtures"
RENDER_PYTHON = ROOT / ".venv" / "bin" / "python"
# graphflow's scoring (graphflow/bench/turns.py, TurnBenchOptions and OWN_SPEECH_S)
TAIL_S = 3.0  # room tone after each cut
HOLD_S = 1.5  # an incomplete cut is held when no turn ended within this long after the cut
WITHIN_MS = 500.0  # a complete cut is caught when its turn ended within this long
OWN_SPEECH_S = 0.6  # a decision belongs to the cut if the speech it ends finished at most this before it
DRAIN_S = 0.3  # the pipeline keeps running this long after the last frame, for decisions in flight
STT_DELAY_MS = 0.0
"""Default delay of the stand-in's final transcript after the VAD stop reaches the STT: none, the
earliest a streaming STT could finalize (Pipecat asks streaming STTs to finalize at the VAD stop)."""
DECISION_EVENT = "UserStoppedSpeakingFrame"

RENDER = """
import json, sys, wave
from pathlib import Path
import numpy as np
from graphflow.bench.cuts import cut_audio, load_cuts
cuts_file, fixtures, out, only, limit, tail = sys.argv[1:7]
cuts = load_cuts(cuts_file, fixtures or None)
fixtures = Path(fixtures) if fixtures else Path(cuts_file).resolve().parent.parent / "fixtures"
cuts = [c for c in cuts if only in c.id]
cuts = cuts[: int(limit)] if int(limit) > 0 else cuts
rows = []
for cut in cuts:
    pcm = cut_audio(cut, fixtures, tail_s=float(tail))
    path = Path(out) / f"{cut.id}.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.asarray(pcm, "<i2").tobytes())
    rows.append({"id": cut.id, "file": cut.file, "label": cut.label, "cut_s": cut.cut_s,
                 "prefix": cut.prefix, "wav": str(path)})
(Path(out) / "cuts.json").write_text(json.dumps(rows))
"""
"""Run by graphflow's venv: renders the selected cuts with ``cut_audio`` and lists them."""


def render_cuts(args: argparse.Namespace, out: Path) -> list[dict[str, Any]]:
    """The selected cuts, each rendered to a WAV in ``out`` by graphflow's ``cut_audio``."""
    fixtures = str(args.fixtures_dir.resolve()) if args.fixtures_dir else ""
    argv = [str(args.cuts.resolve()), fixtures, str(out), args.only, str(args.limit), str(TAIL_S)]
    done = subprocess.run([str(args.render_python), "-c", RENDER, *argv], check=False)
    if done.returncode != 0:
        raise SystemExit(f"rendering the cuts with {args.render_python} failed (exit {done.returncode})")
    rows: list[dict[str, Any]] = json.loads((out / "cuts.json").read_text())
    return rows


# ------------------------------------------------------------------ session
@dataclass(frozen=True)
class Verdict:
    """One Smart Turn verdict, when the analyzer returned it."""

    at: float
    complete: bool
    probability: float | None = None  # None: the stop_secs silence fallback, no inference
    inference_ms: float = 0.0


@dataclass
class TurnLog:
    """What one cut's session saw, on the ``perf_counter`` clock."""

    stopped: list[float] = field(default_factory=list)  # UserStoppedSpeakingFrame reached the probe
    started: list[float] = field(default_factory=list)  # UserStartedSpeakingFrame reached the probe
    contexts: list[float] = field(default_factory=list)  # LLMContextFrame reached the probe
    strategies: list[str] = field(default_factory=list)  # on_user_turn_stopped: the strategy, in order
    verdicts: list[Verdict] = field(default_factory=list)  # Smart Turn's, as it returned them
    transcripts: list[float] = field(default_factory=list)  # the stand-in pushed a final transcript


class RecordedSmartTurn(LocalSmartTurnAnalyzerV3):
    """Pipecat's Smart Turn v3 analyzer, unchanged, recording each verdict when it is returned.

    (Its ``MetricsFrame`` is a data frame: it can reach a processor after the system frame
    ``UserStoppedSpeakingFrame`` it led to, so the verdicts are taken here instead.)
    """

    def __init__(self, turns: TurnLog) -> None:
        super().__init__()
        self.turns = turns

    def append_audio(self, buffer: bytes, is_speech: bool) -> EndOfTurnState:
        state = super().append_audio(buffer, is_speech)
        if state == EndOfTurnState.COMPLETE:  # silence reached SmartTurnParams.stop_secs
            self.turns.verdicts.append(Verdict(time.perf_counter(), True))
        return state

    async def analyze_end_of_turn(self) -> tuple[EndOfTurnState, MetricsData | None]:
        state, data = await super().analyze_end_of_turn()
        if isinstance(data, TurnMetricsData):
            at, complete, probability = time.perf_counter(), bool(data.is_complete), float(data.probability)
            self.turns.verdicts.append(Verdict(at, complete, probability, data.e2e_processing_time_ms))
        return state, data


class Probe(FrameProcessor):
    """Right after the user aggregator: records when the turn frames reach it."""

    def __init__(self, turns: TurnLog) -> None:
        super().__init__()
        self._turns = turns

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        now = time.perf_counter()
        if isinstance(frame, UserStoppedSpeakingFrame):
            self._turns.stopped.append(now)
        elif isinstance(frame, UserStartedSpeakingFrame):
            self._turns.started.append(now)
        elif isinstance(frame, LLMContextFrame):
            self._turns.contexts.append(now)
        await self.push_frame(frame, direction)


class CutSTT(StandInSTT):
    """The cut's words (its ``prefix``) as a finalized transcript, ``delay_s`` after each VAD stop."""

    def __init__(self, log: SessionLog, turns: TurnLog, delay_s: float) -> None:
        super().__init__(log)
        self._turns, self._delay_s = turns, delay_s

    async def _transcribe(self, text: str) -> None:
        if self._delay_s > 0:
            await asyncio.sleep(self._delay_s)
        self._turns.transcripts.append(time.perf_counter())
        await self.push_frame(TranscriptionFrame(text, "user", time_now_iso8601(), finalized=True))


@dataclass
class CutSession:
    worker: PipelineWorker
    mic: PacedInput
    analyzer: RecordedSmartTurn
    strategies: UserTurnStrategies
    vad: InstrumentedSileroVAD


def build(log: SessionLog, turns: TurnLog, pcm: np.ndarray, stt_delay_s: float) -> CutSession:
    """mic → STT stand-in → user aggregator (Silero VAD + Smart Turn v3, defaults) → probe."""
    frames = -(-len(pcm) // FRAME)

    def feed(k: int) -> np.ndarray | None:
        if k >= frames:
            return None
        out = np.zeros(FRAME, np.int16)
        chunk = pcm[k * FRAME : (k + 1) * FRAME]
        out[: len(chunk)] = chunk
        return out

    vad = InstrumentedSileroVAD(log, VADParams())  # confidence 0.7, start 0.2 s, stop 0.2 s
    analyzer = RecordedSmartTurn(turns)
    strategies = UserTurnStrategies(stop=[TurnAnalyzerUserTurnStopStrategy(turn_analyzer=analyzer)])
    params = LLMUserAggregatorParams(vad_analyzer=vad, user_turn_strategies=strategies)
    user = LLMContextAggregatorPair(LLMContext(), user_params=params).user()

    @user.event_handler("on_user_turn_stopped")
    async def on_user_turn_stopped(_aggregator: Any, strategy: Any, _message: Any) -> None:
        turns.strategies.append(type(strategy).__name__ if strategy is not None else "")

    mic = PacedInput(log, feed)
    pipeline = Pipeline([mic, CutSTT(log, turns, stt_delay_s), user, Probe(turns)])
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(audio_in_sample_rate=RATE, audio_out_sample_rate=RATE),
        enable_rtvi=False,
        idle_timeout_secs=None,
    )
    return CutSession(worker, mic, analyzer, strategies, vad)


async def warm_up(analyzer: RecordedSmartTurn) -> None:
    """One Smart Turn inference on 1 s of silence before the session, then a cleared analyzer.

    A session's first inference also pays ONNX Runtime's first-run setup and starts the
    analyzer's thread; a running agent pays that once, not on every turn, so it is kept out of
    the cut's decision.
    """
    analyzer.set_sample_rate(RATE)
    analyzer.append_audio(np.zeros(RATE, np.int16).tobytes(), True)
    await analyzer.analyze_end_of_turn()
    analyzer.clear()
    analyzer.turns.verdicts.clear()


async def play(pcm: np.ndarray, prefix: str, stt_delay_s: float) -> tuple[SessionLog, TurnLog]:
    """Play one cut at real-time pace, then ``DRAIN_S`` more for decisions in flight."""
    log, turns = SessionLog(transcripts=[prefix]), TurnLog()
    session = build(log, turns, pcm, stt_delay_s)
    await warm_up(session.analyzer)
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(session.worker)
    task = asyncio.create_task(runner.run())
    await session.mic.finished.wait()
    await asyncio.sleep(DRAIN_S)
    await session.worker.cancel()
    await task
    return log, turns


# ------------------------------------------------------------------ scoring
def media_zero(log: SessionLog) -> float:
    """Wall time of media time 0: frame k (its last sample at (k+1)·20 ms) is fed at t0 + k·20 ms.

    As graphflow's paced source (a frame leaves when its last sample would be captured), so the
    cut's wall time is ``media_zero + cut_s`` on both sides.
    """
    assert log.t0 is not None
    return log.t0 - FRAME / RATE


def speech_end_media(log: SessionLog, decided: float) -> float | None:
    """Media time (s) of the end of the speech a turn end at ``decided`` closed.

    That is the end of the last 32 ms window Pipecat's VAD counted as speech before the VAD
    stop that preceded the decision (before the decision itself if there was none): a short
    sound too brief to start speech again (``start_secs``) does not move it.
    """
    stop = max((t for t in log.stops if t <= decided), default=decided)
    ends = [end for end, speech, at in log.windows if speech and at <= stop]
    return max(ends) if ends else None


def result(cut: dict[str, Any], log: SessionLog, turns: TurnLog) -> dict[str, Any]:
    """The cut's row, as graphflow's ``CutResult``: the first turn end for this cut's speech."""
    if log.t0 is None:
        raise RuntimeError(f"cut {cut['id']}: no audio was fed")
    cut_at = media_zero(log) + cut["cut_s"]

    def ms(t: float) -> float:
        return round((t - cut_at) * 1000, 1)

    since = cut_at - OWN_SPEECH_S
    evidence: dict[str, Any] = {
        "decision_event": DECISION_EVENT,
        "vad_stops_ms": [ms(t) for t in log.stops if t >= since],
        "transcripts_ms": [ms(t) for t in turns.transcripts if t >= since],
        "smart_turn": [
            {
                "at_ms": ms(v.at),
                "complete": v.complete,
                "probability": None if v.probability is None else round(v.probability, 4),
                "inference_ms": round(v.inference_ms, 1),
            }
            for v in turns.verdicts
            if v.at >= since
        ],
        "turns_ended_before": 0,
    }
    for i, decided in enumerate(turns.stopped):
        end = speech_end_media(log, decided)
        if end is None or end < cut["cut_s"] - OWN_SPEECH_S:
            evidence["turns_ended_before"] += 1  # an earlier sentence of the same clip
            continue
        decision_ms = ms(decided)
        evidence["speech_end_ms"] = round((end - cut["cut_s"]) * 1000, 1)
        if decision_ms > TAIL_S * 1000:
            evidence["late_decision_ms"] = decision_ms
            break
        strategy = turns.strategies[i] if i < len(turns.strategies) else ""
        verdict = next((v for v in reversed(turns.verdicts) if v.at <= decided), None)
        if not strategy or verdict is None:
            reason = "user_turn_stop_timeout"  # the aggregator's watchdog (user_turn_stop_timeout)
        elif verdict.probability is None:
            reason = "smart_turn_stop_secs"  # Smart Turn's silence fallback (SmartTurnParams.stop_secs)
        else:
            reason = "smart_turn"
        evidence["strategy"] = strategy
        return {
            "id": cut["id"],
            "label": cut["label"],
            "decision_ms": decision_ms,
            "reason": reason,
            "probability": _probability(verdict),
            "text": cut["prefix"],
            "evidence": evidence,
        }
    last = next((v for v in reversed(turns.verdicts) if v.at >= since), None)
    return {
        "id": cut["id"],
        "label": cut["label"],
        "decision_ms": None,
        "reason": "",
        "probability": _probability(last),
        "text": cut["prefix"],
        "evidence": evidence,
    }


def _probability(verdict: Verdict | None) -> float:
    """Smart Turn's probability of "complete" in ``verdict`` (0.0 when it ran no inference)."""
    return 0.0 if verdict is None or verdict.probability is None else round(verdict.probability, 4)


def score(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """As graphflow's ``score``: a complete cut never decided counts as the whole tail."""
    complete = [r for r in rows if r["label"] == "complete"]
    incomplete = [r for r in rows if r["label"] == "incomplete"]
    times = [r["decision_ms"] if r["decision_ms"] is not None else TAIL_S * 1000 for r in complete]
    caught = sum(r["decision_ms"] is not None and r["decision_ms"] <= WITHIN_MS for r in complete)
    held = sum(r["decision_ms"] is None or r["decision_ms"] > HOLD_S * 1000 for r in incomplete)
    pct = {f"p{q}": float(np.percentile(times, q)) if times else None for q in (50, 90, 99)}
    return {
        "complete": len(complete),
        "incomplete": len(incomplete),
        "caught": caught / max(len(complete), 1),
        "held": held / max(len(incomplete), 1),
        "decision_ms": {"count": len(times), **pct, "max": max(times, default=None), "samples": times},
        "undecided_complete": sum(r["decision_ms"] is None for r in complete),
    }


# ------------------------------------------------------------------ settings
def settings(stt_delay_ms: float) -> dict[str, Any]:
    """What the sessions run with, read from a built one, next to Pipecat's defaults."""
    session = build(SessionLog(), TurnLog(), np.zeros(0, np.int16), stt_delay_ms / 1000)
    start, stop = session.strategies.start or [], session.strategies.stop or []
    return {
        "vad": {
            "analyzer": "SileroVADAnalyzer",
            "in": "LLMUserAggregatorParams.vad_analyzer",
            "params": session.vad.params.model_dump(),
            "pipecat_defaults": VADParams().model_dump(),
        },
        "turn": {
            "start_strategies": [type(s).__name__ for s in start],
            "stop_strategies": [type(s).__name__ for s in stop],
            "pipecat_default_strategies": {
                "start": [type(s).__name__ for s in default_user_turn_start_strategies()],
                "stop": [type(s).__name__ for s in default_user_turn_stop_strategies()],
            },
            "wait_for_transcript": getattr(stop[0], "wait_for_transcript", None) if stop else None,
            "analyzer": type(session.analyzer).__name__,
            "params": session.analyzer.params.model_dump(),
            "pipecat_defaults": SmartTurnParams().model_dump(),
            "warm_up": "one inference on 1 s of silence before each session, then clear()",
        },
        "user_aggregator": {"user_turn_stop_timeout": LLMUserAggregatorParams().user_turn_stop_timeout},
        "stt": {
            "stand_in": "a finalized TranscriptionFrame holding the cut's prefix, on every "
            "VADUserStoppedSpeakingFrame the STT receives",
            "final_after_vad_stop_ms": stt_delay_ms,
            "ttfs_p99_latency": STT_TTFS_P99_S,
        },
        "pipeline": "PacedInput -> CutSTT -> LLMUserAggregator -> Probe (no LLM, TTS or output)",
        "input": "20 ms InputAudioRawFrame at real-time pace; frame k fed when its last sample is captured",
        "decision": f"{DECISION_EVENT} (broadcast by the user aggregator when the user turn ends) "
        "reaching the processor right after it",
        "scoring": {
            "tail_s": TAIL_S,
            "hold_s": HOLD_S,
            "within_ms": WITHIN_MS,
            "own_speech_s": OWN_SPEECH_S,
            "drain_s": DRAIN_S,
        },
    }


# ------------------------------------------------------------------ output
def print_table(scores: dict[str, Any]) -> None:
    d = scores["decision_ms"]
    rows = [
        ("complete cuts", str(scores["complete"])),
        (f"  caught within {WITHIN_MS:.0f} ms", f"{100 * scores['caught']:.0f}%"),
        ("  decision p50 (ms)", f"{d['p50']:.0f}" if d["p50"] is not None else "-"),
        ("  decision p90 (ms)", f"{d['p90']:.0f}" if d["p90"] is not None else "-"),
        ("  never decided", str(scores["undecided_complete"])),
        ("incomplete cuts", str(scores["incomplete"])),
        (f"  held past {HOLD_S:.1f} s", f"{100 * scores['held']:.0f}%"),
    ]
    print(f"\n{'':<34}{'pipecat':>12}")
    for label, cell in rows:
        print(f"{label:<34}{cell:>12}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cuts", type=Path, default=CUTS, help="the labelled cuts (TSV)")
    parser.add_argument("--fixtures-dir", type=Path, help="where the cuts' recordings are")
    parser.add_argument("--limit", type=int, default=0, help="run only the first N cuts (0: all)")
    parser.add_argument("--only", default="", help="run only cuts whose id contains this text")
    parser.add_argument(
        "--stt-delay-ms",
        type=float,
        default=STT_DELAY_MS,
        help="final transcript this long after the VAD stop reaches the STT (default 0)",
    )
    parser.add_argument(
        "--render-python", type=Path, default=RENDER_PYTHON, help="graphflow's python, renders the cuts"
    )
    parser.add_argument("--json", type=Path, help="write every cut's result here")
    args = parser.parse_args(argv)
    warnings = WarningLog.installed()

    doc: dict[str, Any] = {"peer": "pipecat", "version": __import__("pipecat").version()}
    doc |= {"machine": machine(), "settings": settings(args.stt_delay_ms)}
    doc["cuts_file"] = str(args.cuts)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="pipecat-turns-") as tmp:
        cuts = render_cuts(args, Path(tmp))
        if not cuts:
            raise SystemExit(f"no cuts to run in {args.cuts} (check --only and --limit)")
        for n, cut in enumerate(cuts, start=1):
            pcm = read_pcm(Path(cut["wav"]))
            log, turns = asyncio.run(play(pcm, cut["prefix"], args.stt_delay_ms / 1000))
            row = result(cut, log, turns)
            rows.append(row)
            decided = "-" if row["decision_ms"] is None else f"{row['decision_ms']:.0f} ms"
            print(
                f"[{time.strftime('%H:%M:%S')}] {n:>3}/{len(cuts)} {cut['id']:<44} {cut['label']:<10}"
                f" {decided:>8} {row['reason']:<20} p={row['probability']:.2f}",
                flush=True,
            )
    doc["scores"] = score(rows)
    doc["cuts"] = rows
    doc["pipecat_warnings"] = warnings.summary()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    print_table(doc["scores"])
    found = doc["pipecat_warnings"]
    print(f"Pipecat warnings logged: {sum(w['count'] for w in found)}")
    for w in found:
        print(f"  {w['count']}x {w['message'][:160]}")
    if args.json:
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
