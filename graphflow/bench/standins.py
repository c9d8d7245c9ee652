"""Stand-ins of known delay for the remote-style stages (STT, LLM, TTS), timing every call.

Each stand-in waits its configured delay on the run's clock, and records every call it
completes as a :class:`ProviderCall`: when the stage handed it the work, when the
provider gave back its answer (the text, the first token, the first audio), and when it
was due. The bench subtracts the *measured* span of each call on an exchange's path from
voice-to-voice, so a stand-in's own timer overshoot (the event loop's timers fire up to
a millisecond late) is counted as model time, not as the engine's. ``late_ms`` makes a
stand-in answer that much after it was due, so tests can inject an overshoot.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import msgspec
import numpy as np

from graphflow.conversation.chat import ChatContext
from graphflow.conversation.model import NO_TOOLS, Chunk, ModelTools
from graphflow.frames import AudioFormat, SampleFormat
from graphflow.models import ModelHub
from graphflow.timebase import MS
from nodes.llm.local import LocalResponder, LocalResponderOptions, tokens
from nodes.stt.segmenter import Recognition, SegmentedSTT, SegmentedSTTOptions
from nodes.tts.sentences import SentenceTTS


class ProviderCall(msgspec.Struct, frozen=True):
    """One completed provider call on the run's clock (ns): handed over, answered, due."""

    start: int
    end: int
    due: int

    @property
    def overshoot(self) -> int:
        """How long after its configured delay the call answered (ns)."""
        return self.end - self.due


class StandInSTTOptions(SegmentedSTTOptions, frozen=True):
    """The stand-in answers ``delay_ms`` after the end of speech with the next scripted text."""

    delay_ms: int = 150
    late_ms: float = 0.0
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
        self.calls: list[ProviderCall] = []
        """Every recognition, in order."""

    def latency(self) -> int:
        """The configured recognition delay."""
        return self.options.delay_ms * MS

    async def recognize(self, pcm: np.ndarray) -> Recognition:
        """Wait the configured delay, then give the next line of the script."""
        start = self.now()
        due = start + self.options.delay_ms * MS
        await self.clock.sleep_until(due + round(self.options.late_ms * MS))
        text = self.script[self.index] if self.index < len(self.script) else ""
        self.index += 1
        self.calls.append(ProviderCall(start, self.now(), due))
        return Recognition(text=text)


class StandInLLMOptions(LocalResponderOptions, frozen=True):
    """The local responder's replies, all tokens at once ``ttft_ms`` after the call."""

    tokens_per_second: float = 0.0
    late_ms: float = 0.0


class StandInLLM(LocalResponder):
    """The local responder, timing each call from its start to its first chunk."""

    Options = StandInLLMOptions
    options: StandInLLMOptions

    def __init__(
        self,
        options: StandInLLMOptions | None = None,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(options or StandInLLMOptions(), name=name)
        self.calls: list[ProviderCall] = []
        """Every call that produced a first chunk: start → first chunk."""

    async def stream(self, chat: ChatContext, tools: ModelTools = NO_TOOLS) -> AsyncGenerator[Chunk, None]:
        """Wait the time to first token, then give the whole reply (and any tool calls)."""
        start = self.now()
        reply, calls = self.plan(chat, tools)
        due = start + round(self.options.ttft_ms * MS)
        await self.clock.sleep_until(due + round(self.options.late_ms * MS))
        self.calls.append(ProviderCall(start, self.now(), due))
        for token in tokens(reply):
            yield Chunk(token)
        for call in calls:
            yield Chunk(tool_call=call)


class StandInTTSOptions(msgspec.Struct, frozen=True):
    """First audio ``first_byte_ms`` after a sentence's text; ``seconds_per_char`` of audio."""

    first_byte_ms: int = 100
    seconds_per_char: float = 0.06
    rate: int = 16000
    late_ms: float = 0.0


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
        self.calls: list[ProviderCall] = []
        """Every sentence synthesized: text handed over → audio returned."""

    def latency(self) -> int:
        """The configured first-byte delay."""
        return self.options.first_byte_ms * MS

    async def asynthesize(self, text: str) -> np.ndarray:
        """Wait the first-byte delay, then return the sentence's audio."""
        start = self.now()
        due = start + self.options.first_byte_ms * MS
        await self.clock.sleep_until(due + round(self.options.late_ms * MS))
        n = max(1, int(len(text) * self.options.seconds_per_char * self.options.rate))
        pcm = (np.sin(np.arange(n, dtype=np.float32) / 6) * 3000).astype(np.int16)
        self.calls.append(ProviderCall(start, self.now(), due))
        return pcm
