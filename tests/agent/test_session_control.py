"""A voice session under program control: say, generate_reply and interrupt."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from graphflow.agent.options import FileIO, SessionOptions
from graphflow.agent.pipeline import StageOverrides
from graphflow.agent.session import AgentSession
from graphflow.bench.standins import StandInSTT, StandInTTS
from graphflow.conversation.events import AgentStartedSpeaking, AgentStoppedSpeaking, SessionEvent
from graphflow.models import ModelHub
from graphflow.runtime.clock import VirtualClock
from nodes.llm.local import LocalResponder, LocalResponderOptions

from ..fixtures import model_cache, write_wav
from ..waiting import until

LONG = "This sentence is long on purpose, so that there is time to stop it well before it ends."


def silent_session(tmp_path: Path) -> AgentSession:
    path = write_wav(tmp_path / "silence.wav", np.zeros(16000 * 30, np.int16))
    llm = LocalResponder(LocalResponderOptions(ttft_ms=100, tokens_per_second=0), name="llm")
    overrides = StageOverrides(stt=StandInSTT([], name="stt"), llm=llm, tts=StandInTTS(name="tts"))
    return AgentSession(
        SessionOptions(files=FileIO(input=str(path))), hub=ModelHub(model_cache()), overrides=overrides
    )


async def next_event(session: AgentSession, kind: type[SessionEvent], seen: int) -> SessionEvent:
    """The first event of ``kind`` after the first ``seen`` events (within the 30 s of input)."""

    def found() -> SessionEvent | None:
        return next((event for event in session.events[seen:] if isinstance(event, kind)), None)

    # the loop runs on the virtual clock: the deadline is virtual time, reached at once if stuck
    return await until(found, f"a {kind.__name__} event after the first {seen}", timeout=60, interval=0.05)


async def scenario(session: AgentSession, clock: VirtualClock) -> list[AgentStoppedSpeaking]:
    run = asyncio.ensure_future(session.run(clock))
    await asyncio.sleep(0.5)
    await session.say("Welcome to Chez Graphe.")
    first = await next_event(session, AgentStoppedSpeaking, 0)
    seen = len(session.events)
    await session.generate_reply('Say "How can I help you tonight?"')
    second = await next_event(session, AgentStoppedSpeaking, seen)
    seen = len(session.events)
    await session.say(LONG)
    await next_event(session, AgentStartedSpeaking, seen)
    await asyncio.sleep(1.0)
    session.interrupt()
    third = await next_event(session, AgentStoppedSpeaking, seen)
    await run
    return [first, second, third]  # type: ignore[list-item]


def test_say_generate_reply_and_interrupt(tmp_path: Path) -> None:
    session = silent_session(tmp_path)
    clock = VirtualClock()
    first, second, third = clock.run(scenario(session, clock))
    assert first.heard == "Welcome to Chez Graphe." and not first.interrupted
    assert second.heard == "How can I help you tonight?"
    assert third.interrupted and third.heard and LONG.startswith(third.heard) and third.heard != LONG
    said = [m.content for m in session.chat.messages if m.role == "assistant"]
    assert said == ["Welcome to Chez Graphe.", "How can I help you tonight?", third.heard]
