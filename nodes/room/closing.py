"""What every room node does at the edges of its life: check the room is connected, notice it close.

A client-initiated disconnect may report only a ``connection_state_changed`` to
``CONN_DISCONNECTED`` and no ``disconnected`` event, so :class:`ClosedWatch` listens to
both and calls back once.
"""

from __future__ import annotations

from collections.abc import Callable

from livekit import rtc

from graphflow.errors import ConfigError


def require_connected(room: rtc.Room, node: str) -> None:
    """Raise a ConfigError naming ``node`` unless ``room`` is connected (checked in ``setup``)."""
    if not room.isconnected():
        raise ConfigError(
            f"{node}: the room is not connected", hint="await connect_room(...) before running the graph"
        )


class ClosedWatch:
    """Calls ``closed`` once when the room disconnects, however the SDK reports it."""

    def __init__(self, room: rtc.Room, closed: Callable[[], None]) -> None:
        self.room = room
        self._closed = closed
        self._fired = False

    def start(self) -> None:
        """Start listening."""
        self.room.on("disconnected", self._on_disconnected)
        self.room.on("connection_state_changed", self._on_state)

    def stop(self) -> None:
        """Stop listening."""
        self.room.off("disconnected", self._on_disconnected)
        self.room.off("connection_state_changed", self._on_state)

    def _on_state(self, state: rtc.ConnectionState.ValueType) -> None:
        if state == rtc.ConnectionState.CONN_DISCONNECTED:
            self._on_disconnected()

    def _on_disconnected(self, reason: object = None) -> None:
        if not self._fired:
            self._fired = True
            self._closed()
