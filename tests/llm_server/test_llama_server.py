"""The OpenAI-compatible client against a real llama.cpp server: the wire, not the model's wits.

The model is tiny (Gemma 3 270M) and cannot be relied on to say anything sensible, so
these tests check what the server accepts and how the reply travels: streamed text,
clean ends, the history and tool messages in the request, HTTP errors — and a tool call
the model is made to make (``tool_choice`` naming the tool: the server constrains the
call's arguments with a grammar), run by the tool loop and answered in streamed text.
Every test samples at temperature 0 on a server started with a fixed seed.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator
from typing import Any

import pytest

from graphflow.agent.agent import Agent
from graphflow.agent.testing import RunResult
from graphflow.agent.text import TextSession
from graphflow.agent.tools import function_tool
from graphflow.conversation.chat import ChatContext
from graphflow.conversation.model import NO_TOOLS, Chunk, ModelTools
from graphflow.errors import ProviderError
from graphflow.frames import ToolCall
from nodes.llm.openai import OpenAIChat, OpenAIChatOptions
from tests.llm_server.conftest import MODEL, LlamaServer


class RecordingChat(OpenAIChat):
    """An ``OpenAIChat`` that keeps every request body it sends and the chunks of every reply."""

    def __init__(self, options: OpenAIChatOptions) -> None:
        super().__init__(options, name="llm")
        self.sent: list[dict[str, Any]] = []
        self.streamed: list[list[Chunk]] = []

    def request_body(self, chat: ChatContext, tools: ModelTools = NO_TOOLS) -> dict[str, Any]:
        """The body as ``OpenAIChat`` makes it, recorded."""
        body = super().request_body(chat, tools)
        self.sent.append(body)
        return body

    async def stream(self, chat: ChatContext, tools: ModelTools = NO_TOOLS) -> AsyncGenerator[Chunk, None]:
        """The reply as ``OpenAIChat`` streams it, its chunks recorded as they pass."""
        chunks: list[Chunk] = []
        self.streamed.append(chunks)
        async with contextlib.aclosing(super().stream(chat, tools)) as reply:
            async for chunk in reply:
                chunks.append(chunk)
                yield chunk


class Clock(Agent):
    """Tells the time with a tool; ``asked`` keeps the city of every call the tool ran."""

    def __init__(self) -> None:
        super().__init__("You tell the time. Call the clock tool to read it.")
        self.asked: list[str] = []

    @function_tool
    async def clock(self, city: str) -> str:
        """The current time in a city."""
        self.asked.append(city)
        return f"It is 12:30 in {city}."


def client(server: LlamaServer, base_url: str = "", **options: Any) -> RecordingChat:
    """A client of ``server`` with short, deterministic replies (``options``: other options)."""
    fields: dict[str, Any] = {"model": MODEL, "max_tokens": 32, "temperature": 0, **options}
    return RecordingChat(OpenAIChatOptions(base_url=base_url or server.base_url, **fields))


async def stream_all(llm: OpenAIChat, chat: ChatContext, tools: ModelTools = NO_TOOLS) -> list[Chunk]:
    """Every chunk of one reply, between the client's setup and close."""
    await llm.setup()
    try:
        return [chunk async for chunk in llm.stream(chat, tools)]
    finally:
        await llm.close()


def assert_no_error(result: RunResult) -> None:
    """The turn has no provider error."""
    errors = [e.text for e in result.events if e.role == "error"]
    assert not errors, f"the turn failed: {errors}"


@pytest.mark.timeout(90)
async def test_a_short_chat_streams_in_several_chunks_and_ends_cleanly(llama_server: LlamaServer) -> None:
    """A short chat streams its reply in several text chunks and ends with a finish, no calls."""
    chat = ChatContext("You are terse.")
    chat.add("user", "Say hello to Ada.")
    chunks = await stream_all(client(llama_server), chat)  # a stream cut short raises ProviderError
    texts = [c.text for c in chunks if c.text]
    assert len(texts) >= 2, f"expected the reply in several chunks, got {texts}"
    assert "".join(texts).strip()
    assert all(c.tool_call is None for c in chunks)


@pytest.mark.timeout(90)
async def test_a_text_session_answers_two_turns_and_sends_the_history(llama_server: LlamaServer) -> None:
    """Two turns of a text session are answered; the second request carries the first exchange."""
    llm = client(llama_server)
    async with TextSession(Agent("You are terse."), llm=llm) as session:
        first = await session.run("Hello, my name is Ada.")
        second = await session.run("What is my name?")
    for result in (first, second):
        assert_no_error(result)
        assert result.expect.next_event().is_message(role="assistant").text.strip()
    roles = [m.role for m in session.chat.messages]
    assert roles.count("user") == 2 and roles.count("assistant") == 2, roles
    last = llm.sent[-1]["messages"]
    assert [m["role"] for m in last] == ["system", "user", "assistant", "user"]
    assert last[2]["content"] == first.text


@pytest.mark.timeout(90)
async def test_an_agent_with_a_tool_sends_tools_and_completes_the_turn(llama_server: LlamaServer) -> None:
    """The server accepts ``tools`` and ``tool_choice``; any call the model makes is run and answered."""
    llm = client(llama_server)
    async with TextSession(Clock(), llm=llm) as session:
        result = await session.run("What time is it in Paris?")
    assert_no_error(result)
    first = llm.sent[0]
    assert [t["function"]["name"] for t in first["tools"]] == ["clock"]
    assert first["tool_choice"] == "auto"
    calls = [e for e in result.events if e.type == "function_call"]
    outputs = {e.call_id: e for e in result.events if e.type == "function_output"}
    for call in calls:  # the model may or may not call the tool; when it did, the loop ran it
        assert call.call_id in outputs and "12:30" in outputs[call.call_id].text, result
        sent_back = [m for body in llm.sent[1:] for m in body["messages"] if m["role"] == "tool"]
        assert any(m["tool_call_id"] == call.call_id for m in sent_back), llm.sent
    result.expect.contains_message(role="assistant")


@pytest.mark.timeout(90)
@pytest.mark.parametrize("said", ["Let me look at the clock.", ""], ids=["with-text", "without-text"])
async def test_a_history_with_a_tool_call_and_its_output_is_answered(
    llama_server: LlamaServer, said: str
) -> None:
    """A history holding an assistant tool call and its output is accepted and answered."""
    chat = ChatContext("You tell the time.")
    chat.add("user", "What time is it in Paris?")
    chat.add_tool_calls([ToolCall("call_1", "clock", json.dumps({"city": "Paris"}))], said)
    chat.add_tool_output("call_1", "clock", "It is 12:30 in Paris.")
    llm = client(llama_server)
    try:
        chunks = await stream_all(llm, chat, ModelTools(schemas=tuple(Clock().tools.schemas())))
    except ProviderError as exc:
        pytest.fail(f"the server refused {json.dumps(llm.sent[0]['messages'][2:])}: {exc.message}")
    messages = llm.sent[0]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool"]
    assert messages[2]["tool_calls"][0]["function"]["name"] == "clock"
    assert messages[3]["tool_call_id"] == "call_1"
    assert "".join(c.text for c in chunks).strip()


@pytest.mark.timeout(90)
async def test_a_wrong_path_is_a_provider_error_with_the_http_status(llama_server: LlamaServer) -> None:
    """A wrong path is a ProviderError naming the HTTP status, not retryable."""
    wrong = llama_server.base_url.removesuffix("/v1") + "/nope"
    chat = ChatContext("You are terse.")
    chat.add("user", "Hello?")
    with pytest.raises(ProviderError) as caught:
        await stream_all(client(llama_server, base_url=wrong), chat)
    assert "HTTP 404" in caught.value.message
    assert not caught.value.retryable


@pytest.mark.timeout(120)
async def test_a_forced_tool_call_is_made_run_and_answered_in_streamed_text(
    llama_server: LlamaServer,
) -> None:
    """``tool_choice`` naming the tool makes the model call it, streamed, with arguments the server's
    grammar keeps to the tool's schema; the tool runs once with the parsed arguments, its output goes
    back with ``tool_choice: "auto"``, and the answer after it streams as text."""
    agent = Clock()
    llm = client(llama_server, max_tokens=48, tool_choice="clock")
    async with TextSession(agent, llm=llm) as session:
        result = await session.run("What time is it in Paris?")
    assert_no_error(result)
    assert len(agent.asked) == 1 and agent.asked[0].strip(), f"the tool ran with {agent.asked}"
    city = agent.asked[0]
    call = result.expect.next_event().is_function_call(name="clock", arguments={"city": city})
    result.expect.next_event().is_function_call_output(contains=f"12:30 in {city}", is_error=False)
    answer = result.expect.next_event().is_message(role="assistant")
    result.expect.no_more_events()

    assert len(llm.sent) == 2, [body.get("tool_choice") for body in llm.sent]
    asked, answered = llm.sent
    assert asked["tool_choice"] == {"type": "function", "function": {"name": "clock"}}
    assert answered["tool_choice"] == "auto"  # a forced choice holds until the tools answered
    assert [m["role"] for m in answered["messages"]] == ["system", "user", "assistant", "tool"]
    assert answered["messages"][2]["tool_calls"][0]["id"] == call.call_id
    assert answered["messages"][3] == {
        "role": "tool",
        "tool_call_id": call.call_id,
        "content": f"It is 12:30 in {city}.",
    }

    call_chunks, answer_chunks = llm.streamed
    assert [c.tool_call.name for c in call_chunks if c.tool_call] == ["clock"]
    assert not any(c.text for c in call_chunks)
    texts = [c.text for c in answer_chunks if c.text]
    assert len(texts) >= 2, f"expected the answer in several chunks, got {texts}"
    assert not any(c.tool_call for c in answer_chunks)
    assert answer.text.strip() == "".join(texts).strip() != ""
