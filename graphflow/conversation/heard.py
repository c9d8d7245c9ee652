"""What of one reply the user has heard: whole sentences played, and the words of the one cut short.

Sinks fill it in as they play; what it says becomes the agent's line in the history
when a reply ends, interrupted or not.
"""

from __future__ import annotations


class HeardReply:
    """What of one reply has been played so far."""

    def __init__(self, reply_id: str, generation: int) -> None:
        self.reply_id = reply_id
        self.generation = generation
        self.segments: dict[int, str] = {}
        self.partial: tuple[int, str] = (-1, "")

    def heard(self) -> str:
        """The heard text: whole segments plus the heard words of the one cut short."""
        parts = dict(self.segments)
        index, text = self.partial
        if text and index not in parts:
            parts[index] = text
        return " ".join(parts[i] for i in sorted(parts) if parts[i])
