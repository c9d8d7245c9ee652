"""eSpeak NG text-to-speech (espeakng-loader + ctypes): robotic but tiny and very fast.

libespeak-ng keeps its state in process globals and is not thread-safe, so the library
is loaded and initialised once per process and every synthesis holds one process-wide
lock; each node re-applies its own voice and rate under that lock when they differ
from what the library was last set to.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

import numpy as np

from graphflow.errors import ConfigError, ProviderError
from graphflow.frames import AudioFormat, SampleFormat
from graphflow.models import ModelHub
from nodes.tts.options import SentenceTTSOptions
from nodes.tts.sentences import SentenceTTS

ESPEAK_RATE = 22050
"""eSpeak NG always synthesizes at 22050 Hz."""

_SYNCHRONOUS, _CHARS_UTF8, _POS_CHARACTER = 2, 1, 1
_PARAM_RATE, _PARAM_PITCH = 1, 3
_SYNTH_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class EspeakOptions(SentenceTTSOptions, frozen=True):
    """``voice``: eSpeak voice name; ``rate``: words per minute (80-450); ``pitch``: 0-100.

    ``expected_first_audio_ms`` only feeds the latency budget: the first sentence's
    synthesis (3-11 ms p50, 16 ms max measured on 2 busy cores).
    """

    voice: str = "en-us"
    rate: int = 175
    pitch: int = 50
    pause_ms: int = 200
    expected_first_audio_ms: int = 15


class EspeakEngine:
    """The process's libespeak-ng, initialised once; ``synthesize`` is serialized by a lock."""

    _instance: EspeakEngine | None = None
    _create_lock = threading.Lock()

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as exc:
            raise ProviderError(
                "espeakng-loader is not installed", hint="pip install 'graphflow[espeak]'"
            ) from exc
        lib: Any = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CB]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.POINTER(ctypes.c_uint),
            ctypes.c_void_p,
        ]
        rate = lib.espeak_Initialize(_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0)
        if rate != ESPEAK_RATE:
            raise ProviderError(f"eSpeak NG initialised at {rate} Hz, expected {ESPEAK_RATE}")
        self.lib = lib
        self.lock = threading.Lock()
        self._chunks: list[np.ndarray] = []
        self._callback = _SYNTH_CB(self._collect)  # referenced here: a collected callback segfaults
        lib.espeak_SetSynthCallback(self._callback)
        self._applied: tuple[str, int, int] | None = None

    @classmethod
    def shared(cls) -> EspeakEngine:
        """The one engine of this process (the library itself is process-global)."""
        with cls._create_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def _collect(self, wav: Any, count: int, events: Any) -> int:
        if count > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0

    def _apply(self, voice: str, rate: int, pitch: int) -> None:
        if self._applied == (voice, rate, pitch):
            return
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            self._applied = None
            raise ConfigError(f"eSpeak NG has no voice {voice!r}", hint="try 'en-us', 'en-gb', 'de', 'fr'")
        self.lib.espeak_SetParameter(_PARAM_RATE, rate, 0)
        self.lib.espeak_SetParameter(_PARAM_PITCH, pitch, 0)
        self._applied = (voice, rate, pitch)

    def check_voice(self, voice: str) -> None:
        """Raise ConfigError if ``voice`` is unknown."""
        with self.lock:
            self._apply(voice, 175, 50)

    def synthesize(self, text: str, voice: str = "en-us", rate: int = 175, pitch: int = 50) -> np.ndarray:
        """Speak ``text``: int16 mono samples at 22050 Hz (blocking)."""
        data = text.encode() + b"\0"
        with self.lock:
            self._apply(voice, rate, pitch)
            self._chunks = []
            status = self.lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            chunks, self._chunks = self._chunks, []
        if status != 0:
            raise ProviderError(f"eSpeak NG failed with status {status}", retryable=False)
        return np.concatenate(chunks) if chunks else np.zeros(0, np.int16)


class EspeakTTS(SentenceTTS):
    """Text to speech with eSpeak NG: 22050 Hz mono s16, about 1 ms per sentence."""

    Options = EspeakOptions
    options: EspeakOptions

    def __init__(
        self, options: EspeakOptions | None = None, *, name: str | None = None, hub: ModelHub | None = None
    ) -> None:
        super().__init__(options, name=name, hub=hub)
        o = self.options
        if not 80 <= o.rate <= 450 or not 0 <= o.pitch <= 100:
            raise ConfigError(
                f"EspeakOptions out of range: rate={o.rate}, pitch={o.pitch}",
                hint="rate 80-450 words per minute, pitch 0-100",
            )
        self.out.format = AudioFormat(ESPEAK_RATE, 1, SampleFormat.S16)
        self.engine: EspeakEngine | None = None

    async def setup(self) -> None:
        """Load the library (once per process) and check the voice."""
        engine = self.hub.shared("espeak-ng", EspeakEngine.shared)
        engine.check_voice(self.options.voice)
        self.engine = engine

    def synthesize(self, text: str) -> np.ndarray:
        """Speak ``text`` with this node's voice, rate and pitch."""
        if self.engine is None:
            raise ConfigError("EspeakTTS.synthesize called before setup()")
        o = self.options
        return self.engine.synthesize(text, o.voice, o.rate, o.pitch)
