"""FallbackSTT: one speech-to-text stage that asks a list of STT providers in turn."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from graphflow.errors import ProviderError
from graphflow.models import ModelHub
from nodes.fallback.availability import FallbackOptions, ProviderPool
from nodes.stt.segmenter import Recognition, SegmentedSTT, SegmentedSTTOptions


class FallbackSTTOptions(SegmentedSTTOptions, frozen=True):
    """This node's own segmentation settings and how it falls back through its providers."""

    fallback: FallbackOptions = FallbackOptions()
    """Timeout, retry interval and failure count of the providers."""


class FallbackSTT(SegmentedSTT):
    """Recognizes each piece of speech with the first available provider that answers in time.

    Only this node is in the graph and it does the segmenting (with its own options);
    the providers are plain :class:`SegmentedSTT` objects it sets up, closes and asks
    for text (their segmentation options are not used).

    A provider is left for the next one when it raises a
    :class:`~graphflow.errors.ProviderError` or does not answer within
    ``fallback.attempt_timeout_s``. When no provider answers, the error is reported
    and the recognition is empty: the segment still closes (with an empty final) and
    the session goes on with the next one.
    """

    Options = FallbackSTTOptions
    options: FallbackSTTOptions

    def __init__(
        self,
        providers: Sequence[SegmentedSTT],
        options: FallbackSTTOptions | None = None,
        *,
        name: str | None = None,
        hub: ModelHub | None = None,
    ) -> None:
        super().__init__(options or FallbackSTTOptions(), name=name, hub=hub)
        self.pool = ProviderPool(self, providers, self.options.fallback, self.publish)
        """The providers and their availability (each change is published to the run's observers)."""
        self.failures = 0
        """Recognitions no provider answered (each reported to observers)."""

    def latency(self) -> int:
        """The first provider's: it recognizes unless it fails (this node's own estimate is unused)."""
        return self.pool.providers[0].latency()

    async def setup(self) -> None:
        """Set up every provider (they are not in the graph)."""
        await self.pool.setup()

    async def close(self) -> None:
        """Close every provider."""
        await self.pool.close()

    async def recognize(self, pcm: np.ndarray) -> Recognition:
        """Text of ``pcm`` from the first provider that answers; empty (and reported) if none does."""
        try:
            _, recognition = await self.pool.call(lambda p: p.recognize(pcm))
        except ProviderError as exc:
            self.failures += 1
            self.report(exc)
            return Recognition(text="")
        return recognition
