"""The whole tool loop over the OpenAI wire format: a call streamed, run, its output sent back."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from graphflow.agent.agent import Agent
from graphflow.agent.text import TextSession
from graphflow.agent.tools import function_tool
from nodes.llm.openai import OpenAIChat, OpenAIChatOptions
from tests.agent.completions_server import completions_server


def sse(*chunks: dict[str, Any]) -> bytes:
    """Chat-completion chunks as a server-sent-events body."""
    lines = [f"data: {json.dumps(c)}\n\n" for c in chunks]
    return ("".join(lines) + "data: [DONE]\n\n").encode()


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    """One ``chat.completion.chunk``."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "test",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


CALL = sse(
    chunk({"role": "assistant", "content": None}),
    chunk(
        {
            "tool_calls": [
                {"index": 0, "id": "call_1", "type": "function", "function": {"name": "add", "arguments": ""}}
            ]
        }
    ),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a": 2,'}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": ' "b": 3}'}}]}),
    chunk({}, "tool_calls"),
)
ANSWER = sse(
    chunk({"role": "assistant", "content": "The sum"}), chunk({"content": " is 5."}), chunk({}, "stop")
)


class Calculator(Agent):
    """Adds."""

    @function_tool
    async def add(self, a: int, b: int) -> int:
        """Add two numbers."""
        return a + b


async def test_a_streamed_call_is_run_and_its_output_goes_back_to_the_model() -> None:
    requests: list[dict[str, Any]] = []

    async def completions(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        requests.append(body)
        answered = any(m.get("role") == "tool" for m in body["messages"])
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(ANSWER if answered else CALL)
        await response.write_eof()
        return response

    async with completions_server(completions) as url:
        llm = OpenAIChat(OpenAIChatOptions(base_url=url, model="test"), name="llm")
        async with TextSession(Calculator("You add numbers."), llm=llm) as session:
            result = await session.run("what is two plus three?")
    result.expect.next_event().is_function_call(name="add", arguments={"a": 2, "b": 3})
    result.expect.next_event().is_function_call_output(contains="5")
    result.expect.next_event().is_message(contains="The sum is 5.")
    result.expect.no_more_events()
    first, second = requests
    assert first["tools"][0]["function"]["name"] == "add" and first["tool_choice"] == "auto"
    call_message = second["messages"][-2]
    assert call_message["role"] == "assistant" and call_message["tool_calls"][0]["id"] == "call_1"
    assert second["messages"][-1] == {"role": "tool", "tool_call_id": "call_1", "content": "5"}
