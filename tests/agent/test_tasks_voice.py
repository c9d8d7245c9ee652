"""The signup example by voice: the user's answers are audio, heard by the real local pipeline.

The user's side is **generated with text-to-speech** (the local Piper voice, resampled to
16 kHz), one utterance after another with room for the agent's answer between them; no
recording of these words exists among the fixtures. Silero VAD, Smart Turn and Whisper
base hear it on the virtual clock; the local responder follows the agent's and the tasks'
rules, and a stand-in voice answers. The email and phone tasks parse what Whisper wrote,
read it back, and the signup tool gets both confirmed results.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from graphflow.agent.options import FileIO, SessionOptions
from graphflow.agent.pipeline import StageOverrides
from graphflow.agent.session import AgentSession
from graphflow.bench.standins import StandInTTS
from graphflow.conversation.events import AgentHandoff, AgentStoppedSpeaking, FunctionOutput
from graphflow.models import ModelHub
from graphflow.runtime.clock import VirtualClock
from graphs.signup_agent import Signup, SignupAgent

from ..fixtures import model_cache
from .user_speech import user_audio


@pytest.mark.timeout(240)  # real Piper, Silero, Smart Turn and Whisper on 2 cores
def test_the_signup_task_group_by_voice_returns_the_spoken_email_and_phone(tmp_path: Path) -> None:
    hub = ModelHub(model_cache())
    clock = VirtualClock()
    wav = clock.run(user_audio(hub, tmp_path / "user.wav"))
    options = SessionOptions(files=FileIO(input=str(wav), tail_silence_ms=12000))
    signup = Signup()
    session = AgentSession(
        options,
        agent=SignupAgent(),
        hub=hub,
        overrides=StageOverrides(tts=StandInTTS(name="tts")),
        userdata=signup,
    )
    clock.run(session.run(clock))

    heard = [u.text for u in session.transcript if u.role == "user"]
    outputs = {e.name: e.output for e in session.events if isinstance(e, FunctionOutput)}
    context = f"the user was heard as {heard}; tools answered {outputs}"
    assert signup.email == "mary.jones@example.org", context  # corrected after going back
    assert signup.phone == "2025550198", context
    assert "update_email_address" in outputs and "update_phone_number" in outputs, context
    handoffs = [(e.from_agent, e.to_agent) for e in session.events if isinstance(e, AgentHandoff)]
    email, phone, agent = (
        ("SignupAgent", "GetEmailTask"),
        ("SignupAgent", "GetPhoneNumberTask"),
        "SignupAgent",
    )
    assert handoffs == [email, email[::-1], phone, phone[::-1]] * 2  # the user went back once
    said = [e.heard for e in session.events if isinstance(e, AgentStoppedSpeaking)]
    assert any("Is that correct?" in s and "john dot smith at example dot com" in s for s in said), said
    assert said and said[-1].startswith("You are signed up with mary dot jones at example dot org"), said
    assert isinstance(session.agent, SignupAgent) and session.agent.name == agent
    summary = "signup collected: email address: mary.jones@example.org; phone number: 2025550198."
    assert any(m.role == "system" and m.content == summary for m in session.chat.messages)
