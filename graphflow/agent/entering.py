"""The first agent's ``on_enter`` in a voice session, as the conversation starts.

An agent handed to gets its ``on_enter`` from the handoff (``graphflow.agent.handoff``);
the agent a session starts with gets it here, as a step of the session's task runner,
so it may greet (``generate_reply``, ``say``) or ``await`` a task that waits for the user,
just as a text session's first agent does.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from graphflow.conversation.events import SessionError

if TYPE_CHECKING:
    from graphflow.agent.session import AgentSession

log = logging.getLogger("graphflow.agent")


async def enter_first_agent(session: AgentSession) -> None:
    """Run the session's agent's ``on_enter``; a failure is reported as a session error, not raised."""
    agent = session.agent
    try:
        await session.replies.tasks.run_hook(agent.on_enter(), "on_enter")
    except Exception as exc:
        name = type(agent).__name__
        log.warning("%s.on_enter failed: %s", name, exc)
        message = f"{name}.on_enter failed: {type(exc).__name__}: {exc}"
        error = SessionError(at=session.now(), node="agent", code="agent.on_enter_failed", message=message)
        session.report(error)
