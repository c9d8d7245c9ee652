"""Does a transcript read like a complete utterance? A small, rule-based heuristic (no model).

The audio turn model misses some complete turns, short questions above all ("What's the
weather like?" scores ~0.02), so the turn detector also asks the text. The rules, first
match wins, each giving a score in [0, 1] (complete when ``score >= 0.5``):

====================================================================  =====  ==================
the transcript (stripped, closing quotes/brackets ignored)            score  rule
====================================================================  =====  ==================
is empty                                                              0.0    ``empty``
trails off: ends with ``...``, ``…``, ``-``, ``,``, ``;`` or ``:``        0.1    ``trailing``
ends with ``?`` (not after an article/conjunction/filler)             0.9    ``question_mark``
last word is a conjunction, preposition, article, possessive or a     0.05   ``dangling``
filler (``and``, ``but``, ``to``, ``of``, ``the``, ``my``, ``um`` ...)
or ends with ``you know`` / ``i mean`` / ``kind of`` ...
ends with ``!``                                                        0.85   ``exclamation``
is a question without ``?``: starts with a wh-word or an inverted     0.75   ``question_form``
auxiliary (``can you``, ``is it``), or ends with a tag (``isn't it``)
ends with ``.``                                                        0.7    ``period``
anything else (an unpunctuated statement)                             0.4    ``no_punctuation``
====================================================================  =====  ==================

Prepositions (and "like") may end a question ("Where are you from?", "what's it like"),
so ``?`` and question forms are checked before the dangling-word rule; a dangling article
or conjunction before ``?`` still scores low.
Speech-to-text punctuation is a hint, not proof: Whisper ends most segments with a
period, even a clause the speaker is about to continue ("He was not an ill-disposed
young man." before "unless ..."), which only the audio model can tell apart.
"""

from __future__ import annotations

import re
from typing import NamedTuple


def _set(words: str) -> frozenset[str]:
    """A set of the space-separated ``words``."""
    return frozenset(words.split())


COMPLETE_SCORE = 0.5
"""Scores at or above this mean "complete"."""

CONJUNCTIONS = _set("and but or nor because although though whereas unless if whether while cause cuz plus")
"""Conjunctions that do not end a finished utterance."""
PREPOSITIONS = _set("to of at for with from by into onto than about through between via toward towards")
"""Prepositions that do not end a finished statement (a question may end with one)."""
DETERMINERS = _set("a an the my your our their its every")
"""Articles and possessives that always need a noun after them."""
FILLERS = _set("um umm uh uhh uhm er erm ah hmm mm like")
"""Hesitation sounds and filler words: the speaker is still thinking."""
OTHER_DANGLING = _set("i very")
"""Other words that hardly ever end an utterance."""
DANGLING_WORDS = CONJUNCTIONS | PREPOSITIONS | DETERMINERS | FILLERS | OTHER_DANGLING
"""Every single word that marks an unfinished utterance."""
DANGLING_PHRASES = ("you know", "i mean", "kind of", "sort of", "such as", "as well as", "rather than")
"""Multi-word endings that mark an unfinished utterance."""
NO_QUESTION_WORDS = CONJUNCTIONS | DETERMINERS | (FILLERS - {"like"})
"""Words after which even a ``?`` does not make a complete question ("what's it like?" does)."""

WH_WORDS = _set("what what's whats how how's why where where's when who who's whom whose which")
"""Words that open a question."""
AUXILIARIES = _set(
    "is are am was were do does did can could would will should shall may might have has had "
    "isn't aren't don't doesn't didn't can't couldn't won't wouldn't shouldn't haven't hasn't"
)
"""Verbs that open a yes/no question when followed by a subject."""
SUBJECTS = _set("i you he she it we they there this that")
"""Subjects that follow an inverted auxiliary in a question."""
TAGS = (
    "is it",
    "isn't it",
    "right",
    "don't you",
    "aren't you",
    "isn't that",
    "won't you",
    "can't you",
    "okay",
)
"""Tags that turn a statement into a question."""

_CLOSERS = "\"')]}\u00bb\u201d\u2019"
TRAILING_MARKS = ("...", "\u2026", "-", "\u2014", "\u2013", ",", ";", ":")
"""Endings of a transcript that trails off (the recognizer heard the speech stop mid-sentence)."""
_WORD = re.compile(r"[a-z0-9']+")


class TextVerdict(NamedTuple):
    """The heuristic's answer: a score in [0, 1] and the rule that decided."""

    score: float
    rule: str

    @property
    def complete(self) -> bool:
        """True when the score says the utterance is complete."""
        return self.score >= COMPLETE_SCORE


def assess(text: str) -> TextVerdict:
    """Score how complete ``text`` reads as an utterance (see the module table)."""
    stripped, words = _read(text)
    if not words:
        return TextVerdict(0.0, "empty")
    if stripped.endswith(TRAILING_MARKS):
        return TextVerdict(0.1, "trailing")
    last = words[-1]
    if stripped.endswith("?"):
        if last in NO_QUESTION_WORDS:
            return TextVerdict(0.3, "dangling")
        return TextVerdict(0.9, "question_mark")
    tail = " ".join(words[-3:])
    question = _question_form(words)
    if question and last in PREPOSITIONS | {"like"}:
        return TextVerdict(0.75, "question_form")  # "what's the weather like", "where are you from"
    if last in DANGLING_WORDS or any(tail == p or tail.endswith(" " + p) for p in DANGLING_PHRASES):
        return TextVerdict(0.05, "dangling")
    if stripped.endswith("!"):
        return TextVerdict(0.85, "exclamation")
    if question:
        return TextVerdict(0.75, "question_form")
    if stripped.endswith("."):
        return TextVerdict(0.7, "period")
    return TextVerdict(0.4, "no_punctuation")


def _read(text: str) -> tuple[str, list[str]]:
    """``text`` without closing quotes or brackets, and its lower-case words (none: nothing said)."""
    stripped = text.strip().rstrip(_CLOSERS).rstrip()
    return stripped, _WORD.findall(stripped.lower().replace("\u2019", "'"))


def _question_form(words: list[str]) -> bool:
    """A question by its words: wh-opening, auxiliary + subject opening, or a tag at the end."""
    if words[0] in WH_WORDS and len(words) > 1:
        return True
    if len(words) > 1 and words[0] in AUXILIARIES and words[1] in SUBJECTS:
        return True
    tail = " ".join(words[-2:])
    return len(words) > 2 and any(tail == t or tail.endswith(" " + t) for t in TAGS)


def text_complete(text: str) -> bool:
    """True when ``text`` reads like a complete utterance (``assess(text).complete``)."""
    return assess(text).complete


CUT_DANGLING = DANGLING_WORDS | _set(
    "in on another some any these those his her mr mrs ms dr st is are was were am be the"
)
"""Last words that leave a sentence open, for :func:`lexical` (articles, prepositions, titles...)."""
PRONOUNS = _set("i you he she it we they there")
"""Subjects after which a bare auxiliary leaves the clause open ("he had", "they were")."""
BARE_AUXILIARIES = _set("had has have was were is are am will would could should can do does did")
"""Auxiliaries that leave a clause open when nothing follows their subject."""
OPEN_CONTRACTIONS = _set(
    "it's i'm he's she's there's we're they're you're i've we've you've they've "
    "i'd we'd you'd he'd she'd they'd i'll we'll you'll he'll she'll they'll it'll"
)
"""A subject and its auxiliary in one word: nothing said yet ("now it's", "I'm")."""

CUT_SCORES = {"trailing": 0.02, "dangling": 0.02, "open_clause": 0.1, "question": 0.6, "plain": 0.5}
""":func:`lexical`'s score per rule (tuned on benchmarks/turns, see docs/nodes/turn.md)."""


def lexical(text: str) -> TextVerdict:
    """How complete ``text`` reads from its words alone, for a transcript of speech that may be cut.

    A recognizer's final ``.`` and ``!`` are not trusted: Whisper closes a cut clause with
    a period, and even turns a cut one into a question ("What's the word?" for "What's the
    weather"), so a ``?`` only leans a little towards complete. Its trailing marks are
    trusted: ``...``, ``-`` or ``,`` at the end is the recognizer itself hearing the speech
    stop mid-sentence. Rules and scores (:data:`CUT_SCORES`): ``trailing`` 0.02,
    ``dangling`` (an article, preposition, conjunction, title or filler last) 0.02,
    ``open_clause`` (a pronoun and a bare auxiliary last: "he had", "now it's") 0.1,
    ``question`` (ends with ``?``) 0.6, else ``plain`` 0.5: the words say nothing either
    way, and the audio model decides.
    """
    stripped, words = _read(text)
    if not words:
        return TextVerdict(0.0, "empty")
    if stripped.endswith(TRAILING_MARKS):
        return _cut("trailing")
    last = words[-1]
    if last in CUT_DANGLING and not (last in PREPOSITIONS | {"like", "in", "on"} and _question_form(words)):
        return _cut("dangling")
    if last in OPEN_CONTRACTIONS or (len(words) > 1 and last in BARE_AUXILIARIES and words[-2] in PRONOUNS):
        return _cut("open_clause")
    return _cut("question" if stripped.endswith("?") else "plain")


def _cut(rule: str) -> TextVerdict:
    return TextVerdict(CUT_SCORES[rule], rule)
