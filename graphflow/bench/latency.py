"""Latency of the voice agent on recorded fixtures, fed at real-time pace as a microphone would.

For each fixture and run, one session listens to the recording (then to silence) and
answers; with ``barge_in`` a second utterance starts while the agent is answering. The
session's per-exchange metrics give every stage's latency; barge-in is measured from the
VAD's onset event to the moment playout went silent, and cancellation propagation from
the cancel report. In ``standin`` mode STT, LLM and TTS are stand-ins of known delay
that time each of their calls, and ``engine_added`` is voice-to-voice minus the
endpointing (end of speech → turn decision) minus the *measured* time inside the LLM and
TTS calls on the reply's path (:mod:`graphflow.bench.attribution`); the older figure,
which subtracts the configured delays instead, is kept as ``engine_added_configured``.
In ``models`` mode every stage is the real local model.
"""

from __future__ import annotations

import asyncio
import tempfile
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import numpy as np

from graphflow.agent.options import FileIO, SessionOptions
from graphflow.agent.pipeline import StageOverrides
from graphflow.agent.session import AgentSession
from graphflow.bench.attribution import attribute, configured_engine_added
from graphflow.bench.recordings import RATE, Recording, barge_in_recording, load_pcm
from graphflow.bench.standins import (
    ProviderCall,
    StandInLLM,
    StandInLLMOptions,
    StandInSTT,
    StandInSTTOptions,
    StandInTTS,
    StandInTTSOptions,
)
from graphflow.conversation.events import AgentPaused, AgentStoppedSpeaking, TurnMetrics, UserStartedSpeaking
from graphflow.errors import ConfigError
from graphflow.models import ModelHub
from graphflow.runtime.clock import Clock, RealtimeClock, VirtualClock
from graphflow.runtime.heap import freeze_loaded
from graphflow.timebase import MS, to_ms
from nodes.llm.base import LLMNode

UNKNOWN_WORDS = "Can you tell me more about that?"
"""What the stand-in STT says for a recording without a reference transcript (a question, so the
stand-in LLM answers it as it would any turn)."""
INTERRUPTION_AFTER_S = 2.0
"""Seconds after the end of the fixture at which the interruption's recording starts."""


class LatencyOptions(msgspec.Struct, frozen=True):
    """What to run: recordings, repetitions, stand-ins or models, barge-in, clock."""

    recordings: tuple[Recording, ...]
    runs: int = 1
    mode: str = "standin"
    barge_in: bool = True
    barge_in_clip: Recording | None = None
    """The utterance that barges in on the agent (default: the clip shipped in the package)."""
    virtual: bool = False
    llm_ttft_ms: int = 200
    tts_first_byte_ms: int = 100
    stt_delay_ms: int = 150
    preemptive: bool = False
    """Off by default here: stages then run one after the other, as in Pipecat's pipeline, so
    the whole LLM call lies between the turn decision and the first audio."""
    session: SessionOptions | None = None
    """The sessions' options (``--set`` overrides); the recording and the fields above win."""


@dataclass
class RunResult:
    """What one session on one fixture measured."""

    recording: str
    run: int
    turns: list[TurnMetrics] = field(default_factory=list)
    engine_added_ms: list[float] = field(default_factory=list)
    engine_added_configured_ms: list[float] = field(default_factory=list)
    model_ms: list[float] = field(default_factory=list)
    standin_overshoot_ms: list[float] = field(default_factory=list)
    barge_in_ms: list[float] = field(default_factory=list)
    cancel_propagation_ms: list[float] = field(default_factory=list)
    frame_lag_ms: list[float] = field(default_factory=list)
    interrupted: int = 0
    heard: str = ""
    """What the STT heard of the recording (its user turns before the barge-in), joined."""
    reference: str | None = None
    """The recording's reference transcript, when known."""
    budgets_ms: dict[str, float] = field(default_factory=dict)
    """Each node's declared latency (ms), by node name."""


def scenario(recording: Recording, interruption: Recording | None, out: Path) -> float:
    """Write the input a run plays to ``out``: the recording, and the interruption 2 s after it ends.

    Returns the recording's own length in seconds."""
    pcm = load_pcm(recording)
    seconds = len(pcm) / RATE
    if interruption is not None:
        extra = load_pcm(interruption)
        start = len(pcm) + int(INTERRUPTION_AFTER_S * RATE)
        pcm = np.concatenate([pcm, np.zeros(start - len(pcm) + len(extra), np.int16)])
        pcm[start : start + len(extra)] = extra
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.astype("<i2").tobytes())
    return seconds


def interruption(options: LatencyOptions) -> Recording | None:
    """The barge-in clip a run plays, or None without barge-in."""
    if not options.barge_in:
        return None
    return options.barge_in_clip or barge_in_recording(None)


Stages = Callable[[LatencyOptions, list[str]], StageOverrides]
"""Makes the stand-in STT, LLM and TTS of one session (tests pass their own)."""


def standin_stages(options: LatencyOptions, script: list[str]) -> StageOverrides:
    """The stand-ins with the options' delays; the STT answers with ``script``."""
    return StageOverrides(
        stt=StandInSTT(script, StandInSTTOptions(delay_ms=options.stt_delay_ms), name="stt"),
        llm=StandInLLM(StandInLLMOptions(ttft_ms=options.llm_ttft_ms), name="llm"),
        tts=StandInTTS(StandInTTSOptions(first_byte_ms=options.tts_first_byte_ms), name="tts"),
    )


def build(
    options: LatencyOptions,
    path: Path,
    script: list[str],
    hub: ModelHub,
    stages: Stages = standin_stages,
) -> AgentSession:
    """A session on ``path``: stand-ins (made by ``stages``) or real models, as ``options.mode`` says."""
    base = options.session or SessionOptions()
    agent = msgspec.structs.replace(
        base,
        files=FileIO(input=str(path), tail_silence_ms=6000 if options.barge_in else 3000),
        turn=msgspec.structs.replace(base.turn, preemptive=options.preemptive),
    )
    if options.mode == "models":
        session = AgentSession(agent, hub=hub)
    elif options.mode == "standin":
        session = AgentSession(agent, hub=hub, overrides=stages(options, script))
    else:
        raise ConfigError(f"unknown bench mode {options.mode!r}", hint="standin or models")
    session.keep_frame_lag(LAG_SAMPLES)
    return session


LAG_SAMPLES = 200_000
"""Frame-lag samples a benchmarked session keeps (over an hour of 20 ms frames)."""


def measure(
    session: AgentSession, recording: Recording, run: int, options: LatencyOptions, seconds: float
) -> RunResult:
    """The figures of one finished session; ``seconds`` is the recording's length."""
    result = RunResult(recording.name, run)
    result.turns = list(session.metrics)
    result.reference = recording.transcript
    result.budgets_ms = {node.name: node.latency() / MS for node in session.graph.nodes()}
    # the barge-in clip starts INTERRUPTION_AFTER_S after the recording: what began before is its speech
    cutoff = seconds + INTERRUPTION_AFTER_S / 2
    heard = [u.text for u in session.transcript if u.role == "user" and u.start < cutoff and u.text]
    result.heard = " ".join(heard)
    if options.mode == "standin":
        llm_calls, tts_calls = standin_calls(session)
        for m in result.turns:
            configured = configured_engine_added(m, options.llm_ttft_ms, options.tts_first_byte_ms)
            if configured is not None:
                result.engine_added_configured_ms.append(configured)
            split = attribute(m, llm_calls, tts_calls)
            if split is not None:
                result.engine_added_ms.append(split.engine_added_ms)
                result.model_ms.append(split.model_ms)
                result.standin_overshoot_ms.append(split.overshoot_ms)
    onsets = [e.at for e in session.events if isinstance(e, UserStartedSpeaking)]
    for event in session.events:
        if isinstance(event, AgentPaused):
            before = [t for t in onsets if t <= event.at]
            if before:
                result.barge_in_ms.append(to_ms(event.at - before[-1]))
        elif isinstance(event, AgentStoppedSpeaking):
            result.interrupted += event.interrupted
    if session.runner is not None:
        result.cancel_propagation_ms = [to_ms(r.propagation_ns) for r in session.runner.cancellations]
    result.frame_lag_ms = [to_ms(v) for v in session.frame_lag.samples]
    return result


def standin_calls(session: AgentSession) -> tuple[list[ProviderCall], list[ProviderCall]]:
    """The calls the session's stand-in LLM and TTS made (empty lists for other nodes)."""
    llm: list[ProviderCall] = []
    tts: list[ProviderCall] = []
    for node in session.graph.nodes():
        model = node.model if isinstance(node, LLMNode) and node.model is not None else node
        if isinstance(model, StandInLLM):  # the stage itself, or the stand-in it streams from
            llm = model.calls
        elif isinstance(node, StandInTTS):
            tts = node.calls
    return llm, tts


def compute_samples(session: AgentSession, into: dict[str, list[float]], seen: dict[int, int]) -> None:
    """Add the model-call times (ms) the session's stages recorded to ``into``.

    Executors shared by several sessions keep one record: ``seen`` remembers how many of
    its samples were already taken."""
    from nodes.stt.segmenter import SegmentedSTT
    from nodes.tts.sentences import SentenceTTS
    from nodes.turn.detector import TurnDetector
    from nodes.vad.silero import SileroVAD

    for node in session.graph.nodes():
        found: dict[str, list[int]] = {}
        if isinstance(node, SileroVAD) and node.executor is not None:
            calls = node.executor.stats.calls.samples
            found["vad_call"] = calls[seen.get(id(calls), 0) :]
            seen[id(calls)] = len(calls)
        elif isinstance(node, TurnDetector):
            found["turn_decision"] = node.decision_time.samples
        elif isinstance(node, SegmentedSTT):
            found["stt_call"] = node.recognition_time.samples
        elif isinstance(node, SentenceTTS):
            found["tts_first_audio"] = node.stats.first_audio.samples
            found["tts_sentence"] = node.stats.synthesis.samples
        if isinstance(node, StandInLLM | StandInTTS):
            found[f"standin_{node.name}_call"] = [c.end - c.start for c in node.calls]
        for key, samples in found.items():
            into.setdefault(key, []).extend(to_ms(v) for v in samples)


async def run_session(session: AgentSession, clock: Clock) -> None:
    """Run one session to its end."""
    await session.run(clock)


def load_models(hub: ModelHub) -> None:
    """Load the shared models before the first session, then freeze the heap (as a worker does)."""
    from nodes.turn.smart_turn import SmartTurnExecutor
    from nodes.vad.silero_executor import SileroExecutor

    SileroExecutor.shared(hub)  # both modes run the real VAD and turn model
    SmartTurnExecutor.shared(hub).load()
    freeze_loaded()


def run_latency(
    options: LatencyOptions,
    hub: ModelHub | None = None,
    progress: Callable[[str], None] | None = None,
    compute: dict[str, list[float]] | None = None,
    stages: Stages = standin_stages,
) -> list[RunResult]:
    """Every fixture and run, one session at a time; model-call times go into ``compute``.

    ``stages`` makes each session's stand-ins (``standin`` mode)."""
    hub = hub or ModelHub()
    load_models(hub)
    results = []
    seen: dict[int, int] = {}
    extra = interruption(options)
    with tempfile.TemporaryDirectory(prefix="graphflow-bench-") as tmp:
        for run in range(options.runs):
            for index, recording in enumerate(options.recordings):
                path = Path(tmp) / f"{run}-{index}.wav"
                seconds = scenario(recording, extra, path)
                said = (extra.transcript or UNKNOWN_WORDS) if extra else ""
                script = [recording.transcript or UNKNOWN_WORDS, said]
                session = build(options, path, script, hub, stages)
                if options.virtual:
                    clock = VirtualClock()
                    clock.run(run_session(session, clock))
                else:
                    asyncio.run(run_session(session, RealtimeClock()))
                results.append(measure(session, recording, run, options, seconds))
                if compute is not None:
                    compute_samples(session, compute, seen)
                if progress is not None:
                    progress(recording.name)
    return results
