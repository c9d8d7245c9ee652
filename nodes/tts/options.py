"""The options every text-to-speech provider shares; each provider's options derive from them."""

from __future__ import annotations

import msgspec


class SentenceTTSOptions(msgspec.Struct, frozen=True):
    """How a TTS node cuts reply text into sentences and spaces them, and its latency estimate.

    A provider's options subclass this one and may give a field another default (eSpeak's
    ``pause_ms``, each provider's ``expected_first_audio_ms``).
    """

    max_chars: int = 150
    """Longest run of text synthesized without a sentence end (cut at a clause, else a space); >= 20."""
    pause_ms: int = 0
    """Silence put in front of every sentence but a reply's first (for voices that have none); 0-2000."""
    expected_first_audio_ms: int = 0
    """The first sentence's synthesis before any audio leaves, for the latency budget only."""
