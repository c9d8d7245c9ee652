"""A sentence cut by a pause: the fragments join into one user message, and the reply answers it whole.

The recording (``pause_constructed_ss_0880_0890.wav``) is one sentence with a 1.38 s
pause in it (speech 0.25-2.77 s, then 4.15-8.95 s). With a 600 ms silence turn, the
turn ends in the pause, the agent starts answering the first half, and the user's
second half cuts that reply: while it is being prepared, or as its first words play.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from pathlib import Path

import numpy as np
import pytest

from graphflow.agent.agent import Agent
from graphflow.agent.fragments import Fragments
from graphflow.agent.options import FileIO, SessionOptions
from graphflow.agent.pipeline import PipelineIO, StageOverrides
from graphflow.agent.session import AgentSession
from graphflow.bench.standins import (
    StandInLLM,
    StandInLLMOptions,
    StandInSTT,
    StandInTTS,
)
from graphflow.conversation.chat import ChatContext
from graphflow.conversation.events import (
    AgentStartedSpeaking,
    AgentStoppedSpeaking,
    TurnEnded,
    TurnMetrics,
    UserTurnJoined,
)
from graphflow.conversation.model import NO_TOOLS, Chunk, ModelTools
from graphflow.conversation.playout import Playout, Timeline
from graphflow.frames import EndOfTurn, ToolCall, TurnKind
from graphflow.models import ModelHub
from graphflow.node import Node
from graphflow.ports import Output
from graphflow.runtime.clock import VirtualClock
from graphflow.timebase import MS
from nodes.gate.interruption import JOIN_BELOW_WORDS, GateOptions
from nodes.io.file_sink import FileSink
from nodes.io.file_source import FileSource, FileSourceOptions
from nodes.llm.local import respond
from nodes.stt.segmenter import Recognition
from nodes.turn.options import TurnOptions

from ..fixtures import FIXTURES, model_cache, read_wav, write_wav

RECORDING = "pause_constructed_ss_0880_0890.wav"
FIRST = "he was not an ill disposed young man"
SECOND = "unless to be rather cold hearted and rather selfish is to be ill disposed"
WHOLE = f"{FIRST} {SECOND}"
RATE = 16000


@pytest.fixture(scope="module")
def hub() -> ModelHub:
    """One set of loaded models (the VAD) for every session of this module."""
    return ModelHub(model_cache())


class HalvesSTT(StandInSTT):
    """Recognises the first half of the sentence in short speech, the second half in long speech."""

    async def recognize(self, pcm: np.ndarray) -> Recognition:
        """Wait the stand-in's delay, then name the half this much speech holds."""
        self.script = [FIRST if pcm.shape[0] < 4 * RATE else SECOND]
        self.index = 0
        return await super().recognize(pcm)


class SeeingLLM(StandInLLM):
    """The stand-in model, keeping the user's words it was asked to answer each time."""

    def __init__(self, ttft_ms: float) -> None:
        super().__init__(StandInLLMOptions(ttft_ms=ttft_ms), name="llm")
        self.seen: list[str] = []

    async def stream(self, chat: ChatContext, tools: ModelTools = NO_TOOLS) -> AsyncGenerator[Chunk, None]:
        """Note the latest user message, then answer as the stand-in does."""
        user = chat.last("user")
        self.seen.append(user.content if user is not None else "")
        async for chunk in super().stream(chat, tools):
            yield chunk


def talk(
    path: Path,
    hub: ModelHub,
    *,
    ttft_ms: float = 200,
    gate: GateOptions | None = None,
    typed: Node | None = None,
    agent: Agent | None = None,
) -> tuple[AgentSession, SeeingLLM]:
    """Run a whole session on ``path`` with stand-in STT, LLM and TTS (and the real VAD).

    ``typed``: a node that sends typed user turns too.
    """
    options = SessionOptions(
        files=FileIO(input=str(path), tail_silence_ms=9000),
        turn=TurnOptions(mode="silence", silence_delay_ms=600),
        gate=gate or GateOptions(),
    )

    def ends(timeline: Timeline, playout: Playout) -> PipelineIO:
        source = FileSource(
            FileSourceOptions(str(path), tail_silence_ms=options.files.tail_silence_ms),
            name="source",
            timeline=timeline,
        )
        return PipelineIO(source, FileSink(name="sink", playout=playout), typed=typed)

    llm = SeeingLLM(ttft_ms)
    overrides = StageOverrides(stt=HalvesSTT([], name="stt"), llm=llm, tts=StandInTTS(name="tts"))
    session = AgentSession(options, hub=hub, overrides=overrides, io=ends, agent=agent)
    clock = VirtualClock()
    clock.run(session.run(clock))
    return session, llm


def roles(session: AgentSession) -> list[str]:
    return [m.role for m in session.chat.messages]


def test_a_reply_cut_while_being_prepared_joins_the_fragments(hub: ModelHub) -> None:
    # the model takes 2.5 s: the user goes on speaking before any of its reply is played
    session, llm = talk(FIXTURES / RECORDING, hub, ttft_ms=2500)
    turns = [e for e in session.events if isinstance(e, TurnEnded)]
    assert [t.text for t in turns] == [FIRST, SECOND]
    started = [e for e in session.events if isinstance(e, AgentStartedSpeaking)]
    assert len(started) == 1 and started[0].at > turns[1].at  # nothing of the first reply played

    assert roles(session) == ["system", "user", "assistant"]
    user, answer = session.chat.messages[1:]
    assert user.content == WHOLE and not answer.interrupted
    assert answer.content == respond(WHOLE)  # the reply answers the whole sentence
    assert llm.seen[-1] == WHOLE
    [joined] = [e for e in session.events if isinstance(e, UserTurnJoined)]
    assert joined.parts == (FIRST, SECOND) and joined.text == WHOLE

    # the transcript keeps each fragment with its own times; the metrics are the last fragment's
    lines = [(u.role, u.text) for u in session.transcript]
    assert lines == [("user", FIRST), ("user", SECOND), ("agent", respond(WHOLE))]
    [metrics] = [e for e in session.events if isinstance(e, TurnMetrics)]
    assert metrics.voice_to_voice_ms is not None
    assert metrics.voice_to_voice_ms == pytest.approx((started[0].media - turns[1].media) / MS)
    assert user.metrics == {
        "vad_ms": metrics.vad_ms,
        "transcript_ms": metrics.transcript_ms,
        "end_of_turn_ms": metrics.end_of_turn_ms,
    }


class Listening(Agent):
    """Notes what its hook is given: the turn's words and the user messages already in the history."""

    def __init__(self) -> None:
        super().__init__()
        self.turns: list[tuple[str, list[str]]] = []

    async def on_user_turn_completed(self, chat: ChatContext, text: str) -> str | None:
        """Note the turn; the model sees the words in capitals."""
        self.turns.append((text, [m.content for m in chat.items("user")]))
        return text.upper()


def test_the_agents_hook_sees_the_whole_utterance(hub: ModelHub) -> None:
    agent = Listening()
    session, llm = talk(FIXTURES / RECORDING, hub, ttft_ms=2500, agent=agent)
    # the joined words as said (not the first half's rewrite), the open message out of the history
    assert agent.turns == [(FIRST, []), (WHOLE, [])]
    assert [m.content for m in session.chat.items("user")] == [WHOLE.upper()]
    assert llm.seen[-1] == WHOLE.upper()


def test_a_reply_cut_in_its_first_words_joins_the_fragments_when_the_threshold_allows(
    hub: ModelHub,
) -> None:
    # the reply starts ~0.6 s before the user goes on: its first words are heard, then cut
    session, llm = talk(FIXTURES / RECORDING, hub, gate=GateOptions(join_below_words=4))
    stops = [e for e in session.events if isinstance(e, AgentStoppedSpeaking)]
    assert len(stops) == 2 and stops[0].interrupted and not stops[1].interrupted
    heard = stops[0].heard.split()
    assert 0 < len(heard) < 4 and respond(FIRST).startswith(stops[0].heard)

    # the few words heard go out of the history with the first fragment: one user message
    assert roles(session) == ["system", "user", "assistant"]
    user, answer = session.chat.messages[1:]
    assert user.content == WHOLE
    assert answer.content == stops[1].heard == respond(WHOLE) and not answer.interrupted
    assert llm.seen[-1] == WHOLE
    # the transcript still says what was played, when
    lines = [(u.role, u.text, u.interrupted) for u in session.transcript]
    assert lines == [
        ("user", FIRST, False),
        ("agent", stops[0].heard, True),
        ("user", SECOND, False),
        ("agent", respond(WHOLE), False),
    ]
    # one exchange per reply that played; the user message carries the last one's figures
    metrics = [e for e in session.events if isinstance(e, TurnMetrics)]
    assert [m.reply_id for m in metrics] == [s.reply_id for s in stops]
    assert user.metrics["end_of_turn_ms"] == metrics[1].end_of_turn_ms


@pytest.mark.parametrize(
    ("ttft_ms", "join_below_words"),
    [(200, JOIN_BELOW_WORDS), (2500, 0)],
    ids=["first-words-heard-by-default", "joining-off"],
)
def test_no_join_by_default_once_a_word_was_heard_nor_when_turned_off(
    hub: ModelHub, ttft_ms: float, join_below_words: int
) -> None:
    gate = GateOptions(join_below_words=join_below_words)
    session, llm = talk(FIXTURES / RECORDING, hub, ttft_ms=ttft_ms, gate=gate)
    assert [m.content for m in session.chat.items("user")] == [FIRST, SECOND]
    assert llm.seen[-1] == SECOND
    assert not any(isinstance(e, UserTurnJoined) for e in session.events)


def test_after_a_real_answer_the_next_words_are_a_message_of_their_own(hub: ModelHub, tmp_path: Path) -> None:
    # the second half comes 3 s later: the user has heard several words of the answer
    pcm = read_wav(RECORDING)
    split = int(3.3 * RATE)
    later = np.concatenate([pcm[:split], np.zeros(3 * RATE, np.int16), pcm[split:]])
    gate = GateOptions(join_below_words=4)  # joins a reply cut in its first words, not this one
    session, llm = talk(write_wav(tmp_path / "later.wav", later), hub, gate=gate)
    stops = [e for e in session.events if isinstance(e, AgentStoppedSpeaking)]
    assert stops[0].interrupted and len(stops[0].heard.split()) >= 4
    assert roles(session) == ["system", "user", "assistant", "user", "assistant"]
    first, cut, second, answer = session.chat.messages[1:]
    assert (first.content, second.content) == (FIRST, SECOND)
    assert cut.interrupted and cut.content == stops[0].heard
    assert answer.content == respond(SECOND) and llm.seen[-1] == SECOND
    assert not any(isinstance(e, UserTurnJoined) for e in session.events)


class TypedInput(Node):
    """Types ``text`` at ``at_s`` seconds: cuts the reply in flight, then sends the typed turn."""

    out = Output(EndOfTurn)

    def __init__(self, text: str, at_s: float) -> None:
        super().__init__(name="typed")
        self.text, self.at_s = text, at_s

    async def run(self) -> None:
        """Wait, interrupt the agent (as a chat input does), and send the message."""
        await self.clock.sleep_until(self.now() + round(self.at_s * 1e9))
        await self.cancel("typed")
        await self.out.send(
            EndOfTurn(text=self.text, kind=TurnKind.TYPED, created=self.now(), generation=self.generation)
        )


def test_a_typed_message_that_cuts_the_reply_joins_the_spoken_fragment(hub: ModelHub, tmp_path: Path) -> None:
    # the user says the first half, then types the rest while the answer is being prepared
    first_half = read_wav(RECORDING)[: int(3.3 * RATE)]
    path = write_wav(tmp_path / "first.wav", first_half)
    session, llm = talk(path, hub, ttft_ms=2500, typed=TypedInput(SECOND, at_s=4.0))
    assert roles(session) == ["system", "user", "assistant"]
    assert session.chat.messages[1].content == WHOLE
    assert session.chat.messages[2].content == respond(WHOLE) and llm.seen[-1] == WHOLE


# ---------------------------------------------------------------- the rule, without audio
def history(*items: tuple[str, str, bool]) -> ChatContext:
    chat = ChatContext("be brief")
    for role, content, interrupted in items:
        chat.add(role, content, interrupted=interrupted)
    return chat


def followed(fragments: Fragments, text: str, reply_id: str = "r1") -> None:
    """The node added ``text`` as a user message and began reply ``reply_id`` (generation 0)."""
    fragments.said((text,), text)
    fragments.replying(reply_id, 0)


def cut_before_playing(fragments: Fragments) -> None:
    fragments.cancelled(1)


def cut_after_three_words(fragments: Fragments) -> None:
    fragments.started("r1")
    fragments.heard("r1", "The answer is", interrupted=True)


def cut_after_four_words(fragments: Fragments) -> None:
    fragments.started("r1")
    fragments.heard("r1", "The answer is forty", interrupted=True)


def heard_to_its_end(fragments: Fragments) -> None:
    fragments.started("r1")
    fragments.heard("r1", "Yes", interrupted=False)  # a whole reply, however short


def cut_by_the_program(fragments: Fragments) -> None:
    fragments.interrupting()
    fragments.cancelled(1)


def another_reply_cut(fragments: Fragments) -> None:
    fragments.heard("other", "", interrupted=True)


@pytest.mark.parametrize(
    ("what", "left_open"),
    [
        (cut_before_playing, True),
        (cut_after_three_words, True),
        (cut_after_four_words, False),
        (heard_to_its_end, False),
        (cut_by_the_program, False),
        (another_reply_cut, False),
    ],
)
def test_only_a_reply_cut_below_the_threshold_leaves_the_message_open(
    what: Callable[[Fragments], None], left_open: bool
) -> None:
    fragments = Fragments(join_below_words=4)
    followed(fragments, "what is")
    what(fragments)
    assert fragments.open is left_open


def test_a_join_takes_out_the_open_message_and_the_few_words_heard() -> None:
    fragments = Fragments(join_below_words=4)
    chat = history(("user", "what is", False), ("assistant", "The answer", True))
    followed(fragments, "what is")
    fragments.heard("r1", "The answer", interrupted=True)
    joined = fragments.join(chat, "the time in Paris")
    assert joined is not None and joined.text == "what is the time in Paris"
    assert joined.parts == ("what is", "the time in Paris")
    assert [m.role for m in chat.messages] == ["system"]
    joined.undo(chat)  # a hook stopped the reply: the history is as it was
    assert [(m.role, m.content) for m in chat.messages] == [
        ("system", "be brief"),
        ("user", "what is"),
        ("assistant", "The answer"),
    ]


def test_no_join_when_tools_ran_or_the_program_spoke_in_between() -> None:
    fragments = Fragments()
    for tail in ("tool calls", "instructions", "edited"):
        chat = history(("user", "book a table for", False))
        if tail == "tool calls":
            chat.add_tool_calls([ToolCall("c1", "book", "{}")])
            chat.add_tool_output("c1", "book", "booked")
        elif tail == "instructions":
            chat.add("system", "Say hello.")
        else:
            chat.replace(chat.messages[-1], content="something else")
        followed(fragments, "book a table for")
        fragments.cancelled(1)
        assert fragments.open
        assert fragments.join(chat, "four people") is None
    assert Fragments().join(history(("user", "hi", False)), "there") is None  # nothing was cut
