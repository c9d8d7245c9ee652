"""Cutting a reply's streamed text into speakable sentences as soon as each is complete."""

from __future__ import annotations

import re

_ABBREVIATED = (
    "mr mrs ms dr prof sr jr st mt vs etc vol approx dept inc ltd corp gen capt cmdr sgt lt rev gov sen "
    "ave blvd rd jan feb mar apr jun jul aug sep sept oct nov dec e.g i.e a.m p.m cf al ca"
)
ABBREVIATIONS = frozenset(_ABBREVIATED.split())
"""Words that end in a period without ending a sentence (lowercase, without the final dot)."""

_OPENERS = "\"'\u201c\u2018([\u00ab"
_CLOSERS = "\"'\u201d\u2019)]\u00bb"
_TERMINATORS = ".!?…"
_CLAUSE = re.compile("[,;:\u2014\u2013](?=\\s)|\\s-\\s")  # , ; : em/en dash, spaced hyphen
_WORD = re.compile(r"\w")
_UNSPOKEN = str.maketrans({"*": None, "#": None, "`": None, "~": None, "_": " "})


def split_sentences(text: str, *, final: bool = False, max_chars: int = 150) -> tuple[list[str], str]:
    """Cut ``text`` into complete sentences and the unfinished rest: ``(sentences, rest)``.

    A sentence ends at ``. ! ? …`` (with any closing quotes or brackets) followed by
    whitespace, or at a newline; not after abbreviations (``Dr.``, ``e.g.``), initials
    (``J.``), list numbers, or inside numbers (``3.5``, ``10.30``). ``!`` and ``?`` and a
    period after an ordinary word end a sentence even at the end of ``text`` (the next
    piece of the stream cannot change that). A rest longer than ``max_chars`` without
    any such end is cut at its last clause boundary (``,`` ``;`` ``:`` dash), else at its
    last space, so audio can start. ``final`` flushes the rest as a sentence too.
    Sentences are stripped; pieces without a letter or digit are dropped.
    """
    sentences: list[str] = []
    start = 0
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            _add(sentences, _cut_long(sentences, text[start:i], max_chars))
            start = i + 1
        elif c in _TERMINATORS:
            j = i
            while j < n and text[j] in _TERMINATORS:
                j += 1
            while j < n and text[j] in _CLOSERS:
                j += 1
            if _ends_sentence(text, start, i, j):
                _add(sentences, _cut_long(sentences, text[start:j], max_chars))
                start = j
            i = j
            continue
        i += 1
    rest = _cut_long(sentences, text[start:], max_chars)
    if final:
        _add(sentences, rest)
        rest = ""
    return sentences, rest


def _ends_sentence(text: str, start: int, i: int, j: int) -> bool:
    """Whether the terminator run ``text[i:j]`` ends the sentence begun at ``start``."""
    n = len(text)
    if j < n and not text[j].isspace():
        return False  # 3.5, 10.30, e.g, example.com, "?!x"
    run = text[i:j].rstrip(_CLOSERS)
    if run in ("?", "!") or (len(run) > 1 and run[0] in "!?"):
        # '"Stop!" he said.' goes on after a quoted exclamation; otherwise it ends here
        return run == text[i:j] or not _next_is_lower(text, j, unknown=False)
    if run != ".":  # an ellipsis: a sentence ends only if the next word is not lowercase
        return not _next_is_lower(text, j, unknown=True)
    line_start = text.rfind("\n", 0, i) + 1
    word_start = max(start, line_start, text.rfind(" ", 0, i) + 1, text.rfind("\t", 0, i) + 1)
    word = text[word_start:i].lstrip(_OPENERS)
    if not word:
        return True
    if word.lower() in ABBREVIATIONS or "." in word or (len(word) == 1 and word.isalpha()):
        return False
    if word.isdigit():
        if text[start:word_start].strip() == "":  # "1." opening a numbered list item
            return False
        return j < n  # "in 2020." is an end; "3." may still become 3.5
    return True


def _next_is_lower(text: str, j: int, *, unknown: bool) -> bool:
    """Whether the next word after ``j`` starts lowercase (``unknown`` if not received yet)."""
    k = j
    n = len(text)
    while k < n and (text[k].isspace() or text[k] in _OPENERS):
        k += 1
    return unknown if k == n else text[k].islower()


def _cut_long(sentences: list[str], piece: str, max_chars: int) -> str:
    """Add the head of ``piece`` to ``sentences`` while it is over ``max_chars``; return the rest."""
    while 0 < max_chars < len(piece):
        cut = _clause_cut(piece, max_chars)
        _add(sentences, piece[:cut])
        piece = piece[cut:]
    return piece


def _clause_cut(rest: str, max_chars: int) -> int:
    """Where to cut a run of ``rest`` with no sentence end: a clause boundary, else a space."""
    window = rest[:max_chars]
    clauses = [m.end() for m in _CLAUSE.finditer(window) if m.end() > max_chars // 3]
    if clauses:
        return clauses[-1]
    space = window.rfind(" ")
    return space if space > max_chars // 3 else max_chars


def _add(sentences: list[str], piece: str) -> None:
    piece = piece.strip()
    if _WORD.search(piece):
        sentences.append(piece)


def speakable(sentence: str) -> str:
    """``sentence`` without markdown marks a voice would read aloud (``*``, ``#``, backticks)."""
    return " ".join(sentence.translate(_UNSPOKEN).split())


class SentenceSplitter:
    """Incremental :func:`split_sentences`: ``push`` stream pieces, ``flush`` at the end."""

    __slots__ = ("buffer", "max_chars")

    def __init__(self, max_chars: int = 150) -> None:
        self.buffer = ""
        self.max_chars = max_chars

    def push(self, piece: str) -> list[str]:
        """Add ``piece``; return the sentences it completed."""
        sentences, self.buffer = split_sentences(self.buffer + piece, max_chars=self.max_chars)
        return sentences

    def flush(self) -> list[str]:
        """Return whatever is left as final sentences and empty the buffer."""
        sentences, self.buffer = split_sentences(self.buffer, final=True, max_chars=self.max_chars)
        return sentences


# --------------------------------------------------------------------------- the base node
