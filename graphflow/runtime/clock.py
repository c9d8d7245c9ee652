"""Clocks on the engine's one time base (integer nanoseconds).

:class:`RealtimeClock` reads the monotonic clock. :class:`VirtualClock` only moves when
the program would otherwise wait: it runs a coroutine on an event loop whose time is the
clock's, and whenever every task is waiting for a timer it jumps straight to the next
one (time stands still while real work runs in threads). Timing behaviour is then
deterministic and a test of ten seconds of audio finishes in milliseconds.
"""

from __future__ import annotations

import asyncio
import math
import selectors
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from concurrent.futures import Executor
from typing import Any, Protocol, TypeVar

from graphflow.timebase import SECOND, from_seconds, to_seconds

T = TypeVar("T")


class Clock(Protocol):
    """What the engine asks of a clock: the time now and a way to wait for a time."""

    def now(self) -> int:
        """Current time in ns."""
        ...

    async def sleep_until(self, t: int) -> None:
        """Return at (or just after) time ``t`` in ns."""
        ...


class RealtimeClock:
    """The monotonic clock of this machine; asyncio timers run on the same clock."""

    now = staticmethod(time.monotonic_ns)

    async def sleep_until(self, t: int) -> None:
        """Sleep until monotonic time ``t`` (ns); returns at once if it has passed."""
        delay = t - time.monotonic_ns()
        if delay > 0:
            await asyncio.sleep(to_seconds(delay))


class VirtualClock:
    """A clock that moves only when every task waits: deterministic and fast timing tests."""

    def __init__(self, start: int = 0) -> None:
        self._now = start

    def now(self) -> int:
        """Current virtual time in ns."""
        return self._now

    async def sleep_until(self, t: int) -> None:
        """Sleep until virtual time ``t`` (ns)."""
        delay = t - self._now
        if delay > 0:
            await asyncio.sleep(to_seconds(delay))

    def run(self, main: Coroutine[Any, Any, T]) -> T:
        """Run ``main`` to completion on an event loop driven by this clock."""
        loop = VirtualTimeLoop(self)
        try:
            asyncio.set_event_loop(loop)
            return loop.run_until_complete(main)
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                asyncio.set_event_loop(None)
                loop.close()

    def _jump_to(self, when: float | None, timeout: float) -> None:
        """Move to the next timer's time, to the nanosecond (timers hold float seconds)."""
        target = from_seconds(when) if when is not None else math.ceil(self._now + timeout * SECOND)
        self._now = max(self._now, target)


class _VirtualSelector(selectors.BaseSelector):
    """Delegates I/O to a real selector but turns timer waits into clock jumps."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        self._real = selectors.DefaultSelector()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        events = self._real.select(0)
        if events or timeout == 0:
            return events
        if timeout is None or self._loop.threads_busy:
            # Nothing is due on the clock, or real work runs in a thread: wait for real I/O.
            return self._real.select(None if timeout is None else max(timeout, 0.05))
        self._loop.clock._jump_to(self._loop.next_timer(), timeout)
        return []

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def close(self) -> None:
        self._real.close()

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.get_key(fileobj)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._real.get_map()


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An asyncio loop whose ``time()`` is a :class:`VirtualClock`'s."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.threads_busy = 0
        super().__init__(selector=_VirtualSelector(self))

    def time(self) -> float:
        """The virtual clock's time, in seconds."""
        return to_seconds(self.clock._now)

    def next_timer(self) -> float | None:
        """When the earliest scheduled callback is due (loop time), if any."""
        scheduled = getattr(self, "_scheduled", None)
        return scheduled[0].when() if scheduled else None

    def run_in_executor(  # type: ignore[override]
        self, executor: Executor | None, func: Callable[..., T], *args: Any
    ) -> asyncio.Future[T]:
        """Run ``func`` in a thread; the clock does not jump while it runs."""
        future = super().run_in_executor(executor, func, *args)
        self.threads_busy += 1
        future.add_done_callback(self._thread_done)
        return future

    def _thread_done(self, _: Awaitable[Any]) -> None:
        self.threads_busy -= 1
