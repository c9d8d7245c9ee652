"""The recorded speech fixtures (``benchmarks/fixtures``): audio and the manifest."""

from __future__ import annotations

import csv
import os
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from graphflow.models import ModelCache

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "benchmarks" / "fixtures"


@dataclass(frozen=True)
class Fixture:
    """One row of ``manifest.tsv``."""

    file: str
    seconds: float
    transcript: str
    category: str
    notes: str

    @property
    def path(self) -> Path:
        """Where the WAV file is."""
        return FIXTURES / self.file


def manifest() -> dict[str, Fixture]:
    """Every fixture, by file name."""
    with (FIXTURES / "manifest.tsv").open(newline="") as f:
        rows = csv.DictReader(f, delimiter="\t")
        return {
            r["file"]: Fixture(r["file"], float(r["seconds"]), r["transcript"], r["category"], r["notes"])
            for r in rows
        }


def read_wav(name: str) -> np.ndarray:
    """The fixture's samples as int16, mono, 16 kHz."""
    with wave.open(str(FIXTURES / name)) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").copy()


def write_wav(path: Path, pcm: np.ndarray) -> Path:
    """Write int16 mono 16 kHz ``pcm`` to ``path``."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(pcm.astype("<i2").tobytes())
    return path


def said_twice(name: str, path: Path, gap_s: float = 2.0) -> Path:
    """Fixture ``name``, then ``gap_s`` of silence, then ``name`` again (the second barges in)."""
    speech = read_wav(name)
    again = len(speech) + int(gap_s * 16000)
    pcm = np.zeros(again + len(speech), np.int16)
    pcm[: len(speech)] = speech
    pcm[again:] = speech
    return write_wav(path, pcm)


def model_cache() -> ModelCache:
    """The model cache, or a failure (in CI) / skip (locally) saying how to fill it."""
    cache = ModelCache()
    from graphflow.models import CATALOG

    missing = [name for name in CATALOG if not cache.is_complete(CATALOG[name])]
    if missing:
        message = f"models {missing} are not downloaded: run `graphflow models download all` (make test does)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return cache


def cpu_has_avx512() -> bool:
    """This CPU has AVX-512 (F and VL), which moonshine-cpp 0.1.4's library is built for (Linux flags)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    lines = [line for line in text.splitlines() if line.startswith("flags")]
    return bool(lines) and {"avx512f", "avx512vl"} <= set(lines[0].split(":", 1)[1].split())


MOONSHINE_CANNOT_RUN = "moonshine-cpp 0.1.4 cannot run on this machine"
"""How the Moonshine node's setup starts its error on a CPU without AVX-512."""
