"""Two runs' turn decisions side by side: each recorded turn matched to a replayed one by time.

A turn is a spoken :class:`~graphflow.conversation.events.TurnEnded`, placed on the
input's timeline by where the user stopped speaking (``speech_end_ms``) and when the turn
was decided (``decided_ms``: the event's clock time minus the clock time of media 0).
Turns are matched by their speech end — the same words in the same audio end at the same
place whatever decides them — the closest pairs first, within ``window_ms``. A matched
pair is ``same`` when its decision moved by at most ``tolerance_ms`` and its reason is
unchanged, ``moved`` when the decision moved by more, ``changed`` when only the reason
differs; a recorded turn with no partner is ``missing``, a replayed one ``new``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from graphflow.conversation.events import SessionEvent, TurnEnded
from graphflow.frames.speech import TurnKind

STATUSES = ("same", "moved", "changed", "missing", "new")
"""What a line of a diff can say about a turn."""


class Turn(msgspec.Struct, frozen=True, kw_only=True):
    """One spoken turn decision, times in ms on the input's timeline."""

    speech_end_ms: float
    decided_ms: float
    text: str
    reason: str
    probability: float
    audio: float | None = None
    """The audio turn model's probability, when the decision weighed it."""
    text_score: float | None = None
    """The transcript's score, when the decision weighed it."""


class TurnDiff(msgspec.Struct, frozen=True, kw_only=True):
    """One line of a diff: a recorded turn, its replayed partner, or both."""

    status: str
    recorded: Turn | None = None
    replayed: Turn | None = None
    moved_ms: float | None = None
    """Replayed decision time minus recorded (matched pairs only)."""


class DiffOptions(msgspec.Struct, frozen=True, kw_only=True):
    """How far a decision may move and still be the same, and how far apart turns may match."""

    tolerance_ms: float = 100.0
    window_ms: float = 1500.0


def turns_of(events: Sequence[SessionEvent], media_zero_ns: int) -> list[Turn]:
    """The spoken turn decisions among ``events``, in order (typed and requested turns are left out)."""
    turns = []
    for e in events:
        if not isinstance(e, TurnEnded) or e.kind != TurnKind.SPOKEN:
            continue
        evidence = e.evidence
        turns.append(
            Turn(
                speech_end_ms=e.media / 1e6,
                decided_ms=(e.at - media_zero_ns) / 1e6,
                text=e.text,
                reason=str(e.reason),
                probability=e.probability,
                audio=evidence.audio if evidence is not None else None,
                text_score=evidence.text if evidence is not None else None,
            )
        )
    return sorted(turns, key=lambda t: t.speech_end_ms)


def diff_turns(recorded: Sequence[Turn], replayed: Sequence[Turn], options: DiffOptions) -> list[TurnDiff]:
    """Every recorded and replayed turn in one list by speech end, matched where they can be."""
    pairs = sorted(
        (abs(a.speech_end_ms - b.speech_end_ms), i, j)
        for i, a in enumerate(recorded)
        for j, b in enumerate(replayed)
        if abs(a.speech_end_ms - b.speech_end_ms) <= options.window_ms
    )
    partner: dict[int, int] = {}
    taken: set[int] = set()
    for _, i, j in pairs:
        if i not in partner and j not in taken:
            partner[i] = j
            taken.add(j)
    lines = [
        _pair(a, replayed[partner[i]], options) if i in partner else TurnDiff(status="missing", recorded=a)
        for i, a in enumerate(recorded)
    ]
    lines += [TurnDiff(status="new", replayed=b) for j, b in enumerate(replayed) if j not in taken]
    return sorted(lines, key=_place)


def _pair(recorded: Turn, replayed: Turn, options: DiffOptions) -> TurnDiff:
    moved = replayed.decided_ms - recorded.decided_ms
    if abs(moved) > options.tolerance_ms:
        status = "moved"
    elif replayed.reason != recorded.reason:
        status = "changed"
    else:
        status = "same"
    return TurnDiff(status=status, recorded=recorded, replayed=replayed, moved_ms=round(moved, 3))


def _place(line: TurnDiff) -> float:
    turn = line.recorded or line.replayed
    assert turn is not None
    return turn.speech_end_ms


def counts(lines: Sequence[TurnDiff]) -> dict[str, int]:
    """How many lines have each status."""
    return {status: sum(line.status == status for line in lines) for status in STATUSES}


def matches(lines: Sequence[TurnDiff]) -> bool:
    """True when every turn is the same in both runs."""
    return all(line.status == "same" for line in lines)


def diff_json(lines: Sequence[TurnDiff]) -> list[dict[str, Any]]:
    """The diff as plain JSON values."""
    values = msgspec.to_builtins(list(lines))
    assert isinstance(values, list)
    return values
