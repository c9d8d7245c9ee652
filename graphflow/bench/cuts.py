"""Turn cuts: recordings cut just after a word and followed by the clip's own room tone.

``benchmarks/turns/cuts.tsv`` lists one cut per row: a fixture from ``benchmarks/fixtures``,
the time of the cut, whether the turn is over there (``complete``) or the speaker stopped
inside a sentence (``incomplete``), the words heard up to the cut and a stretch of the
clip with no speech (its room tone). :func:`cut_audio` renders a cut as the clip up to the
cut followed by that room tone tiled to ``tail_s`` seconds, levels as recorded.
"""

from __future__ import annotations

import csv
import math
import wave
from pathlib import Path
from typing import Literal

import msgspec
import numpy as np

from graphflow.errors import ConfigError

RATE = 16000
"""Sample rate of the fixtures and of the rendered cuts (Hz)."""
COLUMNS = (
    "id",
    "file",
    "cut_s",
    "label",
    "prefix",
    "last_word",
    "next_word",
    "tone_start_s",
    "tone_end_s",
    "speaker",
    "category",
    "notes",
)
"""The header of ``cuts.tsv``, in order."""
LABELS = ("complete", "incomplete")
"""The two labels: the turn is over at the cut, or the sentence goes on after it."""
MIN_TONE_S = 0.1
"""Shortest room tone a row may name (seconds)."""
JOIN_S = 0.005
"""Crossfade from the speech into the room tone at the cut (seconds)."""
TILE_FADE_S = 0.02
"""Longest crossfade between two copies of the room tone (seconds)."""

Label = Literal["complete", "incomplete"]
"""A cut's label."""


class TurnCut(msgspec.Struct, frozen=True):
    """One row of ``cuts.tsv``: a fixture cut just after a word, and its room tone."""

    id: str
    """Unique name: the fixture's stem, then ``c`` or ``i`` and the number of the last word."""
    file: str
    """Fixture file name in ``benchmarks/fixtures``."""
    cut_s: float
    """Where the clip is cut (seconds from its start): the end of the user's speech."""
    label: Label
    """``complete`` (the turn is over: answer) or ``incomplete`` (the sentence goes on: hold)."""
    prefix: str
    """The manifest's words of the clip up to the cut, as written in the manifest."""
    last_word: str
    """The last word before the cut (punctuation removed)."""
    next_word: str
    """The manifest word after the cut in the clip, or empty at the clip's end."""
    tone_start_s: float
    """Start of the clip's room tone (seconds)."""
    tone_end_s: float
    """End of the clip's room tone (seconds)."""
    speaker: str
    """Who speaks the words before the cut (the manifest's speaker or turn)."""
    category: str
    """The fixture's category in the manifest."""
    notes: str = ""
    """Why this label, and how the cut sits against the next word."""


def load_cuts(path: str | Path, fixtures_dir: str | Path | None = None) -> list[TurnCut]:
    """Read ``cuts.tsv``; every row is checked and its fixture must exist.

    ``fixtures_dir`` defaults to ``fixtures`` beside the folder holding ``path``
    (``benchmarks/turns/cuts.tsv`` -> ``benchmarks/fixtures``).
    """
    path = Path(path)
    fixtures = Path(fixtures_dir) if fixtures_dir is not None else path.resolve().parent.parent / "fixtures"
    if not path.is_file():
        raise ConfigError(f"no cuts file at {path}", hint="build it: python benchmarks/turns/build_cuts.py")
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows or tuple(rows[0]) != COLUMNS:
        raise ConfigError(
            f"{path}: the header must be the {len(COLUMNS)} columns {', '.join(COLUMNS)}",
            hint="rebuild the file with benchmarks/turns/build_cuts.py",
        )
    cuts: list[TurnCut] = []
    seen: set[str] = set()
    for line, row in enumerate(rows[1:], start=2):
        cut = _parse_row(path, line, row)
        if cut.id in seen:
            raise ConfigError(f"{path}:{line}: the id {cut.id!r} is used twice")
        seen.add(cut.id)
        if not (fixtures / cut.file).is_file():
            raise ConfigError(
                f"{path}:{line}: the fixture {cut.file!r} is not in {fixtures}",
                hint="cuts name files of benchmarks/fixtures; pass fixtures_dir= if they live elsewhere",
            )
        cuts.append(cut)
    return cuts


def _parse_row(path: Path, line: int, row: list[str]) -> TurnCut:
    where = f"{path}:{line}"
    if len(row) != len(COLUMNS):
        raise ConfigError(f"{where}: {len(row)} fields, expected {len(COLUMNS)} ({', '.join(COLUMNS)})")
    values = dict(zip(COLUMNS, row, strict=True))
    numbers: dict[str, float] = {}
    for key in ("cut_s", "tone_start_s", "tone_end_s"):
        try:
            numbers[key] = float(values[key])
        except ValueError:
            raise ConfigError(f"{where}: {key} is not a number: {values[key]!r}") from None
        if not math.isfinite(numbers[key]) or numbers[key] < 0:
            raise ConfigError(f"{where}: {key} must be a finite time >= 0, not {values[key]!r}")
    label = values["label"]
    if label not in LABELS:
        raise ConfigError(f"{where}: label must be complete or incomplete, not {label!r}")
    for key in ("id", "file", "prefix", "last_word", "speaker"):
        if not values[key].strip():
            raise ConfigError(f"{where}: {key} is empty")
    if numbers["cut_s"] <= 0:
        raise ConfigError(f"{where}: cut_s must be after the clip's start")
    if numbers["tone_end_s"] - numbers["tone_start_s"] < MIN_TONE_S - 1e-9:
        raise ConfigError(
            f"{where}: the room tone {numbers['tone_start_s']}-{numbers['tone_end_s']} s is shorter "
            f"than {MIN_TONE_S} s"
        )
    return TurnCut(
        id=values["id"],
        file=values["file"],
        cut_s=numbers["cut_s"],
        label="complete" if label == "complete" else "incomplete",
        prefix=values["prefix"],
        last_word=values["last_word"],
        next_word=values["next_word"],
        tone_start_s=numbers["tone_start_s"],
        tone_end_s=numbers["tone_end_s"],
        speaker=values["speaker"],
        category=values["category"],
        notes=values["notes"],
    )


def speech_end_s(cut: TurnCut) -> float:
    """Where the user's speech ends in the cut's audio (seconds): the cut time."""
    return cut.cut_s


def read_fixture(path: str | Path) -> np.ndarray:
    """The samples of a 16 kHz mono 16-bit WAV file, as int16."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no fixture at {path}")
    with wave.open(str(path)) as w:
        if w.getframerate() != RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise ConfigError(
                f"{path}: {w.getframerate()} Hz, {w.getnchannels()} channel(s), {8 * w.getsampwidth()} bit; "
                f"cuts need {RATE} Hz mono 16-bit"
            )
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)


def room_tone(tone: np.ndarray, n: int) -> np.ndarray:
    """``n`` samples of ``tone`` (float) repeated end to end, joined by equal-power crossfades."""
    if n <= 0:
        return np.zeros(0, np.float64)
    seg = tone.astype(np.float64)
    fade = min(int(TILE_FADE_S * RATE), seg.shape[0] // 4)
    if fade < 1:
        return np.resize(seg, n)
    theta = np.linspace(0.0, np.pi / 2, fade, endpoint=False) + np.pi / (4 * fade)
    fade_in, fade_out = np.sin(theta), np.cos(theta)
    out = np.zeros(n + seg.shape[0], np.float64)
    out[: seg.shape[0]] = seg
    hop = seg.shape[0] - fade
    pos = hop
    while pos < n:
        out[pos : pos + fade] = out[pos : pos + fade] * fade_out + seg[:fade] * fade_in
        out[pos + fade : pos + seg.shape[0]] = seg[fade:]
        pos += hop
    return out[:n]


def join_tail(speech: np.ndarray, tone: np.ndarray, tail_n: int) -> np.ndarray:
    """``speech`` followed by ``tail_n`` samples of tiled ``tone``, crossfaded over its last 5 ms (int16)."""
    join = min(int(JOIN_S * RATE), speech.shape[0])
    tail = room_tone(tone, join + tail_n)
    out = np.concatenate([speech.astype(np.float64), tail[join:]])
    if join:
        theta = np.linspace(0.0, np.pi / 2, join, endpoint=False) + np.pi / (4 * join)
        end = speech.shape[0]
        out[end - join : end] = out[end - join : end] * np.cos(theta) + tail[:join] * np.sin(theta)
    pcm: np.ndarray = np.clip(np.rint(out), -32768, 32767).astype(np.int16)
    return pcm


def cut_audio(cut: TurnCut, fixtures_dir: str | Path, tail_s: float = 3.0) -> np.ndarray:
    """The cut as int16 mono 16 kHz: the clip up to ``cut_s``, then ``tail_s`` of its room tone."""
    if not tail_s >= 0:
        raise ConfigError(f"tail_s must be >= 0, not {tail_s}")
    pcm = read_fixture(Path(fixtures_dir) / cut.file)
    end = round(cut.cut_s * RATE)
    start, stop = round(cut.tone_start_s * RATE), round(cut.tone_end_s * RATE)
    if end > pcm.shape[0]:
        raise ConfigError(f"cut {cut.id}: cut_s {cut.cut_s} is past the end of {cut.file}")
    if not 0 <= start < stop <= pcm.shape[0]:
        raise ConfigError(
            f"cut {cut.id}: the room tone {cut.tone_start_s}-{cut.tone_end_s} s is outside the clip"
        )
    return join_tail(pcm[:end], pcm[start:stop], round(tail_s * RATE))


__all__ = [
    "COLUMNS",
    "LABELS",
    "RATE",
    "TurnCut",
    "cut_audio",
    "join_tail",
    "load_cuts",
    "read_fixture",
    "room_tone",
    "speech_end_s",
]
