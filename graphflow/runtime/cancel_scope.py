"""The cancellation scope of a node's async handler call, after AnyIO's ``CancelScope``.

One scope per node, bound to the node's task (:meth:`CancelScope.bind`). The driver
enters it for each async handler call by setting :attr:`CancelScope.frame` and leaves it
by clearing it — plain attribute writes, as this is the hot path — then calls
:meth:`CancelScope.exit` only when :attr:`CancelScope.watched` says that the exit has work
to do. Phase one of a cancellation calls :meth:`CancelScope.cancel` with the new floor:
when the frame in flight is older, the node's task is cancelled — a cancel of that one
call, which the driver absorbs (:meth:`CancelScope.absorb`) so the task lives on. Phase
two waits in :meth:`CancelScope.wait_exited` until the call has unwound.
"""

from __future__ import annotations

import asyncio
from typing import Any

from graphflow.frames import Frame


class CancelScope:
    """One node's cancellation scope: the handler call in flight, its cancel, its waiters."""

    __slots__ = ("task", "frame", "cancelled_generation", "watched", "_waiters")

    def __init__(self) -> None:
        self.task: asyncio.Task[Any] | None = None
        """The node's task, which runs the calls (see :meth:`bind`)."""
        self.frame: Frame | None = None
        """The frame whose handler call is in flight: set on entry, None between calls."""
        self.cancelled_generation = 0
        """The floor whose cancellation cancelled the call in flight; 0 while it is not cancelled."""
        self.watched = False
        """True when leaving the call has work to do (a cancel to withdraw, a waiter to wake)."""
        self._waiters: list[asyncio.Future[None]] = []

    def bind(self, task: asyncio.Task[Any]) -> None:
        """The calls of this scope run on ``task`` (the node's task)."""
        self.task = task

    def cancel(self, floor: int) -> bool:
        """Cancel the call in flight if its frame is older than ``floor`` and not ``survive``.

        Returns True when it cancelled the call; a call is cancelled once.
        """
        frame = self.frame
        task = self.task
        if frame is None or task is None or self.cancelled_generation or frame.survive:
            return False
        if frame.generation >= floor:
            return False
        self.cancelled_generation = floor
        self.watched = True
        task.cancel()
        return True

    def absorb(self) -> bool:
        """A ``CancelledError`` ended the call: True when this scope's cancel alone caused it.

        The error then stops at the call (the task goes on); otherwise it cancels the task
        itself and must propagate.
        """
        task = self.task
        if not self.cancelled_generation or task is None:
            return False
        self.cancelled_generation = 0
        return task.uncancel() == 0

    def exit(self) -> None:
        """Leave the call: withdraw a cancel its handler swallowed and wake who waits for the exit."""
        self.frame = None
        self.watched = False
        if self.cancelled_generation:
            self.cancelled_generation = 0
            if self.task is not None:
                self.task.uncancel()
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait_exited(self) -> None:
        """Wait until no handler call is in flight."""
        while self.frame is not None:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            self.watched = True
            await waiter
