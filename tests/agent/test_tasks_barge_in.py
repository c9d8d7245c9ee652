"""A task in a voice session: a barge-in cuts only its speech, and the session's end abandons it.

The user's words are a recorded utterance said twice (the second time over the agent's
question); a scripted recogniser gives the words, so the test is about who owns what when
the speech is cut, not about recognition (test_tasks_voice hears real speech).
"""

from __future__ import annotations

from pathlib import Path

from graphflow.agent.options import FileIO, SessionOptions
from graphflow.agent.pipeline import StageOverrides
from graphflow.agent.replies import INTERRUPTED
from graphflow.agent.session import AgentSession
from graphflow.bench.standins import StandInSTT, StandInTTS
from graphflow.conversation.events import AgentStoppedSpeaking, FunctionOutput
from graphflow.models import ModelHub
from graphflow.runtime.clock import VirtualClock
from graphs.signup_agent import Signup, SignupAgent
from nodes.llm.local import LocalResponder, LocalResponderOptions

from ..fixtures import model_cache, said_twice


def test_a_barge_in_on_the_tasks_question_leaves_the_task_in_charge(tmp_path: Path) -> None:
    wav = said_twice("cmd_go_forward_ten_meters.wav", tmp_path / "twice.wav", gap_s=2.0)
    script = ["please sign me up", "john dot smith at example dot com"]
    llm = LocalResponder(LocalResponderOptions(ttft_ms=200, tokens_per_second=0), name="llm")
    overrides = StageOverrides(stt=StandInSTT(script, name="stt"), llm=llm, tts=StandInTTS(name="tts"))
    options = SessionOptions(files=FileIO(input=str(wav), tail_silence_ms=8000))
    signup = Signup()
    session = AgentSession(
        options, agent=SignupAgent(), hub=ModelHub(model_cache()), overrides=overrides, userdata=signup
    )
    clock = VirtualClock()
    clock.run(session.run(clock))

    spoken = [e for e in session.events if isinstance(e, AgentStoppedSpeaking)]
    assert spoken[0].interrupted, spoken  # "Sure, let me take your details. What is your email..." was cut
    outputs = [(e.name, e.output) for e in session.events if isinstance(e, FunctionOutput)]
    # the cut reply's call was not answered INTERRUPTED: it awaited the task, which went on
    assert ("sign_up", INTERRUPTED) not in outputs
    assert ("update_email_address", "I have john dot smith at example dot com. Is that correct?") in outputs
    assert any("john dot smith" in e.heard for e in spoken[1:]), spoken
    # the input ended before the user confirmed: the task was abandoned and the tool heard it
    # (after the run, so its output reaches the history, not the event stream)
    last = session.chat.messages[-1]
    assert (last.role, last.content) == ("tool", "No problem, I have not signed you up (the session ended).")
    assert signup.email == ""
    assert isinstance(session.agent, SignupAgent)
    assert session.replies.tasks.active == [] and session.replies.tasks.closed
    assert not any("john" in m.content for m in session.chat.messages)  # the task's exchange left
    calls = {c.id for m in session.chat.messages for c in m.tool_calls}
    answered = {m.tool_call_id for m in session.chat.messages if m.role == "tool"}
    assert calls == answered  # every call in the history has its output
