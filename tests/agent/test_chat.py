"""The chat context: its items, the OpenAI format both ways, truncation, copies, instructions."""

from __future__ import annotations

import pytest

from graphflow.conversation.chat import ChatContext, ChatMessage
from graphflow.errors import ConfigError
from graphflow.frames import ToolCall

WEATHER = ToolCall("call_1", "get_weather", '{"city": "Paris"}')
TIME = ToolCall("call_2", "get_time", '{"timezone": "Europe/Paris"}')


def conversation() -> ChatContext:
    """A conversation with two parallel calls, their outputs, a handoff and an interrupted reply."""
    chat = ChatContext("You are a helpful assistant.")
    chat.add("user", "What's the weather and the time in Paris?", at=1)
    chat.add_tool_calls([WEATHER, TIME], "Let me check.", at=2)
    chat.add_tool_output("call_1", "get_weather", '{"sky": "sunny", "temp_c": 21}', at=3)
    chat.add_tool_output("call_2", "get_time", "the clock service is down", is_error=True, at=4)
    chat.add_handoff("concierge", "weather_desk", at=5)
    chat.add("assistant", "It's sunny and", interrupted=True, at=6)
    chat.add("user", "Thanks!", at=7)
    return chat


def test_messages_keep_their_shape_and_the_old_api_works() -> None:
    chat = ChatContext("be brief")
    message = chat.add("user", "hello", at=5)
    assert message == ChatMessage(role="user", content="hello", at=5)
    assert chat.last("user") is message and chat.last("tool") is None
    assert [m.role for m in chat.messages] == ["system", "user"]
    with pytest.raises(TypeError):
        ChatMessage("user", "positional")  # type: ignore[call-arg]
    with pytest.raises(AttributeError):
        message.content = "changed"  # type: ignore[misc]
    assert ChatContext().messages == [] and ChatContext("").to_openai() == []


def test_tool_calls_outputs_and_handoffs_are_items() -> None:
    chat = conversation()
    ask = chat.messages[2]
    assert ask.role == "assistant" and ask.content == "Let me check." and ask.tool_calls == (WEATHER, TIME)
    weather, clock = chat.items("tool")
    assert (weather.tool_call_id, weather.name, weather.is_error, weather.at) == (
        "call_1",
        "get_weather",
        False,
        3,
    )
    assert (clock.tool_call_id, clock.name, clock.content, clock.is_error) == (
        "call_2",
        "get_time",
        "the clock service is down",
        True,
    )
    [handoff] = chat.items("handoff")
    assert handoff.content == "from concierge to weather_desk"
    assert (handoff.from_agent, handoff.to_agent, handoff.done) == ("concierge", "weather_desk", True)
    failed = chat.add_handoff("weather_desk", "billing", done=False)
    assert failed.done is False and chat.last("handoff") is failed
    assert len(list(chat.items())) == len(chat.messages) == 9
    assert chat.pending_calls() == []
    chat.add_tool_calls([ToolCall("call_3", "book", "{}")])
    assert [c.id for c in chat.pending_calls()] == ["call_3"]


def test_to_openai_is_the_chat_completions_format() -> None:
    assert conversation().to_openai() == [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What's the weather and the time in Paris?"},
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "get_time", "arguments": '{"timezone": "Europe/Paris"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"sky": "sunny", "temp_c": 21}'},
        {"role": "tool", "tool_call_id": "call_2", "content": "the clock service is down"},
        {"role": "assistant", "content": "It's sunny and"},  # what was heard; the handoff is left out
        {"role": "user", "content": "Thanks!"},
    ]


def test_a_call_without_text_has_empty_content_and_an_interrupted_reply_keeps_what_was_heard() -> None:
    chat = ChatContext()
    chat.add_tool_calls([WEATHER])
    chat.add("assistant", "", interrupted=True)
    ask, heard = chat.to_openai()
    assert ask["content"] == "" and ask["tool_calls"][0]["id"] == "call_1"  # llama.cpp refuses null
    assert heard == {"role": "assistant", "content": ""}


def test_openai_round_trip() -> None:
    chat = conversation()
    wire = chat.to_openai()
    back = ChatContext.from_openai(wire)
    assert back.to_openai() == wire
    # outputs get their tool's name back from the asking message; handoffs do not travel
    assert [(m.role, m.name) for m in back.items("tool")] == [("tool", "get_weather"), ("tool", "get_time")]
    assert back.messages[2].tool_calls == (WEATHER, TIME)
    assert list(back.items("handoff")) == []


def test_from_openai_reads_real_world_variants() -> None:
    chat = ChatContext.from_openai(
        [
            {"role": "user", "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "name": "f", "content": "ok"},
        ]
    )
    assert chat.messages[0].content == "Hi there"
    assert chat.messages[1].content == "" and chat.messages[1].tool_calls == (
        ToolCall("c1", "f", '{"a": 1}'),
    )
    assert chat.messages[2].name == "f"
    with pytest.raises(ConfigError, match="message 0"):
        ChatContext.from_openai([{"content": "no role"}])
    with pytest.raises(ConfigError, match="malformed tool call"):
        ChatContext.from_openai([{"role": "assistant", "tool_calls": [{"id": "x"}]}])


def test_truncate_keeps_the_system_message_and_the_latest_items() -> None:
    chat = ChatContext("sys")
    for i in range(10):
        chat.add("user" if i % 2 == 0 else "assistant", f"m{i}")
    assert chat.truncate(3) is chat
    assert [m.content for m in chat.messages] == ["sys", "m7", "m8", "m9"]
    assert [m.content for m in chat.copy().truncate(0).messages] == ["sys"]
    assert [m.content for m in chat.truncate(100).messages] == ["sys", "m7", "m8", "m9"]
    with pytest.raises(ConfigError):
        chat.truncate(-1)


@pytest.mark.parametrize("max_items", range(9))
def test_truncate_never_splits_calls_from_their_outputs(max_items: int) -> None:
    chat = conversation()
    chat.truncate(max_items)
    kept = chat.messages
    assert kept[0].role == "system" and len(kept) - 1 <= max_items
    asked = {c.id for m in kept for c in m.tool_calls}
    answered = {m.tool_call_id for m in kept if m.role == "tool"}
    assert answered <= asked  # no output without the message that asked for it
    assert asked <= answered  # no call message without all its outputs
    assert kept[1:] == conversation().messages[len(conversation().messages) - len(kept) + 1 :]


def test_truncate_drops_the_orphaned_outputs_when_the_cut_falls_inside_a_call() -> None:
    chat = conversation()
    # the 5 latest items start with the two outputs, whose call message falls outside: they go too
    assert [m.role for m in chat.copy().truncate(5).messages] == ["system", "handoff", "assistant", "user"]
    # the 6 latest start with the call message: it stays with both its outputs
    assert [m.role for m in chat.truncate(6).messages][:4] == ["system", "assistant", "tool", "tool"]


def test_copy_is_independent() -> None:
    chat = conversation()
    other = chat.copy()
    other.add("user", "only in the copy")
    other.messages[0] = ChatMessage(role="system", content="changed")
    chat.truncate(1)
    assert chat.messages[-1].content == "Thanks!" and len(chat.messages) == 2
    assert other.messages[0].content == "changed" and other.messages[-1].content == "only in the copy"
    assert len(other.messages) == len(conversation().messages) + 1


def test_with_instructions_replaces_only_the_system_message() -> None:
    chat = conversation()
    other = chat.with_instructions("You are the weather desk.")
    assert (
        other.instructions == "You are the weather desk."
        and chat.instructions == "You are a helpful assistant."
    )
    assert other.messages[1:] == chat.messages[1:] and other.messages is not chat.messages
    bare = ChatContext()
    bare.add("user", "hi")
    assert [m.role for m in bare.with_instructions("be kind").messages] == ["system", "user"]
    assert [m.role for m in chat.with_instructions("").messages][:2] == ["user", "assistant"]
    timed = ChatContext()
    timed.add("system", "old", at=9)
    assert timed.with_instructions("new").messages == [ChatMessage(role="system", content="new", at=9)]
