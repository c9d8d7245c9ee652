"""Data packets of a LiveKit room as graph ports: receive them as frames, publish frames.

:class:`RoomDataSource` turns the room's ``data_received`` events into
:class:`~graphflow.frames.DataPacket` frames (optionally only some topics), through a
bounded queue that drops the oldest packet when the graph falls behind.
:class:`RoomDataSink` publishes the packets it receives, in order, to everyone or to
the identities a packet names. A packet over the size limit of its kind (15 KiB
reliable, 1300 bytes lossy) is refused with a :class:`DataPacketTooLarge` reported to
the run's observers; the node carries on with the next one.
"""

from __future__ import annotations

import asyncio
from collections import deque

import msgspec
from livekit import rtc

from graphflow.errors import ConfigError, FrameError, ProviderError
from graphflow.frames import DataPacket
from graphflow.node import Node
from graphflow.ports import Input, Output
from nodes.room.closing import ClosedWatch, require_connected
from nodes.room.sending import InOrder

MAX_RELIABLE_BYTES = 15 * 1024
"""The largest payload of a reliable data packet (15 KiB)."""
MAX_LOSSY_BYTES = 1300
"""The largest payload of a lossy data packet (one network packet)."""


class DataPacketTooLarge(FrameError):
    """A data packet's payload is over the limit of its kind; it was not sent."""

    code = "frame.data_too_large"


class DataPublishError(ProviderError):
    """Publishing a data packet to the room failed (the room disconnected, for example)."""

    code = "livekit.publish_failed"
    retryable = True


def check_packet_size(packet: DataPacket) -> None:
    """Raise :class:`DataPacketTooLarge` when ``packet`` is over the limit of its kind."""
    limit = MAX_RELIABLE_BYTES if packet.reliable else MAX_LOSSY_BYTES
    if packet.size <= limit:
        return
    kind = "reliable" if packet.reliable else "lossy"
    hint = (
        "split the payload into packets of at most 15360 bytes, or send it as a byte stream "
        "(room.local_participant.send_bytes / stream_bytes)"
        if packet.reliable
        else "keep lossy packets within 1300 bytes, or send it reliably (up to 15360 bytes)"
    )
    raise DataPacketTooLarge(
        f"{kind} data packet of {packet.size} bytes (topic {packet.topic!r}) is over the "
        f"{limit}-byte limit of {kind} packets; it was not sent",
        hint=hint,
    )


class RoomDataSourceOptions(msgspec.Struct, frozen=True):
    """``topics``: accept only these (empty: all); ``max_queued``: packets held while the graph is busy."""

    topics: tuple[str, ...] = ()
    max_queued: int = 64
    end_on_disconnect: bool = True
    """End the stream when the room disconnects."""


class RoomDataSource(Node):
    """Emits the data packets participants send to the room, as :class:`DataPacket` frames."""

    Options = RoomDataSourceOptions
    options: RoomDataSourceOptions
    out = Output(DataPacket, doc="received packets; ``sender`` is the sending participant")

    def __init__(
        self, options: RoomDataSourceOptions | None = None, *, room: rtc.Room, name: str | None = None
    ) -> None:
        super().__init__(options, name=name)
        if self.options.max_queued < 1:
            raise ConfigError(f"max_queued must be at least 1, got {self.options.max_queued}")
        self.room = room
        self._closed = ClosedWatch(room, self._on_disconnected)
        self.received = 0
        """Packets accepted (after the topic filter)."""
        self.filtered = 0
        """Packets ignored for their topic."""
        self.dropped = 0
        """Packets dropped because the queue was full (the oldest goes first)."""
        self._queue: deque[DataPacket] = deque()
        self._wake = asyncio.Event()
        self._ended = False
        self._start = 0

    async def setup(self) -> None:
        """Start listening to the room's data packets."""
        require_connected(self.room, self.name or "RoomDataSource")
        self._start = self.now()
        self.room.on("data_received", self._on_data)
        self._closed.start()

    async def run(self) -> None:
        """Send packets as they arrive, until the room disconnects or the run stops."""
        while True:
            while self._queue:
                await self.out.send(self._queue.popleft())
            if self._ended:
                return
            self._wake.clear()
            await self._wake.wait()

    async def close(self) -> None:
        """Stop listening to the room."""
        self.room.off("data_received", self._on_data)
        self._closed.stop()

    def _on_data(self, packet: rtc.DataPacket) -> None:
        topic = packet.topic or ""
        if self.options.topics and topic not in self.options.topics:
            self.filtered += 1
            return
        now = self.now()
        frame = DataPacket(
            payload=packet.data,
            topic=topic,
            reliable=packet.kind == rtc.DataPacketKind.KIND_RELIABLE,
            sender=packet.participant.identity if packet.participant is not None else "",
            pts=now - self._start,
            created=now,  # when it arrived; it may wait in the queue before it is sent
        )
        self.received += 1
        if len(self._queue) >= self.options.max_queued:
            self._queue.popleft()
            self.dropped += 1
            if self.dropped & (self.dropped - 1) == 0:  # the 1st, 2nd, 4th, 8th ... drop
                self.report(
                    FrameError(
                        f"{self.dropped} received data packet(s) dropped: the graph is not keeping up",
                        code="frame.data_dropped",
                        hint="raise RoomDataSourceOptions.max_queued or speed up the nodes downstream",
                    )
                )
        self._queue.append(frame)
        self._wake.set()

    def _on_disconnected(self) -> None:
        if self.options.end_on_disconnect:
            self._ended = True
            self._wake.set()


class RoomDataSinkOptions(msgspec.Struct, frozen=True):
    """``max_pending``: packets waiting to be published before new ones are refused."""

    max_pending: int = 256


class RoomDataSink(Node):
    """Publishes each :class:`DataPacket` it receives to the room, in order."""

    Options = RoomDataSinkOptions
    options: RoomDataSinkOptions
    inp = Input(DataPacket, doc="packets to publish; ``destinations`` empty means everyone")

    def __init__(
        self, options: RoomDataSinkOptions | None = None, *, room: rtc.Room, name: str | None = None
    ) -> None:
        super().__init__(options, name=name)
        if self.options.max_pending < 1:
            raise ConfigError(f"max_pending must be at least 1, got {self.options.max_pending}")
        self.room = room
        self.refused = 0
        """Packets not sent: over the size limit, or the backlog was full."""
        self.out: InOrder[DataPacket] = InOrder(self, self._publish, _publish_failed, "publish")

    @property
    def sent(self) -> int:
        """Packets published."""
        return self.out.sent

    @property
    def failed(self) -> int:
        """Packets the room failed to publish."""
        return self.out.failed

    def on_frame(self, frame: DataPacket) -> None:
        """Check the packet's size and queue it for publishing."""
        try:
            check_packet_size(frame)
        except DataPacketTooLarge as exc:
            self.refused += 1
            self.report(exc)
            return
        if self.out.backlog >= self.options.max_pending:
            self.refused += 1
            self.report(
                FrameError(
                    f"data packet (topic {frame.topic!r}) not sent: {self.out.backlog} packets "
                    "are still waiting to be published",
                    code="frame.data_backlog_full",
                    hint="send less often, or raise RoomDataSinkOptions.max_pending",
                )
            )
            return
        self.out.push(frame)

    async def _publish(self, frame: DataPacket) -> None:
        await self.room.local_participant.publish_data(
            frame.payload,
            reliable=frame.reliable,
            topic=frame.topic,
            destination_identities=list(frame.destinations),
        )


def _publish_failed(frame: DataPacket, exc: Exception) -> DataPublishError:
    return DataPublishError(
        f"publishing a {frame.size}-byte data packet (topic {frame.topic!r}) failed: {exc}",
        hint="check that the room is still connected",
    )
