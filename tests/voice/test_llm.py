"""Language-model nodes: the local responder's rules and timing; the OpenAI-compatible client on the wire."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import msgspec
import pytest

from graphflow import Frame, Graph, RunOptions
from graphflow.conversation.chat import ChatContext
from graphflow.conversation.replies import PlainReplies
from graphflow.frames import EndOfTurn, ReplyDelta, ReplyEnd
from graphflow.runtime.events import NodeIssue, RunEvent
from graphflow.timebase import MS, SECOND
from nodes.llm.local import LocalResponder, LocalResponderOptions, respond, tokens
from nodes.llm.openai import OpenAIChat, OpenAIChatOptions
from nodes.memory import FrameSink, FrameSource, FrameSourceOptions

from ..engine.helpers import no_leaks, run_plan


def turn(text: str, at_ms: int = 0, generation: int = 0) -> EndOfTurn:
    return EndOfTurn(text=text, pts=at_ms * MS, speech_end=at_ms * MS, generation=generation)


def test_responder_rules_answer_sensibly() -> None:
    assert respond("Good morning, Steve.").startswith("Hello!")
    assert respond("my name is alice").startswith("Nice to meet you, Alice.")
    assert "weather" in respond("What's the weather like?")
    assert respond("This isn't part of your testing routine, is it?").startswith("That's a good question.")
    assert "testing routine" in respond("This isn't part of your testing routine, is it?")
    assert respond("").startswith("Sorry")
    assert respond("go forward ten meters") == "I heard you say: go forward ten meters. Tell me more."
    assert "".join(tokens("Hello there, friend. ")) == "Hello there, friend. "


def test_responder_streams_with_configured_timing_and_keeps_the_chat() -> None:
    chat = ChatContext("be brief")
    llm = LocalResponder(LocalResponderOptions(ttft_ms=300, tokens_per_second=10), replies=PlainReplies(chat))
    sink = FrameSink()
    src = FrameSource([turn("hello there", 0)], FrameSourceOptions(paced=True))
    run_plan(Graph().chain(src, llm, sink).compile())
    deltas = [f for f in sink.frames if isinstance(f, ReplyDelta)]
    end = [f for f in sink.frames if isinstance(f, ReplyEnd)]
    assert sink.arrivals[0] == 300 * MS  # time to first token
    assert sink.arrivals[1] - sink.arrivals[0] == SECOND // 10  # token rate
    assert len(end) == 1 and end[0].text == "".join(d.text for d in deltas) == respond("hello there")
    assert [m.role for m in chat.messages] == ["system", "user"]
    assert llm.first_token.count == 1


# ---------------------------------------------------------------- the wire
Handler = Callable[[dict[str, object], asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def chat_server(handler: Handler) -> AsyncIterator[str]:
    """A real HTTP/1.1 server on 127.0.0.1 implementing /v1/chat/completions with ``handler``."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.decode().split("\r\n"):
            if line.lower().startswith("content-length:"):
                length = int(line.split(":")[1])
        body = json.loads(await reader.readexactly(length))
        try:
            await handler(body, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.close()
        await server.wait_closed()


async def sse(writer: asyncio.StreamWriter, events: list[str]) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
    for event in events:
        writer.write(f"data: {event}\n\n".encode())
        await writer.drain()
        await asyncio.sleep(0.001)


async def responder_server(body: dict[str, object], writer: asyncio.StreamWriter) -> None:
    """Answers like an OpenAI endpoint, with the local responder's words and one tool call."""
    messages = body["messages"]
    assert isinstance(messages, list) and body["stream"] is True
    reply = respond(str(messages[-1]["content"]))
    events = [json.dumps({"choices": [{"index": 0, "delta": {"content": t}}]}) for t in tokens(reply)]
    call = {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "lookup", "arguments": '{"q": '},
    }
    events.append(json.dumps({"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]}))
    rest = {"index": 0, "function": {"arguments": '"weather"}'}}
    events.append(json.dumps({"choices": [{"index": 0, "delta": {"tool_calls": [rest]}}]}))
    await sse(writer, [*events, "[DONE]"])


def run_client(base_url: str, text: str, timeout_s: float = 5.0) -> tuple[list[Frame], list[RunEvent]]:
    issues: list[RunEvent] = []

    class Collect:
        def on_event(self, event: RunEvent) -> None:
            if isinstance(event, NodeIssue):
                issues.append(event)

    llm = OpenAIChat(
        OpenAIChatOptions(base_url=base_url, model="test", timeout_s=timeout_s, connect_timeout_s=1)
    )
    sink = FrameSink()
    plan = Graph().chain(FrameSource([turn(text)]), llm, sink).compile()
    asyncio.run(no_leaks(plan.run(RunOptions(observers=(Collect(),)))))
    return sink.frames, issues


def test_client_streams_text_and_assembles_tool_calls() -> None:
    async def main() -> tuple[list[Frame], list[RunEvent]]:
        async with chat_server(responder_server) as url:
            return await asyncio.to_thread(run_client, url, "What's the weather like?")

    frames, issues = asyncio.run(main())
    deltas = [f for f in frames if isinstance(f, ReplyDelta)]
    [end] = [f for f in frames if isinstance(f, ReplyEnd)]
    assert "".join(d.text for d in deltas) == end.text == respond("What's the weather like?")
    assert [(c.id, c.name, json.loads(c.arguments)) for c in end.tool_calls] == [
        ("call_1", "lookup", {"q": "weather"})
    ]
    assert issues == [] and end.error == ""


async def status(code: int, body: dict[str, object], writer: asyncio.StreamWriter) -> None:
    text = json.dumps({"error": {"message": f"status {code}"}}).encode()
    writer.write(
        f"HTTP/1.1 {code} X\r\nContent-Length: {len(text)}\r\nConnection: close\r\n\r\n".encode() + text
    )
    await writer.drain()


async def malformed(body: dict[str, object], writer: asyncio.StreamWriter) -> None:
    await sse(writer, [json.dumps({"choices": [{"delta": {"content": "Hel"}}]}), "{not json"])


async def hang(body: dict[str, object], writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(5)


@pytest.mark.parametrize(
    ("handler", "retryable", "fragment"),
    [
        (lambda b, w: status(500, b, w), True, "HTTP 500"),
        (lambda b, w: status(401, b, w), False, "HTTP 401"),
        (malformed, True, "malformed chunk"),
        (hang, True, "timed out"),
    ],
)
def test_provider_failures_are_reported_and_the_reply_is_closed(
    handler: Handler, retryable: bool, fragment: str
) -> None:
    async def main() -> tuple[list[Frame], list[RunEvent]]:
        async with chat_server(handler) as url:
            return await asyncio.to_thread(run_client, url, "hello", 0.5)

    frames, issues = asyncio.run(main())
    [end] = [f for f in frames if isinstance(f, ReplyEnd)]
    assert fragment in end.error
    [issue] = issues
    assert isinstance(issue, NodeIssue) and issue.code == "provider.failed" and issue.retryable is retryable


def test_refused_connection_is_a_retryable_provider_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    frames, issues = run_client(f"http://127.0.0.1:{port}/v1", "hello", 0.5)
    [end] = [f for f in frames if isinstance(f, ReplyEnd)]
    assert "cannot reach" in end.error and len(issues) == 1


def test_options_repr_hides_the_api_key() -> None:
    options = OpenAIChatOptions(api_key="sk-secret-123")
    assert "sk-secret-123" not in repr(options) and "api_key='***'" in repr(options)
    assert "api_key=''" in repr(OpenAIChatOptions())  # an unset key stays visible as unset
    assert msgspec.json.decode(msgspec.json.encode(options), type=OpenAIChatOptions) == options
