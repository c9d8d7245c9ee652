"""WhisperSTT: local Whisper base (faster-whisper / CTranslate2, int8) on VAD-delimited speech.

One model per process, shared through the :class:`~graphflow.models.ModelHub`; calls are
serialized with a lock (one CTranslate2 model, two cores). By default short segments are
encoded in a 6 s window instead of Whisper's fixed 30 s (the encoder's cost follows the
window: 6 s takes ~40 % of 10 s and ~10 % of 30 s on this machine, see docs/nodes/stt.md);
output that loops or repeats itself (the known failure of short windows) or that the
model doubts is recognized again in a 10 s window, then with the standard 30 s path.

Audio without speech must give no words on any CPU: the int8 kernels differ between
CPUs, so Whisper's guesses on silence ("you", "Thank you.") come out on one machine and
not on another. The decision uses the model's own confidence with margins measured
across instruction sets (:func:`no_words`), never the output of one machine.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import threading
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from graphflow.errors import ConfigError
from graphflow.models import ModelHub
from nodes.stt.segmenter import RATE, Recognition, SegmentedSTT, SegmentedSTTOptions

MAX_COMPRESSION = 2.4
"""Text that gzip compresses more than this is a repetition loop (Whisper's own rule)."""
EOT_LIMIT = 50257
"""Token ids below this are text; the rest are Whisper's special tokens."""


class WhisperOptions(SegmentedSTTOptions, frozen=True):
    """Segmentation settings plus Whisper decoding options."""

    language: str = "en"
    """Spoken language code; '' detects it (then the 30 s path is used)."""
    beam_size: int = 1
    """1 = greedy (same text as beam 5 on the fixtures, twice as fast)."""
    window_s: float = 6.0
    """Encoder window for short segments (s): 6 (fast), 10, or 30 (stock faster-whisper)."""
    retry_window_s: float = 10.0
    """Window of the second try when the first loops or doubts (0: straight to the 30 s path)."""
    cpu_threads: int = 2
    """Threads of the shared model (fixed by the first node that loads it)."""
    no_speech_threshold: float = 0.4
    """Above this no-speech probability an unconfident decoding is taken for no words."""
    logprob_threshold: float = -1.0
    """A decoding whose mean token log-probability is below this is not confident."""
    short_output_words: int = 2
    """An unconfident decoding of at most this many words is no words, whatever the no-speech probability."""


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
            if options.language and seconds + 1.0 < 30:
                for window in windows(options):
                    rec = self._windowed(pcm, options, window)
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
            no_speech_threshold=None,  # decided below by no_words(), the same rule as the window
        )
        segs = [s for s in segments if not no_words(s.text, s.avg_logprob, s.no_speech_prob, o)]
        text = "".join(s.text for s in segs).strip()
        logprob = float(np.mean([s.avg_logprob for s in segs])) if segs else -math.inf
        return Recognition(text=text, language=info.language, confidence=_prob(logprob))

    def _windowed(self, pcm: np.ndarray, o: WhisperOptions, window_s: float) -> Recognition | None:
        """Encode only a ``window_s`` window; ``None`` unless the result is confident speech."""
        import ctranslate2

        model = self.model
        window = max(window_s, pcm.shape[0] / RATE + 1.0)
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
            return_no_speech_prob=True,
            suppress_blank=True,
        )[0]
        ids = [t for t in result.sequences_ids[0] if t < EOT_LIMIT]
        text = tok.decode(ids).strip()
        logprob = float(result.scores[0])
        capped = len(result.sequences_ids[0]) + len(prompt) >= max_length
        confident = not capped and _confident(text, logprob, o) and not repeats(text)
        if not confident or float(result.no_speech_prob) > o.no_speech_threshold:
            return None  # a loop, a doubtful result or maybe no speech: the 30 s path decides
        return Recognition(text=text, language=o.language, confidence=_prob(logprob))


def windows(options: WhisperOptions) -> list[float]:
    """The encoder windows to try before the stock 30 s path, shortest first."""
    tries = [options.window_s]
    if options.window_s < options.retry_window_s < 30:
        tries.append(options.retry_window_s)
    return [w for w in tries if w < 30]


def repeats(text: str) -> bool:
    """The text is one phrase said twice or more ("Yes! Yes!"): a loop too short for gzip to see.

    A short window makes Whisper repeat a short utterance; a person who really says
    "no, no" is heard the same in the longer window that recognizes it again.
    """
    words = re.findall(r"[a-z0-9']+", text.lower())
    n = len(words)
    return n >= 2 and any(n % k == 0 and words == words[:k] * (n // k) for k in range(1, n // 2 + 1))


def no_words(text: str, logprob: float, no_speech_prob: float, options: WhisperOptions) -> bool:
    """Whether one decoding is a guess on audio without speech (Whisper's rule, stricter when short).

    Whisper's rule: no words when the no-speech probability exceeds its threshold and the
    decoding is not confident (mean token log-probability below its threshold, or a
    repetition loop). An unconfident output of at most ``short_output_words`` words ("you",
    "Thank you.", "Bye.", Whisper's usual guesses on silence) is no words whatever the
    no-speech probability, which moves with the CPU's int8 kernels.
    """
    words = len(text.split())
    if words == 0 or _confident(text, logprob, options):
        return words == 0
    return words <= options.short_output_words or no_speech_prob > options.no_speech_threshold


def _confident(text: str, logprob: float, options: WhisperOptions) -> bool:
    return logprob >= options.logprob_threshold and _compression(text) <= MAX_COMPRESSION


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
        o = self.options
        if o.beam_size < 1 or not 1.0 <= o.window_s <= 30.0 or not 0.0 <= o.retry_window_s <= 30.0:
            raise ConfigError(
                "WhisperOptions: beam_size >= 1, 1 <= window_s <= 30, 0 <= retry_window_s <= 30"
            )
        if not 0.0 <= o.no_speech_threshold <= 1.0 or o.logprob_threshold > 0 or o.short_output_words < 0:
            raise ConfigError(
                "WhisperOptions: 0 <= no_speech_threshold <= 1, logprob_threshold <= 0, "
                "short_output_words >= 0"
            )
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


__all__ = ["WhisperEngine", "WhisperOptions", "WhisperSTT", "no_words", "repeats", "windows"]
