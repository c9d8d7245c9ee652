"""MoonshineSTT: Moonshine base (English) through moonshine-cpp's C library, on VAD segments.

moonshine-cpp 0.1.4's Python ``MoonshineModel.transcribe()`` is broken (it uses
``ctypes.c_float_p``, which does not exist), so the node calls the library's
``moonshine_transcribe`` C function with ctypes directly. The weights come from the
graphflow model cache (``moonshine-base``); one model per process via the ModelHub, calls
serialized with a lock. Slower and less accurate than WhisperSTT on this machine (see
docs/nodes/stt.md).
"""

from __future__ import annotations

import asyncio
import ctypes
import threading
from pathlib import Path
from typing import Any

import numpy as np

from graphflow.errors import ConfigError, ProviderError
from graphflow.models import ModelHub
from nodes.stt.segmenter import Recognition, SegmentedSTT, SegmentedSTTOptions


class MoonshineOptions(SegmentedSTTOptions, frozen=True):
    """Segmentation settings, with Moonshine's own recognition estimate."""

    expected_recognition_ms: int = 2200
    """Estimated time to recognize a segment, for the latency budget only (moonshine-base on
    2 cores: 2242 ms mean, 7.4 s for 10 s of speech, measured)."""


class MoonshineEngine:
    """One loaded moonshine-cpp model; every call holds its lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.lib: Any = None
        self.handle = -1

    def load(self) -> None:
        """Load the library and the model once (blocking; call it from a thread)."""
        with self.lock:
            if self.handle != -1:
                return
            import moonshine_cpp

            lib = moonshine_cpp.moonshine_lib
            folder = self.path
            handle = lib.moonshine_load_model(
                str(folder / "encoder_model.ort").encode(),
                str(folder / "decoder_model_merged.ort").encode(),
                str(folder / "tokenizer.bin").encode(),
                moonshine_cpp.MOONSHINE_MODEL_TYPE_BASE,
            )
            if handle < 0:
                raise ProviderError(
                    f"moonshine-cpp could not load the model in {folder}",
                    hint="run `graphflow models download moonshine-base` again",
                )
            self.lib, self.handle = lib, handle

    def transcribe(self, pcm: np.ndarray) -> Recognition:
        """Text of float32 16 kHz ``pcm`` (blocking; call it from a thread)."""
        self.load()
        audio = np.ascontiguousarray(pcm, dtype=np.float32)
        out = ctypes.c_char_p()
        with self.lock:
            error = self.lib.moonshine_transcribe(
                self.handle,
                audio.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                audio.shape[0],
                ctypes.byref(out),
            )
            if error != 0:
                raise ProviderError(f"moonshine_transcribe failed with error code {error}")
            raw = out.value or b""
            self.lib.moonshine_free_text(out)
        return Recognition(text=raw.decode("utf-8", "replace").strip(), language="en")

    def close(self) -> None:
        """Free the model."""
        with self.lock:
            if self.handle != -1:
                self.lib.moonshine_free_model(self.handle)
                self.handle = -1


class MoonshineSTT(SegmentedSTT):
    """Speech to text with the cached moonshine-base model (English only)."""

    Options = MoonshineOptions
    options: MoonshineOptions

    def __init__(
        self,
        options: MoonshineOptions | None = None,
        *,
        name: str | None = None,
        hub: ModelHub | None = None,
    ) -> None:
        super().__init__(options, name=name, hub=hub)
        self.engine: MoonshineEngine | None = None

    async def setup(self) -> None:
        """Find the model in the cache (ModelMissing if absent) and load the shared engine."""
        path = self.hub.cache.path("moonshine-base")
        self.engine = self.hub.shared(f"moonshine-cpp:{path}", lambda: MoonshineEngine(path))
        await asyncio.to_thread(self.engine.load)

    async def recognize(self, pcm: np.ndarray) -> Recognition:
        """Transcribe ``pcm`` in a thread."""
        if self.engine is None:
            raise ConfigError(f"{type(self).__name__} used before setup()")
        return await asyncio.to_thread(self.engine.transcribe, pcm)
