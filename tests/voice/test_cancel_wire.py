"""Barge-in reaches the network: a cancelled reply closes its HTTP connection at once.

A real HTTP/1.1 server on 127.0.0.1, in a thread and event loop of its own, answers the
OpenAI-compatible chat, speech and transcription endpoints slowly: it either holds the
request without answering (``/wait/...``: the model is still thinking) or sends the
headers and then a piece of body every 20 ms for 10 s with chunked transfer encoding
(``/trickle/...``: a reply being streamed, on a connection the client could keep alive).
It notes on the monotonic clock when the client closed the connection (end of file or a
reset). Each test cancels the work mid-request — the LLM and TTS nodes through the
scheduler's cancellation edges in a running graph, exactly as a barge-in does; the STT
client's recognition by cancelling its task, as the end of a session or a handoff
does — and asserts that the server saw the connection close within ``CLOSE_BOUND_MS`` of
the cancel, measured on the same clock. The graph (and so the node's HTTP client) stays
open until the measurement is taken, so closing the client at the end of the run cannot
stand in for closing the stream: a connection handed back to the pool to be drained, or
read on in the background, fails the test.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest

from graphflow import Frame, Graph, Input, Node, Output, QueueSpec, RunOptions
from graphflow.agent.agent import Agent
from graphflow.agent.replies import AgentReplies
from graphflow.agent.tool_context import RunContext
from graphflow.conversation.chat import ChatContext
from graphflow.frames import EndOfTurn, ReplyDelta, ReplyEnd, ToolCall, TurnKind
from graphflow.frames.agent import SpeechAudio
from graphflow.frames.types import FrameType
from nodes.llm.openai import OpenAIChat, OpenAIChatOptions
from nodes.memory import FrameSink
from nodes.stt.openai import OpenAISTT, OpenAISTTOptions
from nodes.tts.openai import OpenAITTS, OpenAITTSOptions

from ..engine.helpers import no_leaks

CLOSE_BOUND_MS = 50.0
"""The server must see the connection close within this long after the cancel."""

PIECE_S = 0.02
"""A streaming answer sends one piece of body this often."""

STREAM_S = 10.0
"""How long a streaming answer goes on (and how long a held request is held)."""

SETTLE_S = 0.05
"""Time given to the client to take in the first pieces before the cancel."""

MS_NS = 1_000_000

PIECES = {
    "chat/completions": (
        "text/event-stream",
        b'data: {"choices": [{"index": 0, "delta": {"content": "word "}}]}\n\n',
        b"",
    ),
    "audio/speech": ("audio/pcm", bytes(960), b""),  # 20 ms of 24 kHz s16 silence
    "audio/transcriptions": ("application/json", b"word ", b'{"text": "'),
}
"""Per endpoint: the content type of a streamed answer, one piece of it, and its opening."""


@dataclass
class Conn:
    """What the server saw of one connection (times are ``time.monotonic_ns()``)."""

    path: str = ""
    request_at: int = 0
    pieces: int = 0
    finished: bool = False
    closed_at: int = 0
    how: str = ""
    closed: threading.Event = field(default_factory=threading.Event)

    def close_seen(self, how: str) -> None:
        """Note the first sign that the client closed the connection."""
        if not self.closed_at:
            self.closed_at = time.monotonic_ns()
            self.how = how
            self.closed.set()


class SlowServer:
    """Answers ``/<mode>/v1/<endpoint>`` slowly (see the module docstring); records every connection."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="slow-server", daemon=True)
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self.loop
        ).result(5)
        self.port: int = self.server.sockets[0].getsockname()[1]
        self.ready: queue.Queue[Conn] = queue.Queue()
        self.conns: list[Conn] = []
        self.handlers: set[asyncio.Task[None]] = set()

    def url(self, mode: str) -> str:
        """The ``base_url`` whose requests are answered in ``mode`` ("wait" or "trickle")."""
        return f"http://127.0.0.1:{self.port}/{mode}/v1"

    async def next_ready(self) -> Conn:
        """The next connection whose request was held, or whose answer is streaming."""
        return await asyncio.to_thread(self.ready.get, True, 5.0)

    def close(self) -> None:
        """Stop serving and end the server's thread."""

        async def stop() -> None:
            self.server.close()
            for handler in self.handlers:
                handler.cancel()
            await asyncio.gather(*self.handlers, return_exceptions=True)
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        assert handler is not None
        self.handlers.add(handler)
        handler.add_done_callback(self.handlers.discard)
        conn = Conn()
        self.conns.append(conn)
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            length = next(
                (int(h.split(":", 1)[1]) for h in head if h.lower().startswith("content-length:")), 0
            )
            await reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError):
            conn.close_seen("before the request was read")
            writer.close()
            return
        conn.path = head[0].split(" ")[1]
        conn.request_at = time.monotonic_ns()
        watcher = asyncio.create_task(self._watch(reader, conn))
        try:
            if conn.path.split("/")[1] == "wait":
                self.ready.put(conn)
                await asyncio.wait({watcher}, timeout=STREAM_S)
            else:
                await self._stream(writer, conn)
        except ConnectionError:
            conn.close_seen("reset (write)")
        finally:
            watcher.cancel()
            writer.close()

    async def _stream(self, writer: asyncio.StreamWriter, conn: Conn) -> None:
        endpoint = conn.path.split("/v1/", 1)[1]
        kind, piece, opening = PIECES[endpoint]
        writer.write(
            f"HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        if opening:
            writer.write(chunk(opening))
        deadline = time.monotonic() + STREAM_S
        while not conn.closed_at and time.monotonic() < deadline:
            writer.write(chunk(piece))
            await writer.drain()
            conn.pieces += 1
            if conn.pieces == 3:
                self.ready.put(conn)
            await asyncio.sleep(PIECE_S)
        if not conn.closed_at:
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            conn.finished = True

    @staticmethod
    async def _watch(reader: asyncio.StreamReader, conn: Conn) -> None:
        """Read until the client closes: end of file, or a reset."""
        try:
            while await reader.read(65536):
                pass
            conn.close_seen("end of file")
        except ConnectionError:
            conn.close_seen("reset")


def chunk(data: bytes) -> bytes:
    """``data`` as one chunk of a chunked HTTP body."""
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


@pytest.fixture
def server() -> Iterator[SlowServer]:
    srv = SlowServer()
    yield srv
    srv.close()


class Turns(Node):
    """Sends its frames, then stays open until ``release`` (so the run and its clients outlive the cancel)."""

    out = Output(Frame)

    def __init__(self, frames: Sequence[Frame], frame_type: FrameType, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.frames = frames
        self.out.frame_type = frame_type
        self.release = asyncio.Event()

    async def run(self) -> None:
        for frame in self.frames:
            await self.out.send(frame)
        await self.release.wait()


class Stuck(Node):
    """A sink that takes its first frame and then blocks until ``release``: backpressure upstream."""

    inp = Input(Frame)

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.frames: list[Frame] = []
        self.release = asyncio.Event()

    async def on_frame(self, frame: Frame) -> None:
        self.frames.append(frame)
        await self.release.wait()


def close_ms(conn: Conn, cancelled_at: int) -> float:
    """Milliseconds from the cancel to the server seeing the close (checks it was open until then)."""
    assert conn.closed.wait(2.0), f"the client never closed {conn.path}"
    assert conn.closed_at >= cancelled_at, f"{conn.path} closed before the cancel ({conn.how})"
    assert not conn.finished
    return (conn.closed_at - cancelled_at) / MS_NS


async def barge_in(server: SlowServer, g: Graph, trigger: Turns, *others: Stuck) -> tuple[Conn, float]:
    """Run ``g``; cancel through ``trigger``'s edges once its request is held or streaming; time the close."""
    run = asyncio.create_task(g.compile().run(RunOptions()))
    try:
        conn = await server.next_ready()
        await asyncio.sleep(SETTLE_S)
        cancelled_at = time.monotonic_ns()
        trigger.cancel("barge-in")
        await asyncio.to_thread(conn.closed.wait, 2.0)
        ms = close_ms(conn, cancelled_at)
        assert not run.done()  # the clients were still open: the cancel closed the stream, not the run's end
    finally:
        trigger.release.set()
        for other in others:
            other.release.set()
        await asyncio.wait_for(run, 10)
    print(f"{conn.path}: the server saw the close ({conn.how}) {ms:.2f} ms after the cancel")
    return conn, ms


class Host:
    """The least an agent's replies need around them: a history and an agent (no tools, no joins)."""

    def __init__(self) -> None:
        self.chat = ChatContext()
        self.agent = Agent()
        self.fragments = None

    def tool_context(self, call: ToolCall) -> RunContext:
        return RunContext(call=call)

    async def update_agent(self, agent: Agent) -> None:
        self.agent = agent

    def llm_provider(self) -> None:
        return None


def chat(url: str, replies: AgentReplies | None = None) -> OpenAIChat:
    options = OpenAIChatOptions(base_url=url, model="test", api_key="local-test-key")
    return OpenAIChat(options, name="llm", replies=replies)


@pytest.mark.parametrize("mode", ["wait", "trickle", "blocked", "preemptive", "replayed"])
def test_llm_barge_in_closes_the_stream(server: SlowServer, mode: str) -> None:
    """``wait``: no answer yet; ``trickle``: mid-stream; ``blocked``: the node waits on a full queue
    with the stream suspended; ``preemptive``: a reply generated ahead of its turn is dropped;
    ``replayed``: the confirmed turn streams the preemptive generation, which is still running."""
    words = "Tell me a long story."
    turns = [EndOfTurn(text=words, kind=TurnKind.PREEMPTIVE)] if mode in ("preemptive", "replayed") else []
    if mode != "preemptive":
        turns.append(EndOfTurn(text=words))
    src = Turns(turns, EndOfTurn, name="src")
    replies = AgentReplies(Host())  # an agent's replies: they generate ahead of a preemptive turn
    llm = chat(server.url("wait" if mode == "wait" else "trickle"), replies)
    g = Graph()
    if mode == "blocked":
        stuck = Stuck(name="sink")
        g.chain(src, llm)
        g.connect(llm.out, stuck.inp, queue=QueueSpec.frames(1))
        g.cancels(src, llm)
        conn, ms = asyncio.run(no_leaks(barge_in(server, g, src, stuck)))
        assert stuck.frames and all(isinstance(f, ReplyDelta) for f in stuck.frames)
    else:
        sink = FrameSink(name="sink")
        g.chain(src, llm, sink).cancels(src, llm)
        conn, ms = asyncio.run(no_leaks(barge_in(server, g, src)))
        deltas = [f for f in sink.frames if isinstance(f, ReplyDelta)]
        assert not any(isinstance(f, ReplyEnd) for f in sink.frames)  # the reply was cut, not ended
        assert bool(deltas) is (mode in ("trickle", "replayed"))  # the text streamed out until the cancel
    assert conn.path.endswith("/v1/chat/completions")
    if mode in ("preemptive", "replayed"):
        assert replies.early_started == 1 and replies.early is None
        assert replies.early_used == (mode == "replayed")
    assert ms <= CLOSE_BOUND_MS


@pytest.mark.parametrize("mode", ["wait", "trickle"])
def test_tts_barge_in_closes_the_stream(server: SlowServer, mode: str) -> None:
    reply = "Once upon a time there was a very long story. It went on."
    frames: list[Frame] = [ReplyDelta(text=reply, reply_id="r1"), ReplyEnd(text=reply, reply_id="r1")]
    src = Turns(frames, ReplyDelta | ReplyEnd, name="src")
    tts = OpenAITTS(OpenAITTSOptions(base_url=server.url(mode), api_key="local-test-key"), name="tts")
    sink = FrameSink(name="sink")
    g = Graph().chain(src, tts, sink).cancels(src, tts)
    conn, ms = asyncio.run(no_leaks(barge_in(server, g, src)))
    assert conn.path.endswith("/v1/audio/speech")
    assert not [f for f in sink.frames if isinstance(f, SpeechAudio)] and tts.failures == 0
    assert ms <= CLOSE_BOUND_MS


@pytest.mark.parametrize("mode", ["wait", "trickle"])
def test_stt_cancelled_recognition_closes_the_request(server: SlowServer, mode: str) -> None:
    stt = OpenAISTT(OpenAISTTOptions(base_url=server.url(mode), api_key="local-test-key"), name="stt")
    pcm = np.zeros(16000, np.float32)

    async def main() -> float:
        await stt.setup()
        try:
            task = asyncio.create_task(stt.recognize(pcm))
            conn = await server.next_ready()
            await asyncio.sleep(SETTLE_S)
            cancelled_at = time.monotonic_ns()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.to_thread(conn.closed.wait, 2.0)
            ms = close_ms(conn, cancelled_at)  # the client is still open
        finally:
            await stt.close()
        print(f"{conn.path}: the server saw the close ({conn.how}) {ms:.2f} ms after the cancel")
        return ms

    assert asyncio.run(no_leaks(main())) <= CLOSE_BOUND_MS


def test_server_notes_a_client_that_reads_on(server: SlowServer) -> None:
    """The measurement itself: a client that keeps reading after the "cancel" is seen as still open."""
    import httpx

    async def main() -> None:
        async with httpx.AsyncClient() as client:
            async with client.stream("POST", server.url("trickle") + "/audio/speech", json={}) as response:
                conn = await server.next_ready()
                cancelled_at = time.monotonic_ns()
                got = 0
                async for piece in response.aiter_bytes():  # drains instead of closing
                    got += len(piece)
                    if time.monotonic_ns() - cancelled_at > 3 * CLOSE_BOUND_MS * MS_NS:
                        break
                assert got and not conn.closed_at
            await asyncio.to_thread(conn.closed.wait, 2.0)
            assert close_ms(conn, cancelled_at) > 3 * CLOSE_BOUND_MS

    asyncio.run(no_leaks(main()))
