"""Stand-ins of fixed, known delay for the remote-style stages (STT, TTS; the LLM is the
local responder with its configured time to first token).

With every stage's own time known, whatever voice-to-voice latency is left over is the
engine's: ``engine_added = voice_to_voice - end_of_turn - llm_ttft - tts_first_byte``.
The peers' harnesses use the same stand-ins and the same definition.
"""

from __future__ import annotations

import msgspec
import numpy as np

from graphflow.frames import AudioFormat, SampleFormat
from graphflow.models import ModelHub
from graphflow.nodes.stt.segmenter import Recognition, SegmentedSTT, SegmentedSTTOptions
from graphflow.nodes.tts.sentences import SentenceTTS
from graphflow.timebase import MS


class StandInSTTOptions(SegmentedSTTOptions, frozen=True):
    """The stand-in answers ``delay_ms`` after the end of speech with the next scripted text."""

    delay_ms: int = 150
    interim_interval_ms: int = 0


class StandInSTT(SegmentedSTT):
    """Recognises by script: the n-th final transcript is ``script[n]``, ``delay_ms`` late."""

    Options = StandInSTTOptions
    options: StandInSTTOptions

    def __init__(
        self,
        script: list[str],
        options: StandInSTTOptions | None = None,
        *,
        name: str | None = None,
        hub: ModelHub | None = None,
    ) -> None:
        super().__init__(options or StandInSTTOptions(), name=name, hub=hub)
        self.script = list(script)
        self.index = 0

    async def recognize(self, pcm: np.ndarray) -> Recognition:
        """Wait the configured delay, then give the next line of the script."""
        await self.clock.sleep_until(self.now() + self.options.delay_ms * MS)
        text = self.script[self.index] if self.index < len(self.script) else ""
        self.index += 1
        return Recognition(text=text)


class StandInTTSOptions(msgspec.Struct, frozen=True):
    """First audio ``first_byte_ms`` after a sentence's text; ``seconds_per_char`` of audio."""

    first_byte_ms: int = 100
    seconds_per_char: float = 0.06
    rate: int = 16000


class StandInTTS(SentenceTTS):
    """Speaks a quiet tone for each sentence after a fixed delay (no model)."""

    Options = StandInTTSOptions
    options: StandInTTSOptions

    def __init__(
        self,
        options: StandInTTSOptions | None = None,
        *,
        name: str | None = None,
        hub: ModelHub | None = None,
    ) -> None:
        super().__init__(options or StandInTTSOptions(), name=name, hub=hub)
        self.out.format = AudioFormat(self.options.rate, 1, SampleFormat.S16)

    async def asynthesize(self, text: str) -> np.ndarray:
        """Wait the first-byte delay, then return the sentence's audio."""
        await self.clock.sleep_until(self.now() + self.options.first_byte_ms * MS)
        n = max(1, int(len(text) * self.options.seconds_per_char * self.options.rate))
        return (np.sin(np.arange(n, dtype=np.float32) / 6) * 3000).astype(np.int16)
