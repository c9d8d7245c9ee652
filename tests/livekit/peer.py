"""A test participant: joins a room with the ``livekit`` SDK, speaks a WAV file, listens back."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from livekit import api, rtc

from graphflow.livekit.server import LiveKitServer
from nodes.io.file_source import decode_file


def token(
    server: LiveKitServer,
    identity: str,
    room: str,
    *,
    agent: bool = False,
    name: str = "",
    room_config: api.RoomConfiguration | None = None,
) -> str:
    """A participant token for ``room`` (``agent=True`` adds the agent grant)."""
    grants = api.VideoGrants(room_join=True, room=room, agent=agent, can_publish=True, can_subscribe=True)
    t = api.AccessToken(server.options.api_key, server.options.api_secret).with_identity(identity)
    t = t.with_name(name or identity).with_grants(grants)
    if room_config is not None:
        t = t.with_room_config(room_config)
    return t.to_jwt()


def speech_pcm(wav: Path, rate: int, lead_ms: int = 0, tail_ms: int = 0) -> np.ndarray:
    """``wav`` as int16 mono at ``rate``, with ``lead_ms`` of silence before and ``tail_ms`` after."""
    samples, file_rate = decode_file(wav)
    mono = samples.astype(np.float32).mean(axis=1)
    if file_rate != rate:
        import soxr

        mono = soxr.resample(mono, file_rate, rate)
    pcm = np.clip(mono, -32768, 32767).astype(np.int16)
    pad = np.zeros(rate * lead_ms // 1000, np.int16)
    return np.concatenate([pad, pcm, np.zeros(rate * tail_ms // 1000, np.int16)])


@dataclass
class Heard:
    """Audio frames one participant received from another, with their arrival times."""

    frames: list[np.ndarray] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    rate: int = 48000

    def samples(self) -> np.ndarray:
        """All received samples, int16 mono."""
        return np.concatenate(self.frames) if self.frames else np.zeros(0, np.int16)

    def loud_at(self, threshold: int = 500) -> list[float]:
        """Arrival times of the frames whose peak is above ``threshold``."""
        return [
            t
            for f, t in zip(self.frames, self.arrivals, strict=True)
            if len(f) and np.abs(f).max() > threshold
        ]


class Peer:
    """One participant of a test room."""

    def __init__(self, server: LiveKitServer, identity: str, room: str) -> None:
        self.server, self.identity, self.room_name = server, identity, room
        self.room = rtc.Room()
        self.heard: dict[str, Heard] = {}
        self.texts: list[tuple[dict[str, str], str, str]] = []
        self.source: rtc.AudioSource | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.room.on("track_subscribed", self._on_track)

    async def join(self, options: rtc.RoomOptions | None = None, **token_args: object) -> Peer:
        """Connect to the room."""
        jwt = token(self.server, self.identity, self.room_name, **token_args)  # type: ignore[arg-type]
        await self.room.connect(self.server.url, jwt, options or rtc.RoomOptions())
        self.room.register_text_stream_handler("lk.transcription", self._on_text)
        return self

    async def speak(
        self, wav: Path, *, rate: int = 48000, channels: int = 1, lead_ms: int = 0, tail_ms: int = 1000
    ) -> tuple[float, float]:
        """Publish ``wav`` as the microphone at real-time pace, then ``tail_ms`` of silence.

        Returns the loop times at which the first and the last loud 10 ms of speech were sent.
        """
        pcm = speech_pcm(wav, rate, lead_ms, tail_ms)
        if self.source is None or self.source.sample_rate != rate or self.source.num_channels != channels:
            await self.open_microphone(rate, channels)
        source = self.source
        assert source is not None
        loop = asyncio.get_running_loop()
        step = rate // 100
        loud: list[float] = []
        for first in range(0, len(pcm) - step + 1, step):
            chunk = pcm[first : first + step]
            frame = np.repeat(chunk[:, None], channels, axis=1) if channels > 1 else chunk
            await source.capture_frame(rtc.AudioFrame(frame.tobytes(), rate, channels, step))
            if np.abs(chunk).max() > 1000:
                # captured once the source's queue has room: it leaves ``queued_duration`` later
                loud.append(loop.time() + source.queued_duration)
        await source.wait_for_playout()
        return (loud[0], loud[-1]) if loud else (loop.time(), loop.time())

    async def open_microphone(self, rate: int = 48000, channels: int = 1) -> None:
        """Publish a microphone track (silent until ``speak``), as a client does when it joins."""
        self.source = rtc.AudioSource(rate, channels, queue_size_ms=100)
        track = rtc.LocalAudioTrack.create_audio_track("microphone", self.source)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        await self.room.local_participant.publish_track(track, options)

    async def leave(self) -> None:
        """Disconnect and stop listening."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.room.disconnect()

    # ----------------------------------------------------------------- helpers
    def _on_track(
        self, track: rtc.Track, pub: rtc.RemoteTrackPublication, who: rtc.RemoteParticipant
    ) -> None:
        if track.kind != rtc.TrackKind.KIND_AUDIO:
            return
        heard = self.heard.setdefault(who.identity, Heard())
        task = asyncio.ensure_future(self._listen(track, heard))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _listen(self, track: rtc.Track, heard: Heard) -> None:
        loop = asyncio.get_running_loop()
        async for event in rtc.AudioStream(track, sample_rate=heard.rate, num_channels=1):
            heard.frames.append(np.frombuffer(event.frame.data, np.int16).copy())
            heard.arrivals.append(loop.time())

    def _on_text(self, reader: rtc.TextStreamReader, sender: str) -> None:
        async def read() -> None:
            text = await reader.read_all()
            self.texts.append((dict(reader.info.attributes or {}), sender, text))

        task = asyncio.ensure_future(read())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
