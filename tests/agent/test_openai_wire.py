"""The OpenAI-compatible client against recorded streaming responses served over real HTTP.

``recorded/*.sse`` hold chat-completions streams in the server-sent-events format the
API sends. A local aiohttp server on 127.0.0.1 plays the one named by the request's
``model`` (cut into small pieces, so lines arrive split across reads) and keeps every
request body, so the tests check both what the client sends and what it assembles.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from graphflow.agent.tools import ToolSet, function_tool
from graphflow.conversation.chat import ChatContext
from graphflow.conversation.model import ModelTools
from graphflow.errors import ConfigError, ProviderError
from graphflow.frames import ToolCall
from nodes.llm.openai import OpenAIChat, OpenAIChatOptions
from nodes.llm.openai_reply import ReplyStream
from tests.agent.completions_server import completions_server

RECORDED = Path(__file__).parent / "recorded"


@dataclass
class Recorder:
    """The server's address, the request bodies it received and inline streams to play."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    inline: dict[str, str] = field(default_factory=dict)


@pytest.fixture
async def server() -> AsyncIterator[Recorder]:
    """A real HTTP server implementing ``POST /v1/chat/completions`` from recordings."""
    recorder = Recorder()

    async def completions(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        recorder.requests.append(body)
        model = str(body["model"])
        if model.startswith("status_"):
            error = {"error": {"message": "Rate limit reached for gpt-4o-mini", "type": "requests"}}
            return web.json_response(error, status=int(model.removeprefix("status_")))
        if model == "not_streamed":
            message = {"role": "assistant", "content": "Hello!", "tool_calls": [_call("c9", "wave", "{}")]}
            choice = {"index": 0, "message": message, "finish_reason": "tool_calls"}
            return web.json_response({"object": "chat.completion", "choices": [choice]})
        if model == "cut":  # the connection drops in the middle of the reply
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            await response.write(b'data: {"choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n')
            assert request.transport is not None
            request.transport.close()
            return response
        inline = recorder.inline.get(model)
        data = inline.encode() if inline is not None else (RECORDED / f"{model}.sse").read_bytes()
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        for start in range(0, len(data), 53):  # pieces that cut lines (and characters) apart
            await response.write(data[start : start + 53])
            await asyncio.sleep(0)
        await response.write_eof()
        return response

    async with completions_server(completions) as url:
        recorder.url = url
        yield recorder


def _call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


@contextlib.asynccontextmanager
async def client(server: Recorder, recording: str) -> AsyncIterator[OpenAIChat]:
    llm = OpenAIChat(OpenAIChatOptions(base_url=server.url, model=recording, api_key="sk-test", timeout_s=5))
    await llm.setup()
    try:
        yield llm
    finally:
        await llm.close()


async def reply(
    server: Recorder, recording: str, chat: ChatContext | None = None
) -> tuple[str, list[ToolCall]]:
    """The text and the tool calls ``OpenAIChat.stream`` yields for a recording."""
    text: list[str] = []
    calls: list[ToolCall] = []
    async with (
        client(server, recording) as llm,
        contextlib.aclosing(llm.stream(chat or ChatContext("be brief"))) as chunks,
    ):
        async for chunk in chunks:
            text.append(chunk.text)
            if chunk.tool_call is not None:
                calls.append(chunk.tool_call)
    return "".join(text), calls


async def test_two_parallel_calls_with_interleaved_arguments(server: Recorder) -> None:
    text, calls = await reply(server, "parallel_calls")
    assert text == ""
    assert calls == [
        ToolCall("call_kR3nVbq8XJ2d7YpLw0sTmE4a", "get_weather", '{"city": "Paris", "unit": "celsius"}'),
        ToolCall("call_9fHc2WQz5uTnA1pGx6rVbD3s", "get_time", '{"timezone": "Europe/Paris"}'),
    ]


async def test_text_then_a_call_in_the_same_reply(server: Recorder) -> None:
    text, calls = await reply(server, "text_then_call")
    assert text == "Let me check that order for you."
    assert calls == [
        ToolCall(
            "call_Zt4Wm8pLq2XcVn7bR1yHdK0e", "lookup_order", '{"order_id":"A-1042","include_items":true}'
        )
    ]


async def test_plain_text_and_the_usage_only_final_chunk(server: Recorder) -> None:
    async with client(server, "plain_text") as llm:
        pieces = [c.text async for c in llm.stream(ChatContext("be brief"))]
        assert llm.last_usage is not None and llm.last_usage["total_tokens"] == 70
    assert "".join(pieces) == "It's sunny in Paris today, about 21°C."
    assert len(pieces) == 11  # streamed as it came, piece by piece


async def test_a_name_in_pieces_behind_keep_alive_comments(server: Recorder) -> None:
    text, calls = await reply(server, "name_in_pieces")
    assert text == ""
    assert calls == [
        ToolCall("chatcmpl-tool-5c1e0d7a9b2f4e6c", "get_forecast", '{"city": "San Francisco", "days": 3}')
    ]


async def test_whole_calls_that_all_reuse_index_zero(server: Recorder) -> None:
    _, calls = await reply(server, "index_reused")
    assert calls == [
        ToolCall("call_ol7x2k4q", "get_weather", '{"city":"Oslo"}'),
        ToolCall("call_m3b9v1zc", "get_weather", '{"city":"Bergen"}'),
    ]


async def test_an_error_event_mid_stream_is_a_provider_error_after_the_text(server: Recorder) -> None:
    seen: list[str] = []
    async with client(server, "error_midstream") as llm:
        with pytest.raises(ProviderError, match="server had an error") as caught:
            async for chunk in llm.stream(ChatContext()):
                seen.append(chunk.text)
    assert "".join(seen) == "Sure, the"
    assert caught.value.retryable and "server_error" in caught.value.message


async def test_a_reply_that_is_not_streamed_is_read_whole(server: Recorder) -> None:
    text, calls = await reply(server, "not_streamed")
    assert (text, calls) == ("Hello!", [ToolCall("c9", "wave", "{}")])


@pytest.mark.parametrize(("status", "retryable"), [(429, True), (400, False)])
async def test_http_errors_carry_the_servers_message(server: Recorder, status: int, retryable: bool) -> None:
    with pytest.raises(ProviderError, match=f"HTTP {status}: Rate limit reached") as caught:
        await reply(server, f"status_{status}")
    assert caught.value.retryable is retryable


@pytest.mark.parametrize(
    ("stream", "fragment"),
    [
        (
            'data: {"choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n',
            "ended before the reply was complete",
        ),
        ("data: {not json\n\n", "malformed chunk"),
        ('event: error\ndata: {"message":"model overloaded"}\n\n', "model overloaded"),
        ('data: {"object":"error","message":"bad input","type":"invalid_request_error"}\n\n', "bad input"),
        (
            'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","function":'
            '{"arguments":"{}"}}]},"finish_reason":"tool_calls"}]}\n\n',
            "has no function name",
        ),
        (
            'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","function":'
            '{"name":"f","arguments":"{\\"a\\": \\"lo"}}]},"finish_reason":"length"}]}\n\ndata: [DONE]\n\n',
            "hit max_tokens",
        ),
    ],
)
async def test_broken_streams_are_provider_errors(server: Recorder, stream: str, fragment: str) -> None:
    server.inline["broken"] = stream
    with pytest.raises(ProviderError, match=fragment):
        await reply(server, "broken")


async def test_a_connection_dropped_mid_reply_is_a_retryable_provider_error(server: Recorder) -> None:
    with pytest.raises(ProviderError, match="broke in the middle of the reply") as caught:
        await reply(server, "cut")
    assert caught.value.retryable


def test_the_parser_takes_calls_without_an_index_and_arguments_as_objects() -> None:
    stream = ReplyStream()

    def piece(**call: Any) -> str:
        return "data: " + json.dumps({"choices": [{"delta": {"tool_calls": [call]}}]})

    lines = [
        piece(id="a", function={"name": "f", "arguments": {"x": 1}}),
        piece(id="b", function={"name": "g", "arguments": '{"y"'}),
        piece(function={"arguments": ": 2}"}),
        'data: {"choices":[{"index":1,"delta":{"content":"another choice, not spoken"}}]}',
        "id: 7",
        "data: [DONE]",
        'data: {"choices":[{"delta":{"content":"after the end"}}]}',
    ]
    assert [c.text for line in lines for c in stream.feed(line)] == []
    assert [c.tool_call for c in stream.finish()] == [
        ToolCall("a", "f", '{"x": 1}'),
        ToolCall("b", "g", '{"y": 2}'),
    ]


async def test_the_request_carries_tools_and_the_whole_conversation(server: Recorder) -> None:
    @function_tool
    def get_weather(city: str) -> str:
        """Look up the weather in a city."""
        return "sunny"

    chat = ChatContext("You are a weather assistant.")
    chat.add("user", "Weather in Paris?")
    chat.add_tool_calls([ToolCall("call_1", "get_weather", '{"city": "Paris"}')], "One moment.")
    chat.add_tool_output("call_1", "get_weather", "sunny")
    chat.add_handoff("concierge", "weather")
    chat.add("assistant", "It is sun", interrupted=True)
    async with client(server, "plain_text") as llm:
        tools = ModelTools(schemas=tuple(ToolSet([get_weather]).schemas()))
        assert [c.text async for c in llm.stream(chat, tools)]
    [body] = server.requests
    assert body["stream"] is True and body["model"] == "plain_text" and body["tool_choice"] == "auto"
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Look up the weather in a city.",
                "parameters": get_weather.parameters,
            },
        }
    ]
    assert body["messages"] == [
        {"role": "system", "content": "You are a weather assistant."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "One moment.",
            "tool_calls": [_call("call_1", "get_weather", '{"city": "Paris"}')],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "assistant", "content": "It is sun"},
    ]
    assert ChatContext.from_openai(body["messages"]).to_openai() == body["messages"]


async def test_without_tools_the_request_has_neither_tools_nor_tool_choice(server: Recorder) -> None:
    await reply(server, "plain_text")
    [body] = server.requests
    assert "tools" not in body and "tool_choice" not in body
    assert body["messages"] == [{"role": "system", "content": "be brief"}]


def test_recordings_are_server_sent_events() -> None:
    for path in sorted(RECORDED.glob("*.sse")):
        for line in path.read_text().splitlines():
            if line.startswith("data: ") and line != "data: [DONE]":
                event = json.loads(line.removeprefix("data: "))
                assert event.get("object") == "chat.completion.chunk" or "error" in event, path.name
            else:
                assert line in ("", "data: [DONE]") or line.startswith(":"), (path.name, line)


@pytest.mark.parametrize(
    ("choice", "first", "after_the_tools"),
    [
        ("auto", "auto", "auto"),
        ("none", "none", "none"),
        ("required", "required", "auto"),
        ("get_weather", {"type": "function", "function": {"name": "get_weather"}}, "auto"),
    ],
)
async def test_tool_choice_on_the_wire(
    server: Recorder, choice: str, first: object, after_the_tools: object
) -> None:
    """``tool_choice`` as sent: a tool's name becomes a function object; a forced choice
    ("required" or a name) holds until the tools answered the latest user (or system) message."""

    @function_tool
    def get_weather(city: str) -> str:
        """Look up the weather in a city."""
        return "sunny"

    tools = ModelTools(schemas=tuple(ToolSet([get_weather]).schemas()))
    chat = ChatContext("You are a weather assistant.")
    chat.add("user", "Weather in Paris?")
    options = OpenAIChatOptions(
        base_url=server.url, model="plain_text", api_key="sk-test", tool_choice=choice
    )
    llm = OpenAIChat(options)
    await llm.setup()
    try:
        assert [c.text async for c in llm.stream(chat, tools)]
        chat.add_tool_calls([ToolCall("call_1", "get_weather", '{"city": "Paris"}')], "")
        chat.add_tool_output("call_1", "get_weather", "sunny")
        assert [c.text async for c in llm.stream(chat, tools)]
        chat.add("assistant", "It is sunny.")
        chat.add("user", "And in Oslo?")  # a new user message: the forced choice holds again
        assert [c.text async for c in llm.stream(chat, tools)]
        chat.add_tool_calls([ToolCall("call_2", "get_weather", '{"city": "Oslo"}')], "")
        chat.add_tool_output("call_2", "get_weather", "rainy")
        chat.add("system", "Now say goodbye.")  # instructions (generate_reply): it holds again
        assert [c.text async for c in llm.stream(chat, tools)]
        assert [c.text async for c in llm.stream(ChatContext("no tools"))]
    finally:
        await llm.close()
    sent = [body.get("tool_choice") for body in server.requests]
    assert sent == [first, after_the_tools, first, first, None]


def test_an_empty_tool_choice_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="tool_choice is empty"):
        OpenAIChatOptions(tool_choice=" ")


def test_the_parser_takes_a_name_repeated_whole_in_every_chunk() -> None:
    """llama-cpp-python streams a forced call with the whole name and id in every chunk."""
    stream = ReplyStream()

    def piece(arguments: str, finish: str | None = None) -> str:
        function = {"name": "clock", "arguments": arguments}
        call = {"index": 0, "id": "call__0_clock_cmpl-1", "type": "function", "function": function}
        delta = {"role": None, "content": None, "function_call": function, "tool_calls": [call]}
        return "data: " + json.dumps({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    lines = [piece(part) for part in ('{"city', '": "', "Paris", '"}')]
    lines.append('data: {"choices":[{"index":0,"delta":{"tool_calls":null},"finish_reason":"tool_calls"}]}')
    lines.append("data: [DONE]")
    chunks = [c for line in lines for c in stream.feed(line)] + stream.finish()
    assert [c.tool_call for c in chunks] == [ToolCall("call__0_clock_cmpl-1", "clock", '{"city": "Paris"}')]
