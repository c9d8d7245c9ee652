"""An offline voice session with a tool call and a barge-in, for the trace and recording tests.

The user says "go forward ten meters" twice, two seconds apart (a recorded fixture): the
real Silero VAD and Smart Turn hear it, the stand-in STT recognises it by script, the local
responder's tool rule calls ``move``, and the stand-in TTS speaks the tool's long answer,
which the second utterance talks over. The second answer is heard to its end.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from graphflow.agent.agent import Agent
from graphflow.agent.options import FileIO, SessionOptions
from graphflow.agent.pipeline import StageOverrides
from graphflow.agent.session import AgentSession
from graphflow.agent.tools import function_tool
from graphflow.bench.standins import StandInSTT, StandInTTS
from graphflow.conversation.model import ToolRule
from graphflow.models import ModelHub
from graphflow.runtime.clock import VirtualClock
from nodes.llm.local import LocalResponder, LocalResponderOptions

from ..fixtures import model_cache, said_twice

SAID = "go forward ten meters"
ANSWER = "Moving forward now. Please wait while I go all the way there, it takes a little while."


class Mover(Agent):
    """Moves when asked to go forward, and says so at length."""

    def __init__(self) -> None:
        rule = ToolRule(when=r"forward (?P<distance>\w+)", call="move", arguments={"distance": "{distance}"})
        super().__init__(rules=[rule])

    @function_tool
    async def move(self, distance: str) -> str:
        """Start moving ``distance`` meters."""
        await asyncio.sleep(0.25)  # on the session's clock: a tool call that takes a while
        return ANSWER


def said_twice_session(
    tmp_path: Path,
    agent: Agent | None,
    *,
    ttft_ms: int = 200,
    tail_ms: int = 9000,
    hub: ModelHub | None = None,
) -> AgentSession:
    """A session for ``agent`` hearing "go forward ten meters" twice (stand-in STT and TTS, the
    local responder answering after ``ttft_ms``, ``tail_ms`` of silence after the audio)."""
    path = said_twice("cmd_go_forward_ten_meters.wav", tmp_path / "barge_in.wav")
    llm = LocalResponder(LocalResponderOptions(ttft_ms=ttft_ms, tokens_per_second=0), name="llm")
    overrides = StageOverrides(stt=StandInSTT([SAID] * 2, name="stt"), llm=llm, tts=StandInTTS(name="tts"))
    options = SessionOptions(files=FileIO(input=str(path), tail_silence_ms=tail_ms))
    return AgentSession(options, hub=hub or ModelHub(model_cache()), overrides=overrides, agent=agent)


def mover_session(tmp_path: Path, hub: ModelHub | None = None) -> AgentSession:
    """The session described in the module docstring (not run yet)."""
    return said_twice_session(tmp_path, Mover(), hub=hub)


def run(session: AgentSession) -> AgentSession:
    """Run ``session`` to its end on a virtual clock."""
    clock = VirtualClock()
    clock.run(session.run(clock))
    return session
