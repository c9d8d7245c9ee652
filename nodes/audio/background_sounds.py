"""The background mixer's sounds: a file the user gives, or a small generated default.

Every sound is float32 mono in [-1, 1] at the rate asked for, and loops: the generated
ambience is noise shaped in the frequency domain (so its end joins its start without a
click), the generated "thinking" sound is two soft tones and a rest. A file is decoded
with ``av`` (any format FFmpeg reads, as the file source does) and resampled with soxr.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

AMBIENCE_SECONDS = 6.0
"""Length of the generated ambience loop."""

THINKING_SECONDS = 1.2
"""Length of the generated thinking loop: two tones, then a rest."""

THINKING_TONES_HZ = (660.0, 880.0)
"""The two tones of the generated thinking sound, one after the other."""


def ambience(rate: int, seconds: float = AMBIENCE_SECONDS, seed: int = 7) -> np.ndarray:
    """A soft room tone: noise falling off with frequency (brown-ish), 60 Hz to 2 kHz, peak 0.5."""
    n = int(rate * seconds)
    rng = np.random.default_rng(seed)
    freqs = np.fft.rfftfreq(n, 1.0 / rate)
    shape = np.zeros_like(freqs)
    band = (freqs >= 60.0) & (freqs <= 2000.0)
    shape[band] = 1.0 / freqs[band]  # -6 dB per octave: a low rumble, no hiss
    spectrum = shape * np.exp(2j * np.pi * rng.random(len(freqs)))
    noise = np.fft.irfft(spectrum, n)  # periodic over n samples: the loop has no seam
    return _peak(noise, 0.5)


def thinking(rate: int, seconds: float = THINKING_SECONDS) -> np.ndarray:
    """A gentle two-tone pulse (``THINKING_TONES_HZ``, 180 ms each, raised-cosine edges), then a rest."""
    n = int(rate * seconds)
    tone = int(rate * 0.18)
    out = np.zeros(n, np.float64)
    edge = np.sin(np.linspace(0.0, np.pi, tone)) ** 2  # fades in and out: no clicks
    t = np.arange(tone) / rate
    for k, hz in enumerate(THINKING_TONES_HZ):
        at = k * (tone + int(rate * 0.04))
        out[at : at + tone] += np.sin(2 * np.pi * hz * t) * edge
    return _peak(out, 0.5)


def from_file(path: Path, rate: int) -> np.ndarray:
    """The sound in ``path`` (any format FFmpeg reads), mono, resampled to ``rate``, as float32."""
    import soxr

    from nodes.io.file_source import decode_file

    pcm, source_rate = decode_file(path)
    mono: np.ndarray = pcm.astype(np.float32).mean(axis=1) / 32768.0
    if source_rate != rate:
        resampled: np.ndarray = soxr.resample(mono, source_rate, rate).astype(np.float32)
        return resampled
    return mono


def _peak(samples: np.ndarray, peak: float) -> np.ndarray:
    top = float(np.max(np.abs(samples))) if samples.size else 0.0
    scaled = samples * (peak / top) if top > 0 else samples
    return scaled.astype(np.float32)


class SoundLoop:
    """One layer's sound at every rate it is asked for, read as an endless loop."""

    def __init__(self, file: str, generate: Callable[[int], np.ndarray]) -> None:
        self.file = file
        self.generate = generate
        self._by_rate: dict[int, np.ndarray] = {}

    def at(self, rate: int) -> np.ndarray:
        """The sound at ``rate`` (made, or decoded and resampled, once per rate)."""
        sound = self._by_rate.get(rate)
        if sound is None:
            if self.file:
                sound = from_file(Path(self.file), rate)
            else:
                sound = np.asarray(self.generate(rate), np.float32)
            self._by_rate[rate] = sound
        return sound

    def read(self, rate: int, first: int, n: int) -> np.ndarray:
        """``n`` samples of the loop from sample ``first`` (wrapping around its end)."""
        sound = self.at(rate)
        if sound.size == 0:
            return np.zeros(n, np.float32)
        index = (first + np.arange(n)) % sound.size
        return sound[index]
