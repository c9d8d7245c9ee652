"""User and agent states, and a tool that forbids interruptions while the agent answers."""

from __future__ import annotations

import asyncio
from pathlib import Path

from graphflow.agent.agent import Agent
from graphflow.agent.session import AgentSession
from graphflow.agent.states import ConversationState
from graphflow.agent.tool_context import RunContext
from graphflow.agent.tools import function_tool
from graphflow.conversation.events import (
    AgentStartedSpeaking,
    AgentStateChanged,
    AgentStoppedSpeaking,
    SessionEvent,
    TurnEnded,
    UserStartedSpeaking,
    UserStateChanged,
    UserStoppedSpeaking,
)
from graphflow.conversation.model import ToolRule
from graphflow.frames import TurnReason

from ..telemetry.voice import run, said_twice_session


async def test_states_follow_the_conversation_and_the_user_goes_away() -> None:
    told: list[SessionEvent] = []
    state = ConversationState(told.append, away_after_s=0.05)
    for event in (
        UserStartedSpeaking(at=1),
        UserStoppedSpeaking(at=2),
        TurnEnded(at=3, text="hi", reason=TurnReason.MODEL, probability=0.9),
        AgentStartedSpeaking(at=4, reply_id="r"),
        AgentStoppedSpeaking(at=5, reply_id="r", heard="hello", interrupted=False),
    ):
        state.observe(event)
    await asyncio.sleep(0.1)
    changes = [(type(e).__name__, e.old, e.new) for e in told]  # type: ignore[attr-defined]
    assert changes == [
        ("UserStateChanged", "listening", "speaking"),
        ("UserStateChanged", "speaking", "listening"),
        ("AgentStateChanged", "listening", "thinking"),
        ("AgentStateChanged", "thinking", "speaking"),
        ("AgentStateChanged", "speaking", "listening"),
        ("UserStateChanged", "listening", "away"),
    ]
    state.observe(UserStartedSpeaking(at=9))
    assert state.user == "speaking"


class Mover(Agent):
    """Moves, and will not be interrupted while it says so."""

    def __init__(self) -> None:
        super().__init__(rules=[ToolRule(when="forward", call="move", then="{output}")])

    @function_tool
    async def move(self, ctx: RunContext) -> str:
        """Start moving."""
        ctx.disallow_interruptions()
        return "Moving forward now. Please wait while I go all the way there, it takes a little while."


def barge_in_session(tmp_path: Path, agent: Agent | None) -> AgentSession:
    return said_twice_session(tmp_path, agent, tail_ms=6000)


def test_a_tool_can_forbid_interruptions_of_the_reply(tmp_path: Path) -> None:
    plain = run(barge_in_session(tmp_path, None))
    assert any(e.interrupted for e in plain.events if isinstance(e, AgentStoppedSpeaking))

    guarded = run(barge_in_session(tmp_path, Mover()))
    stopped = [e for e in guarded.events if isinstance(e, AgentStoppedSpeaking)]
    assert stopped and not stopped[0].interrupted
    assert stopped[0].heard.startswith("Moving forward now.")
    states = [(e.old, e.new) for e in guarded.events if isinstance(e, AgentStateChanged)]
    assert ("thinking", "speaking") in states and ("speaking", "listening") in states
    assert any(isinstance(e, UserStateChanged) and e.new == "speaking" for e in guarded.events)


class SlowMover(Agent):
    """Its tool takes long enough for the user to talk over it."""

    def __init__(self) -> None:
        super().__init__(rules=[ToolRule(when="forward", call="plan_route", say="One moment.")])

    @function_tool
    async def plan_route(self) -> str:
        """Plan the route (slowly)."""
        await asyncio.sleep(30)
        return "done"


def test_a_barge_in_during_a_tool_call_leaves_a_complete_history(tmp_path: Path) -> None:
    from graphflow.agent.replies import INTERRUPTED
    from graphflow.conversation.events import FunctionOutput

    session = run(barge_in_session(tmp_path, SlowMover()))
    outputs = [e for e in session.events if isinstance(e, FunctionOutput)]
    assert outputs and outputs[0].is_error and outputs[0].output == INTERRUPTED
    calls = [m for m in session.chat.messages if m.tool_calls]
    answered = {m.tool_call_id for m in session.chat.messages if m.role == "tool"}
    assert calls and all(c.id in answered for m in calls for c in m.tool_calls)
    assert session.chat.to_openai()  # a history the model accepts: every call has its output
