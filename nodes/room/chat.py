"""Typed messages from the room: a participant's ``lk.chat`` text becomes a user turn.

:class:`RoomChatInput` listens for text streams on the ``lk.chat`` topic (what the
LiveKit playground and client SDKs send when the user types) from the participant the
session talks with, and sends each message as an
:class:`~graphflow.frames.EndOfTurn` with reason ``"typed"``. A typed message is a
barge-in: the node holds cancellation edges to the reply stages, fires them first —
the reply in flight stops, its queued audio is flushed and the sink reports what was
heard — and then sends the turn in the new generation, so the agent answers what was
typed. Messages over ``max_chars`` are refused with a clear error to the run's
observers; the session goes on.
"""

from __future__ import annotations

import asyncio
from collections import deque

import msgspec
from livekit import rtc

from graphflow.errors import FrameError
from graphflow.frames import EndOfTurn, TurnKind
from graphflow.node import Node
from graphflow.ports import Output
from nodes.room.closing import ClosedWatch, require_connected

CHAT_TOPIC = "lk.chat"
"""The text-stream topic LiveKit clients send typed chat messages on."""


class RoomChatOptions(msgspec.Struct, frozen=True):
    """``participant``: whose messages count (empty: anyone's); ``max_chars``: longest message taken."""

    participant: str = ""
    topic: str = CHAT_TOPIC
    max_chars: int = 4000
    max_queued: int = 16


class RoomChatInput(Node):
    """Sends the participant's typed chat messages as user turns, interrupting the agent first."""

    Options = RoomChatOptions
    options: RoomChatOptions
    out = Output(EndOfTurn, doc="typed user turns (reason ``typed``)")

    def __init__(
        self, options: RoomChatOptions | None = None, *, room: rtc.Room, name: str | None = None
    ) -> None:
        super().__init__(options, name=name)
        self.room = room
        self._closed = ClosedWatch(room, self._on_disconnected)
        self.received = 0
        """Messages taken as turns."""
        self.refused = 0
        """Messages refused (too long, unreadable, or dropped while too many waited)."""
        self._texts: deque[str] = deque(maxlen=self.options.max_queued)
        self._streams: deque[tuple[rtc.TextStreamReader, str]] = deque(maxlen=self.options.max_queued)
        self._wake = asyncio.Event()
        self._ended = False

    async def setup(self) -> None:
        """Start taking the topic's text streams."""
        require_connected(self.room, self.name or "RoomChatInput")
        self.room.register_text_stream_handler(self.options.topic, self._on_stream)
        self._closed.start()

    async def run(self) -> None:
        """Interrupt the agent and send a turn for each message, until the room disconnects."""
        while True:
            while self._streams:  # read each message in its own task (they arrive interleaved)
                reader, sender = self._streams.popleft()
                self.spawn(self._read(reader, sender), "read-chat")
            while self._texts:
                text = self._texts.popleft()
                await self.cancel("typed")  # stop the reply in flight before answering this
                await self.out.send(EndOfTurn(text=text, kind=TurnKind.TYPED))  # in the new generation
            if self._ended:
                return
            self._wake.clear()
            await self._wake.wait()

    async def close(self) -> None:
        """Stop taking the topic's text streams."""
        self.room.unregister_text_stream_handler(self.options.topic)
        self._closed.stop()

    def _on_stream(self, reader: rtc.TextStreamReader, sender: str) -> None:
        wanted = self.options.participant
        if wanted and sender != wanted:
            return
        self._streams.append((reader, sender))  # may come before the run starts: read from run()
        self._wake.set()

    async def _read(self, reader: rtc.TextStreamReader, sender: str) -> None:
        try:
            text = await reader.read_all()
        except Exception as exc:  # the sender went away mid-stream: nothing to answer
            self.refused += 1
            self.report(FrameError(f"a chat message from {sender!r} could not be read: {exc}"))
            return
        text = text.strip()
        if not text:
            return
        if len(text) > self.options.max_chars:
            self.refused += 1
            self.report(
                FrameError(
                    f"a chat message of {len(text)} characters from {sender!r} is over the "
                    f"{self.options.max_chars}-character limit; it was not answered",
                    code="frame.chat_too_long",
                    hint="raise RoomChatOptions.max_chars",
                )
            )
            return
        self.received += 1
        if len(self._texts) == self._texts.maxlen:  # the oldest waiting message gives way
            self.refused += 1
            self.report(
                FrameError(
                    f"{self.options.max_queued} chat messages were waiting; the oldest was dropped",
                    code="frame.chat_dropped",
                    hint="raise RoomChatOptions.max_queued",
                )
            )
        self._texts.append(text)
        self._wake.set()

    def _on_disconnected(self) -> None:
        self._ended = True
        self._wake.set()
