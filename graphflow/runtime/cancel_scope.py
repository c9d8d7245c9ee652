"""The cancellation scope of a node's async handler call, after AnyIO's ``CancelScope``.

The driver of a node enters its scope around each async handler call
(:meth:`CancelScope.enter`, :meth:`CancelScope.exit`); while a call is in flight the scope
holds the node's task and the frame being handled. Phase one of a cancellation calls
:meth:`CancelScope.cancel` with the new floor: when the frame in flight is older, the
task is cancelled — a cancel of that one call: the driver absorbs it
(:meth:`CancelScope.absorb`) and the node's task lives on. Phase two waits in
:meth:`CancelScope.wait_exited` until the call has unwound.
"""

from __future__ import annotations

import asyncio
from typing import Any

from graphflow.frames import Frame


class CancelScope:
    """One node's cancellation scope: the handler call in flight, its cancel, its waiters."""

    __slots__ = ("task", "frame", "cancelled_generation", "_pending", "_waiters")

    def __init__(self) -> None:
        self.task: asyncio.Task[Any] | None = None
        """The node's task, running the call (set on entry)."""
        self.frame: Frame | None = None
        """The frame whose handler call is in flight; None between calls."""
        self.cancelled_generation = 0
        """The floor whose cancellation cancelled the current (or last) call; 0: not cancelled."""
        self._pending = False  # the task was cancelled for this scope and the cancel is not withdrawn yet
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def cancel_called(self) -> bool:
        """True when a cancellation cancelled the current (or last) call."""
        return self.cancelled_generation != 0

    def enter(self, task: asyncio.Task[Any], frame: Frame) -> None:
        """A handler call for ``frame`` starts on ``task``."""
        self.task = task
        self.frame = frame
        self.cancelled_generation = 0

    def cancel(self, floor: int) -> bool:
        """Cancel the call in flight if its frame is older than ``floor`` (and not ``survive``).

        Returns True when the call was cancelled now; a call is cancelled at most once.
        """
        frame = self.frame
        task = self.task
        if frame is None or task is None or self._pending or frame.survive or frame.generation >= floor:
            return False
        self.cancelled_generation = floor
        self._pending = True
        task.cancel()
        return True

    def absorb(self) -> bool:
        """A ``CancelledError`` ended the call: True when only this scope's cancel caused it.

        Then the error stops here (the call is over, the task goes on); otherwise it is a
        cancel of the task itself and must propagate.
        """
        if not self._pending or self.task is None:
            return False
        self._pending = False
        return self.task.uncancel() == 0

    def exit(self) -> None:
        """The call is over: withdraw a cancel its handler swallowed; wake who waits for the exit."""
        self.frame = None
        if self._pending:
            self._pending = False
            if self.task is not None:
                self.task.uncancel()
        if self._waiters:
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def wait_exited(self) -> None:
        """Wait until no handler call is in flight."""
        while self.frame is not None:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter
