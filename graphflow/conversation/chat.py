"""The conversation as the language model sees it: messages, what was heard, tool calls, handoffs.

A :class:`ChatContext` is an ordered list of :class:`ChatMessage` items: the system
message (the agent's instructions), the user's words, the agent's words as heard, the
tool calls the model asked for with their outputs, and handoffs between agents. It
converts to and from the OpenAI chat-completions ``messages`` format. See
docs/chat-context.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import msgspec

from graphflow.errors import ConfigError
from graphflow.frames.agent import ToolCall

__all__ = ["ChatContext", "ChatMessage"]

_SYSTEM, _ASSISTANT, _TOOL, _HANDOFF = "system", "assistant", "tool", "handoff"


class ToolCallLike(Protocol):
    """Anything shaped like a tool call: an id, a tool name and the JSON text of the arguments."""

    @property
    def id(self) -> str:
        """The call id the model gave (echoed back with the result)."""
        ...

    @property
    def name(self) -> str:
        """The name of the tool the model asked for."""
        ...

    @property
    def arguments(self) -> str:
        """The arguments as the JSON text the model produced."""
        ...


class ChatMessage(msgspec.Struct, frozen=True, kw_only=True):
    """One item; an interrupted assistant message holds exactly the words that were heard.

    ``tool_calls`` are the calls an assistant message asked for; a ``"tool"`` message is
    one call's output (``tool_call_id``, the tool's ``name``, ``content``, ``is_error``);
    a ``"handoff"`` item records the conversation passing ``from_agent`` → ``to_agent``
    (``done`` is False when the handoff did not complete).
    """

    role: str
    content: str
    interrupted: bool = False
    at: int = 0
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str = ""
    name: str = ""
    is_error: bool = False
    from_agent: str = ""
    to_agent: str = ""
    done: bool = True
    metrics: dict[str, float] = {}
    """Latencies (ms) and counts of the turn or reply this message holds (never sent to a model)."""


class ChatContext:
    """An ordered list of chat items, convertible to and from the OpenAI chat format."""

    def __init__(self, instructions: str = "") -> None:
        self.messages: list[ChatMessage] = []
        if instructions:
            self.add(_SYSTEM, instructions)

    # ------------------------------------------------------------ adding items
    def add(
        self,
        role: str,
        content: str,
        *,
        interrupted: bool = False,
        at: int = 0,
        metrics: dict[str, float] | None = None,
    ) -> ChatMessage:
        """Append a message and return it."""
        message = ChatMessage(
            role=role, content=content, interrupted=interrupted, at=at, metrics=metrics or {}
        )
        return self._append(message)

    def add_tool_calls(self, calls: Sequence[ToolCallLike], text: str = "", *, at: int = 0) -> ChatMessage:
        """Append the assistant message that asked for ``calls`` (with the ``text`` said before them)."""
        made = tuple(c if isinstance(c, ToolCall) else ToolCall(c.id, c.name, c.arguments) for c in calls)
        return self._append(ChatMessage(role=_ASSISTANT, content=text, tool_calls=made, at=at))

    def add_tool_output(
        self, call_id: str, name: str, output: str, *, is_error: bool = False, at: int = 0
    ) -> ChatMessage:
        """Append the output of call ``call_id`` to tool ``name``."""
        message = ChatMessage(
            role=_TOOL, content=output, tool_call_id=call_id, name=name, is_error=is_error, at=at
        )
        return self._append(message)

    def add_handoff(self, from_agent: str, to_agent: str, *, done: bool = True, at: int = 0) -> ChatMessage:
        """Record that the conversation passed from one agent to another (``done=False``: it failed)."""
        message = ChatMessage(
            role=_HANDOFF,
            content=f"from {from_agent} to {to_agent}",
            from_agent=from_agent,
            to_agent=to_agent,
            done=done,
            at=at,
        )
        return self._append(message)

    def replace(self, message: ChatMessage, **changes: Any) -> ChatMessage:
        """Put a changed copy of ``message`` (this very item) in its place, and return it."""
        new = msgspec.structs.replace(message, **changes)
        for index, item in enumerate(self.messages):
            if item is message:
                self.messages[index] = new
                break
        return new

    def _append(self, message: ChatMessage) -> ChatMessage:
        self.messages.append(message)
        return message

    # ------------------------------------------------------------ reading
    def last(self, role: str) -> ChatMessage | None:
        """The most recent message from ``role``."""
        for message in reversed(self.messages):
            if message.role == role:
                return message
        return None

    def items(self, role: str | None = None) -> Iterator[ChatMessage]:
        """The items in order, only those of ``role`` when given."""
        return iter([m for m in self.messages if role is None or m.role == role])

    @property
    def instructions(self) -> str:
        """The content of the leading system message ("" when there is none)."""
        first = self.messages[0] if self.messages else None
        return first.content if first is not None and first.role == _SYSTEM else ""

    def pending_calls(self) -> list[ToolCall]:
        """The calls asked for that have no output yet, oldest first."""
        answered = {m.tool_call_id for m in self.messages if m.role == _TOOL}
        return [c for m in self.messages for c in m.tool_calls if c.id not in answered]

    def __repr__(self) -> str:
        return f"ChatContext({len(self.messages)} items)"

    # ------------------------------------------------------------ new contexts
    def copy(self) -> ChatContext:
        """An independent copy (the items are immutable; the lists are not shared)."""
        other = ChatContext()
        other.messages = list(self.messages)
        return other

    def with_instructions(self, text: str) -> ChatContext:
        """A copy whose leading system message says ``text`` (added if missing, removed if ``text`` is "")."""
        other = self.copy()
        first = other.messages[0] if other.messages else None
        if first is not None and first.role == _SYSTEM:
            if text:
                other.messages[0] = msgspec.structs.replace(first, content=text)
            else:
                del other.messages[0]
        elif text:
            other.messages.insert(0, ChatMessage(role=_SYSTEM, content=text))
        return other

    def truncate(self, max_items: int) -> ChatContext:
        """Keep the leading system message(s) and at most ``max_items`` of the latest items, in place.

        Tool calls and their outputs are kept or dropped together: an output is never kept
        without the assistant message that asked for it (so a little less than
        ``max_items`` may remain). Returns ``self``; ``copy().truncate(n)`` leaves the
        history alone.
        """
        if max_items < 0:
            raise ConfigError(f"truncate needs max_items >= 0, not {max_items}")
        head = 0
        while head < len(self.messages) and self.messages[head].role == _SYSTEM:
            head += 1
        start = max(head, len(self.messages) - max_items)
        moved = True
        while moved:  # drop outputs whose asking message was dropped, and what precedes them
            moved = False
            dropped = {c.id for m in self.messages[head:start] for c in m.tool_calls}
            for i in range(start, len(self.messages)):
                m = self.messages[i]
                if m.role == _TOOL and m.tool_call_id in dropped:
                    start, moved = i + 1, True
        self.messages[head:start] = []
        return self

    # ------------------------------------------------------------ OpenAI format
    def to_openai(self) -> list[dict[str, Any]]:
        """Items as OpenAI chat-completions ``messages``; handoff items are left out."""
        out: list[dict[str, Any]] = []
        for m in self.messages:
            if m.role == _HANDOFF:
                continue
            if m.role == _TOOL:
                out.append({"role": _TOOL, "tool_call_id": m.tool_call_id, "content": m.content})
            elif m.tool_calls:
                calls = [
                    {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                    for c in m.tool_calls
                ]
                # "" rather than null: some servers (llama.cpp) refuse a null content
                out.append({"role": m.role, "content": m.content, "tool_calls": calls})
            else:
                out.append({"role": m.role, "content": m.content})
        return out

    @classmethod
    def from_openai(cls, messages: Iterable[Mapping[str, Any]]) -> ChatContext:
        """A context from OpenAI chat-completions ``messages`` (tool outputs get their tool's name)."""
        chat = cls()
        names: dict[str, str] = {}
        for index, raw in enumerate(messages):
            if not isinstance(raw, Mapping) or not isinstance(raw.get("role"), str):
                raise ConfigError(f"chat message {index} is not an object with a role: {raw!r}"[:200])
            role = raw["role"]
            content = _text(raw.get("content"), index)
            if role == _TOOL:
                call_id = str(raw.get("tool_call_id") or "")
                name = str(raw.get("name") or names.get(call_id, ""))
                chat.add_tool_output(call_id, name, content)
            elif raw.get("tool_calls"):
                calls = [_call(c, index) for c in raw["tool_calls"]]
                names.update((c.id, c.name) for c in calls)
                chat._append(ChatMessage(role=role, content=content, tool_calls=tuple(calls)))
            else:
                chat.add(role, content)
        return chat


def _text(content: object, index: int) -> str:
    """A message's content as text: a string, null, or a list of ``{"type": "text"}`` parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    raise ConfigError(f"chat message {index} has content of type {type(content).__name__}")


def _call(raw: object, index: int) -> ToolCall:
    """One entry of an assistant message's ``tool_calls``."""
    function = raw.get("function") if isinstance(raw, dict) else None
    if not isinstance(raw, dict) or not isinstance(function, dict) or not function.get("name"):
        raise ConfigError(f"chat message {index} has a malformed tool call: {raw!r}"[:200])
    arguments = function.get("arguments", "")
    if not isinstance(arguments, str):  # some servers send the arguments as an object
        arguments = json.dumps(arguments)
    return ToolCall(str(raw.get("id") or ""), str(function["name"]), arguments)
