"""FallbackTTS: one text-to-speech stage that asks a list of TTS providers in turn."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from graphflow.frames import AudioFormat, SampleFormat
from graphflow.models import ModelHub
from nodes.fallback.availability import FallbackOptions, ProviderPool
from nodes.tts.sentences import SentenceTTS, at_rate


class FallbackTTS(SentenceTTS):
    """Speaks each sentence with the first available provider that answers in time.

    Only this node is in the graph; the providers are plain :class:`SentenceTTS`
    objects it sets up, closes and asks for audio. Its output rate, sentence length
    and pause are the first provider's; audio from a provider with another rate is
    resampled (soxr) to that rate, so the output format never changes.

    A provider is left for the next one when it raises a
    :class:`~graphflow.errors.ProviderError` or does not return the sentence's audio
    within ``attempt_timeout_s``. When no provider answers, the sentence is not spoken
    and the error is reported, as with a single provider; the reply still ends.
    """

    Options = FallbackOptions
    options: FallbackOptions

    def __init__(
        self,
        providers: Sequence[SentenceTTS],
        options: FallbackOptions | None = None,
        *,
        name: str | None = None,
        hub: ModelHub | None = None,
    ) -> None:
        super().__init__(options or FallbackOptions(), name=name, hub=hub)
        self.pool = ProviderPool(self, providers, self.options, self.publish)
        """The providers and their availability (each change is published to the run's observers)."""
        first = self.pool.providers[0]
        self.configure(first.max_chars, first.pause_ms)
        self.out.format = AudioFormat(first.rate, 1, SampleFormat.S16)
        self.resampled = 0
        """Sentences whose audio was resampled to the output rate."""

    def latency(self) -> int:
        """The first provider's: it speaks unless it fails or is late."""
        return self.pool.providers[0].latency()

    async def setup(self) -> None:
        """Set up every provider (they are not in the graph)."""
        await self.pool.setup()

    async def close(self) -> None:
        """Close every provider."""
        await self.pool.close()

    async def asynthesize(self, text: str) -> np.ndarray:
        """Audio of ``text`` from the first provider that answers, at this node's rate."""
        provider, pcm = await self.pool.call(lambda p: p.asynthesize(text))
        return self._at_rate(pcm, provider.rate)

    def _at_rate(self, pcm: np.ndarray, rate: int) -> np.ndarray:
        """``pcm`` (int16 mono at ``rate``) resampled to the output rate; other shapes as they are."""
        out: np.ndarray = at_rate(pcm, rate, self.rate)
        if out is not pcm and rate != self.rate:
            self.resampled += 1
        return out
