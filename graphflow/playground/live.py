"""Publishing a session's live figures into its room, for the participants who watch.

A :class:`LiveView` follows one :class:`~graphflow.agent.session.AgentSession`: it
subscribes to its events and, every ``interval_s`` (4 Hz by default), takes one
:class:`~graphflow.playground.snapshot.Snapshot` and sends it as a data packet on
``graphflow.stats`` to the participants whose ``graphflow.view`` attribute is ``"1"``.
With nobody watching it only keeps the few events a snapshot reports. One packet is in
flight at a time: a slow room makes the view skip a beat, never builds a queue. Each
new viewer first gets the drawn graph on the ``graphflow.graph`` text stream.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import msgspec
from livekit import rtc

from graphflow.errors import ConfigError
from graphflow.playground import drawing, snapshot
from graphflow.playground.snapshot import GRAPH_TOPIC, STATS_TOPIC, VIEW_ATTRIBUTE, Snapshotter

if TYPE_CHECKING:
    from graphflow.agent.session import AgentSession

log = logging.getLogger("graphflow.playground")

Spawn = Callable[[Coroutine[Any, Any, Any], str], "asyncio.Task[Any]"]
"""Runs a coroutine for the life of a job (``JobContext.spawn``)."""


class LiveOptions(msgspec.Struct, frozen=True):
    """How often snapshots are sent and how long one may take to leave."""

    interval_s: float = 0.25
    """Seconds between two snapshots (0.25: 4 Hz)."""
    send_timeout_s: float = 2.0
    """A snapshot not sent by then is given up (the next one carries newer figures)."""


class LiveView:
    """Sends ``session``'s snapshots into ``room`` while someone there watches."""

    def __init__(self, session: AgentSession, room: rtc.Room, options: LiveOptions | None = None) -> None:
        self.session = session
        self.room = room
        self.options = options or LiveOptions()
        self.snapshotter = Snapshotter()
        self.sent = 0
        """Snapshots sent."""
        self.failed = 0
        """Snapshots or graphs that could not be sent (the view goes on)."""
        self._drawn: str | None = None
        self._shown: set[str] = set()
        session.subscribe(self.snapshotter.on_event)

    def viewers(self) -> list[str]:
        """The identities of the participants who want the figures now."""
        return [
            p.identity
            for p in self.room.remote_participants.values()
            if p.attributes.get(VIEW_ATTRIBUTE) == "1"
        ]

    async def run(self) -> None:
        """Send snapshots until cancelled (the job's end); never raises for a failed send."""
        loop = asyncio.get_running_loop()
        interval = self.options.interval_s
        beat = loop.time()
        while True:
            beat = max(beat + interval, loop.time())  # a late beat is skipped, never made up for
            await asyncio.sleep(beat - loop.time())
            viewers = self.viewers()
            if not viewers:
                self._shown.intersection_update(viewers)
                continue
            await self.tick(viewers)

    async def tick(self, viewers: list[str]) -> None:
        """One beat: the graph to new viewers, then one snapshot to all of them."""
        runner = self.session.runner
        if runner is None:
            return
        try:
            stats = runner.stats()
        except ConfigError:  # not started yet
            return
        fresh = [v for v in viewers if v not in self._shown]
        if fresh:
            await self._send_graph(fresh)
        self._shown.intersection_update(viewers)
        payload = snapshot.encode(self.snapshotter.take(runner, stats))
        try:
            await asyncio.wait_for(
                self.room.local_participant.publish_data(
                    payload, reliable=True, topic=STATS_TOPIC, destination_identities=viewers
                ),
                self.options.send_timeout_s,
            )
            self.sent += 1
        except Exception as exc:  # a room going away must not end the session
            self.failed += 1
            log.debug("live view: snapshot not sent: %s", exc)

    async def _send_graph(self, viewers: list[str]) -> None:
        runner = self.session.runner
        if runner is None:
            return
        if self._drawn is None:
            plan = runner.plan
            self._drawn = drawing.encode(await asyncio.to_thread(drawing.draw, plan))
        try:
            await asyncio.wait_for(
                self.room.local_participant.send_text(
                    self._drawn, topic=GRAPH_TOPIC, destination_identities=viewers, compress=False
                ),
                self.options.send_timeout_s * 5,
            )
            self._shown.update(viewers)
        except Exception as exc:
            self.failed += 1
            log.debug("live view: graph not sent: %s", exc)


def attach(
    session: AgentSession, room: rtc.Room, spawn: Spawn, options: LiveOptions | None = None
) -> LiveView:
    """Follow ``session`` with a :class:`LiveView` run by ``spawn`` (for the life of the job)."""
    view = LiveView(session, room, options)

    async def run() -> None:
        try:
            await view.run()
        except Exception as exc:  # the view is a guest: it never fails the job
            log.warning("live view stopped: %s", exc)

    spawn(run(), "live view")
    return view
