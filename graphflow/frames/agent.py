"""What the agent side produces: reply text as it is generated, and speech audio with its words."""

from __future__ import annotations

import msgspec

from graphflow.frames.audio import AudioFrame
from graphflow.frames.base import Frame, TextFrame


class ReplyDelta(TextFrame, frozen=True, kw_only=True, gc=False):
    """A piece of the agent's reply text as the language model streams it.

    A delta with ``mark`` > 0 (and usually no text) is a playout mark: the TTS speaks
    everything it holds of the reply and passes the mark on with the audio, so the sink
    can say when the words before it have been heard.
    """

    reply_id: str = ""
    mark: int = 0


class ToolCall(msgspec.Struct, frozen=True):
    """A function call the model asked for: ``arguments`` is the JSON text it produced."""

    id: str
    name: str
    arguments: str


class ReplyEnd(Frame, frozen=True, kw_only=True, gc=False):
    """The reply ``reply_id`` is complete; ``text`` is all of it, ``tool_calls`` what it asked to run.

    ``error`` is set when the reply was cut short by a provider failure.
    """

    reply_id: str = ""
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    error: str = ""


class SpeechAudio(AudioFrame, frozen=True, kw_only=True, gc=False):
    """Synthesized audio and the words it speaks.

    ``text`` is the sentence (segment) this frame belongs to; the frame holds samples
    ``offset .. offset + samples_per_channel`` of that segment's ``total`` samples, so a
    sink that stops part-way can tell how much of the text was heard. ``last`` marks the
    final frame of the reply; ``mark`` (> 0) is a playout mark the sink reports once it
    has played this frame (see :class:`ReplyDelta`).
    """

    reply_id: str = ""
    text: str = ""
    segment: int = 0
    offset: int = 0
    total: int = 0
    last: bool = False
    mark: int = 0

    def heard_text(self, played: int) -> str:
        """The prefix of ``text`` heard once ``played`` samples of this frame were played."""
        if self.total <= 0:
            return ""
        fraction = min(1.0, (self.offset + played) / self.total)
        return heard_prefix(self.text, fraction)


def heard_prefix(text: str, fraction: float) -> str:
    """The whole words of ``text`` spoken by the time ``fraction`` of its audio played."""
    if fraction >= 1.0:
        return text
    cut = int(len(text) * fraction)
    prefix = text[:cut]
    if cut < len(text) and not text[cut].isspace():
        prefix = prefix.rsplit(" ", 1)[0] if " " in prefix else ""
    return prefix.rstrip()
