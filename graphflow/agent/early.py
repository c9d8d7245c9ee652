"""Preemptive generation: the model starts on a turn's final transcript before the turn is decided.

:class:`EarlyReply` runs the provider's stream on a copy of the conversation with the
tentative user message, in background work owned by the run, and keeps the
chunks. If the turn is then decided with the same words, the reply streams from what is
already there (the model's time to first token is hidden behind the turn decision); if
the words differ, or the user speaks again, it is dropped. Nothing it produced has left
the node before that, and tools only run once the turn is confirmed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable

from graphflow.conversation.chat import ChatContext
from graphflow.conversation.model import Chunk


class EarlyReply:
    """A reply generated ahead of its turn's decision, for the words ``text``."""

    def __init__(
        self, text: str, stream: Callable[[ChatContext], AsyncGenerator[Chunk, None]], chat: ChatContext
    ):
        self.text = text
        self.chunks: list[Chunk] = []
        self.done = False
        self.error: BaseException | None = None
        self._stream = stream
        self._chat = chat.copy()
        self._chat.add("user", text)
        self._changed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        """Collect the provider's chunks (errors are kept for whoever replays them)."""
        try:
            async for chunk in self._stream(self._chat):
                self.chunks.append(chunk)
                self._changed.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.error = exc
        finally:
            self.done = True
            self._changed.set()

    async def replay(self) -> AsyncGenerator[Chunk, None]:
        """The chunks generated so far, then the rest as they come; raises the provider's error.

        A replay stopped before the generation is done (the reply was cancelled: a barge-in)
        cancels the generation too, so its stream is closed instead of read on in the background.
        """
        sent = 0
        try:
            while True:
                while sent < len(self.chunks):
                    yield self.chunks[sent]
                    sent += 1
                if self.done:
                    if self.error is not None:
                        raise self.error
                    return
                self._changed.clear()
                await self._changed.wait()
        finally:
            if not self.done:
                self.cancel()

    def cancel(self) -> None:
        """Drop it (the turn went on, or the words changed)."""
        if self.task is not None and not self.task.done():
            self.task.cancel()
