"""Fragments of one utterance: a user turn whose answer was cut unheard takes the user's next words.

When the user pauses mid-sentence long enough for the turn detector, the agent starts
answering the first fragment; the user goes on speaking and cuts that reply short. If
the user heard nothing of substance of it — fewer than ``join_below_words`` words
(``GateOptions.join_below_words``; by default, not one word), or nothing at all because
it was still being prepared — their message is left *open*, and their next message
(spoken or typed) joins it: one user message holding the fragments in order, separated
by a space, with the cut reply's few heard words taken out of the history. The model
then answers the whole utterance.

:class:`Fragments` follows the latest reply (the language-model node says when one
begins; the session says when it started playing, what was heard of it and when a
barge-in cut it) and joins messages when asked. A reply that was heard, that ran tools
or handed off, that the program interrupted (``session.interrupt()``), or that the
program followed with its own instructions, closes the user's message: the next words
are a message of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphflow.conversation.chat import ChatContext, ChatMessage
from nodes.gate.interruption import JOIN_BELOW_WORDS

_USER, _ASSISTANT = "user", "assistant"


@dataclass
class Joined:
    """A user message taken out of the history to be joined with the words that followed it."""

    parts: tuple[str, ...]
    """The fragments, in order, as the user said them (the newest last)."""
    removed: list[tuple[int, ChatMessage]] = field(default_factory=list)
    """The items taken out (the open message and the cut reply's words), with their positions."""

    @property
    def text(self) -> str:
        """The whole utterance: the fragments joined with a space."""
        return " ".join(self.parts)

    def undo(self, chat: ChatContext) -> None:
        """Put the removed items back where they were (the join did not happen after all)."""
        for index, item in self.removed:
            chat.messages.insert(min(index, len(chat.messages)), item)
        self.removed = []


class Fragments:
    """Knows whether the user's latest message is still open, and joins the next one to it."""

    def __init__(self, join_below_words: int = JOIN_BELOW_WORDS) -> None:
        self.join_below_words = join_below_words
        """A reply cut after fewer heard words than this leaves the user's message open (0: never)."""
        self._reply = ""
        self._generation = 0
        self._started = False
        self._done = True
        self._open = False
        self._by_program = False
        self._said: tuple[str, ...] = ()
        self._stored = ""

    @property
    def open(self) -> bool:
        """True when the latest reply was cut before the user heard anything of substance."""
        return self._open

    # ----------------------------------------------------- the language model's side
    def said(self, parts: tuple[str, ...], stored: str) -> None:
        """A user message was added: ``parts`` as the user said them, ``stored`` as it is in the history."""
        self._said, self._stored = parts, stored

    def replying(self, reply_id: str, generation: int) -> None:
        """Reply ``reply_id`` (of turn generation ``generation``) begins: it is the one followed now."""
        self._reply, self._generation = reply_id, generation
        self._started = self._open = self._by_program = False
        self._done = False

    def close(self) -> None:
        """The user's message is answered for good (a hook stopped the reply): the next words stand apart."""
        self._open = False
        self._done = True

    # ------------------------------------------------------------ the session's side
    def started(self, reply_id: str) -> None:
        """The first audio of ``reply_id`` is being played."""
        if reply_id == self._reply:
            self._started = True

    def heard(self, reply_id: str, heard: str, *, interrupted: bool) -> None:
        """``reply_id`` stopped being heard; ``heard`` is what the user heard of it."""
        if reply_id != self._reply or self._done:
            return
        self._done = True
        self._open = interrupted and not self._by_program and _words(heard) < self.join_below_words

    def cancelled(self, new_generation: int) -> None:
        """A barge-in moved the run to ``new_generation``: the reply, if not yet playing, was cut unheard."""
        if self._done or self._started or self._generation >= new_generation:
            return
        self._done = True
        self._open = not self._by_program and self.join_below_words > 0

    def interrupting(self) -> None:
        """The program is interrupting the agent: that cut leaves the user's message answered."""
        if not self._done:
            self._by_program = True

    # ------------------------------------------------------------------- joining
    def join(self, chat: ChatContext, text: str) -> Joined | None:
        """Take the open user message (and the cut reply's words) out of ``chat`` to join ``text`` to it.

        None, and ``chat`` untouched, when the latest message is not open: its reply was
        heard, or something else (a tool call, an instruction, another reply) came after it.
        """
        if not self._open or not self._said:
            return None
        index = _last(chat, _USER)
        if index is None or chat.messages[index].content != self._stored:
            return None
        after = chat.messages[index + 1 :]
        if not all(_cut_words(m) for m in after):
            return None
        if sum(_words(m.content) for m in after) >= self.join_below_words:
            return None
        removed = list(enumerate(chat.messages))[index:]
        del chat.messages[index:]
        return Joined(parts=(*self._said, text), removed=removed)


def _words(text: str) -> int:
    return len(text.split())


def _cut_words(message: ChatMessage) -> bool:
    """True for the words of a cut reply: an interrupted assistant message without tool calls."""
    return message.role == _ASSISTANT and message.interrupted and not message.tool_calls


def _last(chat: ChatContext, role: str) -> int | None:
    for index in range(len(chat.messages) - 1, -1, -1):
        if chat.messages[index].role == role:
            return index
    return None
