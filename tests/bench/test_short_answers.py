"""benchmarks/short_answers.py: the clips it plays and how it counts what was heard."""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.short_answers import GAINS_DB, NOISE_GAINS_DB, cases, rms, said, summary, words


def test_every_word_is_played_at_every_level_clean_and_in_noise_at_its_snr() -> None:
    played = cases(np.random.default_rng(0))
    spoken = [c for c in played if c["word"]]
    assert len(spoken) == len(words()) * len(GAINS_DB) * 2
    assert len(played) - len(spoken) == len(NOISE_GAINS_DB)
    clean = next(c for c in spoken if c["word"] == "yes" and c["gain_db"] == -12 and c["snr_db"] is None)
    noisy = next(c for c in spoken if c["word"] == "yes" and c["gain_db"] == -12 and c["snr_db"] == 10.0)
    speech = words()["yes"] * 10 ** (-12 / 20)
    noise = noisy["pcm"] - clean["pcm"]  # the same speech at the same place: what differs is the noise
    assert abs(20 * np.log10(rms(speech) / rms(noise)) - 10.0) < 0.01
    assert np.array_equal(clean["pcm"][:8000], np.zeros(8000, np.float32))  # 0.5 s of silence first


def test_a_word_counts_as_said_whatever_its_case_and_punctuation() -> None:
    assert said("yes", ["Yes!"]) and said("down", ["down."]) and said("up", ["Okay, up"])
    assert not said("yes", ["Yeah."]) and not said("left", ["Lift."]) and not said("up", [])


def test_sums_separate_heard_from_heard_right_and_count_words_from_noise() -> None:
    rows: list[dict[str, Any]] = [
        {"word": "yes", "snr_db": None, "agent": ["Yes."]},
        {"word": "yes", "snr_db": 10.0, "agent": ["Yeah."]},
        {"word": "left", "snr_db": 10.0, "agent": []},
        {"word": "", "snr_db": None, "agent": ["you"]},
    ]
    s = summary(rows, "agent")
    assert (s["clips"], s["heard"], s["right"]) == (3, 2, 1)
    assert (s["heard_clean"], s["right_clean"], s["heard_noisy"], s["right_noisy"]) == (1, 1, 1, 0)
    assert (s["noise_clips"], s["noise_with_words"]) == (1, 1)
