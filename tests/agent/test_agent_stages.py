"""An agent that brings its own stages: they are the graph's stages, and the render shows them."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import numpy as np
import pytest

from graphflow.agent.agent import Agent
from graphflow.agent.options import FileIO, SessionOptions
from graphflow.agent.pipeline import StageOverrides
from graphflow.agent.session import AgentSession
from graphflow.agent.text import TextSession
from graphflow.agent.tools import function_tool
from graphflow.bench.standins import StandInSTT, StandInTTS, StandInTTSOptions
from graphflow.conversation.chat import ChatContext
from graphflow.conversation.events import AgentStoppedSpeaking
from graphflow.conversation.model import NO_TOOLS, Chunk, ModelTools, ToolRule
from graphflow.errors import ConfigError, ProviderError
from graphflow.models import ModelHub
from graphflow.node import Node
from graphflow.render import describe
from graphflow.runtime.clock import VirtualClock
from nodes.audio.gain import Gain
from nodes.io.file_sink import FileSink
from nodes.llm.base import LLMNode
from nodes.llm.local import LocalResponder, LocalResponderOptions
from nodes.tts.espeak import EspeakTTS

from ..fixtures import FIXTURES, model_cache


def test_an_agents_own_tts_and_llm_replace_the_graphs() -> None:
    tts = EspeakTTS(name="tts")
    llm = LocalResponder(LocalResponderOptions(ttft_ms=50), name="llm")
    session = AgentSession(agent=Agent("Speak in a robot voice.", tts=tts, llm=llm))
    stage = next(n for n in session.graph.nodes() if n.name == "llm")
    assert isinstance(stage, LLMNode) and stage.model is llm  # the graph's stage streams from it
    nodes = {n.name: n.type_name for n in describe(session.graph.compile()).nodes}
    assert nodes["tts"] == "EspeakTTS" and nodes["llm"] == "LLMNode"


class CountingResponder(LocalResponder):
    """A local responder that counts the replies it streams."""

    def __init__(self, name: str, *, fail_setup: bool = False) -> None:
        super().__init__(LocalResponderOptions(ttft_ms=0, tokens_per_second=0), name=name)
        self.streams = 0
        self.fail_setup = fail_setup

    async def setup(self) -> None:
        if self.fail_setup:
            raise ProviderError("the model file is missing")
        await super().setup()

    def stream(self, chat: ChatContext, tools: ModelTools = NO_TOOLS) -> AsyncGenerator[Chunk, None]:
        self.streams += 1
        return super().stream(chat, tools)


class CountingTTS(StandInTTS):
    """A stand-in voice at another sample rate that counts the sentences it speaks."""

    def __init__(self, name: str, rate: int) -> None:
        super().__init__(StandInTTSOptions(rate=rate), name=name)
        self.spoken: list[str] = []

    async def asynthesize(self, text: str) -> np.ndarray:
        self.spoken.append(text)
        return await super().asynthesize(text)


class Specialist(Agent):
    def __init__(self, *, llm: Node | None = None, tts: Node | None = None) -> None:
        super().__init__("You are the specialist.", llm=llm, tts=tts, name="Specialist")

    async def on_enter(self) -> None:
        await self.session.generate_reply('Say "The specialist speaks now."')


class Host(Agent):
    def __init__(self, target: Agent) -> None:
        super().__init__("You are the host.", rules=[ToolRule(when="transfer", call="transfer")])
        self.target = target

    @function_tool
    async def transfer(self) -> Agent:
        """Transfer to the specialist."""
        return self.target


async def test_a_handoff_brings_the_new_agents_own_model_in_text() -> None:
    model = CountingResponder("specialist_llm")
    async with TextSession(Host(Specialist(llm=model))) as session:
        result = await session.run("please transfer me")
        result.expect.contains_agent_handoff(new_agent=Specialist)
        assert isinstance(session.agent, Specialist) and model.streams >= 1
        assert session.llm_provider() is model
        said = [m.content for m in session.chat.messages if m.role == "assistant" and m.content]
        assert said[-1] == "The specialist speaks now."


async def test_a_handoff_whose_model_cannot_load_keeps_the_old_agent() -> None:
    broken = CountingResponder("broken_llm", fail_setup=True)
    host = Host(Specialist(llm=broken))
    async with TextSession(host) as session:
        result = await session.run("please transfer me")
        result.expect.contains_agent_handoff(new_agent=Specialist, done=False)
        assert session.agent is host and session.llm_provider() is None and broken.streams == 0
        assert [m.done for m in session.chat.messages if m.role == "handoff"] == [False]


async def test_a_stage_of_another_kind_is_refused_clearly() -> None:
    async with TextSession(Host(Agent())) as session:
        wrong = Agent("x", llm=Gain(name="not_a_model"))
        with pytest.raises(ConfigError, match="cannot use Gain"):
            await session.update_agent(wrong)
        assert isinstance(session.agent, Host)


def test_a_handoff_in_voice_speaks_with_the_new_agents_voice_and_model() -> None:
    voice, model = CountingTTS("specialist_voice", 22050), CountingResponder("specialist_llm")
    llm = LocalResponder(LocalResponderOptions(ttft_ms=100, tokens_per_second=0), name="llm")
    default_voice = CountingTTS("tts", 16000)
    stt = StandInSTT(["please transfer me"], name="stt")
    overrides = StageOverrides(stt=stt, llm=llm, tts=default_voice)
    options = SessionOptions(
        files=FileIO(input=str(FIXTURES / "cmd_go_forward_ten_meters.wav"), tail_silence_ms=6000)
    )
    host = Host(Specialist(llm=model, tts=voice))
    session = AgentSession(options, hub=ModelHub(model_cache()), overrides=overrides, agent=host)
    clock = VirtualClock()
    clock.run(session.run(clock))
    assert isinstance(session.agent, Specialist)
    assert voice.spoken == ["The specialist speaks now."] and default_voice.spoken == []
    assert model.streams >= 1
    heard = [e.heard for e in session.events if isinstance(e, AgentStoppedSpeaking)]
    assert heard == ["The specialist speaks now."]
    sink = next(n for n in session.graph.nodes() if isinstance(n, FileSink))
    assert sink.agent and {f.rate for _, f in sink.agent} == {16000}  # the graph's rate: resampled
    assert voice._rt is None and session.llm_provider() is None  # closed and released at the end
