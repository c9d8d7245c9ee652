"""Whisper-style log-mel features for Smart Turn, in numpy (no torch, no transformers).

The model takes ``[80, 800]`` features of exactly 8 s of 16 kHz audio, prepared the way
pipecat prepares them for Smart Turn v3 (``local_smart_turn_v3.py``):

1. keep the **last** 8 s of the audio, or zero-pad at the **front** to 8 s;
2. normalise the waveform to zero mean, unit variance (``do_normalize=True``; it moves
   the model's output a lot: 0.94 vs 0.85 on a complete question);
3. STFT (n_fft 400, hop 160, periodic Hann, centred with reflect padding), power
   spectrum, 80 Slaney-scale, Slaney-normalised mel filters (0-8 kHz), ``log10`` with a
   floor of 1e-10, the last frame dropped (801 -> 800), clamped to ``max - 8``, then
   ``(x + 4) / 4``.

This matches pipecat's vendored feature code exactly and Hugging Face's
``WhisperFeatureExtractor(chunk_length=8)`` to about 2e-7 (docs/design/model-notes.md).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16000
"""Sample rate the features are defined for."""
WINDOW_SAMPLES = 8 * SAMPLE_RATE
"""Samples in the model's 8 s window."""
N_FFT = 400
"""FFT size (25 ms)."""
HOP = 160
"""Hop between frames (10 ms)."""
N_MELS = 80
"""Mel bins."""
N_FRAMES = WINDOW_SAMPLES // HOP
"""Frames per window (800)."""


def _hz_to_mel(f: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Slaney mel scale: linear below 1 kHz, logarithmic above."""
    log_part = 15.0 + np.log(np.maximum(f, 1e-9) / 1000.0) * 27.0 / np.log(6.4)
    return np.where(f >= 1000.0, log_part, 3.0 * f / 200.0)


def _mel_to_hz(m: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Inverse of :func:`_hz_to_mel`."""
    return np.where(m >= 15.0, 1000.0 * np.exp(np.log(6.4) / 27.0 * (m - 15.0)), 200.0 * m / 3.0)


def mel_filters(rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> npt.NDArray[np.float64]:
    """Slaney-normalised triangular mel filters, shaped ``(n_fft // 2 + 1, n_mels)``."""
    fft_freqs = np.linspace(0.0, rate // 2, n_fft // 2 + 1)
    edges = np.array([0.0, rate / 2.0])
    mel_edges = _hz_to_mel(edges)
    points = _mel_to_hz(np.linspace(mel_edges[0], mel_edges[1], n_mels + 2))
    slopes = points[None, :] - fft_freqs[:, None]
    widths = np.diff(points)
    down = -slopes[:, :-2] / widths[:-1]
    up = slopes[:, 2:] / widths[1:]
    bank = np.maximum(0.0, np.minimum(down, up))
    norm: npt.NDArray[np.float64] = bank * (2.0 / (points[2:] - points[:-2]))[None, :]
    return norm


MEL_FILTERS = mel_filters()
"""The 201x80 filter bank used by :func:`log_mel`."""
HANN = np.hanning(N_FFT + 1)[:-1]
"""Periodic Hann window of ``N_FFT`` samples."""


def to_float(samples: npt.NDArray[np.int16] | npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Mono samples as float32 in [-1, 1] (int16 is scaled by 1/32768)."""
    if samples.dtype == np.int16:
        return samples.astype(np.float32) * np.float32(1.0 / 32768.0)
    return np.asarray(samples, dtype=np.float32)


def last_window(audio: npt.NDArray[np.float32], n: int = WINDOW_SAMPLES) -> npt.NDArray[np.float32]:
    """The last ``n`` samples, zero-padded at the front when shorter (as pipecat does)."""
    if len(audio) >= n:
        return audio[-n:]
    out = np.zeros(n, dtype=np.float32)
    if len(audio):
        out[n - len(audio) :] = audio
    return out


def log_mel(audio: npt.NDArray[np.float32], *, normalize: bool = True) -> npt.NDArray[np.float32]:
    """Whisper log-mel of exactly 8 s of audio (``WINDOW_SAMPLES``), shaped ``[80, 800]``."""
    if audio.shape != (WINDOW_SAMPLES,):
        raise ValueError(f"log_mel takes {WINDOW_SAMPLES} samples (8 s at 16 kHz), got {audio.shape}")
    x = audio.astype(np.float32)
    if normalize:
        x = (x - x.mean()) / np.sqrt(x.var() + np.float32(1e-7))
    padded = np.pad(x.astype(np.float64), (N_FFT // 2, N_FFT // 2), mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]  # (801, 400)
    power = np.abs(np.fft.rfft(frames * HANN, axis=-1)) ** 2
    mel = np.log10(np.maximum(1e-10, power @ MEL_FILTERS)).T[:, :-1]  # (80, 800)
    mel = np.maximum(mel, mel.max() - 8.0)
    out: npt.NDArray[np.float32] = ((mel + 4.0) / 4.0).astype(np.float32)
    return out


def smart_turn_features(samples: npt.NDArray[np.int16] | npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Features of the end of ``samples`` (16 kHz mono) for Smart Turn: last 8 s, front-padded."""
    return log_mel(last_window(to_float(samples)), normalize=True)
