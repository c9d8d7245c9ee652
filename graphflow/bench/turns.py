"""``graphflow bench turns``: the turn decision on labelled cuts of real speech, at real-time pace.

Each cut (:mod:`graphflow.bench.cuts`) is a recording cut just after a word, followed by
3 s of its own room tone, played through the voice agent's listening half — source, VAD,
speech-to-text, turn detector, with the voice agent's own options — on the real clock.
For a ``complete`` cut the figure is the decision time: from the end of speech (the cut)
to the end-of-turn frame; for an ``incomplete`` one, whether the detector held past
``hold_s`` (an answer sooner would talk over a speaker who is still in mid-sentence).
Tentative (preemptive) turns are not decisions; a turn decided on speech that ended well
before the cut (an earlier sentence of the same clip) is not this cut's decision.
"""

from __future__ import annotations

import asyncio
import tempfile
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from graphflow.agent.options import SessionOptions
from graphflow.bench.cuts import RATE, TurnCut, cut_audio
from graphflow.bench.stats import percentiles
from graphflow.frames.speech import EndOfTurn, Transcript, TurnKind, VADEvent
from graphflow.graph import Graph
from graphflow.models import ModelHub
from graphflow.runtime.clock import RealtimeClock
from graphflow.runtime.wiring import RunOptions
from graphflow.timebase import from_seconds, to_ms

"""The reason of a tentative turn (not a decision)."""
OWN_SPEECH_S = 0.6
"""A decision belongs to the cut when the speech it ends finished at most this long before the cut."""


class TurnBenchOptions(msgspec.Struct, frozen=True):
    """What ``graphflow bench turns`` runs and how it scores."""

    tail_s: float = 3.0
    """Room tone after each cut (seconds)."""
    hold_s: float = 1.5
    """An incomplete cut is held when no turn ended within this long after the cut."""
    within_ms: float = 500.0
    """A complete cut is caught when its turn ended within this long after the cut."""
    session: SessionOptions = SessionOptions()
    """The listening half's options: VAD, speech-to-text provider, turn detector (``--set``)."""


class CutResult(msgspec.Struct, frozen=True):
    """What the turn detector did on one cut."""

    id: str
    label: str
    decision_ms: float | None
    """End of speech (the cut) → end-of-turn frame; None when no turn ended for this cut."""
    reason: str = ""
    probability: float = 0.0
    text: str = ""
    evidence: dict[str, Any] = {}
    """What decided: the detector's own record of the decision (probabilities, silence, rule)."""
    trace: dict[str, Any] = {}
    """What the detector was told, in ms from the cut: ``vad`` events (kind, media time,
    arrival), ``finals`` (text, start, end, arrival) and the detector's ``decisions`` (speech
    end, reason, the audio model's probability) — enough to replay the decision
    under other options (``benchmarks/turns/replay.py``)."""

    def caught(self, within_ms: float) -> bool:
        """A complete cut answered within ``within_ms``."""
        return self.decision_ms is not None and self.decision_ms <= within_ms

    def held(self, hold_s: float) -> bool:
        """An incomplete cut not answered within ``hold_s``."""
        return self.decision_ms is None or self.decision_ms > hold_s * 1000


def write_cut(cut: TurnCut, fixtures_dir: Path, tail_s: float, out: Path) -> Path:
    """Render the cut's audio to a WAV at ``out``."""
    pcm = cut_audio(cut, fixtures_dir, tail_s=tail_s)
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(np.asarray(pcm, "<i2").tobytes())
    return out


def listening_graph(path: Path, hub: ModelHub, o: SessionOptions) -> tuple[Graph, Any, Any, Any, Any]:
    """Source → resampler → VAD → STT → turn detector → sink, with the voice agent's options;
    a second sink hears what the turn detector is told (VAD events and transcripts)."""
    from graphflow.agent.pipeline import Providers
    from nodes.audio.resampler import Resampler, ResamplerOptions
    from nodes.io.file_source import FileSource, FileSourceOptions
    from nodes.memory import FrameSink
    from nodes.turn.detector import TurnDetector
    from nodes.vad.silero import SileroVAD

    source = FileSource(FileSourceOptions(str(path), frame_ms=o.files.frame_ms), name="source")
    resampler = Resampler(ResamplerOptions(rate=RATE, channels=1), name="resampler")
    vad = SileroVAD(o.vad, name="vad", hub=hub)
    recognizer = Providers(o, hub).stt()
    turn = TurnDetector(o.turn, name="turn", hub=hub)
    sink = FrameSink(name="turns")
    told = FrameSink(name="told")
    g = Graph("listening")
    g.chain(source, resampler, vad)
    g.connect(vad.out, recognizer.inputs["inp"])
    g.connect(vad.out, turn.audio)
    g.connect(recognizer.outputs["out"], turn.transcripts)
    g.connect(turn.out, sink.inp)
    g.connect(vad.out, told.inp)
    g.connect(recognizer.outputs["out"], told.inp)
    return g, source, turn, sink, told


def _trace(told: Any, base: int, cut_ns: int) -> dict[str, Any]:
    """The VAD events and final transcripts the detector was told, in ms from the cut."""
    vad: list[dict[str, Any]] = []
    finals: list[dict[str, Any]] = []
    for frame, arrived in zip(told.frames, told.arrivals, strict=True):
        at = round(to_ms(arrived - base - cut_ns), 1)
        if isinstance(frame, VADEvent):
            vad.append(
                {"kind": type(frame).__name__, "pts_ms": round(to_ms(frame.pts - cut_ns), 1), "at_ms": at}
            )
        elif isinstance(frame, Transcript) and frame.final:
            finals.append(
                {
                    "text": frame.text,
                    "start_ms": round(to_ms(frame.start - cut_ns), 1),
                    "end_ms": round(to_ms(frame.end - cut_ns), 1),
                    "at_ms": at,
                }
            )
    return {"vad": vad, "finals": finals}


async def _run_cut(cut: TurnCut, path: Path, hub: ModelHub, options: TurnBenchOptions) -> CutResult:
    graph, source, turn, sink, told = listening_graph(path, hub, options.session)
    await graph.compile().run(RunOptions(clock=RealtimeClock()))
    cut_ns = from_seconds(cut.cut_s)
    trace = _trace(told, source.base_time, cut_ns)
    trace["decisions"] = [
        {
            "speech_end_ms": round(to_ms(d.speech_end - cut_ns), 1),
            "reason": d.reason,
            "audio": d.probability,
        }
        for d in turn.decisions
    ]
    for frame, arrived in zip(sink.frames, sink.arrivals, strict=True):
        if not isinstance(frame, EndOfTurn) or frame.kind == TurnKind.PREEMPTIVE:
            continue
        if frame.speech_end < cut_ns - from_seconds(OWN_SPEECH_S):
            continue  # an earlier sentence of the same clip
        decided = arrived - source.base_time
        record = next((d for d in reversed(turn.decisions) if d.speech_end == frame.speech_end), None)
        evidence: dict[str, Any] = {}
        if record is not None:
            evidence = {"reason": record.reason, "probability": record.probability}
            if record.evidence is not None:
                evidence.update(msgspec.to_builtins(record.evidence))
        return CutResult(
            id=cut.id,
            label=cut.label,
            decision_ms=to_ms(decided - cut_ns),
            reason=frame.reason,
            probability=frame.probability,
            text=frame.text,
            evidence=evidence,
            trace=trace,
        )
    return CutResult(id=cut.id, label=cut.label, decision_ms=None, trace=trace)


def run_cuts(
    cuts: list[TurnCut],
    fixtures_dir: Path,
    options: TurnBenchOptions,
    hub: ModelHub | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[CutResult]:
    """Play every cut through the listening half, one at a time on the real clock."""
    from graphflow.bench.latency import load_models

    hub = hub or ModelHub()
    load_models(hub)
    results = []
    with tempfile.TemporaryDirectory(prefix="graphflow-turns-") as tmp:
        for cut in cuts:
            path = write_cut(cut, fixtures_dir, options.tail_s, Path(tmp) / f"{cut.id}.wav")
            results.append(asyncio.run(_run_cut(cut, path, hub, options)))
            if progress is not None:
                progress(cut.id)
    return results


def score(results: list[CutResult], options: TurnBenchOptions) -> dict[str, Any]:
    """Caught % and decision percentiles (complete cuts), held % (incomplete cuts)."""
    complete = [r for r in results if r.label == "complete"]
    incomplete = [r for r in results if r.label == "incomplete"]
    # a complete cut never decided counts as the whole tail: it waited at least that long
    times = [r.decision_ms if r.decision_ms is not None else options.tail_s * 1000 for r in complete]
    return {
        "complete": len(complete),
        "incomplete": len(incomplete),
        "caught": sum(r.caught(options.within_ms) for r in complete) / max(len(complete), 1),
        "held": sum(r.held(options.hold_s) for r in incomplete) / max(len(incomplete), 1),
        "decision_ms": percentiles(times),
        "undecided_complete": sum(r.decision_ms is None for r in complete),
        **final_latency(results),
    }


def final_latency(results: list[CutResult]) -> dict[str, Any]:
    """When final transcripts came (runs with traces): after the end of speech they cover, and
    after the VAD's stop event for that speech (negative: before the VAD called the stop)."""
    after_end: list[float] = []
    after_stop: list[float] = []
    for r in results:
        stops = {e["pts_ms"]: e["at_ms"] for e in r.trace.get("vad", []) if e["kind"] == "SpeechStopped"}
        for f in r.trace.get("finals", []):
            if not f["text"]:
                continue
            after_end.append(f["at_ms"] - f["end_ms"])
            if f["end_ms"] in stops:
                after_stop.append(f["at_ms"] - stops[f["end_ms"]])
    if not after_end:
        return {}
    return {"final_ms": percentiles(after_end), "final_after_stop_ms": percentiles(after_stop)}


__all__ = [
    "CutResult",
    "TurnBenchOptions",
    "final_latency",
    "listening_graph",
    "run_cuts",
    "score",
    "write_cut",
]
