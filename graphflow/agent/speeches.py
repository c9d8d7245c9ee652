"""The session's speech handles by reply id: made when asked for or first seen, done when heard or cut."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from graphflow.agent.speech import SpeechHandle
from graphflow.conversation.playout import Playout, PlayoutEvent


class Speeches:
    """Every reply not yet done, with its handle; the session shows it the playout to finish them."""

    def __init__(self, playout: Playout, interrupt: Callable[[SpeechHandle], None]) -> None:
        self.playout = playout
        self._interrupt = interrupt
        self._open: dict[str, tuple[SpeechHandle, int]] = {}
        self._ids = itertools.count(1)

    def new(self, generation: int, *, allow_interruptions: bool = True) -> SpeechHandle:
        """A handle for a reply a program asks for (its id goes into the request)."""
        handle = SpeechHandle(
            f"s{next(self._ids)}", allow_interruptions=allow_interruptions, interrupt=self._interrupt
        )
        self._open[handle.id] = (handle, generation)
        return handle

    def get(self, reply_id: str, generation: int = 0) -> SpeechHandle:
        """The handle of ``reply_id`` (made now for a reply the model named itself)."""
        found = self._open.get(reply_id)
        if found is not None:
            return found[0]
        handle = SpeechHandle(reply_id, interrupt=self._interrupt)
        self._open[reply_id] = (handle, generation)
        return handle

    def find(self, reply_id: str) -> SpeechHandle | None:
        """The handle of ``reply_id`` if it is not done yet."""
        found = self._open.get(reply_id)
        return found[0] if found is not None else None

    def cancelled(self, new_generation: int) -> None:
        """A barge-in moved the run to ``new_generation``: older replies that never played are cut."""
        for reply_id, (handle, generation) in list(self._open.items()):
            if generation < new_generation and not handle.started:
                self._done(reply_id, heard="", interrupted=True)
                self.playout.forget(reply_id)

    def cancel(self, reply_id: str) -> None:
        """``reply_id`` was withdrawn before it played: it is done, cut."""
        self._done(reply_id, heard="", interrupted=True)
        self.playout.forget(reply_id)

    def close(self) -> None:
        """The session ended: every reply not done was cut."""
        for reply_id in list(self._open):
            self._done(reply_id, heard="", interrupted=True)

    def on_playout(self, event: PlayoutEvent) -> None:
        """Follow the playout: a reply started being heard, or finished."""
        found = self._open.get(event.reply_id)
        if found is None:
            return
        handle = found[0]
        if event.kind == "started":
            handle.started = True
            if not handle.allow_interruptions:
                self.playout.interruptible = False
        elif event.kind == "finished":
            self._done(event.reply_id, heard=event.heard, interrupted=event.interrupted)

    def _done(self, reply_id: str, *, heard: str, interrupted: bool) -> None:
        found = self._open.pop(reply_id, None)
        if found is not None:
            found[0].finish(heard=heard, interrupted=interrupted)
