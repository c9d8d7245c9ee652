"""A benchmark participant whose microphone is always on, like a LiveKit client's.

A browser or phone publishes its microphone when it joins and sends 10 ms of audio every
10 ms from then on, silence included. :class:`Caller` does the same: a feeder task keeps
the microphone's audio source supplied with silence and plays utterances into it when
asked, so the agent's receiver (its jitter buffer) sees one steady stream rather than
bursts that start and stop with each utterance.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from pathlib import Path

import numpy as np
from livekit import rtc

from tests.livekit.peer import Peer, speech_pcm

LOUD = 1000
"""Peak above which a sent 10 ms counts as loud (as in ``Peer.speak``)."""


class Caller(Peer):
    """A participant whose microphone sends audio continuously: silence, or what it says."""

    rate = 48000

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._said: deque[np.ndarray] = deque()
        self._loud: list[float] = []
        self._left = 0  # chunks of the current utterance not captured yet
        self._said_all = asyncio.Event()
        self._feeder: asyncio.Task[None] | None = None

    async def open_microphone(self, rate: int = 48000, channels: int = 1) -> None:
        """Publish the microphone and start sending silence."""
        await super().open_microphone(self.rate, 1)
        self._feeder = asyncio.ensure_future(self._feed())

    async def speak(
        self, wav: Path, *, rate: int = 48000, channels: int = 1, lead_ms: int = 0, tail_ms: int = 1000
    ) -> tuple[float, float]:
        """Say ``wav`` (then ``tail_ms`` of silence); the loop times its first and last loud 10 ms left."""
        if self._feeder is None:
            await self.open_microphone()
        pcm = speech_pcm(wav, self.rate, lead_ms, tail_ms)
        step = self.rate // 100
        self._loud = []
        chunks = [pcm[i : i + step] for i in range(0, len(pcm) - step + 1, step)]
        self._left = len(chunks)
        self._said_all.clear()
        self._said.extend(chunks)
        loop = asyncio.get_running_loop()
        await self._said_all.wait()
        source = self.source
        assert source is not None
        await asyncio.sleep(source.queued_duration)  # until the last chunk has left
        return (self._loud[0], self._loud[-1]) if self._loud else (loop.time(), loop.time())

    async def _feed(self) -> None:
        source = self.source
        assert source is not None
        loop = asyncio.get_running_loop()
        step = self.rate // 100
        silence = np.zeros(step, np.int16)
        while True:
            chunk = self._said.popleft() if self._said else silence
            await source.capture_frame(rtc.AudioFrame(chunk.tobytes(), self.rate, 1, step))
            if chunk is not silence:
                if np.abs(chunk).max() > LOUD:
                    # captured once the queue has room: it leaves ``queued_duration`` later
                    self._loud.append(loop.time() + source.queued_duration)
                self._left -= 1
                if not self._left:
                    self._said_all.set()

    async def leave(self) -> None:
        """Stop the microphone, then leave."""
        if self._feeder is not None:
            self._feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._feeder
        await super().leave()
