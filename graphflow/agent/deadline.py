"""A tool call's deadline, which stops while the call waits for the user (a task it awaits).

``invoke`` runs a tool under ``asyncio.timeout`` and makes that timeout reachable here, so
code the tool awaits can stop the clock while the user, not the tool, is the one taking
time, and restart it with a fresh budget afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

_DEADLINE: ContextVar[tuple[asyncio.Timeout, float] | None] = ContextVar("tool_deadline", default=None)


@contextlib.contextmanager
def tool_deadline(timeout: asyncio.Timeout, seconds: float | None) -> Iterator[None]:
    """Make ``timeout`` (a budget of ``seconds``) the deadline of the tool call running in this context."""
    token = _DEADLINE.set((timeout, seconds) if seconds is not None else None)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


@contextlib.contextmanager
def paused_deadline() -> Iterator[None]:
    """Stop the current tool call's deadline for the block; afterwards it gets its whole budget again."""
    current = _DEADLINE.get()
    if current is None:
        yield
        return
    timeout, seconds = current
    timeout.reschedule(None)
    try:
        yield
    finally:
        if not timeout.expired():
            timeout.reschedule(asyncio.get_running_loop().time() + seconds)
