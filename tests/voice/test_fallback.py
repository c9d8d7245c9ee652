"""Provider fallback for the LLM, TTS and STT stages: switching, timeouts, recovery, exhaustion."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import msgspec
import numpy as np
import pytest

from graphflow import ConfigError, Frame, Graph, NodeError, RunOptions, VirtualClock
from graphflow.agent.options import FileIO, SessionOptions
from graphflow.agent.pipeline import StageOverrides
from graphflow.agent.session import AgentSession
from graphflow.bench.standins import StandInSTT, StandInSTTOptions, StandInTTS, StandInTTSOptions
from graphflow.conversation.chat import ChatContext
from graphflow.conversation.events import AgentStoppedSpeaking, SessionError, SessionEvent
from graphflow.conversation.model import NO_TOOLS, Chunk, ModelTools
from graphflow.conversation.replies import PlainReplies
from graphflow.errors import ProviderError
from graphflow.frames import (
    AudioFormat,
    AudioFrame,
    EndOfTurn,
    ReplyDelta,
    ReplyEnd,
    SampleFormat,
    SpeechAudio,
    SpeechStarted,
    SpeechStopped,
    Transcript,
    VADEvent,
)
from graphflow.models import ModelHub
from graphflow.runtime.events import NodeEvent, NodeIssue, RunEvent
from graphflow.timebase import MS, SECOND
from nodes.fallback.availability import (
    UNAVAILABLE,
    FallbackOptions,
    ProviderAvailability,
    ProviderPool,
)
from nodes.fallback.llm import FallbackLLM
from nodes.fallback.stt import FallbackSTT, FallbackSTTOptions
from nodes.fallback.tts import FallbackTTS
from nodes.llm.base import LLMNode
from nodes.llm.local import LocalResponder, LocalResponderOptions, respond
from nodes.memory import FrameSink, FrameSource, FrameSourceOptions
from nodes.stt.segmenter import Recognition, SegmentedSTT
from nodes.tts.espeak import ESPEAK_RATE, EspeakEngine, EspeakTTS

from ..engine.helpers import run_virtual
from ..fixtures import FIXTURES, model_cache

# --------------------------------------------------------------------- providers under test


def outage(node: LLMNode | SegmentedSTT, until_s: float) -> None:
    """Raise a retryable error while the run clock is before ``until_s``."""
    if node.now() < until_s * SECOND:
        raise ProviderError(f"{node.name} is down", retryable=True)


class DownLLM(LocalResponder):
    """The local responder, failing before its first chunk until ``until_s``."""

    def __init__(self, until_s: float = 1e9, *, name: str = "down") -> None:
        super().__init__(LocalResponderOptions(ttft_ms=50), name=name)
        self.until_s = until_s
        self.calls = 0
        self.chats: list[ChatContext] = []
        """The histories it was asked to answer (the fallback node passes the request's on)."""
        self.opened = self.closed = 0

    async def setup(self) -> None:
        self.opened += 1

    async def close(self) -> None:
        self.closed += 1

    async def stream(self, chat: ChatContext, tools: ModelTools = NO_TOOLS) -> AsyncGenerator[Chunk, None]:
        self.calls += 1
        self.chats.append(chat)
        outage(self, self.until_s)
        async for chunk in super().stream(chat, tools):
            yield chunk


class HangingLLM(LLMNode):
    """Never sends its first chunk."""

    async def stream(self, chat: ChatContext, tools: ModelTools = NO_TOOLS) -> AsyncGenerator[Chunk, None]:
        await asyncio.sleep(3600)
        yield Chunk("too late")


class BreaksMidReply(LLMNode):
    """Sends two words, then loses the connection."""

    async def stream(self, chat: ChatContext, tools: ModelTools = NO_TOOLS) -> AsyncGenerator[Chunk, None]:
        yield Chunk("Hello ")
        yield Chunk("there ")
        raise ProviderError("the connection broke in the middle of the reply", retryable=True)


class DownTTS(StandInTTS):
    """A 24 kHz TTS that is down."""

    def __init__(self) -> None:
        super().__init__(StandInTTSOptions(rate=24000), name="down")

    async def asynthesize(self, text: str) -> np.ndarray:
        raise ProviderError("down is down", retryable=True)


class HangingTTS(StandInTTS):
    """Never returns any audio."""

    async def asynthesize(self, text: str) -> np.ndarray:
        await asyncio.sleep(3600)
        return np.zeros(0, np.int16)


class DownSTT(SegmentedSTT):
    """Fails every recognition until ``until_s``, then hears "back again"."""

    def __init__(self, until_s: float = 1e9) -> None:
        super().__init__(name="down")
        self.until_s = until_s

    async def recognize(self, pcm: np.ndarray) -> Recognition:
        outage(self, self.until_s)
        return Recognition(text="back again")


# ------------------------------------------------------------------------------ helpers


class Outcome:
    """What a run gave: the frames out, the run's node issues and the fallback node's events."""

    def __init__(self) -> None:
        self.sink = FrameSink(name="sink")
        self.issues: list[NodeIssue] = []
        self.events: list[SessionEvent] = []

    def on_event(self, event: RunEvent) -> None:
        if isinstance(event, NodeIssue):
            self.issues.append(event)
        elif isinstance(event, NodeEvent) and isinstance(event.payload, SessionEvent):
            self.events.append(event.payload)  # what the fallback node published

    @property
    def codes(self) -> list[str]:
        return [i.code for i in self.issues]

    @property
    def changes(self) -> list[tuple[float, str, bool]]:
        """(time in s, provider, available) of each availability change."""
        return [
            (e.at / SECOND, e.provider, e.available)
            for e in self.events
            if isinstance(e, ProviderAvailability)
        ]


def turns(*at: tuple[float, str]) -> FrameSource:
    frames = [EndOfTurn(text=text, pts=round(s * SECOND), speech_end=round(s * SECOND)) for s, text in at]
    return FrameSource(frames, FrameSourceOptions(paced=True), name="src")


def run(source: FrameSource, node: FallbackLLM | FallbackTTS | FallbackSTT) -> Outcome:
    out, clock = Outcome(), VirtualClock()
    plan = Graph().chain(source, node, out.sink).compile()
    run_virtual(plan.run(RunOptions(clock=clock, observers=(out,))), clock)
    return out


def ends(sink: FrameSink) -> list[ReplyEnd]:
    return [f for f in sink.frames if isinstance(f, ReplyEnd)]


def first_at(sink: FrameSink, kind: type[Frame]) -> int:
    return next(t for f, t in zip(sink.frames, sink.arrivals, strict=True) if isinstance(f, kind))


def fast() -> LocalResponder:
    return LocalResponder(LocalResponderOptions(ttft_ms=200, tokens_per_second=0), name="local")


# ------------------------------------------------------------------------------ LLM


def test_a_retryable_error_switches_to_the_next_provider_and_marks_the_first_down() -> None:
    down, chat = DownLLM(), ChatContext("be brief")
    llm = FallbackLLM([down, fast()], name="llm", replies=PlainReplies(chat))
    out = run(turns((0, "hello there")), llm)
    [end] = ends(out.sink)
    assert end.error == "" and end.text == respond("hello there")
    assert first_at(out.sink, ReplyDelta) == 200 * MS  # the failure cost no time
    assert out.changes == [(0.0, "down", False)]
    assert msgspec.json.decode(msgspec.json.encode(out.events[0]), type=ProviderAvailability) == out.events[0]
    assert [(i.node, i.code, i.retryable) for i in out.issues] == [("llm", UNAVAILABLE, True)]
    assert "down is down" in out.issues[0].message
    assert not llm.pool.statuses[0].available and llm.pool.statuses[0].last_error == "down is down"
    assert (down.opened, down.closed) == (1, 1)  # set up and closed with the fallback node
    assert down._rt is None  # detached from the run again
    assert down.chats == [chat] and [m.role for m in chat.messages] == ["system", "user"]


def test_a_provider_that_does_not_start_in_time_is_left_for_the_next() -> None:
    llm = FallbackLLM([HangingLLM(name="hangs"), fast()], FallbackOptions(attempt_timeout_s=1.5))
    out = run(turns((0, "what is the time?")), llm)
    [end] = ends(out.sink)
    assert end.error == "" and end.text == respond("what is the time?")
    assert first_at(out.sink, ReplyDelta) == 1500 * MS + 200 * MS
    [issue] = out.issues
    assert issue.code == UNAVAILABLE and "'hangs' sent no reply within 1.5 s" in issue.message


def test_an_unavailable_provider_is_skipped_then_tried_again_and_announced_back() -> None:
    down = DownLLM(until_s=20)
    options = FallbackOptions(retry_interval_s=30)
    llm = FallbackLLM([down, fast()], options, name="llm")
    out = run(turns((0, "hi"), (10, "thanks"), (40, "my name is ada")), llm)
    assert [e.error for e in ends(out.sink)] == ["", "", ""]
    assert [e.text for e in ends(out.sink)] == [respond("hi"), respond("thanks"), respond("my name is ada")]
    assert down.calls == 2  # at 0 s (fails), skipped at 10 s, asked again at 40 s (answers)
    assert out.changes == [(0.0, "down", False), (40.05, "down", True)]
    back = [e for e in out.events if isinstance(e, ProviderAvailability)][-1]
    assert back.node == "llm" and back.reason == "answered again"
    assert llm.pool.statuses[0].available


def test_two_retryable_failures_are_needed_when_configured() -> None:
    down = DownLLM()
    llm = FallbackLLM([down, fast()], FallbackOptions(max_retryable_failures=2), name="llm")
    out = run(turns((0, "hi"), (5, "hi"), (10, "hi")), llm)
    assert [e.error for e in ends(out.sink)] == ["", "", ""]
    assert down.calls == 2 and out.changes == [(5.0, "down", False)]


def test_when_every_provider_fails_the_reply_ends_with_the_error_and_the_next_turn_is_answered() -> None:
    first, second = DownLLM(until_s=5, name="first"), DownLLM(until_s=5, name="second")
    llm = FallbackLLM([first, second], FallbackOptions(retry_interval_s=10), name="llm")
    out = run(turns((0, "hello"), (3, "hello"), (12, "thanks")), llm)
    failed, skipped, answered = ends(out.sink)
    assert "every provider of 'llm' failed" in failed.error
    assert "first: first is down" in failed.error and "second: second is down" in failed.error
    assert failed.text == skipped.text == ""
    assert {f.reply_id for f in out.sink.frames if isinstance(f, ReplyDelta)} == {answered.reply_id}
    assert "no provider of 'llm' is available" in skipped.error and "again in 7.0 s" in skipped.error
    assert answered.error == "" and answered.text == respond("thanks")
    assert first.calls == 2 and second.calls == 1  # the first answered at 12 s
    assert out.codes == [UNAVAILABLE, UNAVAILABLE, "provider.failed", "provider.failed"]


def test_a_failure_after_the_first_chunk_ends_the_reply_without_repeating_words() -> None:
    backup = DownLLM(until_s=0, name="backup")
    llm = FallbackLLM([BreaksMidReply(name="breaks"), backup], name="llm")
    out = run(turns((0, "hello")), llm)
    [end] = ends(out.sink)
    assert end.text == "Hello there " and "broke in the middle" in end.error
    assert backup.calls == 0  # the backup was not asked to say it again
    assert out.changes == [(0.0, "breaks", False)]
    assert out.codes == [UNAVAILABLE, "provider.failed"]


# ------------------------------------------------------------------------------ TTS


def spoken(text: str) -> FrameSource:
    pieces = [text[i : i + 6] for i in range(0, len(text), 6)]
    frames: list[Frame] = [ReplyDelta(text=p, reply_id="r1", pts=k * 10 * MS) for k, p in enumerate(pieces)]
    frames.append(ReplyEnd(reply_id="r1", text=text, pts=len(pieces) * 10 * MS))
    source = FrameSource(frames, FrameSourceOptions(paced=True), name="src")
    source.out.frame_type = ReplyDelta | ReplyEnd
    return source


SENTENCE_LIST = ["Hello there.", "The weather is lovely today."]
SENTENCES = " ".join(SENTENCE_LIST)


def test_tts_falls_back_and_keeps_the_first_providers_rate() -> None:
    espeak = EspeakTTS(name="espeak")
    tts = FallbackTTS([DownTTS(), espeak], name="tts")
    assert tts.out.format == AudioFormat(24000, 1, SampleFormat.S16)
    out = run(spoken(SENTENCES), tts)
    audio = [f for f in out.sink.frames if isinstance(f, SpeechAudio)]
    assert audio and {f.rate for f in audio} == {24000} and audio[-1].last
    assert [f.text for f in audio if f.offset == 0] == SENTENCE_LIST
    assert tts.resampled == 2 and tts.failures == 0
    engine = EspeakEngine.shared()  # as long as eSpeak's own audio (which varies by a few samples)
    own = sum(len(engine.synthesize(s)) for s in SENTENCE_LIST) * 24000 / ESPEAK_RATE
    got = sum(f.samples_per_channel for f in audio)
    assert abs(got - own) < 0.01 * own
    assert out.changes == [(0.01, "down", False)]  # when the first sentence was complete
    assert out.codes == [UNAVAILABLE]


def test_tts_leaves_a_hanging_provider_after_the_attempt_timeout() -> None:
    hangs = HangingTTS(StandInTTSOptions(rate=16000), name="hangs")
    backup = StandInTTS(StandInTTSOptions(rate=16000, first_byte_ms=100), name="backup")
    tts = FallbackTTS([hangs, backup], FallbackOptions(attempt_timeout_s=0.5), name="tts")
    out = run(spoken("Hello there."), tts)
    audio = [f for f in out.sink.frames if isinstance(f, SpeechAudio)]
    assert audio and {f.rate for f in audio} == {16000} and tts.resampled == 0
    # the sentence is complete at 10 ms, then the timeout, then the backup's delay
    assert first_at(out.sink, SpeechAudio) == 10 * MS + 500 * MS + 100 * MS
    assert out.codes == [UNAVAILABLE] and "within 0.5 s" in out.issues[0].message


def test_tts_skips_the_sentence_when_every_provider_fails_and_still_ends_the_reply() -> None:
    tts = FallbackTTS([DownTTS(), HangingTTS(StandInTTSOptions(rate=8000), name="hangs")], name="tts")
    out = run(spoken("Hello there."), tts)
    audio = [f for f in out.sink.frames if isinstance(f, SpeechAudio)]
    assert len(audio) == 1 and audio[0].last and audio[0].text == "" and audio[0].rate == 24000
    assert tts.failures == 1
    assert out.codes == [UNAVAILABLE, UNAVAILABLE, "provider.failed"]


# ------------------------------------------------------------------------------ STT


def speech() -> FrameSource:
    """6 s of 20 ms frames of a quiet tone; the VAD's events say speech at 0.5-1.5 s and 3.5-4.5 s."""
    tone = (np.sin(np.arange(320) / 4) * 2000).astype(np.int16)
    vad: dict[int, VADEvent] = {25: SpeechStarted(pts=500 * MS), 75: SpeechStopped(pts=1500 * MS)}
    vad |= {175: SpeechStarted(pts=3500 * MS), 225: SpeechStopped(pts=4500 * MS)}  # after frame n - 1
    frames: list[Frame] = []
    for n in range(300):
        frames.append(AudioFrame.from_pcm(tone, 16000, pts=n * 20 * MS))
        frames += [vad[n + 1]] if n + 1 in vad else []
    source = FrameSource(frames, FrameSourceOptions(paced=True), name="src")
    source.out.frame_type = AudioFrame | VADEvent
    source.out.format = AudioFormat(16000, 1, SampleFormat.S16)
    return source


def finals(sink: FrameSink) -> list[str]:
    return [f.text for f in sink.frames if isinstance(f, Transcript) and f.final]


STT_OPTIONS = FallbackSTTOptions(interim_interval_ms=0, fallback=FallbackOptions(retry_interval_s=2))


def test_stt_falls_back_then_returns_to_the_first_provider() -> None:
    backup = StandInSTT(["first words", "second words"], StandInSTTOptions(delay_ms=100), name="backup")
    stt = FallbackSTT([DownSTT(until_s=3), backup], STT_OPTIONS, name="stt")
    out = run(speech(), stt)
    assert finals(out.sink) == ["first words", "back again"]
    assert backup.index == 1
    assert [(p, a) for _, p, a in out.changes] == [("down", False), ("down", True)]
    assert out.codes == [UNAVAILABLE]


def test_observers_receive_the_availability_changes_of_the_stt_and_tts_fallbacks() -> None:
    seen: list[tuple[str, int, ProviderAvailability]] = []  # (publishing node, event time, payload)

    class Observer:
        def on_event(self, event: RunEvent) -> None:
            if isinstance(event, NodeEvent) and isinstance(event.payload, ProviderAvailability):
                seen.append((event.node, event.at, event.payload))

    backup = StandInSTT(["first words", "second words"], StandInSTTOptions(delay_ms=100), name="backup")
    stt = FallbackSTT([DownSTT(until_s=3), backup], STT_OPTIONS, name="stt")
    tts = FallbackTTS([DownTTS(), StandInTTS(name="backup")], name="tts")
    for source, node in ((speech(), stt), (spoken(SENTENCES), tts)):
        clock = VirtualClock()
        plan = Graph().chain(source, node, FrameSink(name="sink")).compile()
        run_virtual(plan.run(RunOptions(clock=clock, observers=(Observer(),))), clock)
    changes = [(node, change.node, change.provider, change.available) for node, _, change in seen]
    assert changes == [
        ("stt", "stt", "down", False),
        ("stt", "stt", "down", True),  # asked again after retry_interval_s, it answered
        ("tts", "tts", "down", False),
    ]
    assert all(at == change.at for _, at, change in seen)
    assert [change.reason for _, _, change in seen] == ["down is down", "answered again", "down is down"]


def test_stt_gives_an_empty_final_when_every_provider_fails_and_goes_on() -> None:
    stt = FallbackSTT([DownSTT(until_s=3)], STT_OPTIONS, name="stt")
    out = run(speech(), stt)
    assert finals(out.sink) == ["", "back again"]
    assert stt.failures == 1
    assert out.codes == [UNAVAILABLE, "provider.failed"]


# ------------------------------------------------------------------------------ setup and options


def test_bad_configurations_are_refused_and_providers_get_distinct_names() -> None:
    with pytest.raises(ConfigError, match="at least one provider"):
        FallbackLLM([])
    local = fast()
    with pytest.raises(ConfigError, match="same provider twice"):
        FallbackLLM([local, local])
    with pytest.raises(ConfigError, match="bad FallbackOptions"):
        FallbackLLM([local], FallbackOptions(max_retryable_failures=0))
    with pytest.raises(ConfigError):
        FallbackTTS([StandInTTS()], FallbackOptions(attempt_timeout_s=-1))
    pool = ProviderPool(fast(), [fast(), fast(), LocalResponder()], FallbackOptions(), lambda e: None)
    assert [s.name for s in pool.statuses] == ["local", "local_2", "local_responder"]


def test_a_provider_that_is_also_in_the_graph_is_refused() -> None:
    local = fast()
    llm = FallbackLLM([local], name="llm")
    g = Graph()
    g.chain(turns((0, "hi")), llm, FrameSink(name="sink"))
    g.chain(FrameSource([EndOfTurn(text="x")], name="src2"), local, FrameSink(name="sink2"))
    clock = VirtualClock()
    with pytest.raises(NodeError, match="part of a running graph"):
        run_virtual(g.compile().run(RunOptions(clock=clock)), clock)


def test_a_cancelled_reply_is_not_a_provider_failure() -> None:
    clock = VirtualClock()
    llm = FallbackLLM([HangingLLM(name="hangs"), fast()], name="llm")
    llm.now = clock.now
    events: list[object] = []
    llm.publish = events.append  # type: ignore[method-assign,assignment]  # no run: what it would publish

    async def barge_in() -> None:
        async def consume() -> None:
            async for _ in llm.stream(ChatContext("be brief")):
                pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run_virtual(barge_in(), clock)
    assert events == [] and all(s.available and s.failures == 0 for s in llm.pool.statuses)


# ------------------------------------------------------------------------------ in a session


def test_a_voice_session_keeps_talking_through_an_llm_outage() -> None:
    llm = FallbackLLM([DownLLM(name="remote"), fast()], name="llm")
    script = ["go forward ten meters"]
    overrides = StageOverrides(stt=StandInSTT(script, name="stt"), llm=llm, tts=StandInTTS(name="tts"))
    options = SessionOptions(
        files=FileIO(input=str(FIXTURES / "cmd_go_forward_ten_meters.wav"), tail_silence_ms=8000)
    )
    session = AgentSession(options, hub=ModelHub(model_cache()), overrides=overrides)
    clock = VirtualClock()
    clock.run(session.run(clock))
    changes = [(e.provider, e.available) for e in session.events if isinstance(e, ProviderAvailability)]
    assert changes == [("remote", False)]
    errors = [e for e in session.events if isinstance(e, SessionError)]
    # the fallback node is the model the graph's LLM stage streams from: it reports under the stage
    assert [(e.node, e.code, e.fatal) for e in errors] == [("llm.llm", UNAVAILABLE, False)]
    heard = [e.heard for e in session.events if isinstance(e, AgentStoppedSpeaking)]
    assert heard == [respond("go forward ten meters")]
