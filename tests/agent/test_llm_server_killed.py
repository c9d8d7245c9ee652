"""The language-model server dies in the middle of a reply: the reply is cut cleanly, the history
holds what the user heard, and the fallback answers the next turn."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from graphflow.agent.options import FileIO, SessionOptions
from graphflow.agent.pipeline import StageOverrides
from graphflow.agent.session import AgentSession
from graphflow.bench.standins import StandInSTT, StandInTTS
from graphflow.conversation.events import AgentStoppedSpeaking, TurnEnded
from graphflow.livekit.server import free_port
from graphflow.models import ModelHub
from nodes.fallback.availability import FallbackOptions
from nodes.fallback.llm import FallbackLLM
from nodes.llm.local import LocalResponder, LocalResponderOptions, respond
from nodes.llm.openai import OpenAIChat, OpenAIChatOptions
from tests.agent.dying_server import REPLY
from tests.fixtures import model_cache, said_twice
from tests.waiting import until

ROOT = Path(__file__).resolve().parents[2]
UTTERANCE = "cmd_go_forward_ten_meters.wav"


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_a_server_killed_mid_reply_cuts_it_cleanly_and_the_fallback_answers_next(
    tmp_path: Path,
) -> None:
    port, log = free_port(), tmp_path / "sent.txt"
    log.touch()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.agent.dying_server", str(port), str(log)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        remote = OpenAIChat(
            OpenAIChatOptions(base_url=f"http://127.0.0.1:{port}/v1", model="test", timeout_s=10),
            name="remote",
        )
        local = LocalResponder(LocalResponderOptions(ttft_ms=100, tokens_per_second=0), name="local")
        llm = FallbackLLM(
            [remote, local], FallbackOptions(attempt_timeout_s=5, retry_interval_s=600), name="llm"
        )
        said = "go forward ten meters"
        stages = StageOverrides(stt=StandInSTT([said, said], name="stt"), llm=llm, tts=StandInTTS(name="tts"))
        path = said_twice(UTTERANCE, tmp_path / "twice.wav", gap_s=6.0)  # room for the first, slow reply
        options = SessionOptions(files=FileIO(input=str(path), tail_silence_ms=4000))
        session = AgentSession(options, hub=ModelHub(model_cache()), overrides=stages)
        await until(lambda: _listening(port), "the server to listen", timeout=15)
        running = asyncio.create_task(session.run())
        # the first sentence is out and the second under way: the server dies
        await until(lambda: "story" in log.read_text(), "the reply to reach its second sentence", timeout=30)
        server.send_signal(signal.SIGKILL)
        server.wait(5)
        await asyncio.wait_for(running, 60)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(5)

    sent = log.read_text()
    assert sent.startswith("Sure thing.") and sent != REPLY  # the server died mid-reply
    assert [e.text for e in session.events if isinstance(e, TurnEnded)] == [said, said]
    replies = [e for e in session.events if isinstance(e, AgentStoppedSpeaking)]
    assert len(replies) == 2
    cut, answer = replies
    # cut cleanly: what was spoken is a prefix of what the server sent, and nothing else
    assert cut.heard and sent.startswith(cut.heard)
    errors = [e for e in session.errors if e.node == "llm.llm"]
    assert errors and not any(e.fatal for e in session.errors)
    assert any("reply" in e.message or "connect" in e.message.lower() for e in errors)
    # the history holds what was heard of the cut reply, then the fallback's answer
    assistant = [m.content for m in session.chat.messages if m.role == "assistant"]
    assert assistant == [cut.heard, answer.heard]
    assert answer.heard == respond(said)  # the local responder answered the next turn


def _listening(port: int) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
    except OSError:
        return False
    return True
