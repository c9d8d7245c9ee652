"""The voice graph a session runs: source → resampler → VAD → STT → turn detector → LLM → TTS → gate → sink.

The interruption gate holds cancellation edges to the LLM, the TTS and the sink: when the
user barges in, the reply in flight is cancelled, its queued audio flushed, and the sink
reports exactly what was heard. A tap publishes voice activity, transcripts, turn ends,
reply text and synthesized audio to the run's observers, where the session follows them.
Providers are made from the node registry by name (:class:`~graphflow.agent.options.Provider`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from graphflow.agent.options import SHORT_NAMES, FileIO, SessionOptions
from graphflow.agent.stages import AgentStages, StageSet
from graphflow.conversation.playout import Playout, Timeline
from graphflow.conversation.replies import Replies
from graphflow.errors import ConfigError
from graphflow.graph import Graph
from graphflow.models import ModelHub
from graphflow.node import Node
from graphflow.queue_spec import Overflow, QueueSpec
from graphflow.registry import NodeRegistry
from nodes.audio.background import layer_background
from nodes.audio.resampler import Resampler, ResamplerOptions
from nodes.audio.survive import Survive
from nodes.gate.interruption import InterruptionGate
from nodes.io.file_sink import FileSink, FileSinkOptions
from nodes.io.file_source import FileSource, FileSourceOptions
from nodes.llm.base import LLMNode
from nodes.session.control import SessionControl
from nodes.session.tap import SessionTap
from nodes.turn.detector import TurnDetector
from nodes.vad.silero import SileroVAD


@dataclass
class StageOverrides:
    """Nodes to use instead of the configured providers (benchmark stand-ins, custom stages).

    An STT or TTS node goes into the graph as it is; an LLM node is the model the graph's
    language-model stage streams from.
    """

    stt: Node | None = None
    llm: LLMNode | None = None
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
    """The built graph and the nodes the session talks to."""

    graph: Graph
    playout: Playout
    gate: InterruptionGate
    control: SessionControl
    stages: AgentStages


@dataclass
class PipelineParts:
    """What a pipeline is built from besides the options."""

    replies: Replies
    """The language-model stage's replies (the session's)."""
    hub: ModelHub
    io: IOFactory | None = None
    overrides: StageOverrides | None = None
    agent_stages: StageSet | None = None
    """The stages the first agent brings (they go into the graph)."""


class Providers:
    """Makes the configured STT, LLM and TTS nodes from the node registry."""

    def __init__(self, options: SessionOptions, hub: ModelHub) -> None:
        self.options, self.hub = options, hub
        o = options
        self.registry = NodeRegistry.discover(only={o.stt.kind("stt"), o.llm.kind("llm"), o.tts.kind("tts")})
        for stage, provider in (("stt", o.stt), ("llm", o.llm), ("tts", o.tts)):
            if provider.kind(stage) not in self.registry.names():
                short = ", ".join(SHORT_NAMES[stage])
                raise ConfigError(
                    f"unknown {stage} provider {provider.name!r}",
                    hint=f"one of {short}, or the registry name of such a node (docs/nodes/README.md)",
                    code="config.unknown_node",
                )

    def stt(self) -> Node:
        """The configured speech-to-text node."""
        p = self.options.stt
        return self.registry.create(p.kind("stt"), name="stt", options=p.options, hub=self.hub)

    def tts(self) -> Node:
        """The configured text-to-speech node."""
        p = self.options.tts
        return self.registry.create(p.kind("tts"), name="tts", options=p.options, hub=self.hub)

    def llm(self, replies: Replies | None = None, name: str = "llm") -> LLMNode:
        """The configured language-model node (``replies``: when it is the graph's stage)."""
        p = self.options.llm
        node = self.registry.create(p.kind("llm"), name=name, options=p.options, replies=replies)
        assert isinstance(node, LLMNode), f"{p.name} is not a language-model node"
        return node


def build_pipeline(options: SessionOptions, parts: PipelineParts) -> VoicePipeline:
    """Build the voice graph (fresh nodes) for a session."""
    o = options
    swap = parts.overrides or StageOverrides()
    own = parts.agent_stages or StageSet()
    providers = Providers(o, parts.hub)
    timeline = Timeline()
    playout = Playout(timeline)
    ends = parts.io(timeline, playout) if parts.io is not None else file_io(o.files, timeline, playout)
    source, sink = ends.source, ends.sink
    resampler = Resampler(ResamplerOptions(rate=16000, channels=1), name="resampler")
    vad = SileroVAD(o.vad, name="vad", hub=parts.hub)
    stt = swap.stt or own.stt or providers.stt()
    if own.llm is not None and not isinstance(own.llm, LLMNode):
        raise ConfigError(f"the agent's llm {own.llm.name!r} is not a language-model node (LLMNode)")
    model = swap.llm or own.llm
    if model is not None:  # a model from outside: the graph's stage streams from it
        llm: LLMNode = LLMNode(name="llm", replies=parts.replies, model=model)
    else:
        llm = providers.llm(parts.replies)
    tts = swap.tts or own.tts or providers.tts()
    # what an agent without a stage of its own uses, when the first agent brought one
    defaults = StageSet(
        stt=providers.stt() if own.stt is not None and swap.stt is None else None,
        llm=providers.llm(name="default_llm") if own.llm is not None and swap.llm is None else None,
        tts=providers.tts() if own.tts is not None and swap.tts is None else None,
    )
    turn = TurnDetector(o.turn, name="turn", hub=parts.hub)
    gate = InterruptionGate(o.gate, name="gate", playout=playout)
    control = SessionControl(name="control", capacity=o.queues.requests)
    tap = SessionTap(name="tap")

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
    g.connect(control.out, llm.inp)
    g.connect(control.out, gate.turns)
    g.connect(llm.out, tts.inputs["inp"])
    g.connect(tts.outputs["out"], gate.audio)
    if o.background.enabled:  # ambience and a thinking sound under the voice (nodes/audio/background.py)
        layer_background(g, o.background, gate, sink, resampler, control, llm, playout)
    else:
        g.connect(gate.out, sink.inputs["inp"])
    if "reference" in sink.inputs:  # the user's audio belongs to no reply: a barge-in must not flush it
        reference = QueueSpec.frames(o.queues.reference_frames, Overflow.DROP_OLDEST)
        survive = Survive(name="reference")
        g.connect(resampler.out, survive.inp)
        g.connect(survive.out, sink.inputs["reference"], queue=reference)
    for port in (vad.out, stt.outputs["out"], turn.out, llm.out, tts.outputs["out"]):
        g.connect(port, tap.inp)
    g.cancels(gate, llm, tts, sink)
    stages = AgentStages(StageSet(stt=stt, llm=llm, tts=tts), defaults)
    return VoicePipeline(g, playout, gate, control, stages)


def file_io(files: FileIO, timeline: Timeline, playout: Playout) -> PipelineIO:
    """A recording in, the conversation written to a WAV file."""
    source = FileSource(
        FileSourceOptions(
            files.input, frame_ms=files.frame_ms, paced=files.paced, tail_silence_ms=files.tail_silence_ms
        ),
        name="source",
        timeline=timeline,
    )
    return PipelineIO(source, FileSink(FileSinkOptions(path=files.output), name="sink", playout=playout))
