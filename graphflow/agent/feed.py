"""A session's events, kept and handed out: to callbacks as they happen and to async readers.

:class:`EventFeed` keeps every event in ``events``, calls each subscriber, and fills one
bounded queue per :meth:`EventFeed.stream` reader; a reader that falls more than
:data:`EVENT_BACKLOG` events behind loses the oldest, so a slow reader never holds the
session up.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from graphflow.conversation.events import SessionEvent

EVENT_BACKLOG = 1024
"""Events kept for a slow ``stream()`` reader before the oldest are dropped."""


class EventFeed:
    """Every event of a session, its subscribers and its stream readers."""

    def __init__(self) -> None:
        self.events: list[SessionEvent] = []
        """Every event so far, in order."""
        self._subscribers: list[Callable[[SessionEvent], None]] = []
        self._streams: list[asyncio.Queue[SessionEvent | None]] = []

    def subscribe(self, callback: Callable[[SessionEvent], None]) -> None:
        """Call ``callback`` with every event from now on."""
        self._subscribers.append(callback)

    async def stream(self) -> AsyncIterator[SessionEvent]:
        """Iterate over events as they happen (until :meth:`close`)."""
        queue: asyncio.Queue[SessionEvent | None] = asyncio.Queue(EVENT_BACKLOG)
        self._streams.append(queue)
        try:
            while (event := await queue.get()) is not None:
                yield event
        finally:
            self._streams.remove(queue)

    def emit(self, event: SessionEvent) -> None:
        """Record ``event`` and hand it to every subscriber and reader."""
        self.events.append(event)
        for callback in self._subscribers:
            callback(event)
        for stream in self._streams:
            _offer(stream, event)

    def close(self) -> None:
        """End every reader's stream."""
        for stream in self._streams:
            _offer(stream, None)


def _offer(queue: asyncio.Queue[SessionEvent | None], event: SessionEvent | None) -> None:
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(event)
