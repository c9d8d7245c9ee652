"""The voice agent: source → resampler → VAD → STT → turn detector → LLM → TTS → gate → sink.

The interruption gate holds cancellation edges to the LLM, the TTS and the sink: when the
user barges in, the reply in flight is cancelled, its queued audio flushed, and the
sink reports exactly what was heard. Taps let the session see voice activity,
transcripts, turn ends, reply text and synthesized audio as they pass.

``graphflow render graphs/voice_agent.py`` draws it; ``graphflow run graphs/voice_agent.py
--input in.wav --output out.wav`` talks to a recording. Every stage runs offline on local
models by default (Silero VAD, Whisper base, Smart Turn, the local responder, Piper).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from graphflow import Graph, Node, Overflow, QueueSpec
from graphflow.agent.agent import Agent
from graphflow.agent.chat import ChatContext
from graphflow.agent.control import SessionControl
from graphflow.agent.playout import Playout, Timeline
from graphflow.agent.session import AgentSession
from graphflow.agent.stages import AgentStages, StageSet
from graphflow.agent.tap import SessionTap
from graphflow.errors import ConfigError
from graphflow.frames import Frame
from graphflow.models import ModelHub
from nodes.audio.resampler import Resampler, ResamplerOptions
from nodes.gate.interruption import GateOptions, InterruptionGate
from nodes.io.file_sink import FileSink, FileSinkOptions
from nodes.io.file_source import FileSource, FileSourceOptions
from nodes.llm.base import LLMNode
from nodes.llm.local import LocalResponder, LocalResponderOptions
from nodes.llm.openai import OpenAIChat, OpenAIChatOptions
from nodes.turn.detector import TurnDetector
from nodes.turn.options import TurnOptions
from nodes.vad.silero import SileroOptions, SileroVAD

STT_PROVIDERS = ("whisper", "moonshine", "openai")
"""Speech-to-text choices."""
TTS_PROVIDERS = ("piper", "espeak", "openai")
"""Text-to-speech choices."""
LLM_PROVIDERS = ("local", "openai")
"""Language-model choices."""


class VoiceAgentOptions(msgspec.Struct, frozen=True):
    """The whole pipeline's settings, grouped by stage."""

    input: str = ""
    output: str = ""
    paced: bool = True
    frame_ms: int = 20
    tail_silence_ms: int = 3000
    stt: str = "whisper"
    tts: str = "piper"
    llm: str = "local"
    instructions: str = Agent().instructions
    vad: SileroOptions = SileroOptions()
    turn: TurnOptions = TurnOptions()
    gate: GateOptions = GateOptions()
    responder: LocalResponderOptions = LocalResponderOptions()
    openai_llm: OpenAIChatOptions = OpenAIChatOptions()


@dataclass
class StageOverrides:
    """Nodes to use instead of the configured providers (benchmark stand-ins, custom stages)."""

    stt: Node | None = None
    llm: Node | None = None
    tts: Node | None = None


@dataclass
class PipelineIO:
    """The nodes that bring the user's audio in and play the agent's audio out."""

    source: Node
    sink: Node
    transcripts: Node | None = None
    """Optional: receives the user's transcripts (to publish them, for instance)."""
    typed: Node | None = None
    """Optional: sends typed user turns (``EndOfTurn``); it may interrupt the reply stages."""


IOFactory = Callable[[Timeline, Playout], PipelineIO]
"""Builds a pipeline's input and output nodes around its timeline and playout."""


@dataclass
class VoicePipeline:
    """The built graph and the session-level objects its nodes share."""

    graph: Graph
    chat: ChatContext
    playout: Playout
    agent: Agent
    source: Node
    sink: Node
    gate: InterruptionGate
    llm: Node
    control: SessionControl
    stages: AgentStages


def stt_node(kind: str, hub: ModelHub) -> Node:
    """A speech-to-text node of the provider ``kind`` (whisper, moonshine, openai)."""
    if kind == "whisper":
        from nodes.stt.whisper import WhisperSTT

        return WhisperSTT(name="stt", hub=hub)
    if kind == "moonshine":
        from nodes.stt.moonshine import MoonshineSTT

        return MoonshineSTT(name="stt", hub=hub)
    if kind == "openai":
        from nodes.stt.openai import OpenAISTT

        return OpenAISTT(name="stt", hub=hub)
    raise ConfigError(f"unknown stt provider {kind!r}", hint=f"one of {', '.join(STT_PROVIDERS)}")


def _llm(o: VoiceAgentOptions, chat: ChatContext) -> Node:
    if o.llm == "local":
        return LocalResponder(o.responder, name="llm", chat=chat)
    if o.llm == "openai":
        return OpenAIChat(o.openai_llm, name="llm", chat=chat)
    raise ConfigError(f"unknown llm provider {o.llm!r}", hint=f"one of {', '.join(LLM_PROVIDERS)}")


def _tts(kind: str, hub: ModelHub) -> Node:
    if kind == "piper":
        from nodes.tts.piper import PiperTTS

        return PiperTTS(name="tts", hub=hub)
    if kind == "espeak":
        from nodes.tts.espeak import EspeakTTS

        return EspeakTTS(name="tts", hub=hub)
    if kind == "openai":
        from nodes.tts.openai import OpenAITTS

        return OpenAITTS(name="tts", hub=hub)
    raise ConfigError(f"unknown tts provider {kind!r}", hint=f"one of {', '.join(TTS_PROVIDERS)}")


def build_pipeline(
    options: VoiceAgentOptions | None = None,
    *,
    hub: ModelHub | None = None,
    see: Callable[[Frame], None] | None = None,
    overrides: StageOverrides | None = None,
    io: IOFactory | None = None,
    agent: Agent | None = None,
) -> VoicePipeline:
    """Build the voice-agent graph (fresh nodes); ``see`` receives the tapped frames.

    ``io`` replaces the file source and sink (with room nodes, for instance).
    """
    o = options or VoiceAgentOptions()
    swap = overrides or StageOverrides()
    hub = hub or ModelHub()
    agent = agent or Agent(o.instructions)
    chat = ChatContext(agent.instructions)
    timeline = Timeline()
    playout = Playout(timeline)
    ends = io(timeline, playout) if io is not None else _file_io(o, timeline, playout)
    source, sink = ends.source, ends.sink
    resampler = Resampler(ResamplerOptions(rate=16000, channels=1), name="resampler")
    vad = SileroVAD(o.vad, name="vad", hub=hub)
    # the agent's own stages go in the graph; the configured ones stay the session's defaults
    defaults = StageSet(
        stt=stt_node(o.stt, hub) if agent.stt is not None and swap.stt is None else None,
        llm=_llm(o, chat) if agent.llm is not None and swap.llm is None else None,
        tts=_tts(o.tts, hub) if agent.tts is not None and swap.tts is None else None,
    )
    stt = swap.stt or agent.stt or stt_node(o.stt, hub)
    turn = TurnDetector(o.turn, name="turn", hub=hub)
    llm = swap.llm or agent.llm or _llm(o, chat)
    tts = swap.tts or agent.tts or _tts(o.tts, hub)
    gate = InterruptionGate(o.gate, name="gate", playout=playout)
    control = SessionControl(name="control")
    tap = SessionTap(see or _ignore, name="tap")

    g = Graph("voice_agent")
    g.chain(source, resampler, vad)
    g.connect(vad.out, stt.inputs["inp"])
    g.connect(vad.out, turn.audio)
    g.connect(vad.out, gate.vad)
    g.connect(stt.outputs["out"], turn.transcripts)
    g.connect(stt.outputs["out"], gate.transcripts)
    if ends.transcripts is not None:
        g.connect(stt.outputs["out"], ends.transcripts.inputs["inp"])
    g.connect(turn.out, control.inp)
    if ends.typed is not None:
        g.connect(ends.typed.outputs["out"], control.inp)
        g.connect(ends.typed.outputs["out"], tap.inp)
        g.cancels(ends.typed, llm, tts, sink)
    g.connect(control.out, llm.inputs["inp"])
    g.connect(control.out, gate.turns)
    g.connect(llm.outputs["out"], tts.inputs["inp"])
    g.connect(tts.outputs["out"], gate.audio)
    g.connect(gate.out, sink.inputs["inp"])
    if "reference" in sink.inputs:
        g.connect(resampler.out, sink.inputs["reference"], queue=QueueSpec.frames(256, Overflow.DROP_OLDEST))
    for port in (vad.out, stt.outputs["out"], turn.out, llm.outputs["out"], tts.outputs["out"]):
        g.connect(port, tap.inp)
    g.cancels(gate, llm, tts, sink)
    stages = AgentStages(StageSet(stt=stt, llm=llm, tts=tts), defaults)
    return VoicePipeline(g, chat, playout, agent, source, sink, gate, llm, control, stages)


def _file_io(o: VoiceAgentOptions, timeline: Timeline, playout: Playout) -> PipelineIO:
    source = FileSource(
        FileSourceOptions(o.input, frame_ms=o.frame_ms, paced=o.paced, tail_silence_ms=o.tail_silence_ms),
        name="source",
        timeline=timeline,
    )
    return PipelineIO(source, FileSink(FileSinkOptions(path=o.output), name="sink", playout=playout))


def _ignore(frame: Frame) -> None:
    pass


def build_graph() -> Graph:
    """The default pipeline's graph (for rendering)."""
    return build_pipeline().graph


def build_session(
    options: VoiceAgentOptions | None = None,
    *,
    hub: ModelHub | None = None,
    overrides: StageOverrides | None = None,
    io: IOFactory | None = None,
    agent: Agent | None = None,
    userdata: object = None,
) -> AgentSession:
    """A session around a freshly built pipeline (``io``: other input and output nodes).

    ``agent`` (default: one with ``options.instructions``) brings its tools and hooks;
    ``userdata`` is handed to its tools.
    """
    holder: list[AgentSession] = []
    pipeline = build_pipeline(
        options, hub=hub, see=lambda frame: holder[0].see(frame), overrides=overrides, io=io, agent=agent
    )
    session = AgentSession(pipeline.graph, playout=pipeline.playout, chat=pipeline.chat, agent=pipeline.agent)
    session.userdata = userdata
    if isinstance(pipeline.llm, LLMNode):
        session.attach_llm(pipeline.llm)
    session.control, session.gate, session.stages = pipeline.control, pipeline.gate, pipeline.stages
    holder.append(session)
    return session
