"""WhisperSTT: local Whisper base (faster-whisper / CTranslate2, int8) on VAD-delimited speech.

One model per process, shared through the :class:`~graphflow.models.ModelHub`; calls are
serialized with a lock (one CTranslate2 model, two cores). By default short segments are
encoded in a 6 s window instead of Whisper's fixed 30 s (the encoder's cost follows the
window: 6 s takes ~40 % of 10 s and ~10 % of 30 s on this machine, see docs/nodes/stt.md);
output that loops into the window's padding (the known failure of short windows) is
decoded again with timestamps and cut where the audio ends; output still looping, or
that the model doubts, is recognized again in a 10 s window, then on the standard 30 s path.

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
                tries = windows(options)
                for i, window in enumerate(tries):
                    rec = self._windowed(pcm, options, window, last=i == len(tries) - 1)
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

    def _windowed(
        self, pcm: np.ndarray, o: WhisperOptions, window_s: float, last: bool = True
    ) -> Recognition | None:
        """Encode only a ``window_s`` window; ``None`` unless the result is confident speech.

        Where the model doubts there is speech at all, a window that is not the ``last`` to
        try leaves the text to the next; the last takes a confident text of more than
        ``short_output_words`` words, as the 30 s path does.

        A short window sometimes makes the decoder go on past the speech into the silence
        that pads the window, saying the utterance again ("Down Down"). Such a loop is
        decoded once more with Whisper's timestamps, and what it says after the audio's end
        is dropped (:func:`within_audio`).
        """
        import ctranslate2

        model = self.model
        seconds = pcm.shape[0] / RATE
        window = max(window_s, seconds + 1.0)
        audio = np.zeros(int(window * RATE), np.float32)
        audio[: pcm.shape[0]] = pcm
        features = model.feature_extractor(audio)
        frames = min(3000, features.shape[1] - 1)
        frames -= frames % 2
        x = ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None, :, :frames], np.float32))
        x = model.model.encode(x)  # once: a loop is decoded again from the same encoding
        tok = model.hf_tokenizer
        marks = ["<|startoftranscript|>", f"<|{o.language}|>", "<|transcribe|>"]
        prompt = [tok.token_to_id(t) for t in marks]
        no_timestamps = tok.token_to_id("<|notimestamps|>")
        if None in prompt or no_timestamps is None:
            raise ConfigError(
                f"Whisper does not know the language {o.language!r}", hint="use an ISO code: en, de"
            )
        limit = min(448, len(prompt) + 11 + int(window * 8))
        ids, logprob, no_speech, capped = self._generate(x, [*prompt, no_timestamps], limit, o)
        text = tok.decode([t for t in ids if t < EOT_LIMIT]).strip()
        if capped or _compression(text) > MAX_COMPRESSION or repeats(text):  # a loop into the padding
            limit = min(448, len(prompt) + 10 + int(window * 12))
            ids, logprob, no_speech, capped = self._generate(x, prompt, limit, o)
            text = tok.decode(within_audio(ids, seconds, no_timestamps + 1)).strip()
            if _compression(text) > MAX_COMPRESSION or repeats(text):
                return None
        if not _confident(text, logprob, o):
            return None  # doubtful: a longer window decides
        if no_speech > o.no_speech_threshold and (not last or len(text.split()) <= o.short_output_words):
            return None  # the model hears little speech: a longer window decides
        return Recognition(text=text, language=o.language, confidence=_prob(logprob))

    def _generate(
        self, x: Any, prompt: list[int], max_length: int, o: WhisperOptions
    ) -> tuple[list[int], float, float, bool]:
        """Token ids (text and timestamps), mean log-probability, no-speech probability, capped."""
        result = self.model.model.generate(
            x,
            [prompt],
            beam_size=o.beam_size,
            max_length=max_length,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
        )[0]
        ids = [int(t) for t in result.sequences_ids[0] if t != EOT_LIMIT]
        capped = len(result.sequences_ids[0]) + len(prompt) >= max_length
        return ids, float(result.scores[0]), float(result.no_speech_prob), capped


SEGMENT_LATE_S = 0.15
"""A timestamped segment starting this close to the audio's end, or later, is in the padding."""
SEGMENT_OVERRUN_S = 1.0
"""A later segment ending this far past the audio's end is the utterance said again in the padding."""


def within_audio(ids: list[int], seconds: float, timestamp_begin: int) -> list[int]:
    """The text tokens of a timestamped decoding that lie in the first ``seconds`` of audio.

    Segments come as ``<|start|> text <|end|>``; the first is always kept (Whisper's
    timestamps are coarse on short audio), and decoding stops at a later segment that
    starts at the audio's end or ends well past it: the decoder went on into the silence
    that pads the window.
    """
    kept: list[int] = []
    segment: list[int] = []
    start: float | None = None
    first = True
    for token in ids:
        if token < EOT_LIMIT:
            segment.append(token)
            continue
        if token < timestamp_begin:
            continue  # another special token
        at = (token - timestamp_begin) * 0.02
        if start is None:
            if not first and at >= seconds - SEGMENT_LATE_S:
                return kept
            start = at
            continue
        if not first and at > seconds + SEGMENT_OVERRUN_S:
            return kept
        kept += segment
        segment, start, first = [], None, False
    return kept + segment  # an unfinished last segment that started inside the audio


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


__all__ = ["WhisperEngine", "WhisperOptions", "WhisperSTT", "no_words", "repeats", "windows", "within_audio"]
