"""Room audio out: the agent's speech on its own LiveKit track, with what was heard of it.

:class:`RoomAudioSink` publishes a microphone track (``track_name``) and plays
:class:`~graphflow.frames.SpeechAudio` into it in ``chunk_ms`` pieces. The SDK's audio
source holds at most ``queue_ms`` ahead of what is being sent, so the sink knows at any
time how much has been played (samples pushed minus what is still queued) and therefore
which words were heard. It honours the :class:`~graphflow.conversation.playout.Playout`
contract like the file sink: ``started``/``finished`` per reply, silence at once on
``pause()`` (the queue is cleared and the unplayed rest kept) and on cancellation (the
rest is dropped), the rest played from where it stopped on ``resume()``, playout marks
reported once the frame carrying one has left the queue, and an
``on_cancel`` report of the heard text. The reply's text is published on
``lk.transcription`` as it is heard: an interim update as each sentence starts playing,
and a final one with exactly the words heard. A reply's opening silence (TTS voices
start with tens of ms of it) is skipped, so its first sound is sent at once.

Audio of no reply (``reply_id == ""``: a background layer) is played on the same track,
paced and cut like speech, but reports no reply and is not transcribed (see ``unreported``).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple

import msgspec
import numpy as np
from livekit import rtc

from graphflow.conversation.heard import HeardReply
from graphflow.conversation.playout import Playout, PlayoutEvent
from graphflow.errors import ConfigError
from graphflow.frames import SpeechAudio
from graphflow.frames.agent import heard_prefix
from graphflow.node import Node
from graphflow.ports import Input
from graphflow.runtime.cancellation import CancelInfo
from graphflow.timebase import MS, SECOND
from nodes.room.closing import require_connected
from nodes.room.transcription import TranscriptionPublisher, TranscriptionUpdate, new_segment_id
from nodes.room.unreported import UnreportedAudio, mono16


class RoomSinkOptions(msgspec.Struct, frozen=True):
    """The agent's track: sample ``rate`` (speech is resampled to it), ``track_name``, buffering.

    ``queue_ms``: audio the SDK holds ahead of what is sent (the most a pause or a cancel
    throws away); ``chunk_ms``: audio pushed at a time; ``transcription``: publish the reply
    text on ``lk.transcription``; ``skip_silence_ms``: at most this much silence (below
    :data:`SILENCE`) at the start of a reply is skipped, not played (TTS voices open with
    some; 0 plays everything).
    """

    rate: int = 48000
    track_name: str = "agent"
    queue_ms: int = 100
    chunk_ms: int = 10
    transcription: bool = True
    skip_silence_ms: int = 200


SILENCE = 33
"""Peak (int16) below which leading audio counts as silence: -60 dBFS."""


class Pushed(NamedTuple):
    """Audio handed to the room: clock time, samples (at the sink's rate), audio queued ahead of it (ns)."""

    at: int
    samples: np.ndarray
    queued: int


class _Piece:
    """Audio pushed to the room: ``out`` (at the sink's rate) plays samples ``first..upto`` of ``frame``."""

    __slots__ = ("frame", "first", "upto", "out")

    def __init__(self, frame: SpeechAudio, first: int, upto: int, out: np.ndarray) -> None:
        self.frame, self.first, self.upto, self.out = frame, first, upto, out

    def split(self, played: int) -> int:
        """Drop the first ``played`` output samples; returns the frame sample reached."""
        reached = self.first + (self.upto - self.first) * played // len(self.out)
        self.first, self.out = reached, self.out[played:]
        return reached


class _Reply(HeardReply):
    """A reply being played: what was heard, and the segments announced on ``lk.transcription``."""

    def __init__(self, reply_id: str, generation: int) -> None:
        super().__init__(reply_id, generation)
        self.segment_id = new_segment_id()
        self.announced: dict[int, str] = {}


class RoomAudioSink(Node):
    """Plays ``SpeechAudio`` on the agent's room track; reports what was heard; pauses and stops at once."""

    Options = RoomSinkOptions
    options: RoomSinkOptions
    inp = Input(SpeechAudio, doc="the agent's speech (any rate; mixed down to mono)")
    plays_unreported = True
    """Plays audio of no reply (``reply_id == ""``: a background layer) without reporting it."""

    def __init__(
        self,
        options: RoomSinkOptions | None = None,
        *,
        name: str | None = None,
        room: rtc.Room,
        playout: Playout | None = None,
    ) -> None:
        super().__init__(options, name=name)
        o = self.options
        if (
            not 8000 <= o.rate <= 192000
            or not 1 <= o.chunk_ms <= o.queue_ms
            or o.rate * o.chunk_ms % 1000
            or o.skip_silence_ms < 0
        ):
            raise ConfigError(
                f"RoomSinkOptions: rate={o.rate}, chunk_ms={o.chunk_ms}, queue_ms={o.queue_ms}, "
                f"skip_silence_ms={o.skip_silence_ms}",
                hint="rate 8-192 kHz; chunk_ms a whole number of samples, at most queue_ms; "
                "skip_silence_ms not negative",
            )
        self.room = room
        self.playout = playout or Playout()
        self.playout.listeners.append(self._on_playout)
        self.publisher = TranscriptionPublisher(room, self)
        self.source: rtc.AudioSource | None = None
        self.track: rtc.LocalAudioTrack | None = None
        self.track_sid = ""
        """Sid of the agent's published track (once set up)."""
        self.reply: _Reply | None = None
        self.replies = 0
        """Replies played (wholly or in part)."""
        self.interrupted = 0
        """Replies cut short by a cancellation."""
        self.pauses = 0
        """Times playout was paused while audio was queued."""
        self.replayed = 0
        """Samples (at ``rate``) a pause took back and pushed again when playout resumed."""
        self.last_heard = ""
        """The heard text of the last reply that ended."""
        self.skipped = 0
        """Samples (at the speech's rate) of leading silence not played."""
        self._skip_left = 0  # leading silence of the current reply that may still be skipped
        self._pieces: deque[_Piece] = deque()  # pushed, not yet known to be played
        self._queued = 0  # output samples in _pieces
        self._unplayed: deque[_Piece] = deque()  # taken back by a pause, to push again on resume
        self._resampler: Any = None  # a soxr.ResampleStream while a reply needs resampling
        self._resampler_rate = 0
        self.unreported = UnreportedAudio(o.rate, o.rate * o.chunk_ms // 1000)  # audio of no reply
        self.taps: list[Callable[[Pushed], None]] = []
        """Called with every piece of audio handed to the room (for measurements)."""

    def latency(self) -> int:
        """A reply's first ``chunk_ms`` goes into an empty SDK queue (``queue_ms`` only fills behind it)."""
        return self.options.chunk_ms * MS

    # ----------------------------------------------------------------- lifecycle
    async def setup(self) -> None:
        """Publish the agent's microphone track."""
        require_connected(self.room, self.name or "RoomAudioSink")
        o = self.options
        self.source = rtc.AudioSource(o.rate, 1, queue_size_ms=o.queue_ms)
        self.track = rtc.LocalAudioTrack.create_audio_track(o.track_name, self.source)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        publication = await self.room.local_participant.publish_track(self.track, options)
        self.track_sid = publication.sid

    async def on_frame(self, frame: SpeechAudio) -> None:
        """Play ``frame`` (pausable, cancellable), starting and ending replies as they come."""
        try:
            if frame.reply_id:
                await self._play(frame)
            else:  # audio of no reply (a background layer): played, nothing reported
                await self._play_unreported(frame)
        except asyncio.CancelledError:
            self._silence()
            raise

    async def on_end(self) -> None:
        """The input ended: let a reply left open finish playing."""
        if self.reply is not None:
            await self._drain()
            self._finish(interrupted=False)

    def on_cancel(self, info: CancelInfo) -> object:
        """Fall silent and report what had been heard of the interrupted reply."""
        self._silence()
        reply = self.reply
        if reply is None:
            return None
        heard = reply.heard()
        self._finish(interrupted=True)
        return {"reply_id": reply.reply_id, "heard": heard}

    async def close(self) -> None:
        """End a reply still open, publish the last transcription, unpublish the track."""
        try:
            if self.source is not None:
                self._silence()
            self._finish(interrupted=True)
            await self.publisher.flush()
            if self._on_playout in self.playout.listeners:
                self.playout.listeners.remove(self._on_playout)
            if self.track_sid and self.room.isconnected():
                try:
                    await asyncio.wait_for(self.room.local_participant.unpublish_track(self.track_sid), 5.0)
                except Exception as exc:  # the room went away meanwhile: nothing left to unpublish
                    self.report(exc)
        finally:  # the native source and its capture thread go whatever happened above
            source, self.source, self.track = self.source, None, None
            if source is not None:
                await source.aclose()

    # ------------------------------------------------------------------ playing
    async def _play(self, frame: SpeechAudio) -> None:
        if self.reply is None or self.reply.reply_id != frame.reply_id:
            if self.reply is not None:
                await self._drain()
                self._finish(interrupted=False)
            await self._hold()
            self.reply = _Reply(frame.reply_id, frame.generation)
            self.replies += 1
            self._resampler = None
            self._skip_left = frame.rate * self.options.skip_silence_ms // 1000
            self.publish(self.playout.started(frame.reply_id, frame.generation, self.now()))
        mono = mono16(frame)
        skip = self._skip(mono)
        out = self._convert(mono[skip:], frame)
        n, m = frame.samples_per_channel, len(out)
        if m == 0 and skip < n:  # the resampler kept this short frame's samples for the next one
            self._pieces.append(_Piece(frame, skip, n, out))
            self._account()
        step = self.options.rate * self.options.chunk_ms // 1000
        for a in range(0, m, step):
            b = min(m, a + step)
            await self._hold()
            first, upto = skip + a * (n - skip) // m, skip + b * (n - skip) // m
            await self._push(_Piece(frame, first, upto, out[a:b]))
        if frame.mark:  # someone waits until this much is heard: nothing follows until it is
            await self._drain()
            self.playout.reached(frame.reply_id, frame.mark)
        if frame.last:
            await self._drain()
            self._finish(interrupted=False)

    async def _play_unreported(self, frame: SpeechAudio) -> None:
        """Play audio of no reply (an open reply stays open); a pause drops what is left of it."""
        for first, upto, out in self.unreported.chunks(frame):
            if self.playout.paused:
                continue
            await self._hold()
            self.unreported.pushed += len(out)
            await self._push(_Piece(frame, first, upto, out))

    async def _push(self, piece: _Piece) -> None:
        source = self._audio()
        self._pieces.append(piece)
        self._queued += len(piece.out)
        rate = self.options.rate
        if self.taps:
            pushed = Pushed(self.now(), piece.out, round(source.queued_duration * SECOND))
            for tap in self.taps:
                tap(pushed)
        await source.capture_frame(rtc.AudioFrame(piece.out.tobytes(), rate, 1, len(piece.out)))
        if self.playout.paused:
            source.clear_queue()  # pushed while pausing: keep it silent too
        self._account()

    async def _hold(self) -> None:
        """Wait while paused; then push again what a pause took back."""
        while self.playout.paused or self._unplayed:
            if self.playout.paused:
                await self.playout.wait_unpaused()
                continue
            piece = self._unplayed.popleft()
            self.replayed += len(piece.out)
            await self._push(piece)

    async def _drain(self) -> None:
        """Return once everything pushed has been played (waiting out pauses)."""
        while True:
            await self._hold()
            self._account()
            if not self._pieces:
                return
            wait = max(int(self._audio().queued_duration * SECOND), 5 * MS)
            await self.playout.play_until(self.now() + wait)

    def _skip(self, mono: np.ndarray) -> int:
        """How many leading samples of ``mono`` are the reply's opening silence, not to be played."""
        if self._skip_left <= 0:
            return 0
        sound = np.flatnonzero((mono >= SILENCE) | (mono <= -SILENCE))
        skip = min(int(sound[0]) if len(sound) else len(mono), self._skip_left)
        self._skip_left = 0 if skip < len(mono) else self._skip_left - skip
        self.skipped += skip
        return skip

    def _convert(self, mono: np.ndarray, frame: SpeechAudio) -> np.ndarray:
        """``mono`` (of ``frame``) at the sink's rate (a resampler per reply keeps it seamless)."""
        if frame.rate == self.options.rate:
            return np.ascontiguousarray(mono)
        import soxr

        if self._resampler is None or self._resampler_rate != frame.rate:
            self._resampler = soxr.ResampleStream(frame.rate, self.options.rate, 1, dtype="int16")
            self._resampler_rate = frame.rate
        return np.ascontiguousarray(self._resampler.resample_chunk(mono, last=frame.last), dtype=np.int16)

    # --------------------------------------------------------------- accounting
    def _audio(self) -> rtc.AudioSource:
        if self.source is None:
            raise ConfigError("RoomAudioSink is not set up")
        return self.source

    def _account(self) -> None:
        """Mark as heard what has left the queue since the last look."""
        if self.source is None:
            return
        queued = round(self.source.queued_duration * self.options.rate)
        played = max(0, self._queued - queued)
        while self._pieces:
            piece = self._pieces[0]
            n = len(piece.out)
            if n == 0:  # no samples of its own: heard once what was queued before it is
                self._pieces.popleft()
                self._heard(piece.frame, piece.first, piece.upto)
                continue
            if played <= 0:
                break
            take = min(n, played)
            first = piece.first
            reached = piece.split(take)
            self._heard(piece.frame, first, reached)
            self._queued -= take
            played -= take
            if take == n:
                self._pieces.popleft()

    def _heard(self, frame: SpeechAudio, first: int, upto: int) -> None:
        reply = self.reply
        if reply is None or reply.reply_id != frame.reply_id:
            return
        if frame.text and frame.segment not in reply.announced and upto > first:
            reply.announced[frame.segment] = frame.text
            text = " ".join(reply.announced[i] for i in sorted(reply.announced))
            self._transcribe(reply, text, final=False)
        if frame.offset + upto >= frame.total:
            reply.segments[frame.segment] = frame.text
        elif frame.total > 0:
            reply.partial = (frame.segment, heard_prefix(frame.text, (frame.offset + upto) / frame.total))

    def _silence(self) -> None:
        """Stop sound now and forget what was not played."""
        self._account()
        if self.source is not None:
            self.source.clear_queue()
        self._pieces.clear()
        self._unplayed.clear()
        self._queued = 0
        self._resampler = None
        self.unreported.reset()

    def _on_playout(self, event: PlayoutEvent) -> None:
        if event.kind != "paused" or self.source is None:
            return
        self._account()
        self.source.clear_queue()
        speech = [p for p in self._pieces if p.frame.reply_id]  # audio of no reply is not played later
        if speech:
            self.pauses += 1
        self._unplayed.extendleft(reversed(speech))
        self._pieces.clear()
        self._queued = 0

    def _finish(self, *, interrupted: bool) -> None:
        reply, self.reply = self.reply, None
        if reply is None:
            return
        heard = reply.heard()
        self.last_heard = heard
        self.interrupted += interrupted
        self.publish(self.playout.finished(reply.reply_id, reply.generation, self.now(), heard, interrupted))
        if reply.announced or heard:
            self._transcribe(reply, heard, final=True)

    def _transcribe(self, reply: _Reply, text: str, *, final: bool) -> None:
        if self.options.transcription:
            update = TranscriptionUpdate(text, reply.segment_id, self.track_sid, final)
            self.publisher.publish(update)
