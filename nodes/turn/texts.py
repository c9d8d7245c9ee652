"""The final transcripts of the open turn: which speech they cover and the text they make."""

from __future__ import annotations

import asyncio
import collections

from graphflow.frames.speech import Transcript


class TurnTexts:
    """Final transcripts received since the last emitted turn, and a wake-up when one comes."""

    def __init__(self, keep: int = 256) -> None:
        self._finals: collections.deque[Transcript] = collections.deque(maxlen=keep)
        self._boundary = -1  # speech end of the last emitted turn: finals ending before it are late
        self.arrived = asyncio.Event()
        """Set when a final arrives (replaced by a fresh event each time: wait on the current one)."""
        self.late = 0
        """Final transcripts that arrived after their turn was emitted (dropped)."""

    def add(self, final: Transcript) -> bool:
        """Keep ``final``; False (and counted as late) when its turn was already emitted."""
        if final.end <= self._boundary:
            self.late += 1
            return False
        self._finals.append(final)
        event, self.arrived = self.arrived, asyncio.Event()
        event.set()
        return True

    def covers(self, speech_end: int) -> bool:
        """A final transcript reaches ``speech_end``.

        The STT may close segments at pauses inside the VAD's speech (a speculative final
        that stood, then speech resumed): a final of an earlier stretch does not cover
        this one, whose words are still to come."""
        return any(f.end >= speech_end and f.start < speech_end for f in self._finals)

    def text(self, speech_end: int) -> str:
        """The turn's final transcripts (speech begun before ``speech_end``) joined with spaces."""
        return " ".join(t for t in (f.text.strip() for f in self._of(speech_end)) if t)

    def close(self, speech_end: int) -> None:
        """The turn ending at ``speech_end`` was emitted: its finals are used, later ones for it are late."""
        self._boundary = speech_end
        for used in self._of(speech_end):
            self._finals.remove(used)

    def _of(self, speech_end: int) -> list[Transcript]:
        return sorted((f for f in self._finals if f.start < speech_end), key=lambda f: f.start)
