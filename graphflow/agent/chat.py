"""The conversation as the language model sees it: messages, with what was actually heard."""

from __future__ import annotations

from typing import Any

import msgspec


class ChatMessage(msgspec.Struct, frozen=True, kw_only=True):
    """One message; an interrupted assistant message holds exactly the words that were heard."""

    role: str
    content: str
    interrupted: bool = False
    at: int = 0


class ChatContext:
    """An ordered list of messages, convertible to the OpenAI chat format."""

    def __init__(self, instructions: str = "") -> None:
        self.messages: list[ChatMessage] = []
        if instructions:
            self.add("system", instructions)

    def add(self, role: str, content: str, *, interrupted: bool = False, at: int = 0) -> ChatMessage:
        """Append a message and return it."""
        message = ChatMessage(role=role, content=content, interrupted=interrupted, at=at)
        self.messages.append(message)
        return message

    def last(self, role: str) -> ChatMessage | None:
        """The most recent message from ``role``."""
        for message in reversed(self.messages):
            if message.role == role:
                return message
        return None

    def copy(self) -> ChatContext:
        """An independent copy."""
        other = ChatContext()
        other.messages = list(self.messages)
        return other

    def to_openai(self) -> list[dict[str, Any]]:
        """Messages as OpenAI chat-completions ``messages``."""
        return [{"role": m.role, "content": m.content} for m in self.messages]
