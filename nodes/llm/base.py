"""What every language-model stage shares: ``EndOfTurn`` in, reply deltas out, streaming from a provider.

A provider subclass implements :meth:`LLMNode.stream`. What a turn means — which words
join the history, whether tools run, which model answers — belongs to the
:class:`~graphflow.conversation.replies.Replies` object the stage is made with (by
default :class:`~graphflow.conversation.replies.PlainReplies`: one model call per turn;
an agent session brings its own). The stage owns its output: it names replies, stamps
their frames with the turn's generation and measures the time to the first token.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncGenerator, Coroutine, Sequence
from typing import Any

from graphflow.conversation.chat import ChatContext
from graphflow.conversation.model import NO_TOOLS, ChatModel, Chunk, ModelTools
from graphflow.conversation.replies import PlainReplies, Replies
from graphflow.frames import EndOfTurn, Frame, ReplyDelta, ReplyEnd, ToolCall
from graphflow.hosting import HostedNodes
from graphflow.node import Node
from graphflow.ports import Input, Output
from graphflow.runtime.cancellation import CancelInfo
from graphflow.runtime.stats import LatencyStats

__all__ = ["LLMNode", "TurnChannel"]


class LLMNode(Node):
    """Answers each user turn by streaming ``ReplyDelta`` frames and a closing ``ReplyEnd``.

    ``replies`` runs the conversation (see the module docstring); a provider failure is
    reported to the run's observers and closes the reply with ``error`` set.
    """

    inp = Input(EndOfTurn)
    out = Output[Frame](ReplyDelta | ReplyEnd)

    def __init__(
        self,
        options: object = None,
        *,
        name: str | None = None,
        replies: Replies | None = None,
        model: LLMNode | None = None,
    ) -> None:
        super().__init__(options, name=name)  # type: ignore[arg-type]
        self.replies: Replies = replies or PlainReplies()
        """What each turn means and how it is answered (given when the stage is made)."""
        self.model = model
        """Another language-model node this stage streams from (it sets it up and closes it)."""
        self._hosted = HostedNodes(self)
        self.first_token = LatencyStats(keep=10_000)
        """Time from a turn's arrival to the reply's first token, per reply (ns)."""
        self._ids = itertools.count(1)

    def stream(self, chat: ChatContext, tools: ModelTools = NO_TOOLS) -> AsyncGenerator[Chunk, None]:
        """Stream the reply to the conversation in ``chat``, offering ``tools`` (provider-specific)."""
        if self.model is None:
            raise NotImplementedError(
                f"{type(self).__name__} has no model: implement stream() or give model="
            )
        return self.model.stream(chat, tools)

    def latency(self) -> int:
        """The model's time to first token, when the stage streams from another node's model."""
        return self.model.latency() if self.model is not None else 0

    async def setup(self) -> None:
        """Set up the model this stage streams from, if it is another node."""
        if self.model is not None:
            await self._hosted.start(self.model)

    async def close(self) -> None:
        """Close the model this stage streams from, if it is another node."""
        error = await self._hosted.close()
        if error is not None:
            raise error

    async def on_frame(self, turn: EndOfTurn) -> None:
        """Hand ``turn`` to the stage's replies."""
        await self.replies.answer(TurnChannel(self, turn))

    def on_cancel(self, info: CancelInfo) -> object:
        """A barge-in: the replies drop what they prepared ahead."""
        self.replies.interrupted()
        return None

    def new_reply_id(self, turn: EndOfTurn) -> str:
        """The id of the reply to ``turn``: the one a program asked for, or a fresh one."""
        return turn.reply_id or f"r{turn.generation}-{next(self._ids)}"


class TurnChannel:
    """One turn at an :class:`LLMNode`: its model and its output, as the replies see them."""

    __slots__ = ("_node", "_started", "_texted", "turn")

    def __init__(self, node: LLMNode, turn: EndOfTurn) -> None:
        self._node = node
        self.turn = turn
        self._started = node.now()
        self._texted = False

    @property
    def model(self) -> ChatModel:
        """The stage's own model."""
        return self._node

    def reply_id(self) -> str:
        """The id of the reply to this turn."""
        return self._node.new_reply_id(self.turn)

    async def text(self, reply_id: str, text: str, *, from_model: bool = True) -> None:
        """Send a piece of the reply's text."""
        node, turn = self._node, self.turn
        now = node.now()
        if from_model and not self._texted:
            node.first_token.add(now - self._started)
        self._texted = True
        await node.out.send(
            ReplyDelta(text=text, reply_id=reply_id, pts=turn.pts, generation=turn.generation)
        )

    async def mark(self, reply_id: str, mark: int) -> None:
        """Send playout mark ``mark`` after the text sent so far."""
        node, turn = self._node, self.turn
        await node.out.send(
            ReplyDelta(
                text="",
                reply_id=reply_id,
                mark=mark,
                pts=turn.pts,
                generation=turn.generation,
            )
        )

    async def end(
        self, reply_id: str, text: str, tool_calls: Sequence[ToolCall] = (), error: str = ""
    ) -> None:
        """Close the reply."""
        node, turn = self._node, self.turn
        await node.out.send(
            ReplyEnd(
                reply_id=reply_id,
                text=text,
                tool_calls=tuple(tool_calls),
                error=error,
                pts=turn.pts,
                generation=turn.generation,
            )
        )

    def publish(self, event: object) -> None:
        """Tell the run's observers about ``event``."""
        self._node.publish(event)

    def report(self, error: BaseException) -> None:
        """Report an error the reply survived."""
        self._node.report(error)

    def now(self) -> int:
        """The run's clock time."""
        return self._node.now()

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Start background work owned by the run."""
        return self._node.spawn(work, name)
