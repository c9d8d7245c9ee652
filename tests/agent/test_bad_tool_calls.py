"""Bad tool calls from the model: the session goes on, the model reads a clear error, events say so."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pytest

from graphflow.agent.agent import Agent
from graphflow.agent.replies import ToolLoopOptions
from graphflow.agent.text import TextSession
from graphflow.agent.tools import function_tool
from graphflow.conversation.chat import ChatContext
from graphflow.conversation.model import NO_TOOLS, Chunk, ModelTools
from graphflow.frames import ToolCall
from nodes.llm.base import LLMNode


class ScriptedLLM(LLMNode):
    """Asks for the scripted calls first; once results are in, says what it read."""

    def __init__(self, calls: list[ToolCall]) -> None:
        super().__init__(name="llm")
        self.calls = calls
        self.seen: list[str] = []

    async def stream(self, chat: ChatContext, tools: ModelTools = NO_TOOLS) -> AsyncGenerator[Chunk, None]:
        last = chat.messages[-1]
        if last.role == "tool" or last.role == "handoff":
            outputs = [m.content for m in chat.messages if m.role == "tool"]
            self.seen = outputs
            yield Chunk("I read: " + " | ".join(outputs))
            return
        if not self.calls:
            yield Chunk("ok")
        for call in self.calls:
            yield Chunk(tool_call=call)


class Booker(Agent):
    """An agent with one tool that adds, one that hangs and one that hands over to a broken agent."""

    def __init__(self) -> None:
        super().__init__("book things")

    @function_tool
    async def add(self, a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    @function_tool
    async def wait_forever(self) -> str:
        """Never answers."""
        await asyncio.Event().wait()
        return "never"

    @function_tool
    async def explode(self) -> str:
        """Always fails."""
        raise RuntimeError("boom")

    @function_tool
    async def go_to_broken(self) -> Agent:
        """Hand over to an agent whose on_enter fails."""
        return Broken()


class Broken(Agent):
    """Its on_enter raises."""

    async def on_enter(self) -> None:
        raise RuntimeError("cannot start")


def call(name: str, arguments: str) -> ToolCall:
    return ToolCall(id=f"id_{name}", name=name, arguments=arguments)


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (call("fly", "{}"), "unknown tool 'fly'"),
        (call("add", '{"a": 1, "b": "two"}'), "argument 'b'"),
        (call("add", "not json"), "not valid JSON"),
        (call("add", '{"a": 1}'), "missing required"),
        (call("explode", "{}"), "RuntimeError: boom"),
        (call("wait_forever", "{}"), "did not finish within"),
    ],
)
async def test_the_model_reads_a_clear_error_and_the_session_goes_on(bad: ToolCall, expected: str) -> None:
    llm = ScriptedLLM([bad, call("add", '{"a": 2, "b": 3}')])
    async with TextSession(Booker(), llm=llm, tool_loop=ToolLoopOptions(timeout_s=0.3)) as session:
        result = await session.run("do it")
        result.expect.next_event().is_function_call(name=bad.name)
        result.expect.next_event().is_function_call(name="add")
        error = result.expect.next_event().is_function_call_output(is_error=True)
        assert expected.lower() in error.text.lower(), error.text
        result.expect.next_event().is_function_call_output(contains="5", is_error=False)
        result.expect.next_event().is_message(contains="I read")
        result.expect.no_more_events()
        llm.calls = []
        again = await session.run("and now?")
        assert again.events  # the session still answers


async def test_a_handoff_whose_target_fails_to_enter_is_reported_as_not_done() -> None:
    llm = ScriptedLLM([call("go_to_broken", "{}")])
    async with TextSession(Booker(), llm=llm) as session:
        result = await session.run("switch")
        result.expect.next_event().is_function_call(name="go_to_broken")
        result.expect.next_event().is_function_call_output(contains="handoff to Broken")
        result.expect.next_event().is_agent_handoff(new_agent=Broken, done=False)
        result.expect.next_event().is_message(contains="I read")
        assert isinstance(session.agent, Booker)
    handoffs = [m for m in session.chat.messages if m.role == "handoff"]
    assert handoffs and not handoffs[0].done
