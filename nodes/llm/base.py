"""What every language-model node shares: EndOfTurn in, streamed reply out, errors survived."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncGenerator

from graphflow.agent.chat import ChatContext
from graphflow.errors import ProviderError
from graphflow.frames import EndOfTurn, Frame, ReplyDelta, ReplyEnd, ToolCall
from graphflow.node import Node
from graphflow.ports import Input, Output
from graphflow.runtime.stats import LatencyStats


class Chunk:
    """One piece of a streamed reply: text, or a finished tool call."""

    __slots__ = ("text", "tool_call")

    def __init__(self, text: str = "", tool_call: ToolCall | None = None) -> None:
        self.text = text
        self.tool_call = tool_call


class LLMNode(Node):
    """Answers each user turn by streaming ``ReplyDelta`` frames and a closing ``ReplyEnd``.

    Providers implement :meth:`stream`. The user's words are added to the chat context
    the node shares with its session; a provider failure is reported to the run's
    observers and closes the reply with ``error`` set, and the session goes on.
    """

    inp = Input(EndOfTurn)
    out = Output[Frame](ReplyDelta | ReplyEnd)

    def __init__(
        self, options: object = None, *, name: str | None = None, chat: ChatContext | None = None
    ) -> None:
        super().__init__(options, name=name)  # type: ignore[arg-type]
        self.chat = chat or ChatContext()
        self._ids = itertools.count(1)
        self.first_token = LatencyStats(keep=10_000)

    def stream(self, chat: ChatContext) -> AsyncGenerator[Chunk, None]:
        """Stream the reply to the conversation in ``chat`` (provider-specific)."""
        raise NotImplementedError

    async def on_frame(self, turn: EndOfTurn) -> None:
        """Answer ``turn``."""
        if not turn.text.strip():
            return
        self.chat.add("user", turn.text, at=turn.created)
        reply_id = f"r{turn.generation}-{next(self._ids)}"
        parts: list[str] = []
        calls: list[ToolCall] = []
        started = self.now()
        error = ""
        try:
            async with contextlib.aclosing(self.stream(self.chat)) as chunks:
                async for chunk in chunks:
                    if chunk.tool_call is not None:
                        calls.append(chunk.tool_call)
                    if not chunk.text:
                        continue
                    if not parts:
                        self.first_token.add(self.now() - started)
                    parts.append(chunk.text)
                    delta = ReplyDelta(
                        text=chunk.text,
                        reply_id=reply_id,
                        pts=turn.pts,
                        created=self.now(),
                        generation=turn.generation,
                    )
                    await self.out.send(delta)
        except ProviderError as exc:
            self.report(exc)
            error = str(exc)
        await self.out.send(
            ReplyEnd(
                reply_id=reply_id,
                text="".join(parts),
                tool_calls=tuple(calls),
                error=error,
                pts=turn.pts,
                created=self.now(),
                generation=turn.generation,
            )
        )
