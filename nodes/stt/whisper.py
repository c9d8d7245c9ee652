"""WhisperSTT: local Whisper base (faster-whisper / CTranslate2, int8) on VAD-delimited speech.

One model per process, shared through the :class:`~graphflow.models.ModelHub`; calls are
serialized with a lock (one CTranslate2 model, two cores). By default short segments are
encoded in a 10 s window instead of Whisper's fixed 30 s (2.6x faster on average on this
machine, see docs/nodes/stt.md); output that loops (the known failure of short windows)
is detected and recognized again with the standard 30 s path.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from graphflow.errors import ConfigError
from graphflow.models import ModelHub
from graphflow.nodes.stt.segmenter import RATE, Recognition, SegmentedSTT, SegmentedSTTOptions

MAX_COMPRESSION = 2.4
"""Text that gzip compresses more than this is a repetition loop (Whisper's own rule)."""
LOW_LOGPROB = -1.0
"""Windowed results less confident than this (mean token log-prob) are redone on 30 s."""
EOT_LIMIT = 50257
"""Token ids below this are text; the rest are Whisper's special tokens."""


class WhisperOptions(SegmentedSTTOptions, frozen=True):
    """Segmentation settings plus Whisper decoding options."""

    language: str = "en"
    """Spoken language code; '' detects it (then the 30 s path is used)."""
    beam_size: int = 1
    """1 = greedy (same text as beam 5 on the fixtures, twice as fast)."""
    window_s: float = 10.0
    """Encoder window for short segments: 10 (fast) or 30 (stock faster-whisper)."""
    cpu_threads: int = 2
    """Threads of the shared model (fixed by the first node that loads it)."""
    no_speech_threshold: float = 0.6
    """Above this no-speech probability (and with low confidence) a segment has no words."""


class WhisperEngine:
    """One loaded faster-whisper model; every call holds its lock (thread-safe, serialized)."""

    def __init__(self, path: Path, cpu_threads: int) -> None:
        self.path = path
        self.cpu_threads = cpu_threads
        self.lock = threading.Lock()
        self.model: Any = None

    def load(self) -> None:
        """Load the model once (blocking; call it from a thread)."""
        with self.lock:
            if self.model is not None:
                return
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from faster_whisper import WhisperModel

            self.model = WhisperModel(
                str(self.path), device="cpu", compute_type="int8", cpu_threads=self.cpu_threads
            )

    def transcribe(self, pcm: np.ndarray, options: WhisperOptions) -> Recognition:
        """Text of float32 16 kHz ``pcm`` (blocking; call it from a thread)."""
        self.load()
        with self.lock:
            seconds = pcm.shape[0] / RATE
            if options.language and options.window_s < 30 and seconds + 1.0 < 30:
                rec = self._windowed(pcm, options)
                if rec is not None:
                    return rec
            return self._stock(pcm, options)

    def _stock(self, pcm: np.ndarray, o: WhisperOptions) -> Recognition:
        segments, info = self.model.transcribe(
            pcm,
            language=o.language or None,
            beam_size=o.beam_size,
            best_of=1,
            temperature=0.0,
            without_timestamps=True,
            vad_filter=False,
            condition_on_previous_text=False,
            word_timestamps=False,
            no_speech_threshold=o.no_speech_threshold,
        )
        segs = list(segments)
        text = "".join(s.text for s in segs).strip()
        logprob = float(np.mean([s.avg_logprob for s in segs])) if segs else -math.inf
        return Recognition(text=text, language=info.language, confidence=_prob(logprob))

    def _windowed(self, pcm: np.ndarray, o: WhisperOptions) -> Recognition | None:
        """Encode only a ``window_s`` window; ``None`` when the output loops."""
        import ctranslate2

        model = self.model
        window = max(o.window_s, pcm.shape[0] / RATE + 1.0)
        audio = np.zeros(int(window * RATE), np.float32)
        audio[: pcm.shape[0]] = pcm
        features = model.feature_extractor(audio)
        frames = min(3000, features.shape[1] - 1)
        frames -= frames % 2
        x = ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None, :, :frames], np.float32))
        tok = model.hf_tokenizer
        marks = ["<|startoftranscript|>", f"<|{o.language}|>", "<|transcribe|>", "<|notimestamps|>"]
        prompt = [tok.token_to_id(t) for t in marks]
        if None in prompt:
            raise ConfigError(
                f"Whisper does not know the language {o.language!r}", hint="use an ISO code: en, de"
            )
        max_length = min(448, len(prompt) + 10 + int(window * 8))
        result = model.model.generate(
            x,
            [prompt],
            beam_size=o.beam_size,
            max_length=max_length,
            return_scores=True,
            suppress_blank=True,
        )[0]
        ids = [t for t in result.sequences_ids[0] if t < EOT_LIMIT]
        text = tok.decode(ids).strip()
        logprob = float(result.scores[0])
        looping = (
            len(result.sequences_ids[0]) + len(prompt) >= max_length or _compression(text) > MAX_COMPRESSION
        )
        if looping or logprob < LOW_LOGPROB:
            return None  # a loop, or a doubtful result (noise often is): ask the 30 s path
        return Recognition(text=text, language=o.language, confidence=_prob(logprob))


def _prob(logprob: float) -> float:
    return float(min(1.0, math.exp(logprob))) if logprob > -math.inf else 0.0


def _compression(text: str) -> float:
    data = text.encode()
    return len(data) / len(zlib.compress(data)) if data else 0.0


class WhisperSTT(SegmentedSTT):
    """Speech to text with the cached whisper-base model (faster-whisper, int8, CPU)."""

    Options = WhisperOptions
    options: WhisperOptions

    def __init__(
        self, options: WhisperOptions | None = None, *, name: str | None = None, hub: ModelHub | None = None
    ) -> None:
        super().__init__(options, name=name, hub=hub)
        if self.options.beam_size < 1 or not 1.0 <= self.options.window_s <= 30.0:
            raise ConfigError("WhisperOptions: beam_size >= 1 and 1 <= window_s <= 30")
        self.engine: WhisperEngine | None = None

    async def setup(self) -> None:
        """Find the model in the cache (ModelMissing if absent) and load the shared engine."""
        path = self.hub.cache.path("whisper-base")
        threads = self.options.cpu_threads
        self.engine = self.hub.shared(f"faster-whisper:{path}:int8", lambda: WhisperEngine(path, threads))
        await asyncio.to_thread(self.engine.load)

    async def recognize(self, pcm: np.ndarray) -> Recognition:
        """Transcribe ``pcm`` in a thread."""
        if self.engine is None:
            raise ConfigError(f"{type(self).__name__} used before setup()")
        return await asyncio.to_thread(self.engine.transcribe, pcm, self.options)


__all__ = ["WhisperEngine", "WhisperOptions", "WhisperSTT"]
