"""Handing a conversation from one agent to another, the same way in voice and text sessions.

The session keeps its graph; the new agent's instructions replace the system message,
its tools and rules go to the language-model node, and its hooks run. If the new
agent's ``on_enter`` fails (or is interrupted), the old agent carries on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from graphflow.agent.agent import Agent
from graphflow.agent.chat import ChatContext
from graphflow.errors import ConfigError

if TYPE_CHECKING:
    from graphflow.nodes.llm.base import LLMNode


class AgentHolder(Protocol):
    """What a session offers to a handoff: its agent, its language-model node and its history."""

    agent: Agent
    chat: ChatContext

    @property
    def llm(self) -> LLMNode | None:
        """The node that runs the agent's tools (None: no model in the graph)."""


def switch_to(holder: AgentHolder, agent: Agent) -> None:
    """Make ``agent`` the holder's agent now (no hooks run)."""
    holder.agent = agent
    agent.session = holder
    if holder.llm is not None:
        holder.llm.agent = agent
    holder.chat.messages[:] = holder.chat.with_instructions(agent.instructions).messages


async def hand_over(holder: AgentHolder, agent: Agent) -> None:
    """Switch to ``agent``: the old one's ``on_exit``, then the new one's ``on_enter``."""
    own = [n for n in (agent.stt, agent.llm, agent.tts) if n is not None and n is not holder.llm]
    if own:
        raise ConfigError(
            f"{agent.name} brings its own stages ({', '.join(type(n).__name__ for n in own)}), "
            "which only apply when a session starts with it",
            hint="start the session with this agent, or give it no stages of its own",
        )
    old = holder.agent
    await old.on_exit()
    switch_to(holder, agent)
    try:
        await agent.on_enter()
    except BaseException:  # failed or interrupted: the old agent carries on
        switch_to(holder, old)
        raise
