"""What was heard of a reply with tool steps goes into the history once, cut where the user cut it."""

from __future__ import annotations

from graphflow.agent.heard import HeardRecorder
from graphflow.conversation.chat import ChatContext
from graphflow.conversation.events import FunctionCalls
from graphflow.frames import ToolCall

CALL = ToolCall(id="c1", name="forecast", arguments="{}")


def step(chat: ChatContext, recorder: HeardRecorder, text: str) -> None:
    chat.add_tool_calls([CALL], text)
    chat.add_tool_output(CALL.id, CALL.name, "sunny")
    recorder.calls_made(FunctionCalls(at=0, reply_id="r1", calls=(CALL,), text=text))


def test_the_words_said_with_the_calls_are_not_written_again() -> None:
    chat = ChatContext("weather desk")
    recorder = HeardRecorder(chat)
    step(chat, recorder, "Let me check that for you.")
    recorder.heard("r1", "Let me check that for you. It will be sunny.", interrupted=False, at=5)
    said = [(m.content, bool(m.tool_calls), m.interrupted) for m in chat.messages if m.role == "assistant"]
    assert said == [("Let me check that for you.", True, False), ("It will be sunny.", False, False)]


def test_an_interruption_before_the_calls_cuts_their_message_to_what_was_heard() -> None:
    chat = ChatContext("weather desk")
    recorder = HeardRecorder(chat)
    step(chat, recorder, "Let me check that for you.")
    recorder.heard("r1", "Let me check", interrupted=True, at=5)
    said = [(m.content, bool(m.tool_calls), m.interrupted) for m in chat.messages if m.role == "assistant"]
    assert said == [("Let me check", True, True)]
    assert [m.role for m in chat.messages] == ["system", "assistant", "tool"]  # the call keeps its output


def test_a_reply_without_tool_steps_is_one_message() -> None:
    chat = ChatContext()
    recorder = HeardRecorder(chat)
    recorder.heard("r2", "Hello there.", interrupted=False, at=1, metrics={"voice_to_voice_ms": 800.0})
    message = chat.last("assistant")
    assert message is not None and message.content == "Hello there."
    assert message.metrics == {"voice_to_voice_ms": 800.0}
