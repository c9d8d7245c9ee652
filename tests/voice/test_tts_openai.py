"""OpenAI-compatible TTS against a real local server that speaks with eSpeak NG (24 kHz PCM)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import msgspec
import numpy as np
import pytest
import soxr

from graphflow import Graph, RunOptions
from graphflow.bench.wer import wer
from graphflow.errors import ProviderError
from graphflow.frames.agent import SpeechAudio
from graphflow.runtime.events import NodeIssue, RunEvent
from nodes.memory import FrameSink
from nodes.tts.espeak import EspeakEngine
from nodes.tts.openai import OpenAITTS, OpenAITTSOptions

from .test_tts import WER_LIMIT, check_bookkeeping, reply, source, transcribe


class SpeechServer(ThreadingHTTPServer):
    """``POST /v1/audio/speech``; the request's ``model`` picks a behaviour (see ``Handler``)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[dict[str, Any]] = []
        self.auth: list[str] = []
        self.engine = EspeakEngine.shared()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class Handler(BaseHTTPRequestHandler):
    server: SpeechServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        if self.path != "/v1/audio/speech":
            return self._reply(404, b'{"error": "not found"}', "application/json")
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(body)
        self.server.auth.append(self.headers.get("Authorization", ""))
        model = body["model"]
        if model == "slow":
            time.sleep(2.0)
        if model == "fail-500" or (model == "flaky" and len(self.server.requests) == 1):
            return self._reply(500, b'{"error": "overloaded"}', "application/json")
        if model == "fail-401":
            return self._reply(401, b'{"error": "invalid api key"}', "application/json")
        if model == "json":
            return self._reply(200, b'{"audio": "nope"}', "application/json")
        if model == "empty":
            return self._reply(200, b"", "audio/pcm")
        pcm = self.server.engine.synthesize(body["input"])
        pcm = np.concatenate(
            [pcm, np.zeros(2205, np.int16)]
        )  # 100 ms of trailing silence, as real servers send
        audio = soxr.resample(pcm, 22050, 24000).astype("<i2").tobytes()
        if model == "odd":
            audio = audio[:-1]
        self._reply(200, audio, "audio/pcm", chunk=4800)

    def _reply(self, status: int, data: bytes, kind: str, chunk: int = 0) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        for i in range(0, len(data), chunk or max(1, len(data))):
            self.wfile.write(data[i : i + (chunk or len(data))])
            self.wfile.flush()


@pytest.fixture(scope="module")
def server() -> Iterator[SpeechServer]:
    srv = SpeechServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def tts(url: str, model: str = "tts-1", **kw: Any) -> OpenAITTS:
    kw.setdefault("api_key", "local-test-key")  # never fall back to an OPENAI_API_KEY from the environment
    return OpenAITTS(OpenAITTSOptions(base_url=url, model=model, voice="alloy", **kw), name="tts")


def synthesize(node: OpenAITTS, text: str = "Hello there.") -> np.ndarray:
    async def go() -> np.ndarray:
        await node.setup()
        try:
            return await asyncio.wait_for(node.asynthesize(text), 10)
        finally:
            await node.close()

    return asyncio.run(go())


def test_speaks_through_a_real_local_server(server: SpeechServer) -> None:
    from faster_whisper import WhisperModel

    from tests.fixtures import model_cache

    text = "Hello there. How can I help you today? The weather is lovely this morning."
    node = tts(server.url, api_key="sk-test")
    sink = FrameSink(name="sink")
    plan = Graph().chain(source(reply(text)), node, sink).compile()
    asyncio.run(asyncio.wait_for(plan.run(RunOptions()), 30))  # real time: the server is real
    speech = [f for f in sink.frames if isinstance(f, SpeechAudio)]
    assert check_bookkeeping(speech, "r1", 24000) == [
        "Hello there.",
        "How can I help you today?",
        "The weather is lovely this morning.",
    ]
    assert [r["input"] for r in server.requests[-3:]] == [f.text for f in speech if f.offset == 0]
    assert all(r["response_format"] == "pcm" and r["voice"] == "alloy" for r in server.requests[-3:])
    assert server.auth[-1] == "Bearer sk-test"
    whisper = WhisperModel(str(model_cache().path("whisper-base")), compute_type="int8")
    heard = transcribe(whisper, np.concatenate([f.samples[:, 0] for f in speech]), 24000)
    assert wer(text, heard) <= WER_LIMIT, heard
    assert node.stats.first_audio.count == 1 and node.stats.synthesis.count == 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("model", "retryable", "message"),
    [
        ("fail-500", True, "HTTP 500"),
        ("fail-401", False, "HTTP 401"),
        ("odd", False, "odd count"),
        ("empty", False, "empty audio"),
        ("json", False, "not raw PCM"),
    ],
)
def test_provider_errors(server: SpeechServer, model: str, retryable: bool, message: str) -> None:
    with pytest.raises(ProviderError, match=message) as err:
        synthesize(tts(server.url, model))
    assert err.value.retryable is retryable


def test_connection_refused_is_retryable() -> None:
    with pytest.raises(ProviderError, match="cannot reach") as err:
        synthesize(tts(f"http://127.0.0.1:{free_port()}/v1"))
    assert err.value.retryable and "server is running" in err.value.hint


def test_timeout_is_retryable(server: SpeechServer) -> None:
    began = time.monotonic()
    with pytest.raises(ProviderError, match=r"within 0\.3 s") as err:
        synthesize(tts(server.url, "slow", timeout_s=0.3))
    assert err.value.retryable and time.monotonic() - began < 1.5


def test_a_retry_recovers_from_one_server_error(server: SpeechServer) -> None:
    server.requests.clear()
    pcm = synthesize(tts(server.url, "flaky", retries=1, retry_backoff_s=0.01))
    assert len(server.requests) == 2 and pcm.dtype == np.int16 and len(pcm) > 12000


def test_a_failing_sentence_is_reported_and_the_reply_still_ends(server: SpeechServer) -> None:
    issues: list[NodeIssue] = []

    class Issues:
        def on_event(self, event: RunEvent) -> None:
            if isinstance(event, NodeIssue):
                issues.append(event)

    node, sink = tts(server.url, "fail-401"), FrameSink(name="sink")
    plan = Graph().chain(source(reply("Nobody will hear this.")), node, sink).compile()
    asyncio.run(asyncio.wait_for(plan.run(RunOptions(observers=(Issues(),))), 30))
    [issue] = issues
    assert issue.node == "tts" and "HTTP 401" in issue.message and not issue.retryable
    [end] = sink.frames
    assert isinstance(end, SpeechAudio) and end.last and end.text == "" and node.failures == 1


def test_options_repr_hides_the_api_key() -> None:
    options = OpenAITTSOptions(api_key="sk-secret-123")
    assert "sk-secret-123" not in repr(options) and "api_key='***'" in repr(options)
    assert msgspec.json.decode(msgspec.json.encode(options), type=OpenAITTSOptions) == options
