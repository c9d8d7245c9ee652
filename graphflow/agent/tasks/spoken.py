"""Reading what people say aloud: digits from number words, email addresses from "at" and "dot".

Speech recognisers write "john dot smith at example dot com" or "john.smith at
example.com", "five five five, oh one two" or "555-012"; these functions turn any of
them into the written form, and back into words to read to the user.
"""

from __future__ import annotations

import re

DIGIT_WORDS = {
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
"""Digit names."""
TEENS = {
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "thirteen": "13",
    "fourteen": "14",
    "fifteen": "15",
    "sixteen": "16",
    "seventeen": "17",
    "eighteen": "18",
    "nineteen": "19",
}
"""Numbers read as one word from ten to nineteen."""
TENS = {
    "twenty": "2",
    "thirty": "3",
    "forty": "4",
    "fifty": "5",
    "sixty": "6",
    "seventy": "7",
    "eighty": "8",
    "ninety": "9",
}
"""Tens read as one word."""
REPEATS = {"double": 2, "triple": 3}
"""Words that repeat the next digit."""
EMAIL_WORDS = {
    "at": "@",
    "dot": ".",
    "period": ".",
    "point": ".",
    "underscore": "_",
    "dash": "-",
    "hyphen": "-",
}
"""Words said for the symbols of an email address."""
SYMBOL_NAMES = {"@": "at", ".": "dot", "_": "underscore", "-": "dash", "+": "plus"}
"""How each symbol of an address is read back."""
_GLUED = re.compile(r"\b([a-z0-9._%+-]+)at([a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,})\b")
"""An "at" a transcriber wrote into the words ("john.smithatexample.com"), tried when nothing else is."""
_EMAIL = re.compile(r"[a-z0-9][a-z0-9._%+-]*@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}")


def spoken_digits(text: str) -> str:
    """The digits said in ``text``, in order ("plus" first gives a leading ``+``)."""
    tokens = re.findall(r"[a-z]+|\d+|\+", text.lower().replace("-", " "))
    out: list[str] = []
    repeat = 1
    for index, token in enumerate(tokens):
        after = tokens[index + 1] if index + 1 < len(tokens) else ""
        digit = _digit(token, after, bool(out))
        if token in REPEATS:
            repeat = REPEATS[token]
        elif token == "+" or (token == "plus" and not out):
            out.append("+")
        elif token.isdigit():
            out.append(token * repeat if len(token) == 1 else token)
            repeat = 1
        elif digit:
            out.append(digit * repeat)
            repeat = 1
        elif token in TEENS:
            out.append(TEENS[token])
        elif token in TENS:
            out.append(TENS[token] + ("" if after in DIGIT_WORDS and after != "zero" else "0"))
        elif token == "hundred" and out:
            out.append("00")
        elif token == "thousand" and out:
            out.append("000")
    joined = "".join(out)
    return joined[:1] + joined[1:].replace("+", "")


def _digit(token: str, after: str, inside: bool) -> str:
    """The digit ``token`` names; "oh" and "o" count only among digits."""
    if token in DIGIT_WORDS:
        return DIGIT_WORDS[token]
    if token in ("oh", "o") and (inside or after in DIGIT_WORDS or after.isdigit()):
        return "0"
    return ""


def digits_aloud(digits: str) -> str:
    """``5551234567`` as "five five five, one two three, four five six seven" (in groups)."""
    names = {v: k for k, v in DIGIT_WORDS.items()}
    plus, bare = ("plus ", digits[1:]) if digits.startswith("+") else ("", digits)
    groups: list[str] = []
    rest = bare
    while len(rest) > 4:
        groups.append(rest[:3])
        rest = rest[3:]
    groups.append(rest)
    return plus + ", ".join(" ".join(names[d] for d in group) for group in groups if group)


def spoken_email(text: str) -> str | None:
    """The email address said or written in ``text`` (lower case), or None when there is none."""
    words: list[str] = []
    for raw in re.sub(r"[,!?;:]", " ", text.lower()).split():
        token = raw.strip("\"'()").rstrip(".")
        if token == "sign" and words and words[-1] == "@":
            continue  # "at sign"
        if token:
            words.append(EMAIL_WORDS.get(token, DIGIT_WORDS.get(token, token)))
    merged: list[str] = []
    spelling = False
    for word in words:  # spelled letters "j o h n" make one word
        single = len(word) == 1 and word.isalnum()
        if single and spelling:
            merged[-1] += word
        else:
            merged.append(word)
        spelling = single
    joined = re.sub(r"\s*([@._+-])\s*", r"\1", " ".join(merged))
    found = _EMAIL.search(joined) or _EMAIL.search(_GLUED.sub(r"\1@\2", joined))
    return found.group(0) if found else None


def email_aloud(address: str) -> str:
    """``john.smith@example.com`` as "john dot smith at example dot com"."""
    return (
        "".join(f" {SYMBOL_NAMES[c]} " if c in SYMBOL_NAMES else c for c in address)
        .replace("  ", " ")
        .strip()
    )
