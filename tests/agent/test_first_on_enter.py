"""A voice session's first agent gets its ``on_enter`` as the call starts, as a text session's does."""

from __future__ import annotations

from pathlib import Path

from graphflow.agent.agent import Agent
from graphflow.agent.session import AgentSession
from graphflow.conversation.events import AgentStoppedSpeaking, SessionError, TurnEnded

from ..telemetry.voice import run, said_twice_session

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
    return said_twice_session(tmp_path, agent, ttft_ms=100, tail_ms=3000)


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
