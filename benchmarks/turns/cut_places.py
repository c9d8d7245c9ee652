"""A clip ready to be cut, and the places after a word where its audio can be cut.

The places come from the level envelope near Whisper's end of the word: the end of speech
before a pause at a sentence end; a pause, a dip or a fall of the level between words
inside a sentence; never inside the hiss that starts the next word. Whether Whisper hears
the right words at a place is ``build_cuts.py``'s check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from benchmarks.turns.levels import HOP, WIN
from benchmarks.turns.word_alignment import SENTENCE_END, simple
from graphflow.bench.cuts import RATE

MAX_MARGIN_S = 0.06
"""Longest pause kept after the word's end."""
ONSET_GUARD_S = 0.025
"""Distance the cut keeps from the next word's energy onset."""
FRICATIVE_START = re.compile(r"^(s|f|ph|th|h|z|v|c[eiy])")
"""Spellings of a word that starts with a hiss."""
FRICATIVE_END = re.compile(r"(s|z|x|f|th|ce|se|ze|ve)$")
"""Spellings of a word that ends with one."""


@dataclass
class Clip:
    """One fixture: samples, manifest words, Whisper's timing of them, envelope and room tone."""

    file: str
    row: dict[str, str]
    pcm: np.ndarray
    words: list[str]
    start: np.ndarray = field(default_factory=lambda: np.zeros(0))
    end: np.ndarray = field(default_factory=lambda: np.zeros(0))
    heard: list[str] = field(default_factory=list)
    said: list[list[str]] = field(default_factory=list)
    env: np.ndarray = field(default_factory=lambda: np.zeros(0))
    t: np.ndarray = field(default_factory=lambda: np.zeros(0))
    tone: tuple[int, int] = (0, 0)
    floor_db: float = 0.0
    quiet_db: float = 0.0
    fricative: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))

    @property
    def seconds(self) -> float:
        """Length of the clip."""
        return float(self.pcm.shape[0] / RATE)


@dataclass
class Candidate:
    """A place to cut: the word's end found in the envelope and the cut after it."""

    word_end: float
    cut: float
    kind: str
    next_onset: float | None = None


def candidates(clip: Clip, k: int) -> list[Candidate]:
    """Places to cut after manifest word ``k`` (0-based), nearest to Whisper's word end first."""
    env, t = clip.env, clip.t
    quiet = env <= clip.quiet_db
    last = k == len(clip.words) - 1
    est = float(clip.end[k])
    lo = min(float(clip.start[k]), est - 0.4)
    hi = clip.seconds if last else max(est + 0.6, float(clip.end[k + 1]) + 0.2)
    found: list[Candidate] = []
    if last or SENTENCE_END.search(clip.words[k]):
        ends = sentence_ends(clip, k)
        ends.sort(key=lambda c: (abs(c.word_end - est), c.word_end))
        if last:
            return ends or [Candidate(clip.seconds, clip.seconds, "end of speech")]
        if ends:  # a pause follows the sentence: its end is the place (no later click or breath)
            return ends
    # pauses: runs of quiet frames (>= 30 ms)
    i = 0
    while i < env.shape[0]:
        if not quiet[i]:
            i += 1
            continue
        j = i
        while j < env.shape[0] and quiet[j]:
            j += 1
        if j - i >= 6 and lo <= t[i] <= hi:
            found.append(before_next(clip, float(t[i]), j, "pause"))
        i = j
    # dips between connected words: local minima, >= 3 dB below the level on both sides
    for i in range(4, env.shape[0] - 4):
        if quiet[i] or not lo <= t[i] <= hi or env[i] > env[i - 4 : i + 5].min():
            continue
        if env[i] == env[i - 1]:
            continue
        left, right = env[max(0, i - 24) : i].max(), env[i + 1 : i + 25].max()
        if min(left, right) - env[i] >= 3.0:
            found.append(Candidate(float(t[i]), float(t[i]), "dip"))
    # steep falls of the level (two voiced sounds joined without a dip: "ten meters")
    for i in range(3, env.shape[0] - 3):
        if quiet[i] or not lo <= t[i] <= hi:
            continue
        fall = env[i - 3] - env[i + 3]
        if fall >= 6.0 and fall >= env[i - 4] - env[i + 2] and fall >= env[i - 2] - env[i + 4]:
            found.append(Candidate(float(t[i]), float(t[i]), "fall"))
    if (
        k + 1 < len(clip.words)
        and FRICATIVE_START.match(simple(clip.words[k + 1]))
        and not FRICATIVE_END.search(simple(clip.words[k]))  # "was | happening": the hiss is its own
    ):
        found = [before_fricative(clip, c) for c in found]
    # a pause is a sure word boundary, a dip a likely one, a fall the last resort
    rank = {"end of speech": -1, "pause": 0, "dip": 1, "fall": 2}
    found.sort(key=lambda c: (rank[c.kind.split(",")[0]], abs(c.word_end - est), c.word_end))
    unique: list[Candidate] = []
    for c in found:
        if all(abs(c.cut - u.cut) > 0.012 for u in unique):
            unique.append(c)
    return unique


def sentence_ends(clip: Clip, k: int) -> list[Candidate]:
    """Ends of speech after word ``k`` that a pause of >= 150 ms follows (or the clip's end).

    The pause is found on a 100 ms median of the level (clicks and breaths do not break it);
    a final burst within 150 ms after its start ("processe-d", "u-p") still belongs to the word.
    """
    env, t, n = clip.env, clip.t, clip.env.shape[0]
    med = np.array([np.median(env[max(0, i - 10) : i + 10]) for i in range(n)])
    last = k == len(clip.words) - 1
    i = int(np.searchsorted(t, float(clip.start[k])))
    out: list[Candidate] = []
    while i < n:
        if med[i] > clip.quiet_db:
            i += 1
            continue
        j = i
        while j < n and med[j] <= clip.quiet_db:
            j += 1
        if (j == n or (j - i) * HOP / RATE >= 0.15) and (j == n or not last):
            end_i = i
            for m in range(i, min(j, i + 30)):
                if env[m] > clip.quiet_db:
                    end_i = m + 1
            out.append(before_next(clip, float(t[min(end_i, n - 1)]), j, "end of speech"))
        i = j
    return out


def before_next(clip: Clip, word_end: float, onset_i: int, kind: str) -> Candidate:
    """A cut at ``word_end`` followed by up to ``MAX_MARGIN_S`` of its pause, clear of the next
    word's onset at envelope frame ``onset_i`` (none when that is past the clip's end)."""
    if onset_i < clip.env.shape[0]:
        onset = float(clip.t[onset_i]) - WIN / 2 / RATE
        margin = min(MAX_MARGIN_S, max(0.0, onset - ONSET_GUARD_S - word_end))
        return Candidate(word_end, word_end + margin, kind, onset)
    return Candidate(word_end, min(word_end + MAX_MARGIN_S, clip.seconds), kind)


def before_fricative(clip: Clip, cand: Candidate) -> Candidate:
    """``cand`` moved before the hiss of a next word that starts with s, f, th, h...

    Whisper does not hear a few ms of it, a listener does: the cut must stop before it.
    """
    t, fric = clip.t, clip.fricative
    inside = np.nonzero(fric & (t > cand.word_end - 0.04) & (t - WIN / 2 / RATE < cand.cut))[0]
    if not inside.size:
        return cand
    i = int(inside[0])
    while i > 0 and fric[i - 1]:
        i -= 1
    start = float(t[i]) - WIN / 2 / RATE
    return Candidate(min(cand.word_end, start), start, cand.kind + ", before the next word's hiss", start)
