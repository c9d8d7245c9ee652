"""Piper text-to-speech (piper-tts, ONNX): a natural local voice at 22050 Hz.

One :class:`~piper.PiperVoice` per model and process, shared through the ModelHub. Piper
phonemizes with a statically linked eSpeak NG whose state is process-global, so every
synthesis holds one process-wide lock (the ONNX call is the larger part of the time).
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np

from graphflow.errors import ConfigError
from graphflow.frames import AudioFormat, SampleFormat
from graphflow.models import ModelHub, ModelMissing
from nodes.tts.options import SentenceTTSOptions
from nodes.tts.sentences import SentenceTTS

PIPER_LOCK = threading.Lock()
"""Serializes Piper synthesis: its bundled eSpeak phonemizer is process-global state."""


class PiperOptions(SentenceTTSOptions, frozen=True):
    """Piper voice settings; ``None`` keeps the voice's own value from its .onnx.json.

    ``length_scale`` > 1 speaks slower; ``noise_scale`` / ``noise_w_scale`` vary the
    voice and the timing; ``volume`` multiplies the (peak-normalized) audio.
    ``expected_first_audio_ms`` only feeds the latency budget: the first sentence's
    synthesis, measured 228-305 ms p50 on 2 busy cores (about 60 ms on an idle machine).
    """

    model: str = "piper-joe"
    voice_file: str = "en_US-joe-medium.onnx"
    speaker_id: int | None = None
    length_scale: float | None = None
    noise_scale: float | None = None
    noise_w_scale: float | None = None
    volume: float = 1.0
    normalize_audio: bool = True
    expected_first_audio_ms: int = 250


def load_voice(onnx: Path) -> Any:
    """Load a Piper voice (``name.onnx`` next to ``name.onnx.json``)."""
    from piper import PiperVoice

    return PiperVoice.load(onnx, config_path=onnx.with_name(onnx.name + ".json"))


class PiperTTS(SentenceTTS):
    """Text to speech with a local Piper voice (default en_US-joe-medium, 22050 Hz mono s16)."""

    Options = PiperOptions
    options: PiperOptions

    def __init__(
        self, options: PiperOptions | None = None, *, name: str | None = None, hub: ModelHub | None = None
    ) -> None:
        super().__init__(options, name=name, hub=hub)
        o = self.options
        if (o.length_scale is not None and o.length_scale <= 0) or o.volume <= 0:
            raise ConfigError(
                f"PiperOptions out of range: length_scale={o.length_scale}, volume={o.volume}",
                hint="length_scale and volume must be positive",
            )
        self.out.format = AudioFormat(self._voice_rate(), 1, SampleFormat.S16)
        self.voice: Any = None
        self.config: Any = None

    def _voice_rate(self) -> int:
        """The voice's sample rate from its .onnx.json (22050 if the model is not downloaded yet)."""
        try:
            meta = self.hub.cache.path(self.options.model, self.options.voice_file + ".json")
        except ModelMissing:
            return 22050  # setup() will raise ModelMissing with the download command
        rate = json.loads(meta.read_text())["audio"]["sample_rate"]
        return int(rate)

    async def setup(self) -> None:
        """Load the voice once per process (ModelMissing names `graphflow models download`)."""
        from piper import SynthesisConfig

        onnx = self.hub.cache.path(self.options.model, self.options.voice_file)
        self.voice = await asyncio.to_thread(self.hub.shared, f"piper:{onnx}", lambda: load_voice(onnx))
        if self.voice.config.sample_rate != self.rate:
            raise ConfigError(f"{onnx.name} speaks at {self.voice.config.sample_rate} Hz, not {self.rate}")
        o = self.options
        if o.speaker_id is not None and not 0 <= o.speaker_id < self.voice.config.num_speakers:
            raise ConfigError(
                f"{onnx.name} has {self.voice.config.num_speakers} speaker(s); speaker_id {o.speaker_id}"
            )
        self.config = SynthesisConfig(
            speaker_id=o.speaker_id,
            length_scale=o.length_scale,
            noise_scale=o.noise_scale,
            noise_w_scale=o.noise_w_scale,
            normalize_audio=o.normalize_audio,
            volume=o.volume,
        )

    def synthesize(self, text: str) -> np.ndarray:
        """Speak ``text``: int16 mono at the voice's rate (one call per sentence, blocking)."""
        if self.voice is None:
            raise ConfigError("PiperTTS.synthesize called before setup()")
        with PIPER_LOCK:
            chunks = [chunk.audio_int16_array for chunk in self.voice.synthesize(text, self.config)]
        return np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
