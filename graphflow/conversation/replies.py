"""How a language-model stage hands a turn to whoever runs the conversation.

The stage (``nodes/llm``) receives ``EndOfTurn`` frames and owns its output port; what a
turn means — which words join the history, whether tools run, which model answers — is
decided by a :class:`Replies` object given to the stage when it is made. The stage
opens a :class:`ReplyChannel` per turn: the model it offers, and the way out for a
reply's text, playout marks and its end. :class:`PlainReplies` is the default: one model
call per turn, tool calls reported and not run. The agent layer brings the full one
(tools, handoffs, early replies, joined fragments).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Coroutine, Sequence
from typing import Any, Protocol

from graphflow.conversation.chat import ChatContext
from graphflow.conversation.model import NO_TOOLS, ChatModel, Chunk, ModelTools
from graphflow.errors import ProviderError
from graphflow.frames import EndOfTurn, ToolCall, TurnKind


class ReplyChannel(Protocol):
    """One turn as a language-model stage offers it: the model, and the way out for the reply."""

    @property
    def turn(self) -> EndOfTurn:
        """The turn being answered."""
        ...

    @property
    def model(self) -> ChatModel:
        """The stage's own model."""
        ...

    def reply_id(self) -> str:
        """The id of the reply to this turn (the one a program asked for, or a new one)."""
        ...

    async def text(self, reply_id: str, text: str, *, from_model: bool = True) -> None:
        """Send a piece of the reply's text (``from_model``: count the model's first token)."""
        ...

    async def mark(self, reply_id: str, mark: int) -> None:
        """Send playout mark ``mark`` after the text sent so far."""
        ...

    async def end(
        self, reply_id: str, text: str, tool_calls: Sequence[ToolCall] = (), error: str = ""
    ) -> None:
        """Close the reply (``text``: all of it; ``error``: why it stopped early)."""
        ...

    def publish(self, event: object) -> None:
        """Tell the run's observers about ``event`` (a tool call, a handoff, a message)."""
        ...

    def report(self, error: BaseException) -> None:
        """Report an error the reply survived (a provider failed)."""
        ...

    def now(self) -> int:
        """The run's clock time."""
        ...

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Start background work owned by the run (an early reply)."""
        ...


class Replies(Protocol):
    """Runs the conversation behind a language-model stage: what each turn means and how it is answered."""

    async def answer(self, channel: ReplyChannel) -> None:
        """Answer ``channel.turn`` through ``channel`` (return without a reply to skip it)."""
        ...

    def interrupted(self) -> None:
        """A barge-in cancelled the stage's work: drop whatever was prepared ahead."""
        ...


async def stream_step(
    channel: ReplyChannel, reply_id: str, parts: list[str], source: AsyncGenerator[Chunk, None]
) -> tuple[str, list[ToolCall]]:
    """One model call (``source``: its chunks): send its text on, collect the tool calls it asks for.

    ``parts`` collects the reply's text across steps; returns this step's text and calls.
    """
    calls: list[ToolCall] = []
    texts: list[str] = []
    async with contextlib.aclosing(source) as chunks:
        async for chunk in chunks:
            if chunk.tool_call is not None:
                calls.append(chunk.tool_call)
            if not chunk.text:
                continue
            parts.append(chunk.text)
            texts.append(chunk.text)
            await channel.text(reply_id, chunk.text)
    return "".join(texts), calls


class PlainReplies:
    """One model call per turn on a history of its own; tool calls are reported in ``ReplyEnd``, not run."""

    def __init__(self, chat: ChatContext | None = None, tools: ModelTools = NO_TOOLS) -> None:
        self.chat = chat or ChatContext()
        """The history the model answers from (the user's words are added to it)."""
        self.tools = tools

    async def answer(self, channel: ReplyChannel) -> None:
        """Speak ``SAY`` turns as they are; answer the others with one model call."""
        turn = channel.turn
        text = turn.text.strip()
        if turn.kind == TurnKind.PREEMPTIVE:
            return
        if turn.kind == TurnKind.SAY:
            reply_id = channel.reply_id()
            if text:
                await channel.text(reply_id, text, from_model=False)
            await channel.end(reply_id, text)
            return
        if turn.kind == TurnKind.GENERATE:
            if text:
                self.chat.add("system", text, at=turn.created)
        elif text:
            self.chat.add("user", text, at=turn.created)
        else:
            return
        reply_id = channel.reply_id()
        parts: list[str] = []
        calls: list[ToolCall] = []
        error = ""
        try:
            _, calls = await stream_step(
                channel, reply_id, parts, channel.model.stream(self.chat, self.tools)
            )
        except ProviderError as exc:
            channel.report(exc)
            error = str(exc)
        await channel.end(reply_id, "".join(parts), calls, error)

    def interrupted(self) -> None:
        """Nothing is prepared ahead."""
