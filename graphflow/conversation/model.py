"""What a language model is to the conversation: the history and the tools in, chunks out.

A model streams :class:`Chunk` objects (text, or a finished tool call) for a
:class:`~graphflow.conversation.chat.ChatContext`. What it may call comes with the
request as :class:`ModelTools`: the JSON schemas a remote model is sent, and the
:class:`ToolRule` list the offline responder follows. The model never runs a tool; the
conversation around it does.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, Protocol

import msgspec

from graphflow.conversation.chat import ChatContext
from graphflow.frames import ToolCall


class Chunk:
    """One piece of a streamed reply: text, or a finished tool call."""

    __slots__ = ("text", "tool_call")

    def __init__(self, text: str = "", tool_call: ToolCall | None = None) -> None:
        self.text = text
        self.tool_call = tool_call


class ToolRule(msgspec.Struct, frozen=True):
    """A rule of the offline responder: when the user's words match ``when``, call ``call``.

    ``when`` is a regular expression searched case-insensitively in the user's turn; its
    named groups fill the ``{placeholders}`` of ``arguments`` (each value is read as JSON
    when it can be, so ``"{people}"`` becomes the number 4). ``say`` is spoken before the
    call; ``then`` answers once the tool's result is in (``{output}`` is the result).
    """

    when: str
    call: str
    arguments: dict[str, str] = {}
    say: str = ""
    then: str = "{output}"


class ModelTools(msgspec.Struct, frozen=True):
    """The tools a model may ask for: JSON schemas (remote models) and rules (the offline responder)."""

    schemas: tuple[dict[str, Any], ...] = ()
    rules: tuple[ToolRule, ...] = ()


NO_TOOLS = ModelTools()
"""A request without tools."""


class ChatModel(Protocol):
    """Anything that streams a reply to a conversation (every language-model stage does)."""

    def stream(self, chat: ChatContext, tools: ModelTools = NO_TOOLS) -> AsyncGenerator[Chunk, None]:
        """Stream the reply to the conversation in ``chat``, offering ``tools``."""
        ...
