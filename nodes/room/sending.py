"""Publishing to the room in order, in the background of a node's run, never blocking the node.

Room nodes that publish (data packets, transcriptions) hand items to an :class:`InOrder`:
one sender task, owned by the node's run, sends them one after the other; a failure is
reported through the node and the next item goes on. What to do when too many wait is
the node's choice (refuse the new one, drop an old one): it reads ``backlog``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from graphflow.errors import ConfigError, GraphflowError
from graphflow.node import Node

T = TypeVar("T")


class InOrder(Generic[T]):
    """Sends items with ``send`` one at a time, in order, as background work of ``node``."""

    def __init__(
        self,
        node: Node,
        send: Callable[[T], Awaitable[None]],
        failure: Callable[[T, Exception], GraphflowError],
        name: str,
    ) -> None:
        self.node, self.send, self.failure, self.name = node, send, failure, name
        self.pending: deque[T] = deque()
        self.sent = 0
        """Items sent."""
        self.failed = 0
        """Items whose sending failed (each reported through the node)."""
        self._in_flight = 0
        self._sender: asyncio.Task[None] | None = None

    @property
    def backlog(self) -> int:
        """Items waiting, and the one being sent."""
        return len(self.pending) + self._in_flight

    def push(self, item: T) -> None:
        """Queue ``item`` (never blocks); outside a run it waits for :meth:`flush`."""
        self.pending.append(item)
        if self._sender is None or self._sender.done():
            try:
                self._sender = self.node.spawn(self._drain(), name=self.name)
            except ConfigError:
                self._sender = None

    async def flush(self, timeout_s: float = 5.0) -> None:
        """Send what still waits (after the run), giving up after ``timeout_s``."""
        if self.pending and (self._sender is None or self._sender.done()):
            try:
                await asyncio.wait_for(self._drain(), timeout_s)
            except TimeoutError:
                self.failed += len(self.pending)
                self.pending.clear()

    async def _drain(self) -> None:
        while self.pending:
            item = self.pending.popleft()
            self._in_flight = 1
            try:
                await self.send(item)
            except Exception as exc:
                self.failed += 1
                error = self.failure(item, exc)
                error.__cause__ = exc
                self.node.report(error)
            else:
                self.sent += 1
            finally:
                self._in_flight = 0
