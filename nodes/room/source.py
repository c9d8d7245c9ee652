"""Room audio in: one participant's microphone as :class:`AudioFrame` frames, followed across rejoins.

:class:`RoomAudioSource` subscribes to the microphone track of the participant it follows
(a given identity, or the first remote participant who publishes a microphone), has the
SDK convert it to the configured rate and channel count, and emits int16 frames of
exactly ``frame_ms``. ``pts`` are media time on the conversation's :class:`Timeline`
(started by this node when it starts): they follow the sample count while audio flows,
and jump forward to the current media time after a gap — the participant left and came
back, or the track stalled for ``max_lag_ms`` — so they stay on the clock. The stream
ends when the room disconnects or :meth:`RoomAudioSource.stop` is called.

An end-to-end encrypted microphone is passed on only once it decrypts: with another
key (or none here) its frames are noise and silence, so they are held back and a
``livekit.e2ee_decrypt_failed`` (or ``livekit.e2ee_no_key``) issue says why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import msgspec
import numpy as np
from livekit import rtc
from livekit.rtc.room import EventTypes

from graphflow.conversation.playout import Timeline
from graphflow.errors import ConfigError, ProviderError
from graphflow.frames import AudioFormat, AudioFrame, SampleFormat
from graphflow.livekit.e2ee import DecryptionFailed, E2EEWatch, e2ee_enabled, watch_e2ee
from graphflow.node import Node
from graphflow.ports import Output
from graphflow.timebase import MS, samples_to_ns
from nodes.room.closing import ClosedWatch, require_connected
from nodes.room.inbox import Inbox, Received


class TrackUnavailable(ProviderError):
    """A microphone track could not be read (it went away as the source turned to it)."""

    code = "livekit.track_unavailable"
    retryable = True


class RoomSourceOptions(msgspec.Struct, frozen=True):
    """Whose microphone to follow (``""``: the first participant who publishes one) and the frames made of it.

    ``rate``/``channels``: the format the SDK converts the track to; ``frame_ms``: length
    of each frame; ``max_lag_ms``: how far the audio may fall behind the clock before
    ``pts`` jump forward; ``max_queued_ms``: audio held while the graph is busy (the
    oldest is dropped beyond it); ``e2ee_wait_ms``: how long encrypted audio that does not
    decrypt may last before it is reported.
    """

    participant: str = ""
    rate: int = 48000
    channels: int = 1
    frame_ms: int = 20
    max_lag_ms: int = 1000
    max_queued_ms: int = 2000
    e2ee_wait_ms: int = 2000


_Wanted = tuple[rtc.Track, str, str]  # the track, its sid, the participant's identity


class RoomAudioSource(Node):
    """Emits one participant's microphone as ``frame_ms`` int16 frames on the conversation's timeline."""

    Options = RoomSourceOptions
    options: RoomSourceOptions
    out = Output(AudioFrame, doc="the participant's microphone, int16, ``frame_ms`` per frame")

    def __init__(
        self,
        options: RoomSourceOptions | None = None,
        *,
        name: str | None = None,
        room: rtc.Room,
        timeline: Timeline | None = None,
    ) -> None:
        super().__init__(options, name=name)
        o = self.options
        if not 8000 <= o.rate <= 192000 or not 1 <= o.channels <= 8:
            raise ConfigError(
                f"unsupported format {o.rate} Hz / {o.channels} channels", hint="8-192 kHz, 1-8 ch"
            )
        if not 1 <= o.frame_ms <= 1000 or o.rate * o.frame_ms % 1000:
            raise ConfigError(f"{o.frame_ms} ms is not a whole number of samples at {o.rate} Hz")
        if o.max_lag_ms < o.frame_ms or o.max_queued_ms < o.frame_ms:
            raise ConfigError("max_lag_ms and max_queued_ms must be at least frame_ms")
        self.out.format = AudioFormat(o.rate, o.channels, SampleFormat.S16)
        self.room = room
        self.timeline = timeline
        self.track_sid = ""
        """Sid of the microphone track followed (the last one, once it has gone)."""
        self.participant_identity = ""
        """Identity of the participant followed (the last one, once they have gone)."""
        self.base_time: int | None = None
        """Clock time of media time zero (set when the node starts)."""
        self.frames = 0
        """Frames emitted."""
        self.gaps = 0
        """Times ``pts`` jumped forward (a rejoin, a stalled track)."""
        self.dropped_samples = 0
        """Received samples (per channel) dropped because the graph did not keep up."""
        self.tracks_followed = 0
        """Microphone tracks followed so far (each subscription counts)."""
        self.undecrypted_samples = 0
        """Received samples (per channel) of encrypted audio held back because it did not decrypt."""
        self._e2ee: E2EEWatch | None = None
        self._wanted: _Wanted | None = None
        self._spent = ""  # sid of a track that ended by itself: not picked up again by a rescan
        self._ended = False
        self._stream_done = False
        self._wake = asyncio.Event()
        self._origin = 0  # media time of sample 0 of the current run of contiguous audio
        self._count = 0  # samples emitted since _origin
        self._handlers: dict[EventTypes, Callable[..., None]] = {}
        self._closed = ClosedWatch(self.room, self.stop)
        self.taps: list[Callable[[Received], None]] = []
        """Called with every piece of audio received, placed on the timeline (for measurements)."""

    def latency(self) -> int:
        """One frame: the received audio leaves once it fills a ``frame_ms`` frame."""
        return self.options.frame_ms * MS

    # ----------------------------------------------------------------- lifecycle
    async def setup(self) -> None:
        """Start watching the room's participants and tracks."""
        require_connected(self.room, self.name or "RoomAudioSource")
        self._e2ee = watch_e2ee(self.room) if e2ee_enabled(self.room) else None
        self._handlers = {
            "track_published": self._on_published,
            "track_subscribed": self._on_subscribed,
            "track_unsubscribed": self._on_unsubscribed,
            "track_unpublished": self._on_unpublished,
            "participant_disconnected": self._on_participant_left,
        }
        for event, handler in self._handlers.items():
            self.room.on(event, handler)
        self._closed.start()
        for participant in self.room.remote_participants.values():
            for publication in participant.track_publications.values():
                self._on_published(publication, participant)

    async def run(self) -> None:
        """Follow the participant's microphone until the room disconnects or the node is stopped."""
        start = self.now()
        if self.timeline is not None:
            self.timeline.start(start)
        base = self.timeline.base if self.timeline is not None else None
        self.base_time = base if base is not None else start
        self._rescan()
        while True:
            wanted = await self._next_track()
            if wanted is None:
                return
            await self._follow(wanted)

    def stop(self) -> None:
        """End the stream (the node returns once the audio already received is sent)."""
        self._ended = True
        self._wake.set()

    async def close(self) -> None:
        """Stop watching the room."""
        for event, handler in self._handlers.items():
            self.room.off(event, handler)
        self._handlers = {}
        self._closed.stop()

    # ------------------------------------------------------------------ follow
    async def _next_track(self) -> _Wanted | None:
        while not self._ended:
            if self._wanted is not None:
                return self._wanted
            self._wake.clear()
            await self._wake.wait()
        return None

    async def _follow(self, wanted: _Wanted) -> None:
        track, sid, identity = wanted
        o = self.options
        encrypted = _encrypted(self.room, identity, sid)
        if encrypted and self._e2ee is None:
            self.report(
                DecryptionFailed(
                    f"the microphone of {identity!r} is end-to-end encrypted and this agent has no key: "
                    "it is not listened to",
                    code="livekit.e2ee_no_key",
                    hint="join with the room's key: ctx.connect(e2ee=E2EESettings.shared(key))",
                )
            )
            self._forget(wanted)
            return
        try:
            stream = rtc.AudioStream(track, sample_rate=o.rate, num_channels=o.channels)
        except Exception as exc:  # the track went away meanwhile (a leave or a disconnect racing it)
            self.report(TrackUnavailable(f"cannot read microphone track {sid} of {identity!r}: {exc!r}"))
            self._forget(wanted)
            return
        self.track_sid, self.participant_identity = sid, identity
        self.tracks_followed += 1
        inbox = Inbox(o.rate * o.max_queued_ms // 1000)
        self._stream_done = False
        try:
            async with asyncio.TaskGroup() as group:
                watch = self._e2ee if encrypted else None
                reading = self._read(stream, inbox, identity, watch)
                reader = group.create_task(reading, name=f"{self.qualname}:read")
                try:
                    await self._pump(inbox, wanted)
                finally:
                    reader.cancel()
        finally:
            await stream.aclose()
        if self._stream_done:
            self._forget(wanted)  # the track ended by itself: wait for the next one

    def _forget(self, wanted: _Wanted) -> None:
        """Stop wanting a track that ended or cannot be read (until it is subscribed again)."""
        self._spent = wanted[1]
        if self._wanted is wanted:
            self._wanted = None
            self._rescan()

    async def _read(
        self, stream: rtc.AudioStream, inbox: Inbox, identity: str, watch: E2EEWatch | None
    ) -> None:
        """Move what the SDK delivers into ``inbox`` with its arrival time (encrypted: once it decrypts)."""
        o = self.options
        channels = o.channels
        patience = o.rate * o.e2ee_wait_ms // 1000
        held, told = 0, False
        async for event in stream:
            if watch is not None:
                heard = watch.hearable(identity)
                if heard is not True and (heard is False or watch.complete):
                    n = event.frame.samples_per_channel
                    self.undecrypted_samples += n
                    held += n
                    if not told and (heard is False or held >= patience):
                        told = True
                        self.report(_undecryptable(identity, None if heard is False else held / o.rate))
                    continue
                held, told = 0, False
            pcm = np.frombuffer(event.frame.data, dtype=np.int16).reshape(-1, channels).copy()
            self.dropped_samples += inbox.put(self.now(), pcm)
            self._wake.set()
        self._stream_done = True
        self._wake.set()

    async def _pump(self, inbox: Inbox, wanted: _Wanted) -> None:
        """Cut what arrives into ``frame_ms`` frames and send them, until the track is no longer followed."""
        rate, step = self.options.rate, self.options.rate * self.options.frame_ms // 1000
        max_lag = self.options.max_lag_ms * MS
        base = self.base_time or 0
        pending: list[np.ndarray] = []
        held = 0
        fresh = True
        while True:
            while inbox.items:
                arrived, pcm = inbox.get()
                n = len(pcm)
                media = arrived - base
                expected = self._origin + samples_to_ns(self._count + held + n, rate)
                if fresh or media - expected > max_lag:
                    began = media - samples_to_ns(n, rate)
                    if began > self._origin + samples_to_ns(self._count, rate):
                        if self.frames:
                            self.gaps += 1
                        pending, held = [], 0
                        self._origin, self._count = began, 0
                    fresh = False
                if self.taps:
                    got = Received(arrived, self._origin + samples_to_ns(self._count + held, rate), pcm)
                    for tap in self.taps:
                        tap(got)
                pending.append(pcm)
                held += n
                while held >= step:
                    joined = pending[0] if len(pending) == 1 else np.concatenate(pending)
                    chunk, rest = joined[:step], joined[step:]
                    pending, held = ([rest] if len(rest) else []), held - step
                    await self._emit(chunk)
            if self._wanted is not wanted or self._ended or self._stream_done:
                return
            self._wake.clear()
            await self._wake.wait()

    async def _emit(self, chunk: np.ndarray) -> None:
        rate = self.options.rate
        pts = self._origin + samples_to_ns(self._count, rate)
        self._count += len(chunk)
        end = self._origin + samples_to_ns(self._count, rate)
        self.frames += 1
        await self.out.send(AudioFrame(samples=chunk, rate=rate, pts=pts, duration=end - pts))

    # --------------------------------------------------------------- room events
    def _eligible(self, participant: rtc.RemoteParticipant) -> bool:
        if self.options.participant:
            return participant.identity == self.options.participant
        if participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT:
            return False
        return self._wanted is None or self._wanted[2] == participant.identity

    def _rescan(self) -> None:
        """Follow an already subscribed microphone of an eligible participant, if there is one."""
        if self._wanted is not None:
            return
        for participant in self.room.remote_participants.values():
            if not self._eligible(participant):
                continue
            for publication in participant.track_publications.values():
                track = publication.track
                if track is not None and _is_microphone(publication) and publication.sid != self._spent:
                    self._want((track, publication.sid, participant.identity))
                    return

    def _want(self, wanted: _Wanted | None) -> None:
        self._wanted = wanted
        self._wake.set()

    def _on_published(
        self, publication: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant
    ) -> None:
        if _is_microphone(publication) and self._eligible(participant) and not publication.subscribed:
            publication.set_subscribed(True)

    def _on_subscribed(
        self, track: rtc.Track, publication: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant
    ) -> None:
        if _is_microphone(publication) and self._eligible(participant):
            self._spent = ""
            self._want((track, publication.sid, participant.identity))

    def _on_unsubscribed(
        self, track: rtc.Track, publication: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant
    ) -> None:
        self._on_unpublished(publication, participant)

    def _on_unpublished(
        self, publication: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant
    ) -> None:
        if self._wanted is not None and self._wanted[1] == publication.sid:
            self._want(None)
            self._rescan()

    def _on_participant_left(self, participant: rtc.RemoteParticipant) -> None:
        if self._wanted is not None and self._wanted[2] == participant.identity:
            self._want(None)
            self._rescan()


def _encrypted(room: rtc.Room, identity: str, sid: str) -> bool:
    """Whether the track ``sid`` of ``identity`` is end-to-end encrypted."""
    participant = room.remote_participants.get(identity)
    publication = participant.track_publications.get(sid) if participant is not None else None
    return publication is not None and publication.encryption_type != rtc.EncryptionType.NONE


def _undecryptable(identity: str, seconds: float | None) -> DecryptionFailed:
    why = "the SDK reports it fails" if seconds is None else f"nothing decrypted in {seconds:.1f} s"
    return DecryptionFailed(
        f"cannot decrypt the microphone of {identity!r} ({why}): its end-to-end encryption key "
        "differs from this agent's; its audio is not listened to",
        hint="give every participant the same shared key (E2EESettings.shared)",
    )


def _is_microphone(publication: rtc.TrackPublication) -> bool:
    return (
        publication.kind == rtc.TrackKind.KIND_AUDIO
        and publication.source == rtc.TrackSource.SOURCE_MICROPHONE
    )
