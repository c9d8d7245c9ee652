"""The labelled turn cuts (benchmarks/turns/cuts.tsv): they load, match the manifest and render."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from graphflow.bench.cuts import (
    COLUMNS,
    RATE,
    TurnCut,
    cut_audio,
    load_cuts,
    read_fixture,
    room_tone,
    speech_end_s,
)
from graphflow.errors import ConfigError

from ..fixtures import FIXTURES, ROOT, manifest

CUTS = ROOT / "benchmarks" / "turns" / "cuts.tsv"
SENTENCE_END = re.compile(r"[.?!]$")


@pytest.fixture(scope="module")
def cuts() -> list[TurnCut]:
    return load_cuts(CUTS)


def level_db(pcm: np.ndarray) -> float:
    """Mean power of ``pcm`` in dB."""
    return float(10 * np.log10(np.mean(pcm.astype(np.float64) ** 2) + 1e-3))


def speech_db(pcm: np.ndarray) -> float:
    """Level of the loud part of ``pcm``: the 90th percentile of its 20 ms frames, in dB."""
    n = pcm.shape[0] // 320
    frames = pcm[: n * 320].astype(np.float64).reshape(n, 320)
    return float(np.percentile(10 * np.log10(np.mean(frames**2, axis=1) + 1e-3), 90))


def test_the_set_loads_with_the_targets_met(cuts: list[TurnCut]) -> None:
    labels = Counter(c.label for c in cuts)
    assert labels["complete"] >= 30 and labels["incomplete"] >= 40
    per_clip = Counter(c.file for c in cuts if c.label == "incomplete")
    assert max(per_clip.values()) <= 4  # no clip dominates
    assert len({c.file for c in cuts}) >= 20
    assert len({c.id for c in cuts}) == len(cuts)


def test_every_fixture_exists_and_is_in_the_manifest(cuts: list[TurnCut]) -> None:
    rows = manifest()
    for c in cuts:
        assert (FIXTURES / c.file).is_file(), c.file
        assert c.file in rows, c.file
        assert c.category == rows[c.file].category
        assert 0 < c.cut_s <= rows[c.file].seconds
        assert c.tone_start_s >= 0 and c.tone_end_s - c.tone_start_s >= 0.1 - 1e-9
        assert c.tone_end_s <= rows[c.file].seconds + 1e-3
        assert speech_end_s(c) == c.cut_s


def test_prefixes_are_the_manifest_words_and_labels_follow_the_text(cuts: list[TurnCut]) -> None:
    rows = manifest()
    for c in cuts:
        words = rows[c.file].transcript.split()
        prefix = c.prefix.split()
        k = len(prefix)
        assert words[:k] == prefix, c.id
        assert c.last_word == words[k - 1].strip(".,?!;:\"'"), c.id
        assert c.next_word == (words[k].strip(".,?!;:\"'") if k < len(words) else ""), c.id
        ends_sentence = k == len(words) or bool(SENTENCE_END.search(words[k - 1]))
        if c.label == "incomplete":
            assert not ends_sentence, f"{c.id}: an incomplete prefix must not end the manifest sentence"
            assert c.next_word, c.id
        else:
            assert ends_sentence, f"{c.id}: a complete cut ends a manifest sentence"


def test_cut_audio_is_the_clip_then_quiet_room_tone(cuts: list[TurnCut]) -> None:
    for c in cuts:
        audio = cut_audio(c, FIXTURES)
        end = round(c.cut_s * RATE)
        assert audio.dtype == np.int16 and audio.ndim == 1
        assert audio.shape[0] == end + 3 * RATE, c.id
        tail = audio[end:]
        # room tone, not speech: under the level of the words before the cut (by 6 dB in the
        # noisiest clip, by 20 dB or more in most)
        assert level_db(tail) < speech_db(audio[:end]) - 5, c.id
        # as recorded: the tail has the level of the clip's room tone (not normalised)
        tone = read_fixture(FIXTURES / c.file)[round(c.tone_start_s * RATE) : round(c.tone_end_s * RATE)]
        assert level_db(tail) == pytest.approx(level_db(tone), abs=1.5), c.id
        clip_tone = cut_audio(c, FIXTURES, tail_s=0.0)
        assert clip_tone.shape[0] == end
        assert np.array_equal(clip_tone[: end - 80], audio[: end - 80])


def test_room_tone_is_tiled_without_clicks() -> None:
    rng = np.random.default_rng(1)
    tone = (rng.standard_normal(RATE // 10) * 300).astype(np.int16)  # 100 ms of noise
    tiled = room_tone(tone, 3 * RATE)
    assert tiled.shape[0] == 3 * RATE
    assert np.abs(np.diff(tiled)).max() <= 1.5 * np.abs(np.diff(tone.astype(np.float64))).max()
    assert level_db(tiled) == pytest.approx(level_db(tone), abs=1.0)


def test_a_bad_row_or_a_missing_fixture_is_a_config_error(tmp_path: Path) -> None:
    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    (fixtures / "a.wav").write_bytes(b"")
    good = ["a1", "a.wav", "1.000", "complete", "Yes.", "Yes", "", "0.000", "0.200", "s", "command", ""]
    path = tmp_path / "turns" / "cuts.tsv"
    path.parent.mkdir()

    def write(*rows: list[str]) -> Path:
        path.write_text("\n".join("\t".join(r) for r in [list(COLUMNS), *rows]) + "\n")
        return path

    assert load_cuts(write(good))[0].cut_s == 1.0
    bad_rows = {
        "label": [*good[:3], "maybe", *good[4:]],
        "not a number": [*good[:2], "soon", *good[3:]],
        "fields": good[:5],
        "shorter than": [*good[:7], "0.000", "0.050", *good[9:]],
        "not in": [good[0], "b.wav", *good[2:]],
    }
    for message, row in bad_rows.items():
        with pytest.raises(ConfigError, match=message):
            load_cuts(write(row))
    with pytest.raises(ConfigError, match="used twice"):
        load_cuts(write(good, good))
    with pytest.raises(ConfigError, match="header"):
        path.write_text("id\tfile\n")
        load_cuts(path)
