"""File sink: plays the agent's speech in real time onto the conversation's timeline, then writes a WAV.

It behaves like a loudspeaker: each frame takes its duration to play, so a barge-in
cuts the reply where the listener would have stopped hearing it, and the report says
exactly which words were heard. Audio is placed at the media time it was played
(silence where the agent is quiet), so the output can be listened to beside the input;
with the input connected to ``reference`` the file is stereo: user left, agent right.
"""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import msgspec
import numpy as np

from graphflow.conversation.heard import HeardReply
from graphflow.conversation.playout import Playout
from graphflow.frames import AudioFrame, SpeechAudio
from graphflow.frames.agent import heard_prefix
from graphflow.node import Node
from graphflow.ports import Input
from graphflow.runtime.cancellation import CancelInfo
from graphflow.timebase import ns_to_samples, samples_to_ns


class FileSinkOptions(msgspec.Struct, frozen=True):
    """Where to write, at what rate; ``path=""`` plays without writing a file."""

    path: str = ""
    rate: int = 16000


class FileSink(Node):
    """Plays ``SpeechAudio`` at real-time pace and writes the conversation to a WAV file.

    Latency 0: a frame starts playing the moment it arrives (a loudspeaker with no buffer).
    """

    Options = FileSinkOptions
    options: FileSinkOptions
    inp = Input(SpeechAudio)
    plays_unreported = True
    """Plays and records audio of no reply (``reply_id == ""``: a background layer) without reporting it."""
    reference = Input(AudioFrame, required=False, handler="on_reference")

    def __init__(
        self,
        options: FileSinkOptions | None = None,
        *,
        name: str | None = None,
        playout: Playout | None = None,
    ) -> None:
        super().__init__(options, name=name)
        self.playout = playout or Playout()
        self.cursor = 0
        self.reply: HeardReply | None = None
        self.agent: list[tuple[int, AudioFrame]] = []
        self.user: list[AudioFrame] = []
        self.replies: list[HeardReply] = []

    async def on_frame(self, frame: SpeechAudio) -> None:
        """Play ``frame`` (pausable, cancellable) and record what was played."""
        if not frame.reply_id:  # audio of no reply (a background layer): played and kept, nothing reported
            await self._play_unreported(frame)
            return
        playout = self.playout
        if self.reply is None or self.reply.reply_id != frame.reply_id:
            self._finish_reply(interrupted=False)
            self.reply = HeardReply(frame.reply_id, frame.generation)
            self.replies.append(self.reply)
            await playout.wait_unpaused()
            self.cursor = max(self.cursor, self.now())
            self.publish(playout.started(frame.reply_id, frame.generation, self.cursor))
        n = frame.samples_per_channel
        done = 0
        while done < n:
            await playout.wait_unpaused()
            start = max(self.cursor, self.now())
            end = start + samples_to_ns(n - done, frame.rate)
            try:
                completed = await playout.play_until(end)
            except asyncio.CancelledError:
                self._played(frame, done, done + ns_to_samples(self.now() - start, frame.rate), start)
                raise
            upto = n if completed else done + min(n - done, ns_to_samples(self.now() - start, frame.rate))
            self._played(frame, done, upto, start)
            self.cursor = end if completed else self.now()
            done = upto
        if frame.mark:
            playout.reached(frame.reply_id, frame.mark)
        if frame.last:
            self._finish_reply(interrupted=False)

    async def _play_unreported(self, frame: SpeechAudio) -> None:
        """Play audio of no reply; a pause cuts it, and what was left is not played later."""
        n = frame.samples_per_channel
        start = max(self.cursor, self.now())
        end = start + samples_to_ns(n, frame.rate)
        try:
            completed = not self.playout.paused and await self.playout.play_until(end)
        except asyncio.CancelledError:
            self._keep(frame, ns_to_samples(self.now() - start, frame.rate), start)
            raise
        upto = n if completed else ns_to_samples(max(0, self.now() - start), frame.rate)
        self._keep(frame, upto, start)
        self.cursor = end if completed else max(self.cursor, self.now())

    def _keep(self, frame: SpeechAudio, upto: int, start: int) -> None:
        """Keep the first ``upto`` samples of ``frame``, played from clock time ``start``."""
        upto = min(upto, frame.samples_per_channel)
        if upto > 0:
            media = self.playout.timeline.media(start)
            self.agent.append((media, AudioFrame(samples=frame.samples[:upto], rate=frame.rate, pts=media)))

    def on_reference(self, frame: AudioFrame) -> None:
        """Keep the user's audio for the left channel of a stereo output."""
        self.user.append(frame)

    def on_cancel(self, info: CancelInfo) -> object:
        """Report what had been heard of the interrupted reply."""
        reply = self.reply
        if reply is None:
            return None
        heard = reply.heard()
        self._finish_reply(interrupted=True)
        return {"reply_id": reply.reply_id, "heard": heard}

    async def close(self) -> None:
        """Write the WAV file, if a path was given."""
        self._finish_reply(interrupted=True)
        if self.options.path:
            await asyncio.to_thread(self.write, Path(self.options.path))

    # ------------------------------------------------------------------ helpers
    def _played(self, frame: SpeechAudio, first: int, upto: int, start: int) -> None:
        upto = max(first, min(upto, frame.samples_per_channel))
        if upto == first:
            return
        media = self.playout.timeline.media(start)
        chunk = frame.samples[first:upto]
        self.agent.append((media, AudioFrame(samples=chunk, rate=frame.rate, pts=media)))
        reply = self.reply
        if reply is not None:
            if frame.offset + upto >= frame.total:
                reply.segments[frame.segment] = frame.text
            else:
                fraction = (frame.offset + upto) / frame.total if frame.total else 0.0
                reply.partial = (frame.segment, heard_prefix(frame.text, fraction))

    def _finish_reply(self, *, interrupted: bool) -> None:
        reply, self.reply = self.reply, None
        if reply is not None:
            at = self.now() if self._rt is not None else self.cursor
            self.publish(
                self.playout.finished(reply.reply_id, reply.generation, at, reply.heard(), interrupted)
            )

    def write(self, path: Path) -> None:
        """Write what was played so far to ``path``: one WAV, the user left and the agent right."""
        write_conversation(path, self.user, self.agent, self.options.rate)


def write_conversation(
    path: Path, user: list[AudioFrame], agent: list[tuple[int, AudioFrame]], rate: int
) -> None:
    """Write a conversation as a WAV at ``rate``, both sides on the input's timeline.

    ``user`` is the user's audio in order (its first frame's ``pts`` places it), ``agent``
    what the agent played, each piece with the media time it started playing at. With
    user audio the file is stereo (user left, agent right); without, mono (the agent).
    """
    import soxr

    mono = _concat_mono(user, rate)
    end = max([len(mono)] + [ns_to_samples(m, rate) + _len_at(f, rate) for m, f in agent])
    voice = np.zeros(end, np.float32)
    for media, frame in agent:
        samples = frame.samples[:, 0].astype(np.float32) / 32768.0
        if frame.rate != rate:
            samples = soxr.resample(samples, frame.rate, rate)
        at = ns_to_samples(media, rate)
        voice[at : at + len(samples)] += samples[: max(0, end - at)]
    channels = [voice] if not user else [np.pad(mono, (0, end - len(mono))), voice]
    pcm = np.clip(np.stack(channels, axis=1) * 32768.0, -32768, 32767).astype("<i2")
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(len(channels))
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())


def _len_at(frame: AudioFrame, rate: int) -> int:
    return frame.samples_per_channel * rate // frame.rate + 1


def _concat_mono(frames: list[AudioFrame], rate: int) -> np.ndarray:
    import soxr

    if not frames:
        return np.zeros(0, np.float32)
    source = frames[0].rate
    last = frames[-1]
    mono = np.zeros(ns_to_samples(last.pts, source) + last.samples_per_channel, np.float32)
    for frame in frames:  # each at its own time: a frame that never arrived leaves silence, not a shift
        at = ns_to_samples(frame.pts, source)
        mono[at : at + frame.samples_per_channel] = frame.samples.astype(np.float32).mean(axis=1)
    if frames[0].samples.dtype == np.int16:
        mono /= 32768.0
    if source != rate:
        mono = soxr.resample(mono, source, rate).astype(np.float32)
    return mono
