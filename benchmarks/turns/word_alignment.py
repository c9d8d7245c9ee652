"""Manifest words and Whisper's words in one written form, aligned to each other.

Both sides are normalised the same way (case, punctuation, hyphens, digits to words,
Whisper's spellings, contractions written out). The alignments say how much of a manifest
prefix a transcript covers, and when Whisper says each manifest word.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

import numpy as np

SENTENCE_END = re.compile(r"[.?!]$")
"""A manifest word that ends a sentence."""

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
        """The tokens of ``words``, the first of which is manifest word ``first``."""
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
