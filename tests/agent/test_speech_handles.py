"""Speech handles in a voice session: wait until heard, interrupt, withdraw, and refuse interruptions."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from graphflow.agent.agent import Agent
from graphflow.agent.options import FileIO, SessionOptions
from graphflow.agent.pipeline import StageOverrides
from graphflow.agent.session import AgentSession
from graphflow.agent.speech import SpeechHandle
from graphflow.agent.tool_context import RunContext
from graphflow.agent.tools import function_tool
from graphflow.bench.standins import StandInSTT, StandInTTS
from graphflow.conversation.events import AgentStartedSpeaking, UserStartedSpeaking
from graphflow.conversation.model import ToolRule
from graphflow.models import ModelHub
from graphflow.runtime.clock import VirtualClock
from nodes.io.file_sink import FileSink
from nodes.llm.local import LocalResponder, LocalResponderOptions

from ..fixtures import FIXTURES, model_cache, read_wav, write_wav
from .test_session_control import LONG, next_event, silent_session


async def handles(session: AgentSession, clock: VirtualClock) -> list[SpeechHandle]:
    run = asyncio.ensure_future(session.run(clock))
    await asyncio.sleep(0.5)
    first = await session.say("Welcome to Chez Graphe.")
    withdrawn = await session.say("This is never said.")
    withdrawn.interrupt()  # still waiting behind the first: it never starts
    await first
    cut = await session.say(LONG)
    await next_event(session, AgentStartedSpeaking, 0)
    await asyncio.sleep(1.5)
    cut.interrupt()
    await cut.wait_for_playout()
    await run
    return [first, withdrawn, cut]


def test_say_returns_a_handle_that_says_what_became_of_the_reply(tmp_path: Path) -> None:
    session = silent_session(tmp_path)
    clock = VirtualClock()
    first, withdrawn, cut = clock.run(handles(session, clock))
    assert first.done() and not first.interrupted and first.heard == "Welcome to Chez Graphe."
    assert withdrawn.done() and withdrawn.interrupted and not withdrawn.started and withdrawn.heard == ""
    assert cut.interrupted and cut.heard and LONG.startswith(cut.heard) and cut.heard != LONG
    started = {e.reply_id for e in session.events if isinstance(e, AgentStartedSpeaking)}
    assert first.id in started and cut.id in started and withdrawn.id not in started
    said = [m.content for m in session.chat.messages if m.role == "assistant"]
    assert said == ["Welcome to Chez Graphe.", cut.heard]


def talking_user(tmp_path: Path) -> AgentSession:
    """A user who starts talking 1.5 s into a long reply (and a stand-in STT for their words)."""
    speech = read_wav("cmd_go_forward_ten_meters.wav")
    pcm = np.concatenate([np.zeros(16000 * 2, np.int16), speech, np.zeros(16000 * 10, np.int16)])
    path = write_wav(tmp_path / "talking.wav", pcm)
    llm = LocalResponder(LocalResponderOptions(ttft_ms=100, tokens_per_second=0), name="llm")
    stt = StandInSTT(["go forward ten meters"], name="stt")
    overrides = StageOverrides(stt=stt, llm=llm, tts=StandInTTS(name="tts"))
    return AgentSession(
        SessionOptions(files=FileIO(input=str(path))), hub=ModelHub(model_cache()), overrides=overrides
    )


async def long_reply(session: AgentSession, clock: VirtualClock, allow: bool) -> SpeechHandle:
    run = asyncio.ensure_future(session.run(clock))
    await asyncio.sleep(0.5)
    handle = await session.say(LONG, allow_interruptions=allow)
    await handle
    await run
    return handle


@pytest.mark.parametrize("allow", [True, False])
def test_a_reply_that_may_not_be_interrupted_plays_through_the_users_speech(
    tmp_path: Path, allow: bool
) -> None:
    session = talking_user(tmp_path)
    clock = VirtualClock()
    handle = clock.run(long_reply(session, clock, allow))
    user = [e for e in session.events if isinstance(e, UserStartedSpeaking)]
    assert user, "the user spoke over the reply"
    if allow:
        assert handle.interrupted and handle.heard != LONG
    else:
        assert not handle.interrupted and handle.heard == LONG
    assert session.playout.interruptible  # the exception lasted one reply


class Forecaster(Agent):
    """Says it will look, waits until that is heard, then answers."""

    def __init__(self) -> None:
        super().__init__(
            "You tell the weather.",
            rules=[
                ToolRule(when="weather", call="forecast", say="Let me check that for you.", then="{output}")
            ],
        )
        self.waited_at: list[int] = []
        self.speeches: list[SpeechHandle] = []

    @function_tool
    async def forecast(self, ctx: RunContext) -> str:
        """Tomorrow's weather."""
        assert isinstance(ctx.speech, SpeechHandle) and not ctx.speech.done()
        self.speeches.append(ctx.speech)
        await ctx.wait_for_playout()
        session = ctx.session
        assert isinstance(session, AgentSession)
        self.waited_at.append(session.playout.timeline.media(session.now()))
        return "It will be sunny."


def test_a_tool_waits_until_the_words_before_it_were_heard() -> None:
    llm = LocalResponder(LocalResponderOptions(ttft_ms=100, tokens_per_second=0), name="llm")
    stt = StandInSTT(["what will the weather be like tomorrow"], name="stt")
    overrides = StageOverrides(stt=stt, llm=llm, tts=StandInTTS(name="tts"))
    agent = Forecaster()
    options = SessionOptions(
        files=FileIO(input=str(FIXTURES / "cmd_go_forward_ten_meters.wav"), tail_silence_ms=8000)
    )
    session = AgentSession(options, hub=ModelHub(model_cache()), overrides=overrides, agent=agent)
    clock = VirtualClock()
    clock.run(session.run(clock))
    speech = agent.speeches[0]
    assert speech.done() and not speech.interrupted
    assert speech.heard == "Let me check that for you. It will be sunny."
    sink = next(n for n in session.graph.nodes() if isinstance(n, FileSink))
    waited = agent.waited_at[0]
    before = [media + f.duration for media, f in sink.agent if media < waited]
    after = [media for media, f in sink.agent if media >= waited]
    # the tool went on once the first sentence had been played: not before, and not long after
    assert before and after and waited >= max(before)
    assert waited - max(before) < 50_000_000
    assistant = [(m.content, len(m.tool_calls)) for m in session.chat.messages if m.role == "assistant"]
    assert assistant == [("Let me check that for you.", 1), ("It will be sunny.", 0)]
