"""An agent that brings its own stages: they are the graph's stages, and the render shows them."""

from __future__ import annotations

import pytest

from graphflow.agent.agent import Agent
from graphflow.agent.text import TextSession
from graphflow.agent.tools import function_tool
from graphflow.errors import ConfigError
from graphflow.graphs.voice_agent import build_pipeline
from graphflow.nodes.llm.local import LocalResponder, LocalResponderOptions
from graphflow.nodes.tts.espeak import EspeakTTS
from graphflow.render import describe


def test_an_agents_own_tts_and_llm_replace_the_graphs() -> None:
    tts = EspeakTTS(name="tts")
    llm = LocalResponder(LocalResponderOptions(ttft_ms=50), name="llm")
    pipeline = build_pipeline(agent=Agent("Speak in a robot voice.", tts=tts, llm=llm))
    assert pipeline.llm is llm
    nodes = {n.name: n.type_name for n in describe(pipeline.graph.compile()).nodes}
    assert nodes["tts"] == "EspeakTTS" and nodes["llm"] == "LocalResponder"


class WithOwnVoice(Agent):
    def __init__(self) -> None:
        super().__init__("Another voice.", tts=EspeakTTS(name="tts"))


class Host(Agent):
    @function_tool
    async def transfer(self) -> Agent:
        """Transfer to the agent with its own voice."""
        return WithOwnVoice()


async def test_a_handoff_to_an_agent_with_its_own_stages_is_refused_clearly() -> None:
    async with TextSession(Host(rules=[])) as session:
        with pytest.raises(ConfigError, match="brings its own stages"):
            await session.update_agent(WithOwnVoice())
        assert isinstance(session.agent, Host)
