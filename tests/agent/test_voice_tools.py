"""The same agent in a voice session: its tools run and its handoff happens while it talks."""

from __future__ import annotations

from graphflow.agent.options import FileIO, SessionOptions
from graphflow.agent.pipeline import StageOverrides
from graphflow.agent.session import AgentSession
from graphflow.bench.standins import StandInSTT, StandInTTS
from graphflow.conversation.events import (
    AgentHandoff,
    AgentStoppedSpeaking,
    FunctionCalls,
    FunctionOutput,
    ReplyMetrics,
)
from graphflow.models import ModelHub
from graphflow.runtime.clock import VirtualClock
from graphs.restaurant import PaymentAgent, Restaurant, RestaurantAgent
from nodes.llm.local import LocalResponder, LocalResponderOptions

from ..fixtures import FIXTURES, model_cache


def test_a_booking_by_voice_calls_the_tool_hands_over_and_speaks_the_answer() -> None:
    restaurant = Restaurant()
    script = ["Please book it for 2 people on friday at 19:30, my name is ada"]
    llm = LocalResponder(LocalResponderOptions(ttft_ms=200, tokens_per_second=0), name="llm")
    overrides = StageOverrides(stt=StandInSTT(script, name="stt"), llm=llm, tts=StandInTTS(name="tts"))
    options = SessionOptions(
        files=FileIO(input=str(FIXTURES / "cmd_go_forward_ten_meters.wav"), tail_silence_ms=8000)
    )
    session = AgentSession(
        options,
        hub=ModelHub(model_cache()),
        overrides=overrides,
        agent=RestaurantAgent(),
        userdata=restaurant,
    )
    clock = VirtualClock()
    clock.run(session.run(clock))
    kinds = [type(e) for e in session.events]
    assert FunctionCalls in kinds and FunctionOutput in kinds and AgentHandoff in kinds
    assert kinds.index(FunctionCalls) < kinds.index(FunctionOutput) < kinds.index(AgentHandoff)
    assert isinstance(session.agent, PaymentAgent)
    assert restaurant.bookings and restaurant.bookings[0].name == "Ada"
    spoken = [e for e in session.events if isinstance(e, AgentStoppedSpeaking)]
    assert spoken and "deposit" in spoken[-1].heard
    replies = [e for e in session.events if isinstance(e, ReplyMetrics)]
    assert replies and replies[0].tool_calls == 1 and replies[0].tokens > 0
    assert replies[0].tts_characters > 0
    assert replies[0].llm_ttft_ms is not None and replies[0].llm_ttft_ms >= 200
    said = session.chat.last("assistant")
    assert said is not None and "deposit" in said.content
    assert said.metrics["voice_to_voice_ms"] > 0 and said.metrics["llm_ttft_ms"] >= 200
    assert said.metrics["tokens"] > 0 and said.metrics["tool_calls"] == 1
    assert said.metrics["stopped_speaking_s"] > said.metrics["started_speaking_s"]
    user = session.chat.last("user")
    assert user is not None and user.metrics["end_of_turn_ms"] > 0 and "transcript_ms" in user.metrics
    assert "metrics" not in str(session.chat.to_openai())
