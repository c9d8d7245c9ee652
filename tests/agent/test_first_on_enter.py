"""A voice session's first agent gets its ``on_enter`` as the call starts, as a text session's does."""

from __future__ import annotations

from pathlib import Path

from graphflow.agent.agent import Agent
from graphflow.agent.options import FileIO, SessionOptions
from graphflow.agent.pipeline import StageOverrides
from graphflow.agent.session import AgentSession
from graphflow.bench.standins import StandInSTT, StandInTTS
from graphflow.conversation.events import AgentStoppedSpeaking, SessionError, TurnEnded
from graphflow.models import ModelHub
from graphflow.runtime.clock import VirtualClock
from nodes.llm.local import LocalResponder, LocalResponderOptions

from ..fixtures import model_cache, said_twice

GREETING = "Hello, I am the robot. Where shall I go?"


class Greeter(Agent):
    """Greets the caller before they say anything."""

    async def on_enter(self) -> None:
        await self.session.say(GREETING)


class Broken(Agent):
    """Its on_enter fails."""

    async def on_enter(self) -> None:
        raise RuntimeError("cannot start")


def session(tmp_path: Path, agent: Agent) -> AgentSession:
    path = said_twice("cmd_go_forward_ten_meters.wav", tmp_path / "call.wav")
    llm = LocalResponder(LocalResponderOptions(ttft_ms=100, tokens_per_second=0), name="llm")
    stages = StageOverrides(
        stt=StandInSTT(["go forward ten meters"] * 2, name="stt"), llm=llm, tts=StandInTTS(name="tts")
    )
    options = SessionOptions(files=FileIO(input=str(path), tail_silence_ms=3000))
    return AgentSession(options, hub=ModelHub(model_cache()), overrides=stages, agent=agent)


def run(s: AgentSession) -> AgentSession:
    clock = VirtualClock()
    clock.run(s.run(clock))
    return s


def test_the_first_agent_greets_before_the_caller_speaks(tmp_path: Path) -> None:
    s = run(session(tmp_path, Greeter()))
    spoken = [e for e in s.events if isinstance(e, AgentStoppedSpeaking)]
    first_turn = next(e for e in s.events if isinstance(e, TurnEnded))
    # the greeting plays at once; the caller starts talking a second in and cuts it
    assert spoken and spoken[0].heard.startswith("Hello") and GREETING.startswith(spoken[0].heard)
    assert spoken[0].at < first_turn.at
    assert next(m.content for m in s.chat.messages if m.role == "assistant") == spoken[0].heard
    assert not s.errors


def test_a_failing_on_enter_is_a_session_error_and_the_call_goes_on(tmp_path: Path) -> None:
    s = run(session(tmp_path, Broken()))
    [error] = [e for e in s.events if isinstance(e, SessionError)]
    assert error.code == "agent.on_enter_failed" and "cannot start" in error.message and not error.fatal
    assert any(isinstance(e, TurnEnded) for e in s.events)
    assert any(isinstance(e, AgentStoppedSpeaking) and e.heard for e in s.events)  # it still answered
