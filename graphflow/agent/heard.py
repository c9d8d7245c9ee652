"""What the listener heard goes into the chat history once.

The text a model says before asking for tools is recorded with the calls (the model
must see what it said). The sink later reports everything heard of the reply; this
recorder splits that into the part said with each step's calls — cutting a step's
message down to the words heard if the user interrupted there — and the rest, which
becomes the assistant message.
"""

from __future__ import annotations

from graphflow.conversation.chat import ChatContext, ChatMessage
from graphflow.conversation.events import FunctionCalls


class HeardRecorder:
    """Keeps the assistant messages a reply wrote with its tool calls until the reply is heard."""

    def __init__(self, chat: ChatContext) -> None:
        self.chat = chat
        self._steps: dict[str, list[ChatMessage]] = {}

    def calls_made(self, event: FunctionCalls) -> None:
        """A step of reply ``event.reply_id`` said ``event.text`` and asked for ``event.calls``."""
        if not event.text.strip() or not event.calls:
            return
        first = event.calls[0].id
        for message in reversed(self.chat.messages):
            if message.tool_calls and message.tool_calls[0].id == first:
                self._steps.setdefault(event.reply_id, []).append(message)
                return

    def heard(
        self,
        reply_id: str,
        heard: str,
        *,
        interrupted: bool,
        at: int,
        metrics: dict[str, float] | None = None,
    ) -> None:
        """Reply ``reply_id`` stopped being heard; ``heard`` is all the listener heard of it.

        ``metrics`` go with the message that ends the reply.
        """
        rest = heard.split()
        for message in self._steps.pop(reply_id, []):
            said = message.content.split()
            if len(rest) >= len(said):
                rest = rest[len(said) :]
                continue
            self.chat.replace(message, content=" ".join(rest), interrupted=True)
            rest = []
        if rest:
            self.chat.add("assistant", " ".join(rest), interrupted=interrupted, at=at, metrics=metrics)
