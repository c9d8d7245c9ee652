"""Transcriptions in a LiveKit room: text streams on ``lk.transcription`` that LiveKit front ends show.

Each update is one text stream on the topic ``lk.transcription`` holding the segment's
whole text so far, with the attributes LiveKit front ends read: ``lk.segment_id`` (the
same for every update of one segment, so a newer update replaces an older one),
``lk.transcribed_track_id`` (the audio track the text is of) and
``lk.transcription_final`` (``"false"`` while it may change, ``"true"`` for the last
word). :class:`TranscriptionPublisher` sends updates in order, one at a time, in work
owned by the run; :class:`RoomTranscriber` publishes the user's transcripts, attributed
to the user's microphone track (and, by default, sent as the user).
"""

from __future__ import annotations

import uuid
from typing import Protocol

import msgspec
from livekit import rtc

from graphflow.errors import ConfigError, ProviderError
from graphflow.frames import Transcript
from graphflow.node import Node
from graphflow.ports import Input
from nodes.room.sending import InOrder

TOPIC_TRANSCRIPTION = "lk.transcription"
"""The text-stream topic of transcriptions."""
ATTRIBUTE_SEGMENT_ID = "lk.segment_id"
"""Attribute: the segment an update belongs to."""
ATTRIBUTE_TRACK_ID = "lk.transcribed_track_id"
"""Attribute: sid of the audio track transcribed."""
ATTRIBUTE_FINAL = "lk.transcription_final"
"""Attribute: ``"true"`` on a segment's final text, ``"false"`` before."""


def new_segment_id() -> str:
    """A fresh segment id."""
    return f"SG_{uuid.uuid4().hex[:12]}"


class TranscriptionUpdate(msgspec.Struct, frozen=True):
    """One update of a segment: its whole text so far; ``sender`` empty means this participant."""

    text: str
    segment_id: str
    track_sid: str = ""
    final: bool = False
    sender: str = ""

    def attributes(self) -> dict[str, str]:
        """The text stream's attributes."""
        attributes = {
            ATTRIBUTE_SEGMENT_ID: self.segment_id,
            ATTRIBUTE_FINAL: "true" if self.final else "false",
        }
        if self.track_sid:
            attributes[ATTRIBUTE_TRACK_ID] = self.track_sid
        return attributes


class TranscriptionPublishError(ProviderError):
    """Publishing a transcription to the room failed (the room disconnected, for example)."""

    code = "livekit.transcription_failed"
    retryable = True


class TranscriptionPublisher:
    """Publishes :class:`TranscriptionUpdate` text streams in order, one at a time, for ``node``.

    At most ``max_pending`` updates wait; beyond that the oldest interim one is dropped
    (finals are kept). Publishing runs as background work of ``node``'s run; what is
    left when the run is over is sent by :meth:`flush`.
    """

    def __init__(self, room: rtc.Room, node: Node, max_pending: int = 64) -> None:
        if max_pending < 1:
            raise ConfigError(f"max_pending must be at least 1, got {max_pending}")
        self.room = room
        self.max_pending = max_pending
        self.dropped = 0
        """Interim updates dropped because too many were waiting."""
        self.out: InOrder[TranscriptionUpdate] = InOrder(node, self._send, _send_failed, "transcription")

    @property
    def sent(self) -> int:
        """Updates published."""
        return self.out.sent

    @property
    def failed(self) -> int:
        """Updates the room failed to publish."""
        return self.out.failed

    def publish(self, update: TranscriptionUpdate) -> None:
        """Queue ``update`` for publishing (never blocks)."""
        pending = self.out.pending
        if self.out.backlog >= self.max_pending and pending:
            victim = next((u for u in pending if not u.final), pending[0])
            pending.remove(victim)
            self.dropped += 1
        self.out.push(update)

    async def flush(self, timeout_s: float = 5.0) -> None:
        """Send whatever is still waiting (after the run), giving up after ``timeout_s``."""
        await self.out.flush(timeout_s)

    async def _send(self, update: TranscriptionUpdate) -> None:
        if not self.room.isconnected():
            raise ConnectionError("the room is not connected")
        writer = await self.room.local_participant.stream_text(
            topic=TOPIC_TRANSCRIPTION,
            attributes=update.attributes(),
            sender_identity=update.sender or None,
        )
        if update.text:
            await writer.write(update.text)
        await writer.aclose()


def _send_failed(update: TranscriptionUpdate, exc: Exception) -> TranscriptionPublishError:
    return TranscriptionPublishError(
        f"publishing a transcription (segment {update.segment_id}) failed: {exc}",
        hint="check that the room is still connected",
    )


class TranscribedTrack(Protocol):
    """Whose audio is transcribed: the track's sid and its participant (a RoomAudioSource is one)."""

    track_sid: str
    participant_identity: str


class TranscriberOptions(msgspec.Struct, frozen=True):
    """``interim``: publish interim transcripts too; ``as_user``: send as the user's identity.

    ``max_pending``: updates waiting to be published before the oldest interim is dropped.
    """

    interim: bool = True
    as_user: bool = True
    max_pending: int = 64


class RoomTranscriber(Node):
    """Publishes the user's transcripts on ``lk.transcription``, attributed to the user's microphone."""

    Options = TranscriberOptions
    options: TranscriberOptions
    inp = Input(Transcript, doc="interim and final transcripts of the user's speech")

    def __init__(
        self,
        options: TranscriberOptions | None = None,
        *,
        name: str | None = None,
        room: rtc.Room,
        source: TranscribedTrack | None = None,
    ) -> None:
        super().__init__(options, name=name)
        self.room = room
        self.source = source
        self.publisher = TranscriptionPublisher(room, self, self.options.max_pending)
        self._segment = new_segment_id()

    def on_frame(self, frame: Transcript) -> None:
        """Queue ``frame`` for publishing (publishing itself happens in background work)."""
        text = frame.text.strip()
        if not frame.final and (not self.options.interim or not text):
            return
        segment = frame.segment_id or self._segment
        if frame.final and not frame.segment_id:
            self._segment = new_segment_id()  # the next stretch of speech is a new segment
        source = self.source
        self.publisher.publish(
            TranscriptionUpdate(
                text=text,
                segment_id=segment,
                track_sid=source.track_sid if source is not None else "",
                final=frame.final,
                sender=source.participant_identity if source is not None and self.options.as_user else "",
            )
        )

    async def close(self) -> None:
        """Publish what is still waiting."""
        await self.publisher.flush()
