"""Observers: plain event records a run reports as it goes (for logs, metrics, sessions)."""

from __future__ import annotations

from typing import Protocol

import msgspec


class RunEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Base of the events a run reports; ``at`` is the engine clock time in ns."""

    at: int


class RunStarted(RunEvent, frozen=True, kw_only=True):
    """Every node is set up and the run's tasks are starting."""

    graph: str


class RunFinished(RunEvent, frozen=True, kw_only=True):
    """The run ended; ``error`` holds the message if it failed."""

    graph: str
    error: str | None = None


class NodeFinished(RunEvent, frozen=True, kw_only=True):
    """A node processed its last frame and sent end of stream."""

    node: str


class NodeIssue(RunEvent, frozen=True, kw_only=True):
    """A node handled an error and carried on (a provider failed, a frame was refused)."""

    node: str
    code: str
    message: str
    retryable: bool = False


class NodeEvent(RunEvent, frozen=True, kw_only=True):
    """Something a node published for whoever watches the run (see :meth:`Node.publish`).

    ``payload`` is the node's own record: a tapped frame, a playout change, a provider
    going down or coming back. Observers pick the payloads they know and ignore the rest.
    """

    node: str
    payload: object


class CancelFired(RunEvent, frozen=True, kw_only=True):
    """Phase one of a cancellation finished: targets flushed, in-flight work cancelled."""

    trigger: str
    reason: str
    old_generation: int
    new_generation: int
    flushed: int


class CancelCompleted(RunEvent, frozen=True, kw_only=True):
    """Phase two finished: every target unwound and reported what it had done."""

    trigger: str
    new_generation: int
    reports: dict[str, object]


class Observer(Protocol):
    """Receives run events; must not block (hand heavy work to a task of its own)."""

    def on_event(self, event: RunEvent) -> None:
        """Handle one event."""
        ...
