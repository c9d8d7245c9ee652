"""Engine-added latency subtracts measured model time: injected delays land where they belong.

Every run here is on the virtual clock, so the only time that passes is the time the test
injects: a stand-in answering late is model time (not the engine's), a stage waiting
outside its provider call is engine time.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable

import pytest

from graphflow.agent.pipeline import StageOverrides
from graphflow.bench.attribution import attribute
from graphflow.bench.latency import LatencyOptions, RunResult, run_latency
from graphflow.bench.recordings import resolve
from graphflow.bench.report import summarize
from graphflow.bench.standins import (
    ProviderCall,
    StandInLLM,
    StandInLLMOptions,
    StandInSTT,
    StandInSTTOptions,
    StandInTTS,
    StandInTTSOptions,
)
from graphflow.conversation.chat import ChatContext
from graphflow.conversation.events import TurnMetrics
from graphflow.conversation.model import NO_TOOLS, Chunk, ModelTools
from graphflow.frames import ReplyDelta, ReplyEnd
from graphflow.timebase import MS

from ..fixtures import FIXTURES, model_cache

Q = "q_ls_251-137823-0002_testing_routine.wav"


def options(**changes: object) -> LatencyOptions:
    base = {"recordings": tuple(resolve([Q], fixtures_dir=FIXTURES)), "virtual": True}
    return LatencyOptions(**{**base, **changes})  # type: ignore[arg-type]


class SlowLLM(StandInLLM):
    """Spends ``before_ms`` of its own (engine-side) time on each reply before the timed model call."""

    before_ms = 5

    async def stream(self, chat: ChatContext, tools: ModelTools = NO_TOOLS) -> AsyncGenerator[Chunk, None]:
        await self.clock.sleep_until(self.now() + self.before_ms * MS)
        async for chunk in super().stream(chat, tools):
            yield chunk


class SlowTTS(StandInTTS):
    """Spends ``before_ms`` of its own time on each new reply before it takes the text."""

    before_ms = 7

    def __init__(self, options: StandInTTSOptions | None = None, *, name: str | None = None) -> None:
        super().__init__(options, name=name)
        self.last = ""

    async def on_frame(self, frame: ReplyDelta | ReplyEnd) -> None:
        if frame.reply_id != self.last:
            self.last = frame.reply_id
            await self.clock.sleep_until(self.now() + self.before_ms * MS)
        await super().on_frame(frame)


def stages(late_ms: float = 0.0, slow: bool = False) -> Callable[[LatencyOptions, list[str]], StageOverrides]:
    def make(o: LatencyOptions, script: list[str]) -> StageOverrides:
        llm, tts = (SlowLLM, SlowTTS) if slow else (StandInLLM, StandInTTS)
        return StageOverrides(
            stt=StandInSTT(script, StandInSTTOptions(delay_ms=o.stt_delay_ms, late_ms=late_ms), name="stt"),
            llm=llm(StandInLLMOptions(ttft_ms=o.llm_ttft_ms, late_ms=late_ms), name="llm"),
            tts=tts(StandInTTSOptions(first_byte_ms=o.tts_first_byte_ms, late_ms=late_ms), name="tts"),
        )

    return make


def figures(results: list[RunResult]) -> dict[str, list[float]]:
    summary = summarize(results)
    return {k: summary[k]["samples"] for k in summary}


def test_on_time_stand_ins_leave_no_engine_time_either_way() -> None:
    model_cache()
    got = figures(run_latency(options(llm_ttft_ms=250, tts_first_byte_ms=60)))
    assert len(got["engine_added_ms"]) == 2  # the question and the interruption
    assert got["engine_added_ms"] == pytest.approx([0, 0], abs=1e-6)
    assert got["engine_added_configured_ms"] == pytest.approx([0, 0], abs=1e-6)
    assert got["model_ms"] == pytest.approx([310, 310])
    assert got["standin_overshoot_ms"] == pytest.approx([0, 0], abs=1e-6)


def test_a_late_stand_in_is_model_time_not_engine_time() -> None:
    # each stand-in answers 1.5 ms after it was due, as an overshooting timer would
    model_cache()
    got = figures(run_latency(options(), stages=stages(late_ms=1.5)))
    assert got["engine_added_ms"] == pytest.approx([0, 0], abs=1e-6)
    assert got["model_ms"] == pytest.approx([303, 303])
    assert got["standin_overshoot_ms"] == pytest.approx([3, 3])
    # the older figure counted the overshoot as the engine's
    assert got["engine_added_configured_ms"] == pytest.approx([3, 3])
    # the STT's lateness is part of the endpointing, before the turn decision
    assert got["transcript_ms"][0] - figures(run_latency(options()))["transcript_ms"][0] == pytest.approx(1.5)


def test_time_a_stage_spends_outside_its_provider_call_is_engine_time() -> None:
    model_cache()
    got = figures(run_latency(options(), stages=stages(slow=True)))
    added = SlowLLM.before_ms + SlowTTS.before_ms
    assert got["engine_added_ms"] == pytest.approx([added, added])
    assert got["model_ms"] == pytest.approx([300, 300])
    assert got["engine_added_configured_ms"] == pytest.approx([added, added])


def metrics(turn_ms: float, played_ms: float) -> TurnMetrics:
    """An exchange whose speech ended at 0, decided at ``turn_ms``, playing at ``played_ms``."""
    return TurnMetrics(
        at=round(played_ms * MS), reply_id="r", end_of_turn_ms=turn_ms, voice_to_voice_ms=played_ms
    )


def call(start_ms: float, end_ms: float, due_ms: float | None = None) -> ProviderCall:
    due = end_ms if due_ms is None else due_ms
    return ProviderCall(round(start_ms * MS), round(end_ms * MS), round(due * MS))


def test_attribution_takes_the_calls_on_the_reply_path() -> None:
    # an older reply's calls, then this reply: LLM 501..701 (due 700), TTS 702..802.5 (due 802)
    llm = [call(10, 210), call(501, 701, 700)]
    tts = [call(215, 315), call(702, 802.5, 802)]
    split = attribute(metrics(500, 803), llm, tts)
    assert split is not None
    assert split.model_ms == pytest.approx(200 + 100.5)
    assert split.engine_added_ms == pytest.approx(303 - 300.5)
    assert split.overshoot_ms == pytest.approx(1.5)


def test_attribution_clips_a_reply_generated_before_the_turn() -> None:
    # preemptive generation: the LLM answered at 480, before the turn was decided at 500
    split = attribute(metrics(500, 612), [call(280, 480)], [call(505, 605)])
    assert split is not None
    assert split.model_ms == pytest.approx(100)
    assert split.engine_added_ms == pytest.approx(12)


def test_attribution_needs_the_call_that_made_the_first_audio() -> None:
    assert attribute(metrics(500, 612), [call(501, 601)], []) is None
    assert attribute(metrics(500, 612), [call(501, 601)], [call(100, 200)]) is None
    assert attribute(TurnMetrics(at=0, reply_id="r"), [], []) is None
