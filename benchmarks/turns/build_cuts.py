"""Build ``benchmarks/turns/cuts.tsv``: labelled end-of-turn cuts of the recorded fixtures.

    .venv/bin/python benchmarks/turns/build_cuts.py [--preview DIR] [--quiet] [--only FILE --out TSV]

For every fixture with speech (``README.md`` beside this file says more):

1. Whisper base (faster-whisper, int8, ``word_timestamps=True``) times the words of the clip;
   they are aligned to the manifest transcript (case, punctuation, digits, contractions
   normalised), so every cut falls after a manifest word.
2. The cut points are the sentence ends of the manifest text (``complete``) and the
   hand-picked points of ``INCOMPLETE`` (``incomplete``, at most ``MAX_INCOMPLETE`` a clip),
   whose last word must be a function word or close no phrase.
3. The room tone is the quietest stretch of the clip away from speech (level only).
4. A cut is placed at a word end found in the level above 200 Hz near Whisper's word end: the
   end of speech before a pause at a sentence end; a pause, a dip or a fall of the level
   between words inside a sentence; never inside the hiss that starts the next word. At most
   60 ms of pause follow the word, clear of the next word's onset.
5. A place is kept only if Whisper hears exactly the manifest prefix in the cut audio (clip
   up to the cut + 3 s of room tone), the audio after the cut starts with the next word, and
   the standard decoder hears the prefix again; otherwise the mismatch is printed and the
   next place is tried. Points no place passes are left out and listed.

The output is deterministic: greedy decoding, a fixed order of candidates, times in ms.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import os
import re
import sys
import time
import wave
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from graphflow.bench.cuts import COLUMNS, RATE, TurnCut, cut_audio, join_tail, read_fixture
from graphflow.models import ModelHub
from nodes.stt.whisper import WhisperEngine, WhisperOptions

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "benchmarks" / "fixtures"
OUT = Path(__file__).resolve().parent / "cuts.tsv"

SKIP = {"neg_noise_only_dishes.wav": "no speech"}
"""Fixtures without any cut."""

DIGITAL_ROOM = {
    "cmd_one_two_three.wav": "noise-gated recording: between its words the file is digital silence",
}
"""Clips whose own silence is digital (elsewhere digital silence is an edit, never room tone)."""

NOT_A_TURN = {
    "read_lj_LJ001-0004.wav": (
        "the text is the middle of a longer sentence: it starts without a subject and ends on a "
        "comma (the sentence goes on in LJ001-0005), so its end is not a finished turn"
    ),
}
"""Fixtures whose end is not labelled ``complete`` (their incomplete cuts are kept)."""

INCOMPLETE: dict[str, list[tuple[str, str]]] = {
    "cmd_ten_of_clubs.wav": [("ten of", "preposition inside the fixed phrase 'ten of clubs'")],
    "q_ls_251-137823-0002_testing_routine.wav": [
        ("this isn't part of", "preposition"),
        ("this isn't part of your", "possessive"),
        ("this isn't part of your testing routine is", "auxiliary inside the tag question (is | it)"),
    ],
    "read_ls_1089-134686-0000.wav": [
        ("he hoped there would be", "auxiliary (would be ...)"),
        ("he hoped there would be stew for", "preposition"),
        ("he hoped there would be stew for dinner turnips and", "conjunction"),
        (
            "he hoped there would be stew for dinner turnips and carrots and bruised potatoes and fat "
            "mutton pieces to be ladled out in",
            "preposition",
        ),
        ("he hoped there would be stew for dinner turnips and carrots and", "conjunction"),
        (
            "he hoped there would be stew for dinner turnips and carrots and bruised potatoes and",
            "conjunction",
        ),
    ],
    "read_ls_1089-134691-0001.wav": [
        ("for a", "article"),
        ("for a full hour he had", "auxiliary"),
        ("for a full hour he had paced up and", "conjunction inside the fixed phrase 'up and down'"),
        ("for a full hour he had paced up and down waiting but he could", "auxiliary"),
        ("for a full hour he had paced up and down waiting but", "conjunction"),
        (
            "for a full hour he had paced up and down waiting but he",
            "subject pronoun without its verb (he | could)",
        ),
        (
            "for a full hour he had paced up and down waiting but he could wait no",
            "inside the fixed phrase 'no longer'",
        ),
    ],
    "read_ls_251-137823-0003.wav": [
        ("another engineer rushed toward", "preposition"),
        ("another engineer rushed toward the", "article"),
        ("another engineer rushed toward the door to", "infinitive marker"),
        ("another engineer rushed toward the door to see what was", "auxiliary"),
    ],
    "read_ls_3536-23268-0010.wav": [
        ("and he walked immediately out of", "preposition"),
        ("and he walked immediately out of the", "article"),
        ("and he walked immediately out of the apartment by", "preposition"),
        ("and he walked immediately out of the apartment by another", "determiner"),
    ],
    "read_ls_251-118436-0001.wav": [
        ("i tell you it is not poison she", "subject pronoun without its verb (she | cried)"),
        ("i tell", "verb without its object (tell | you)"),
    ],
    "read_librivox_ss_0870.wav": [
        ("and mister", "title inside the name 'mister john dashwood'"),
        ("and mister john dashwood had then leisure to", "infinitive marker"),
        (
            "and mister john dashwood had then leisure to consider how much there might be prudently in his",
            "possessive",
        ),
        (
            "and mister john dashwood had then leisure to consider how much there might be prudently in "
            "his power to do for",
            "preposition",
        ),
        (
            "and mister john dashwood had then leisure to consider how much there might be prudently in",
            "preposition",
        ),
        (
            "and mister john dashwood had then leisure to consider how much there might be prudently in "
            "his power to",
            "infinitive marker",
        ),
        ("and mister john", "first name inside the name 'mister john dashwood'"),
        ("and mister john dashwood had", "verb without its object (had | then leisure)"),
    ],
    "read_lj_LJ001-0004.wav": [
        ("produced the", "article"),
        ("produced the block books which", "relative pronoun opening a clause"),
        ("produced the block books which were the", "article"),
        ("produced the block books which were the immediate predecessors of", "preposition"),
        ("produced the block books which were the immediate predecessors of the", "article"),
    ],
    "read_arctic_aew_a0001.wav": [
        ("author of", "preposition"),
        ("author of the", "article"),
    ],
    "read_arctic_aew_a0002.wav": [
        ("not at", "preposition"),
        ("not at this particular", "adjective without its noun (particular | case)"),
    ],
    "read_arctic_axb_a0004.wav": [
        ("lord but", "conjunction"),
        ("lord but i'm", "subject + auxiliary (I'm | glad)"),
        ("lord but i'm glad to", "infinitive marker"),
    ],
    "spont_ami_ES2011a_intro.wav": [
        ("i'm", "subject + auxiliary (I'm | Abigail)"),
        ("i'm abigail claflin you can", "auxiliary"),
        ("i'm abigail claflin you can call me", "fixed phrase 'call me <name>'"),
        ("i'm abigail claflin you", "subject pronoun without its verb (You | can)"),
        ("i'm abigail claflin you can call", "verb without its object (call | me)"),
    ],
    "conv_katie_steve_diarization.wav": [
        ("good morning steve good morning katie have you tried the", "article"),
        (
            "good morning steve good morning katie have you tried the latest real time diarization in "
            "microsoft speech service which can tell you who said what in real time not yet i've been "
            "using the",
            "article",
        ),
        (
            "good morning steve good morning katie have you tried the latest real time diarization in "
            "microsoft speech service which",
            "relative pronoun opening a clause",
        ),
        (
            "good morning steve good morning katie have you tried the latest real time diarization in "
            "microsoft speech service which can tell you who said what in real time not yet i've been "
            "using the batch transcription with diarization functionality but it produces diarization "
            "result until",
            "conjunction",
        ),
        (
            "good morning steve good morning katie have you tried the latest real time diarization in",
            "preposition",
        ),
        (
            "good morning steve good morning katie have you tried the latest real time diarization in "
            "microsoft speech service which can tell you who said what in real time not yet i've been "
            "using the batch transcription with",
            "preposition",
        ),
        (
            "good morning steve good morning katie have you tried the latest real time diarization in "
            "microsoft speech service which can tell you who said what in real time not yet i've been "
            "using the batch transcription with diarization functionality but it produces diarization "
            "result until whole audio get processed is the",
            "article",
        ),
    ],
    "noisy_vctk_p232_113.wav": [("it's", "subject + auxiliary (It's | not)")],
    "noisy_vctk_p232_208.wav": [("now it's", "subject + auxiliary (it's | all)")],
    "pause_constructed_ss_0880_0890.wav": [
        ("he was not an", "article"),
        ("he was not an ill disposed young man unless", "conjunction (after the pause inside the turn)"),
        ("he was not an ill disposed young man unless to be rather cold hearted and", "conjunction"),
        (
            "he was not an ill disposed young man unless to be rather cold hearted and rather selfish is",
            "auxiliary (is to be ...)",
        ),
        ("he was not an ill disposed young man unless to", "infinitive marker"),
        (
            "he was not an ill disposed young man unless to be rather cold hearted and rather selfish is "
            "to be",
            "auxiliary",
        ),
        (
            "he was not an ill disposed young man unless to be rather cold hearted and rather",
            "degree adverb without its adjective (rather | selfish)",
        ),
        ("he was not an ill disposed young man unless to be rather", "degree adverb without its adjective"),
    ],
    "conv_constructed_4turn.wav": [
        ("this isn't part of your testing routine is it lord but", "conjunction (second turn)"),
        (
            "this isn't part of your testing routine is it lord but i'm glad to",
            "infinitive marker (second turn)",
        ),
        (
            "this isn't part of your testing routine is it lord but i'm glad to see you again phil i tell "
            "you it is not poison she",
            "subject pronoun without its verb (third turn)",
        ),
        (
            "this isn't part of your testing routine is it lord but i'm glad to see you again phil i tell",
            "verb without its object (third turn)",
        ),
    ],
    "noisy_mix_ls_1089-134686-0001_dishes_10db.wav": [
        ("stuff it into", "preposition"),
        ("stuff it into you his", "possessive"),
    ],
}
"""Hand-picked incomplete cuts, in order of preference: the manifest prefix (lower case, no
punctuation) and why it is unfinished. Per clip the first ``MAX_INCOMPLETE`` that pass the checks
are kept."""
MAX_INCOMPLETE = 4
"""Most incomplete cuts per clip, so that no clip dominates."""

FUNCTION_WORDS = {
    "a", "an", "the", "this", "another",  # articles, determiners
    "of", "for", "in", "to", "toward", "by", "at", "into", "with",  # prepositions, infinitive "to"
    "and", "but", "unless", "until", "which",  # conjunctions, relative pronoun
    "your", "his", "my",  # possessives
    "be", "had", "could", "was", "were", "is", "can", "i'm", "it's",  # auxiliaries
}  # fmt: skip
"""Words an incomplete prefix may end on; anything else needs a fixed-phrase reason."""
PHRASE_WORDS = {"mister", "john", "me", "she", "he", "you", "call", "tell", "no", "rather", "particular"}
"""Last words allowed by the fixed-phrase / bare-constituent reasons above."""

TURNS: dict[str, list[str]] = {
    "conv_katie_steve_diarization.wav": [
        "Katie (female)",
        "Steve (male)",
        "Katie (female)",
        "Steve (male)",
        "Steve (male)",
        "Steve (male)",
        "Katie (female)",
        "Steve (male)",
        "Steve (male)",
    ],
    "conv_constructed_4turn.wav": [
        "librispeech:251",
        "cmu_arctic:axb (Indian-English female)",
        "librispeech:251",
        "cmu_arctic:axb (Indian-English female)",
    ],
}
"""Speaker of each manifest sentence of the conversations (from the manifest notes)."""
WORD_SPEAKERS: dict[str, list[str]] = {
    "cmd_right_left_up.wav": [
        "speechcommands:0d82fd99",
        "speechcommands:0d82fd99",
        "speechcommands:0a2b400e",
    ],
}
"""Speaker of each word where one clip joins several speakers without sentences."""

TAIL_S = 3.0
"""Room tone after each cut."""
INVENTED_AFTER_S = 0.5
"""Words Whisper places this long after the cut or later lie in the room tone: inventions."""
MAX_MARGIN_S = 0.06
"""Longest pause kept after the word's end."""
ONSET_GUARD_S = 0.025
"""Distance the cut keeps from the next word's energy onset."""
HOP = 80
"""Envelope hop (5 ms)."""
WIN = 320
"""Envelope window (20 ms)."""
SENTENCE_END = re.compile(r"[.?!]$")
"""A manifest word that ends a sentence."""
FRICATIVE_START = re.compile(r"^(s|f|ph|th|h|z|v|c[eiy])")
"""Spellings of a word that starts with a hiss."""
FRICATIVE_END = re.compile(r"(s|z|x|f|th|ce|se|ze|ve)$")
"""Spellings of a word that ends with one."""

NUMBERS = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty",
]  # fmt: skip
"""Spoken numbers, for Whisper's digits."""
SPELLING = {"mr": ["mister"], "mrs": ["missus"], "alright": ["all", "right"], "ok": ["okay"]}
"""Whisper's spellings of words the manifests write out."""
CONTRACTIONS = [
    ("n't", " not"),
    ("'m", " am"),
    ("'re", " are"),
    ("'ve", " have"),
    ("'ll", " will"),
    ("'s", " is"),
]
"""Contractions, written out the same way on both sides."""


# ---------------------------------------------------------------------------------------------
# text


def norm_word(word: str) -> list[str]:
    """Tokens of one written word, in the form both the manifest and Whisper are compared in."""
    w = word.lower().replace("\u2019", "'")
    w = re.sub(r"[-\u2013\u2014]", " ", w)
    w = re.sub(r"[^a-z0-9' ]", "", w)
    tokens: list[str] = []
    for part in w.split():
        part = part.strip("'")
        for suffix, full in CONTRACTIONS:
            if part.endswith(suffix) and len(part) > len(suffix):
                part = part[: -len(suffix)] + full
                break
        for tok in part.split():
            if tok.isdigit() and int(tok) < len(NUMBERS):
                tokens.append(NUMBERS[int(tok)])
            else:
                tokens.extend(SPELLING.get(tok, [tok]))
    return tokens


def plain(word: str) -> str:
    """A manifest word without the punctuation around it."""
    return word.strip(".,?!;:\"'")


def simple(word: str) -> str:
    """A manifest word as the INCOMPLETE table writes it."""
    return re.sub(r"[^a-z0-9' ]", "", word.lower().replace("-", " "))


@dataclass
class Tokens:
    """Normalised tokens and the manifest word each one belongs to."""

    tokens: list[str] = field(default_factory=list)
    word: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, words: list[str], first: int = 0) -> Tokens:
        t = cls()
        for i, w in enumerate(words):
            for tok in norm_word(w):
                t.tokens.append(tok)
                t.word.append(first + i)
        return t


def similarity(a: str, b: str) -> float:
    """How alike two tokens are, 0..1 (difflib's ratio)."""
    return 1.0 if a == b else difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def align(ref: list[str], hyp: list[str]) -> tuple[int, int, int]:
    """Align ``hyp`` to the start of ``ref`` (ref's tail may stay unheard).

    Returns how many ref tokens are covered, how many hyp tokens come before the first
    aligned one and how many after the last aligned one. A substitution costs 0.5-1 (less for
    alike tokens), a missing or an added token 1.
    """
    n, m = len(ref), len(hyp)
    cost = np.zeros((n + 1, m + 1))
    cost[:, 0] = np.arange(n + 1)
    cost[0, :] = np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            sub = 0.0 if ref[i - 1] == hyp[j - 1] else 1.0 - 0.5 * similarity(ref[i - 1], hyp[j - 1])
            cost[i, j] = min(cost[i - 1, j - 1] + sub, cost[i - 1, j] + 1, cost[i, j - 1] + 1)
    final = cost[:, m]
    best = int(np.nonzero(np.isclose(final, final.min()))[0][-1])  # the longest of equally good prefixes
    # walk back: where do the aligned hyp tokens start and end?
    i, j = best, m
    first, last = -1, -1
    while i > 0 and j > 0:
        sub = 0.0 if ref[i - 1] == hyp[j - 1] else 1.0 - 0.5 * similarity(ref[i - 1], hyp[j - 1])
        if np.isclose(cost[i, j], cost[i - 1, j - 1] + sub):
            last = j if last < 0 else last
            first = j - 1
            i, j = i - 1, j - 1
        elif np.isclose(cost[i, j], cost[i, j - 1] + 1):
            j -= 1
        else:
            i -= 1
    if last < 0:
        return 0, m, 0
    return best, first, m - last


def heard_words(ref: Tokens, hyp: list[str]) -> tuple[int, int, int]:
    """How many words of ``ref`` the hypothesis covers from its start, and hyp tokens before/after them."""
    covered, before, after = align(ref.tokens, hyp)
    if covered == 0:
        return 0, before, after
    last_word = ref.word[covered - 1]
    partial = covered < len(ref.word) and ref.word[covered] == last_word  # "is" of "isn't"
    return last_word - ref.word[0] + (0 if partial else 1), before, after


# ---------------------------------------------------------------------------------------------
# audio


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


@dataclass
class Chosen:
    """A cut that passed the checks, and the candidates rejected before it."""

    cand: Candidate | None
    heard: str
    rejected: list[str]
    remarks: list[str]


class Builder:
    """Runs Whisper over the fixtures and places every cut."""

    def __init__(self, verbose: bool) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self.verbose = verbose
        self.engine = WhisperEngine(ModelHub().cache.path("whisper-base"), cpu_threads=2)
        self.engine.load()
        # the checks want Whisper's words, even where it doubts there is speech (noisy clips)
        self.options = WhisperOptions(no_speech_threshold=1.0)
        self.mismatches: list[str] = []

    def log(self, text: str) -> None:
        if self.verbose:
            print(text, flush=True)

    # -- Whisper -------------------------------------------------------------------------------

    def words_with_times(
        self, pcm: np.ndarray, no_speech_threshold: float | None = 0.6
    ) -> list[tuple[str, float, float]]:
        """Whisper's words and their times (faster-whisper's standard decoder)."""
        segments, _ = self.engine.model.transcribe(
            pcm.astype(np.float32) / 32768,
            language="en",
            beam_size=1,
            temperature=0.0,
            word_timestamps=True,
            vad_filter=False,
            condition_on_previous_text=False,
            no_speech_threshold=no_speech_threshold,
        )
        return [(w.word, float(w.start), float(w.end)) for s in segments for w in s.words]

    def hear(self, pcm: np.ndarray) -> list[str]:
        """Normalised tokens Whisper hears in ``pcm`` (the engine the voice agent uses)."""
        text = self.engine.transcribe(pcm.astype(np.float32) / 32768, self.options).text
        return [t for w in text.split() for t in norm_word(w)]

    # -- per clip ------------------------------------------------------------------------------

    def prepare(self, row: dict[str, str]) -> Clip:
        clip = Clip(row["file"], row, read_fixture(FIXTURES / row["file"]), row["transcript"].split())
        timed = self.words_with_times(clip.pcm)
        clip.heard = [w.strip() for w, _, _ in timed]
        clip.start, clip.end, clip.said = align_times(clip.words, timed, clip.seconds)
        clip.env, clip.t = envelope_db(clip.pcm)
        p95 = float(np.percentile(clip.env[clip.env > -20], 95))
        first = find_room_tone(clip.pcm)
        if first is None:
            raise SystemExit(f"{clip.file}: no 100 ms without digital silence")
        speech = clip.t[clip.env > self.levels(clip, first, p95)[1]]
        for tone in (first, find_room_tone(clip.pcm, speech, clip.file in DIGITAL_ROOM)):
            if tone is not None:
                clip.tone = tone
                clip.floor_db, clip.quiet_db = self.levels(clip, tone, p95)
        clip.fricative = (high_band_share(clip.pcm) >= 0.5) & (clip.env >= clip.floor_db + 6.0)
        return clip

    @staticmethod
    def levels(clip: Clip, tone: tuple[int, int], p95: float) -> tuple[float, float]:
        """The room tone's level and the level under which a frame is quiet (dB)."""
        a, b = tone
        inside = (clip.t >= a / RATE + WIN / 2 / RATE) & (clip.t <= b / RATE - WIN / 2 / RATE)
        floor = float(10 * np.log10(np.mean(10 ** (clip.env[inside] / 10)) + 1e-3))
        # quiet: a little above the room tone, and at least 40 dB under the loud speech
        return floor, max(floor + float(np.clip(0.25 * (p95 - floor), 6.0, 12.0)), p95 - 40.0)

    def candidates(self, clip: Clip, k: int) -> list[Candidate]:
        """Places to cut after manifest word ``k`` (0-based), nearest to Whisper's word end first."""
        env, t = clip.env, clip.t
        quiet = env <= clip.quiet_db
        last = k == len(clip.words) - 1
        est = float(clip.end[k])
        lo = min(float(clip.start[k]), est - 0.4)
        hi = clip.seconds if last else max(est + 0.6, float(clip.end[k + 1]) + 0.2)
        found: list[Candidate] = []
        if last or SENTENCE_END.search(clip.words[k]):
            ends = self.sentence_ends(clip, k)
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
                word_end = float(t[i])
                if j < env.shape[0]:
                    onset = float(t[j]) - WIN / 2 / RATE
                    margin = min(MAX_MARGIN_S, max(0.0, onset - ONSET_GUARD_S - word_end))
                    found.append(Candidate(word_end, word_end + margin, "pause", onset))
                else:
                    found.append(Candidate(word_end, min(word_end + MAX_MARGIN_S, clip.seconds), "pause"))
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
            found = [self.before_fricative(clip, c) for c in found]
        # a pause is a sure word boundary, a dip a likely one, a fall the last resort
        rank = {"end of speech": -1, "pause": 0, "dip": 1, "fall": 2}
        found.sort(key=lambda c: (rank[c.kind.split(",")[0]], abs(c.word_end - est), c.word_end))
        unique: list[Candidate] = []
        for c in found:
            if all(abs(c.cut - u.cut) > 0.012 for u in unique):
                unique.append(c)
        return unique

    @staticmethod
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
                word_end = float(t[min(end_i, n - 1)])
                if j < n:
                    onset = float(t[j]) - WIN / 2 / RATE
                    margin = min(MAX_MARGIN_S, max(0.0, onset - ONSET_GUARD_S - word_end))
                    out.append(Candidate(word_end, word_end + margin, "end of speech", onset))
                else:
                    out.append(
                        Candidate(word_end, min(word_end + MAX_MARGIN_S, clip.seconds), "end of speech")
                    )
            i = j
        return out

    @staticmethod
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

    def place(self, clip: Clip, k: int) -> Chosen:
        """The first candidate after word ``k`` that passes the checks (see ``check``)."""
        rejected: list[str] = []
        for cand in self.candidates(clip, k)[:16]:
            problem, heard, remarks = self.check(clip, k, cand.cut, next_checked=cand.kind != "end of speech")
            if problem:
                rejected.append(f"{cand.kind} {cand.cut:.3f} s: {problem}")
                continue
            return Chosen(cand, heard, rejected, remarks)
        return Chosen(None, "", rejected, [])

    def check(self, clip: Clip, k: int, cut: float, next_checked: bool = True) -> tuple[str, str, list[str]]:
        """What is wrong with cutting after word ``k`` at ``cut`` ('' if nothing), the text heard
        and remarks on it.

        Whisper must hear the manifest words up to ``k`` in the cut audio (clip + room tone),
        no more, and the last one as itself (or as Whisper spells it in the whole clip); the
        audio after the cut must start with the next word, whole (unless a pause of >= 150 ms
        separates them: ``next_checked=False``). The standard decoder, with
        word times, then hears the cut audio once more: words it places wholly in the room
        tone (from 0.5 s after the cut) are inventions over silence, reported but not counted.
        """
        ref = Tokens.of(clip.words)
        a, b = clip.tone
        tone = clip.pcm[a:b]
        end = round(cut * RATE)
        audio = join_tail(clip.pcm[:end], tone, round(TAIL_S * RATE))
        hyp = self.hear(audio)
        problem, only_extra = self.prefix_problem(clip, k, ref, hyp)
        if problem and not only_extra:  # extra words at the end: the timed decoder decides below
            return problem, "", []
        if k + 1 < len(clip.words) and next_checked:  # not needed across a pause >= 150 ms
            next_ref = Tokens.of(clip.words[k + 1 :], first=k + 1)
            lead = join_tail(np.zeros(0, np.int16), tone, int(0.3 * RATE))
            rest = join_tail(clip.pcm[end : end + 3 * RATE], tone, int(0.5 * RATE))
            after = self.hear(np.concatenate([lead, rest]))
            m, before, _ = heard_words(next_ref, after)
            names = next_ref.tokens[:1] + clip.said[k + 1][:1]
            alike = max(similarity(after[0], x) for x in names) if after else 0.0
            if m == 0 or before or alike < 0.5:
                return (
                    f"after the cut heard {' '.join(after[:6])!r} (next word {clip.words[k + 1]!r})",
                    "",
                    [],
                )
        timed = self.words_with_times(audio, no_speech_threshold=None)
        kept = [w.strip() for w, start, _ in timed if start < cut + INVENTED_AFTER_S]
        invented = [w.strip() for w, start, _ in timed if start >= cut + INVENTED_AFTER_S]
        hyp2 = [t for w in kept for t in norm_word(w)]
        problem, _ = self.prefix_problem(clip, k, ref, hyp2)
        if problem:
            return f"standard decoder: {problem}", "", []
        remarks = differences(clip, k, hyp2)
        if invented:
            remarks.append(f"Whisper also wrote {' '.join(invented)!r} over the room tone")
        return "", " ".join(kept), remarks

    def prefix_problem(self, clip: Clip, k: int, ref: Tokens, hyp: list[str]) -> tuple[str, bool]:
        """Why ``hyp`` is not the manifest prefix up to word ``k`` ('' when it is), and whether
        the only fault is words added after it."""
        hyp = without_loops(hyp)  # Whisper looping over the room tone repeats words already heard
        n, _, extra = heard_words(ref, hyp)
        if n != k + 1:
            return f"heard {' '.join(hyp)!r}", False
        last = hyp[len(hyp) - 1 - extra] if hyp else ""
        want = norm_word(clip.words[k])[-1]
        if not (last == want or last in clip.said[k] or (len(want) >= 5 and similarity(last, want) >= 0.5)):
            return f"heard {' '.join(hyp)!r} (last word {last!r}, not {want!r})", False
        if extra:
            return f"heard {' '.join(hyp)!r} (words after {want!r})", True
        return "", False


def differences(clip: Clip, k: int, hyp: list[str]) -> list[str]:
    """Words of the prefix Whisper heard otherwise, beyond the spellings it also uses on the whole clip."""
    ref = Tokens.of(clip.words[: k + 1])
    out: list[str] = []
    sm = difflib.SequenceMatcher(None, ref.tokens, hyp, autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            continue
        words = sorted(set(ref.word[i1:i2]))
        if tag == "replace" and all(t in clip.said[w] for t in hyp[j1:j2] for w in words[:1]):
            continue  # Whisper's own spelling of a name ("Claferum"), as on the whole clip
        said = " ".join(hyp[j1:j2]) or "nothing"
        wanted = " ".join(plain(clip.words[w]) for w in words) or "nothing"
        out.append(f"Whisper heard {said!r} for {wanted!r}")
    return out


def without_loops(hyp: list[str]) -> list[str]:
    """``hyp`` without a decoding loop at its end: a run of 2-12 tokens said again right after
    itself ("… see you again, Phil. Lord, but I'm glad to see you again, Phil.")."""
    for period in range(2, min(12, len(hyp) // 2) + 1):
        i = len(hyp) - 1
        while i - period >= 0 and hyp[i] == hyp[i - period]:
            i -= 1
        repeated = len(hyp) - 1 - i
        if repeated >= period:
            return without_loops(hyp[: len(hyp) - repeated])
    return hyp


def align_times(
    words: list[str], timed: list[tuple[str, float, float]], seconds: float
) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
    """Start, end and Whisper's tokens of every manifest word, from Whisper's words aligned to them."""
    ref = Tokens.of(words)
    hyp: list[str] = []
    times: list[tuple[float, float]] = []
    for w, s, e in timed:
        for tok in norm_word(w):
            hyp.append(tok)
            times.append((s, e))
    start = np.full(len(words), np.nan)
    end = np.full(len(words), np.nan)
    said: list[list[str]] = [[] for _ in words]
    sm = difflib.SequenceMatcher(None, ref.tokens, hyp, autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            for n in range(i2 - i1):
                i, (s, e) = ref.word[i1 + n], times[j1 + n]
                start[i] = s if np.isnan(start[i]) else min(start[i], s)
                end[i] = e if np.isnan(end[i]) else max(end[i], e)
                said[i].append(hyp[j1 + n])
            continue
        if tag != "replace":
            continue
        span_s, span_e = times[j1][0], times[j2 - 1][1]
        idx = sorted(set(ref.word[i1:i2]))
        weights = np.array([max(1, len(plain(words[i]))) for i in idx], float)
        edges = span_s + (span_e - span_s) * np.concatenate([[0], np.cumsum(weights)]) / weights.sum()
        for n, i in enumerate(idx):
            said[i] = hyp[j1:j2]
            start[i] = edges[n] if np.isnan(start[i]) else min(start[i], edges[n])
            end[i] = edges[n + 1] if np.isnan(end[i]) else max(end[i], edges[n + 1])
    # words Whisper missed: share the time between their neighbours
    known = ~np.isnan(start)
    for i in range(len(words)):
        if known[i]:
            continue
        j = i
        while j < len(words) and not known[j]:
            j += 1
        left = end[i - 1] if i > 0 else 0.0
        right = start[j] if j < len(words) else seconds
        step = (right - left) / (j - i)
        for n in range(i, j):
            start[n], end[n] = left + step * (n - i), left + step * (n - i + 1)
        known[i:j] = True
    return start, end, said


def sentence_index(words: list[str], k: int) -> int:
    """Which manifest sentence word ``k`` is in (0-based)."""
    return sum(1 for w in words[:k] if SENTENCE_END.search(w))


def speaker_of(clip: Clip, k: int) -> str:
    """Who says manifest word ``k``."""
    if clip.file in TURNS:
        return TURNS[clip.file][sentence_index(clip.words, k)]
    if clip.file in WORD_SPEAKERS:
        return WORD_SPEAKERS[clip.file][k]
    return clip.row["speaker"]


def cut_points(clip: Clip) -> list[tuple[int, str, str]]:
    """(word index, label, reason) of the cuts of a clip: complete ones, then incomplete by preference."""
    points: list[tuple[int, str, str]] = []
    last = len(clip.words) - 1
    for k, w in enumerate(clip.words):
        if k == last and clip.file in NOT_A_TURN:
            continue
        if k == last:
            points.append((k, "complete", "end of the clip: the turn is over"))
        elif SENTENCE_END.search(w):
            goes_on = speaker_of(clip, k + 1) == speaker_of(clip, k)
            points.append(
                (
                    k,
                    "complete",
                    "sentence end inside the clip"
                    + (
                        "; the same speaker goes on after a pause"
                        if goes_on
                        else "; the other speaker answers"
                    ),
                )
            )
    simple_words = [simple(w) for w in clip.words]
    for prefix, reason in INCOMPLETE.get(clip.file, []):
        p = prefix.split()
        if simple_words[: len(p)] != p:
            raise SystemExit(f"{clip.file}: {prefix!r} is not a prefix of the manifest text")
        k = len(p) - 1
        if SENTENCE_END.search(clip.words[k]) or k == last:
            raise SystemExit(f"{clip.file}: {prefix!r} ends a sentence; it cannot be incomplete")
        if p[-1] not in FUNCTION_WORDS | PHRASE_WORDS:
            raise SystemExit(f"{clip.file}: {prefix!r} ends on {p[-1]!r}, not a function word")
        points.append((k, "incomplete", reason))
    return points


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--preview", type=Path, help="also write every cut as a WAV file into this folder")
    parser.add_argument("--quiet", action="store_true", help="print only the summary")
    parser.add_argument("--out", type=Path, default=OUT, help="where to write the table (default: cuts.tsv)")
    parser.add_argument("--only", action="append", default=[], help="build the cuts of this fixture only")
    args = parser.parse_args(argv)
    started = time.monotonic()
    builder = Builder(verbose=not args.quiet)
    with (FIXTURES / "manifest.tsv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    cuts: list[TurnCut] = []
    failed: list[str] = []
    for row in rows:
        if row["file"] in SKIP or (args.only and row["file"] not in args.only):
            continue
        clip = builder.prepare(row)
        a, b = clip.tone
        builder.log(
            f"{clip.file}: room tone {a / RATE:.2f}-{b / RATE:.2f} s at {clip.floor_db:.1f} dB, "
            f"quiet below {clip.quiet_db:.1f} dB; Whisper heard {' '.join(clip.heard)!r}"
        )
        kept: list[TurnCut] = []
        taken = 0
        for k, label, reason in cut_points(clip):
            cut_id = f"{Path(clip.file).stem}_{label[0]}{k + 1:02d}"
            if label == "incomplete" and taken >= MAX_INCOMPLETE:
                builder.log(f"  {cut_id}: not needed ({MAX_INCOMPLETE} incomplete cuts in this clip)")
                continue
            chosen = builder.place(clip, k)
            for r in chosen.rejected:
                builder.mismatches.append(f"{cut_id}: {r}")
                builder.log(f"  {cut_id}: rejected {r}")
            if chosen.cand is None:
                failed.append(f"{cut_id} ({label}): no place passes the checks")
                builder.log(f"  {cut_id}: no place passes the checks; left out")
                continue
            taken += label == "incomplete"
            cut = make_cut(clip, k, label, reason, chosen)
            builder.log(
                f"  {cut_id} {label} at {cut.cut_s:.3f} s ({chosen.cand.kind}) heard {chosen.heard!r}"
            )
            kept.append(cut)
        cuts.extend(sorted(kept, key=lambda c: c.cut_s))
    write_table(args.out, cuts)
    if args.preview:
        write_previews(args.preview, cuts)
    counts = Counter(c.label for c in cuts)
    print(
        f"{len(cuts)} cuts ({counts['complete']} complete, {counts['incomplete']} incomplete) -> {args.out}; "
        f"{len(builder.mismatches)} rejected places, {len(failed)} cuts left out "
        f"({time.monotonic() - started:.0f} s)"
    )
    for m in failed:
        print(f"  left out: {m}")
    return 0 if counts["complete"] >= 30 and counts["incomplete"] >= 40 else 1


def make_cut(clip: Clip, k: int, label: str, reason: str, chosen: Chosen) -> TurnCut:
    """The table row of a placed cut."""
    c = chosen.cand
    assert c is not None
    where = f"word end {c.word_end:.3f} s + {1000 * (c.cut - c.word_end):.0f} ms"
    if c.kind.endswith("hiss"):
        where = "cut where the next word's hiss (fricative) begins"
    elif c.kind == "dip":
        where = "connected speech: cut at the energy dip between the words"
    elif c.kind == "fall":
        where = "connected speech: cut where the level falls between the words"
    elif c.next_onset is not None:
        where += f", next word's onset {c.next_onset:.3f} s"
    heard = chosen.heard.split()
    tail = " ".join(heard[-8:])
    a, b = clip.tone
    return TurnCut(
        id=f"{Path(clip.file).stem}_{label[0]}{k + 1:02d}",
        file=clip.file,
        cut_s=round(c.cut, 3),
        label="complete" if label == "complete" else "incomplete",
        prefix=" ".join(clip.words[: k + 1]),
        last_word=plain(clip.words[k]),
        next_word=plain(clip.words[k + 1]) if k + 1 < len(clip.words) else "",
        tone_start_s=round(a / RATE, 3),
        tone_end_s=round(b / RATE, 3),
        speaker=speaker_of(clip, k),
        category=clip.row["category"],
        notes="; ".join(
            [reason, where, f"Whisper on the cut: {'...' if len(heard) > 8 else ''}{tail!r}", *chosen.remarks]
        ),
    )


def write_table(path: Path, cuts: list[TurnCut]) -> None:
    """Write the cuts as TSV (no quoting: fields never hold tabs or newlines)."""
    lines = ["\t".join(COLUMNS)]
    for c in cuts:
        values: list[Any] = [getattr(c, name) for name in COLUMNS]
        fields = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in values]
        for v in fields:
            if "\t" in v or "\n" in v:
                raise SystemExit(f"{c.id}: a field holds a tab or a newline: {v!r}")
        lines.append("\t".join(fields))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_previews(folder: Path, cuts: list[TurnCut]) -> None:
    """Every cut as a WAV file, for listening."""
    folder.mkdir(parents=True, exist_ok=True)
    for c in cuts:
        pcm = cut_audio(c, FIXTURES, TAIL_S)
        with wave.open(str(folder / f"{c.id}_{c.label}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(pcm.astype("<i2").tobytes())


if __name__ == "__main__":
    sys.exit(main())
