"""MoonshineSTT: Moonshine base (English) through moonshine-cpp's C library, on VAD segments.

moonshine-cpp 0.1.4's Python ``MoonshineModel.transcribe()`` is broken (it uses
``ctypes.c_float_p``, which does not exist), so the node calls the library's
``moonshine_transcribe`` C function with ctypes directly. The weights come from the
graphflow model cache (``moonshine-base``); one model per process via the ModelHub, calls
serialized with a lock. Slower and less accurate than WhisperSTT on this machine (see
docs/nodes/stt.md).

The library in the moonshine-cpp 0.1.4 wheel is built for AVX-512: on a CPU without it
(many AMD EPYC and Ryzen, older Intel) its first call stops the whole process with an
illegal instruction. So before the library is loaded here, a child process loads it and
recognizes half a second of silence (:func:`runs_here`); if the child dies, setup fails
with a :class:`~graphflow.errors.ProviderError` that says so, and the process goes on.
"""

from __future__ import annotations

import asyncio
import ctypes
import signal
import subprocess
import sys
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


PROBE = """
import ctypes, sys
import moonshine_cpp
lib, folder = moonshine_cpp.moonshine_lib, sys.argv[1]
handle = lib.moonshine_load_model(
    (folder + "/encoder_model.ort").encode(), (folder + "/decoder_model_merged.ort").encode(),
    (folder + "/tokenizer.bin").encode(), moonshine_cpp.MOONSHINE_MODEL_TYPE_BASE)
audio, out = (ctypes.c_float * 8000)(), ctypes.c_char_p()
sys.exit(0 if handle >= 0 and lib.moonshine_transcribe(handle, audio, 8000, ctypes.byref(out)) == 0 else 3)
"""
"""What the child process of :func:`runs_here` runs: load the model, recognize 0.5 s of silence."""
PROBE_TIMEOUT_S = 120.0
"""How long the child process may take (it loads the model: about a second)."""


def runs_here(folder: Path) -> str:
    """'' if moonshine-cpp loads and runs the model in ``folder`` on this CPU, else why not."""
    try:
        child = subprocess.run(
            [sys.executable, "-c", PROBE, str(folder)],
            capture_output=True,
            timeout=PROBE_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"a trial load took longer than {PROBE_TIMEOUT_S:.0f} s"
    if child.returncode == -signal.SIGILL:
        return "its library uses CPU instructions this CPU does not have (it is built for AVX-512)"
    if child.returncode < 0:
        return f"a trial load was killed by {signal.Signals(-child.returncode).name}"
    if child.returncode != 0:
        last = (child.stderr.decode("utf-8", "replace").strip().splitlines() or ["no message"])[-1]
        return f"a trial load failed ({last})"
    return ""


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
            why_not = runs_here(self.path)
            if why_not:
                raise ProviderError(
                    f"moonshine-cpp 0.1.4 cannot run on this machine: {why_not}",
                    hint="use the default speech-to-text (stt.name=whisper)",
                    retryable=False,
                )
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
