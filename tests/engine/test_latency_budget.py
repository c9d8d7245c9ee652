"""The latency budget: nodes declare their latency, the plan sums it along the critical path."""

from __future__ import annotations

import msgspec

from graphflow import Graph, Node
from graphflow.agent.options import FileIO, Provider, SessionOptions
from graphflow.agent.session import AgentSession
from graphflow.timebase import MS
from nodes.audio.resampler import FILTER_DELAY_MS, Resampler, ResamplerOptions
from nodes.fallback.llm import FallbackLLM
from nodes.fallback.stt import FallbackSTT
from nodes.fallback.tts import FallbackTTS
from nodes.llm.local import LocalResponder, LocalResponderOptions
from nodes.llm.openai import OpenAIChat, OpenAIChatOptions
from nodes.memory import FrameSink, FrameSource
from nodes.passthrough import Passthrough
from nodes.stt.moonshine import MoonshineSTT
from nodes.stt.openai import OpenAISTT
from nodes.stt.whisper import WhisperSTT
from nodes.tts.espeak import EspeakOptions, EspeakTTS
from nodes.tts.openai import OpenAITTS
from nodes.tts.piper import PiperTTS
from nodes.turn.detector import TurnDetector
from nodes.turn.options import TurnOptions
from nodes.vad.silero import SileroOptions, SileroVAD

VOICE_PATH = ("source", "resampler", "vad", "stt", "turn", "control", "llm", "tts", "gate", "sink")
"""The voice agent's critical path: user audio in to agent audio out."""


class DelayOptions(msgspec.Struct, frozen=True):
    """How long the stage holds each frame."""

    delay_ms: int = 0


class Delay(Passthrough):
    """A pass-through that declares ``delay_ms`` of latency."""

    Options = DelayOptions
    options: DelayOptions

    def latency(self) -> int:
        """It holds each frame ``delay_ms``."""
        return self.options.delay_ms * MS


def delay(name: str, ms: int) -> Delay:
    """A named ``Delay`` of ``ms``."""
    return Delay(DelayOptions(ms), name=name)


def test_a_node_adds_no_latency_unless_it_says_so() -> None:
    assert Node().latency() == 0
    assert Passthrough().latency() == 0
    assert delay("d", 7).latency() == 7 * MS


def test_the_budget_follows_the_slowest_branch() -> None:
    src = FrameSource([], name="src")
    fast, slow, join, sink = (
        delay("fast", 5),
        delay("slow", 40),
        Passthrough(name="join"),
        FrameSink(name="sink"),
    )
    g = Graph("diamond").connect(src.out, fast.inp).connect(src.out, slow.inp)
    g.connect(fast.out, join.inp).connect(slow.out, join.inp).connect(join.out, sink.inp)
    plan = g.compile()
    assert plan.budgets == {"src": 0, "fast": 5 * MS, "slow": 40 * MS, "join": 0, "sink": 0}
    assert plan.critical_path == ("src", "slow", "join", "sink")
    assert plan.latency_budget == 40 * MS
    assert plan.node("slow").latency_budget == 40 * MS


def test_the_path_runs_on_to_the_sink_through_stages_that_add_nothing() -> None:
    src, a, sink, side = (
        delay("src", 10),
        Passthrough(name="a"),
        FrameSink(name="sink"),
        FrameSink(name="side"),
    )
    feed = FrameSource([], name="feed")
    g = Graph().chain(feed, src, a, sink).connect(src.out, side.inp)
    plan = g.compile()
    assert plan.critical_path == ("feed", "src", "a", "sink")
    assert plan.latency_budget == 10 * MS


def test_an_empty_graph_has_no_path() -> None:
    plan = Graph("empty").compile()
    assert (plan.critical_path, plan.latency_budget, plan.budgets) == ((), 0, {})


def test_voice_pipeline_budgets_come_from_each_stage() -> None:
    plan = AgentSession().graph.compile()
    ms = {name: ns / MS for name, ns in plan.budgets.items()}
    assert ms == {
        "source": 20,  # one 20 ms frame
        "resampler": FILTER_DELAY_MS["HQ"],
        "vad": 32 + 10 * 32,  # a window, then 300 ms of silence in whole windows
        "stt": 500,  # Whisper base's recognition estimate
        "turn": 500,  # min_delay_ms
        "control": 0,
        "llm": 200,  # the local responder's ttft_ms
        "tts": 250,  # Piper's first sentence
        "gate": 0,
        "tap": 0,
        "sink": 0,
        "reference": 0,  # marks the user's audio for the sink's reference to outlive a barge-in
    }
    assert plan.critical_path == VOICE_PATH
    assert plan.latency_budget == sum(plan.budgets[name] for name in VOICE_PATH) == 1845 * MS


def test_a_session_has_the_same_budget() -> None:
    plan = AgentSession().compile()
    assert plan.critical_path == VOICE_PATH
    assert plan.latency_budget == AgentSession().graph.compile().latency_budget


def test_voice_budgets_follow_the_options() -> None:
    options = SessionOptions(
        files=FileIO(frame_ms=10),
        vad=SileroOptions(min_silence_ms=500),
        turn=TurnOptions(mode="silence", silence_delay_ms=800),
        llm=Provider.of("local", LocalResponderOptions(ttft_ms=350.5)),
    )
    budgets = AgentSession(options).graph.compile().budgets
    assert budgets["source"] == 10 * MS
    assert budgets["vad"] == (1 + 16) * 32 * MS  # 500 ms is 15.6 windows: 16
    assert budgets["turn"] == 800 * MS
    assert budgets["llm"] == 350_500_000


def test_each_provider_declares_its_own_estimate() -> None:
    assert WhisperSTT().latency() == 500 * MS
    assert MoonshineSTT().latency() == 2200 * MS
    assert OpenAISTT().latency() == 800 * MS
    assert OpenAIChat().latency() == 500 * MS
    assert OpenAIChat(OpenAIChatOptions(expected_ttft_ms=120)).latency() == 120 * MS
    assert LocalResponder().latency() == 200 * MS
    assert PiperTTS().latency() == 250 * MS
    assert EspeakTTS().latency() == 15 * MS
    assert EspeakTTS(EspeakOptions(expected_first_audio_ms=40)).latency() == 40 * MS
    assert OpenAITTS().latency() == 400 * MS
    assert TurnDetector().latency() == 500 * MS
    assert SileroVAD().latency() == 352 * MS
    assert Resampler(ResamplerOptions(quality="VHQ")).latency() == FILTER_DELAY_MS["VHQ"] * MS


def test_a_fallback_stage_declares_its_first_provider() -> None:
    assert FallbackSTT([MoonshineSTT(), WhisperSTT()]).latency() == 2200 * MS
    assert FallbackLLM([OpenAIChat(), LocalResponder()]).latency() == 500 * MS
    assert FallbackTTS([EspeakTTS(), PiperTTS()]).latency() == 15 * MS
