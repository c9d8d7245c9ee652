"""Speech handles: one reply of the agent, from the moment it is asked for until it has been heard.

``session.say()`` and ``session.generate_reply()`` return a :class:`SpeechHandle`, and
a tool finds the handle of the reply that called it in ``RunContext.speech``. A handle
says whether its reply was interrupted, lets a program wait until it has been heard
(``await handle`` or ``await handle.wait_for_playout()``) and interrupt it. A reply
that may not be interrupted (``allow_interruptions=False``) plays to its end even when
the user talks over it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from typing import Any


class SpeechHandle:
    """One reply of the agent: its id, whether it is done or was interrupted, and a way to wait for it."""

    __slots__ = ("_done", "_interrupt", "allow_interruptions", "heard", "id", "interrupted", "started")

    def __init__(
        self,
        id: str,
        *,
        allow_interruptions: bool = True,
        interrupt: Callable[[SpeechHandle], None] | None = None,
    ) -> None:
        self.id = id
        """The reply id its frames carry (``ReplyDelta.reply_id``, ``SpeechAudio.reply_id``)."""
        self.allow_interruptions = allow_interruptions
        """False: the user's speech does not interrupt this reply while it plays."""
        self.started = False
        """True once its first audio is being heard."""
        self.interrupted = False
        """True if it was cut short (by the user, ``interrupt()``, or the session ending)."""
        self.heard = ""
        """What the listener heard of it (set when it is done)."""
        self._done: asyncio.Future[None] | None = None
        self._interrupt = interrupt

    def done(self) -> bool:
        """True once the reply has been heard to its end, or was cut short."""
        return self._done is not None and self._done.done()

    async def wait_for_playout(self) -> None:
        """Return once the reply has been heard to its end, or was cut short."""
        await self._future()

    def interrupt(self) -> None:
        """Cut this reply short (at once if it is playing; before it starts if it waits its turn)."""
        if not self.done() and self._interrupt is not None:
            self._interrupt(self)

    def finish(self, *, heard: str = "", interrupted: bool = False) -> None:
        """Mark the reply done (called by the session that plays it)."""
        if self.done():
            return
        self.heard, self.interrupted = heard, interrupted
        future = self._future()
        future.set_result(None)

    def __await__(self) -> Generator[Any, None, SpeechHandle]:
        yield from self._future().__await__()
        return self

    def _future(self) -> asyncio.Future[None]:
        if self._done is None:
            self._done = asyncio.get_running_loop().create_future()
        return self._done

    def __repr__(self) -> str:
        state = "interrupted" if self.interrupted else "done" if self.done() else "pending"
        return f"SpeechHandle({self.id!r}, {state})"
