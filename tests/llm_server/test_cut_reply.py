"""A reply cut mid-stream from a real llama.cpp server, as a barge-in cuts it, and the next turn.

The language-model stage streams from the server through a TCP relay on 127.0.0.1 that
notes when the client closes its connection and whether the server's ``[DONE]`` came
through. A running graph (turns → LLM → sink, with a cancellation edge from the turns to
the LLM) sends a turn; after the reply's first chunks the turns' node fires its
cancellation edge, exactly as a barge-in does. The stage must end the reply without a
``ReplyEnd``, close the HTTP stream at once (the relay sees the close before the server
finished), report no error, and answer the next turn in full.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from graphflow import Graph, RunOptions
from graphflow.agent.text import TurnInput
from graphflow.conversation.chat import ChatContext
from graphflow.conversation.replies import PlainReplies
from graphflow.frames import EndOfTurn, ReplyDelta, ReplyEnd
from graphflow.runtime.events import NodeIssue, RunEvent
from nodes.llm.openai import OpenAIChat, OpenAIChatOptions
from nodes.memory import FrameSink
from tests.llm_server.conftest import HOST, MODEL, LlamaServer

CLOSE_BOUND_MS = 250.0
"""The relay must see the client close its connection within this long after the cancel."""

STORYTELLER = "You are a storyteller. Your stories are long."
"""The system prompt: with it the model talks until ``max_tokens`` (256 tokens, seconds)."""

FIRST_CHUNKS = 3
"""How many pieces of the reply arrive before the cancel."""

WAIT_S = 30.0
"""How long any one step may take (the first chunks, the close, the next reply)."""


@dataclass
class Relayed:
    """One connection through the relay (times are ``time.monotonic_ns()``)."""

    received: bytearray = field(default_factory=bytearray)
    """What the server sent the client."""
    closed_at: int = 0
    """When the client closed its side (end of file or a reset); 0 while it is open."""
    closed: asyncio.Event = field(default_factory=asyncio.Event)


class Relay:
    """A TCP relay from a loopback port to the server, recording every connection."""

    def __init__(self, upstream: str, port: int) -> None:
        self.upstream = (upstream, port)
        self.conns: list[Relayed] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        """Listen on a free loopback port; returns it."""
        self._server = await asyncio.start_server(self._serve, HOST, 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening and end every relayed connection."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        conn = Relayed()
        self.conns.append(conn)
        server_in, server_out = await asyncio.open_connection(*self.upstream)

        async def to_server() -> None:
            with contextlib.suppress(ConnectionError):
                while data := await client_in.read(65536):
                    server_out.write(data)
                    await server_out.drain()
            conn.closed_at = time.monotonic_ns()
            conn.closed.set()
            server_out.close()

        async def to_client() -> None:
            with contextlib.suppress(ConnectionError):
                while data := await server_in.read(65536):
                    conn.received += data
                    client_out.write(data)
                    await client_out.drain()
            client_out.close()

        try:
            await asyncio.gather(to_server(), to_client())
        finally:
            server_out.close()
            client_out.close()


class Issues:
    """An observer keeping the errors nodes reported and survived."""

    def __init__(self) -> None:
        self.seen: list[NodeIssue] = []

    def on_event(self, event: RunEvent) -> None:
        if isinstance(event, NodeIssue):
            self.seen.append(event)


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait (at most ``WAIT_S``) until ``condition()`` holds."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {WAIT_S:.0f} s")
        await asyncio.sleep(0.01)


@pytest.mark.timeout(120)
async def test_a_reply_cut_mid_stream_closes_the_stream_and_the_next_turn_is_answered(
    llama_server: LlamaServer,
) -> None:
    """Cancelled after its first chunks, the reply ends without ``ReplyEnd`` and its HTTP stream is
    closed before the server finished; the stage reports no error and answers the next turn."""
    relay = Relay(HOST, llama_server.port)
    port = await relay.start()
    options = OpenAIChatOptions(
        base_url=f"http://{HOST}:{port}/v1", model=MODEL, max_tokens=256, temperature=0
    )
    turns = TurnInput(name="turns")
    llm = OpenAIChat(options, name="llm", replies=PlainReplies(ChatContext(STORYTELLER)))
    sink = FrameSink(name="sink")
    g = Graph().chain(turns, llm, sink).cancels(turns, llm)
    issues = Issues()

    def deltas() -> list[ReplyDelta]:
        return [f for f in sink.frames if isinstance(f, ReplyDelta) and f.text]

    def ends() -> list[ReplyEnd]:
        return [f for f in sink.frames if isinstance(f, ReplyEnd)]

    def disconnects() -> int:
        return llama_server.log.read_text(errors="replace").count("Disconnected from client")

    noted = disconnects()
    try:
        run = asyncio.create_task(g.compile().run(RunOptions(observers=(issues,))))
        try:
            await turns.queue.put(EndOfTurn(text="Tell me a long story about a dragon and a knight."))
            await until(lambda: len(deltas()) >= FIRST_CHUNKS, "the reply's first chunks")
            [conn] = relay.conns
            cut = deltas()[0].reply_id
            cancelled_at = time.monotonic_ns()
            report = await turns.cancel("barge-in")
            await asyncio.wait_for(conn.closed.wait(), WAIT_S)
            assert conn.closed_at >= cancelled_at, "the client closed the stream before the cancel"
            assert b"[DONE]" not in conn.received, "the server finished the reply before the cancel"
            assert "llm" in report.flushed

            await turns.queue.put(EndOfTurn(text="Say hello."))
            await until(lambda: bool(ends()), "the next turn's ReplyEnd")
        finally:
            await turns.queue.put(None)
            await asyncio.wait_for(run, WAIT_S)
    finally:
        await relay.close()

    close_ms = (conn.closed_at - cancelled_at) / 1e6
    print(f"the relay saw the client close {close_ms:.1f} ms after the cancel")
    assert close_ms <= CLOSE_BOUND_MS
    assert not issues.seen, f"the stage reported {issues.seen}"
    cut_deltas = [f for f in sink.frames if isinstance(f, ReplyDelta) and f.reply_id == cut]
    assert len([f for f in cut_deltas if f.text]) >= FIRST_CHUNKS
    [end] = ends()  # the cut reply has none: only the next turn's reply ended
    assert end.reply_id != cut and not end.error and end.text.strip()
    answer = [f for f in sink.frames if isinstance(f, ReplyDelta) and f.reply_id == end.reply_id]
    assert len([f for f in answer if f.text]) >= 2 and end.text == "".join(f.text for f in answer)
    assert end.generation > cut_deltas[0].generation  # the next turn came after the cancel
    assert len(relay.conns) == 2  # the next turn came over a new connection, not the cut one
    # the server noticed that the client had gone, and stopped generating the cut reply
    await until(lambda: disconnects() > noted, "the server's note of the disconnect")
