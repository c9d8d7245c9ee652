"""Word error rate, with a normalisation for spoken English (numbers spelled out, contractions expanded)."""

from __future__ import annotations

import re

_ONES = [
    *("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
    *("eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"),
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SPELLING = {"mr": "mister", "mrs": "missus", "dr": "doctor", "metres": "meters", "ok": "okay"}


def _number(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    return _ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + _number(n % 100))


def normalize(text: str) -> list[str]:
    """Lowercase words without punctuation; numbers < 1000 spelled out, contractions expanded."""
    text = text.lower().replace("-", " ")
    text = re.sub(r"\d+", lambda m: _number(int(m.group())) if len(m.group()) <= 3 else m.group(), text)
    text = text.replace("\u2019", "'").replace("won't", "will not").replace("can't", "can not")
    for short, full in (("n't", " not"), ("'m", " am"), ("'re", " are"), ("'ve", " have"), ("'ll", " will")):
        text = text.replace(short, full)
    text = re.sub(r"[^a-z0-9' ]", " ", text).replace("'", "")
    return [_SPELLING.get(w, w) for w in text.split()]


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(substitutions + deletions + insertions, reference words)."""
    ref, hyp = normalize(reference), normalize(hypothesis)
    row = list(range(len(hyp) + 1))
    for i in range(1, len(ref) + 1):
        diagonal, row[0] = row[0], i
        for j in range(1, len(hyp) + 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (ref[i - 1] != hyp[j - 1]))
    return row[len(hyp)], len(ref)


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate of ``hypothesis`` against ``reference``."""
    errors, words = word_errors(reference, hypothesis)
    return errors / max(words, 1)
