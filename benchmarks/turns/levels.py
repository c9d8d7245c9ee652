"""Levels of a clip over time: the envelope above 200 Hz, the share of hiss, the room tone.

Level only, no model: 20 ms windows every 5 ms for the envelope, 10 ms frames for the room
tone.
"""

from __future__ import annotations

import numpy as np

from graphflow.bench.cuts import RATE

HOP = 80
"""Envelope hop (5 ms)."""
WIN = 320
"""Envelope window (20 ms)."""


def spectra(pcm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Power spectra of 20 ms Hann windows every 5 ms, and the frequency of each bin."""
    x = pcm.astype(np.float64)
    n = max(1, 1 + (x.shape[0] - WIN) // HOP)
    window = np.hanning(WIN)
    frames = np.stack([x[i * HOP : i * HOP + WIN] for i in range(n)]) * window
    # scaled so that a broadband signal reads its RMS level
    spec = 2 * np.abs(np.fft.rfft(frames, axis=1)) ** 2 / (WIN**2 * np.mean(window**2))
    return spec, np.fft.rfftfreq(WIN, 1 / RATE)


def envelope_db(pcm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Level in dB above 200 Hz (room rumble and hum left out) of 20 ms windows every 5 ms,
    and the centre time of each window."""
    spec, freq = spectra(pcm)
    power = spec[:, freq >= 200].sum(axis=1)
    return 10 * np.log10(power + 1e-3), (np.arange(power.shape[0]) * HOP + WIN / 2) / RATE


def high_band_share(pcm: np.ndarray) -> np.ndarray:
    """Share of each envelope window's energy above 3 kHz (fricatives: s, f, sh, th, h)."""
    spec, freq = spectra(pcm)
    share: np.ndarray = spec[:, freq >= 3000].sum(axis=1) / (spec.sum(axis=1) + 1e-9)
    return share


def find_room_tone(
    pcm: np.ndarray, speech: np.ndarray | None = None, digital_ok: bool = False
) -> tuple[int, int] | None:
    """Sample range of the quietest stretch without speech (>= 100 ms, up to 1 s; no digital silence).

    ``speech`` holds the times (s) of envelope windows louder than quiet: the stretch then also
    keeps 100 ms away from them (the decay of a word is not room tone). ``None`` if no stretch
    qualifies.
    """
    frame = RATE // 100
    n = pcm.shape[0] // frame
    x = pcm[: n * frame].astype(np.float64).reshape(n, frame)
    power = np.mean(x**2, axis=1)
    valid = np.abs(x).max(axis=1) > 1 if not digital_ok else np.ones(n, bool)  # an edit, not the room
    db = 10 * np.log10(power + 1e-3)
    if speech is not None:
        loud = np.zeros(n)
        loud[np.clip((speech * 100).astype(int), 0, n - 1)] = 1
        valid &= np.convolve(loud, np.ones(21), mode="same") == 0
    csum = np.concatenate([[0.0], np.cumsum(np.where(valid, power, 0.0))])
    cvalid = np.concatenate([[0], np.cumsum(valid)])

    def windows(length: int) -> tuple[np.ndarray, np.ndarray]:
        starts = np.arange(0, n - length + 1)
        ok = (cvalid[starts + length] - cvalid[starts]) == length
        mean = 10 * np.log10((csum[starts + length] - csum[starts]) / length + 1e-3)
        return starts[ok], mean[ok]

    starts, mean = windows(10)
    if starts.size == 0:
        return None
    best = float(mean.min())
    for length in range(100, 9, -5):
        starts, mean = windows(length)
        if starts.size == 0:
            continue
        peak = np.array([db[s : s + length].max() for s in starts])
        ok = (mean <= best + 3.0) & (peak <= best + 10.0)
        if ok.any():
            i = int(np.argmin(np.where(ok, mean, np.inf)))
            return int(starts[i]) * frame, (int(starts[i]) + length) * frame
    i = int(np.argmin(mean))
    return int(starts[i]) * frame, (int(starts[i]) + 10) * frame
