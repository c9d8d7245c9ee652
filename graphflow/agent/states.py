"""Who is doing what: the user (speaking, listening, away) and the agent (listening, thinking, speaking).

:class:`ConversationState` follows a session's events and says when either state
changes. The user is ``away`` once neither side has made a sound for
``away_after_s`` (a call left open, a user who walked off); any speech brings them back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from graphflow.conversation.events import (
    AgentStartedSpeaking,
    AgentStateChanged,
    AgentStoppedSpeaking,
    SessionEvent,
    TurnEnded,
    UserStartedSpeaking,
    UserStateChanged,
    UserStoppedSpeaking,
)
from graphflow.timebase import from_seconds

USER_STATES = ("listening", "speaking", "away")
"""What the user can be doing."""
AGENT_STATES = ("listening", "thinking", "speaking")
"""What the agent can be doing."""


class ConversationState:
    """The user's and the agent's state, updated from session events; changes go to ``tell``."""

    def __init__(self, tell: Callable[[SessionEvent], None], *, away_after_s: float = 15.0) -> None:
        self.tell = tell
        self.away_after_s = away_after_s
        self.user = "listening"
        self.agent = "listening"
        self._timer: asyncio.TimerHandle | None = None
        self._last_at = 0

    def observe(self, event: SessionEvent) -> None:
        """Update the states from ``event`` (state-change events themselves are ignored)."""
        self._last_at = event.at
        if isinstance(event, UserStartedSpeaking):
            self._user("speaking", event)
        elif isinstance(event, UserStoppedSpeaking):
            self._user("listening", event)
        elif isinstance(event, TurnEnded):
            self._agent("thinking", event)
        elif isinstance(event, AgentStartedSpeaking):
            self._agent("speaking", event)
        elif isinstance(event, AgentStoppedSpeaking):
            self._agent("listening", event)
        else:
            return
        self._rearm()

    def close(self) -> None:
        """Stop the away timer (the session is over)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # ---------------------------------------------------------------- helpers
    def _user(self, new: str, event: SessionEvent) -> None:
        if new != self.user:
            old, self.user = self.user, new
            self.tell(UserStateChanged(at=event.at, media=event.media, old=old, new=new))

    def _agent(self, new: str, event: SessionEvent) -> None:
        if new != self.agent:
            old, self.agent = self.agent, new
            self.tell(AgentStateChanged(at=event.at, media=event.media, old=old, new=new))

    def _rearm(self) -> None:
        self.close()
        if self.user == "listening" and self.agent == "listening" and self.away_after_s > 0:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._timer = loop.call_later(self.away_after_s, self._away)

    def _away(self) -> None:
        self._timer = None
        if self.user == "listening" and self.agent == "listening":
            at = self._last_at + from_seconds(self.away_after_s)
            self._user("away", SessionEvent(at=at))
