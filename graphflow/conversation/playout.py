"""What the agent is saying right now: shared by the sink that plays it and the gate that listens.

A sink reports through :class:`Playout` when a reply starts and stops being heard (and
how much of it was heard), and publishes the :class:`PlayoutEvent` it gets back to the
run's observers (the session follows the conversation there); stages that share the
playout may also listen to it directly; the interruption gate reads ``speaking`` and may ``pause()``
the sink at once when the user starts talking over the agent, then ``resume()`` it if
that was a false interruption. A sink also reports playout marks once the frame that
carries one has been played (``reached``), so a tool can wait until the words before
the mark were heard (``wait_mark``). :class:`Timeline` maps clock time to the
conversation's media time, so sinks can place the agent's audio beside the user's.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

import msgspec

from graphflow.timebase import to_seconds

ENDED_KEPT = 64
"""Replies remembered as over, so a late wait for one of them returns at once."""


class PlayoutEvent(msgspec.Struct, frozen=True):
    """A reply ``"started"`` or ``"finished"`` being heard, or playout was ``"paused"``/``"resumed"``."""

    kind: str
    reply_id: str
    generation: int
    at: int
    media_at: int
    heard: str = ""
    interrupted: bool = False


class Timeline:
    """The clock time at which the conversation's media time 0 happened."""

    def __init__(self) -> None:
        self.base: int | None = None

    def start(self, clock_now: int) -> None:
        """Media time 0 is ``clock_now`` (set once, by the source)."""
        if self.base is None:
            self.base = clock_now

    def media(self, clock_time: int) -> int:
        """Media time of ``clock_time`` (0 before the source started)."""
        return clock_time - self.base if self.base is not None else 0


class Playout:
    """Playout state of one session: speaking or not, paused or not, and the stages that listen."""

    def __init__(self, timeline: Timeline | None = None) -> None:
        self.timeline = timeline or Timeline()
        self.speaking = False
        self.interruptible = True
        """False while a tool forbids interruptions (the gate then lets the user talk over the agent)."""
        self.reply_id = ""
        self.generation = 0
        self.paused = False
        self.listeners: list[Callable[[PlayoutEvent], None]] = []
        self._waiter: asyncio.Future[bool] | None = None
        self._resumed: asyncio.Event | None = None
        self._marks: dict[str, list[tuple[int, asyncio.Future[None]]]] = {}
        self._reached: dict[str, int] = {}
        self._ended: deque[str] = deque(maxlen=ENDED_KEPT)

    # ------------------------------------------------------------ sink side
    def started(self, reply_id: str, generation: int, at: int) -> PlayoutEvent:
        """The first sample of ``reply_id`` is being played at clock time ``at``."""
        self.speaking, self.reply_id, self.generation = True, reply_id, generation
        return self._tell(PlayoutEvent("started", reply_id, generation, at, self.timeline.media(at)))

    def finished(
        self, reply_id: str, generation: int, at: int, heard: str, interrupted: bool
    ) -> PlayoutEvent:
        """``reply_id`` stopped being heard at ``at``; ``heard`` is what was played of it."""
        if reply_id == self.reply_id:
            self.speaking = False
            self.interruptible = True  # a tool's "no interruptions" lasts one reply
        self.forget(reply_id)
        return self._tell(
            PlayoutEvent("finished", reply_id, generation, at, self.timeline.media(at), heard, interrupted)
        )

    def reached(self, reply_id: str, mark: int) -> None:
        """The sink has played everything of ``reply_id`` up to playout mark ``mark``."""
        self._reached[reply_id] = max(mark, self._reached.get(reply_id, 0))
        waiting = self._marks.get(reply_id)
        if not waiting:
            return
        for upto, waiter in waiting:
            if upto <= mark:
                _resolve(waiter, None)
        waiting[:] = [(upto, w) for upto, w in waiting if upto > mark]

    async def wait_mark(self, reply_id: str, mark: int) -> None:
        """Return once ``reply_id`` was played up to ``mark``, or stopped being heard (finished, cut)."""
        if self._reached.get(reply_id, 0) >= mark or reply_id in self._ended:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._marks.setdefault(reply_id, []).append((mark, waiter))
        try:
            await waiter
        finally:
            waiting = self._marks.get(reply_id)
            if waiting is not None:
                waiting[:] = [(upto, w) for upto, w in waiting if w is not waiter]
                if not waiting:
                    del self._marks[reply_id]

    def forget(self, reply_id: str) -> None:
        """``reply_id`` is over (finished, or cancelled before any audio): release its waiters."""
        self._ended.append(reply_id)
        self._reached.pop(reply_id, None)
        for _, waiter in self._marks.pop(reply_id, []):
            _resolve(waiter, None)

    async def play_until(self, t: int) -> bool:
        """Wait until clock time ``t`` while audio plays; False if paused before then."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiter = waiter
        handle = loop.call_at(to_seconds(t), _resolve, waiter, True)
        try:
            return await waiter
        finally:
            handle.cancel()
            self._waiter = None

    async def wait_unpaused(self) -> None:
        """Return once playout is not paused."""
        while self.paused:
            if self._resumed is None:
                self._resumed = asyncio.Event()
            await self._resumed.wait()

    # ------------------------------------------------------------ gate side
    def pause(self, at: int = 0) -> PlayoutEvent | None:
        """Stop playing now (the sink keeps the rest of its audio); None if it was paused already."""
        if self.paused:
            return None
        self.paused = True
        if self._waiter is not None:
            _resolve(self._waiter, False)
        return self._tell(PlayoutEvent("paused", self.reply_id, self.generation, at, self.timeline.media(at)))

    def resume(self, at: int = 0) -> PlayoutEvent | None:
        """Carry on playing where the sink stopped; None if it was not paused."""
        if not self.paused:
            return None
        self.paused = False
        if self._resumed is not None:
            self._resumed.set()
            self._resumed = None
        return self._tell(
            PlayoutEvent("resumed", self.reply_id, self.generation, at, self.timeline.media(at))
        )

    def _tell(self, event: PlayoutEvent) -> PlayoutEvent:
        for listener in self.listeners:
            listener(event)
        return event


def _resolve(waiter: asyncio.Future[Any], value: object) -> None:
    if not waiter.done():
        waiter.set_result(value)
