"""Bounded waits for the tests: every poll has a deadline and names what it was waiting for.

A test that waits for something to happen uses :func:`until` (or :func:`until_async` when
the check itself awaits, :func:`until_sync` outside an event loop), or wraps an
event-driven wait in :func:`within`. When the deadline passes they raise
``TimeoutError("timed out after N s waiting for WHAT")``, so the failure says what never
happened instead of the test hanging until the suite's time limit.

On a :class:`~graphflow.runtime.clock.VirtualClock` the deadline is in the clock's
virtual seconds, like every other timer of the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

WAIT = 30.0
"""Default upper bound of one wait; tests never depend on how fast things are."""

INTERVAL = 0.02
"""Default pause between two checks of a poll, in seconds."""


def _message(what: str, timeout: float) -> str:
    return f"timed out after {timeout:g} s waiting for {what}"


@contextlib.asynccontextmanager
async def within(timeout: float, what: str) -> AsyncIterator[None]:
    """Run the block under a deadline of ``timeout`` seconds, naming ``what`` it waits for.

    A ``TimeoutError`` raised inside the block for another reason passes through unchanged.
    """
    scope = asyncio.timeout(timeout)
    try:
        async with scope:
            yield
    except TimeoutError:
        if scope.expired():
            raise TimeoutError(_message(what, timeout)) from None
        raise


async def until(
    check: Callable[[], T | None], what: str, timeout: float = WAIT, interval: float = INTERVAL
) -> T:
    """Poll ``check`` until it returns a true value, and return that value.

    Raises ``TimeoutError`` naming ``what`` after ``timeout`` seconds; whatever ``check``
    raises (an ``AssertionError`` on a process that died, say) ends the wait at once.
    """
    async with within(timeout, what):
        while True:
            if value := check():
                return value
            await asyncio.sleep(interval)


async def until_async(
    check: Callable[[], Awaitable[T | None]], what: str, timeout: float = WAIT, interval: float = INTERVAL
) -> T:
    """Like :func:`until` for a check that awaits (an HTTP request, say); the deadline covers it too."""
    async with within(timeout, what):
        while True:
            if value := await check():
                return value
            await asyncio.sleep(interval)


def until_sync(
    check: Callable[[], T | None], what: str, timeout: float = WAIT, interval: float = INTERVAL
) -> T:
    """Like :func:`until` outside an event loop: sleeps between checks, blocking the thread."""
    deadline = time.monotonic() + timeout
    while True:
        if value := check():
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(_message(what, timeout))
        time.sleep(interval)
