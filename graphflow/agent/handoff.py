"""Handing a conversation from one agent to another, the same way in voice and text sessions.

The session keeps its graph; the new agent's instructions replace the system message,
its tools and rules are what the session's replies offer the model from then on, its
own models (if it brings any) become the providers of the graph's stage nodes
(:mod:`graphflow.agent.stages`), and its hooks run. If the new agent's models fail to
load, or its ``on_enter`` fails (or is interrupted), the old agent carries on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from graphflow.agent.agent import Agent
from graphflow.conversation.chat import ChatContext
from graphflow.errors import ConfigError

if TYPE_CHECKING:
    from graphflow.agent.stages import AgentStages
    from graphflow.node import Node


class AgentHolder(Protocol):
    """What a session offers to a handoff: its agent, its history and its stages."""

    agent: Agent
    chat: ChatContext

    @property
    def stages(self) -> AgentStages | None:
        """The stage nodes whose providers a handoff may switch (None: no switching)."""


def switch_to(holder: AgentHolder, agent: Agent, providers: dict[str, Node | None] | None = None) -> None:
    """Make ``agent`` the holder's agent now, with ``providers`` for the stages (no hooks run)."""
    holder.agent = agent
    agent.session = holder
    if providers is not None and holder.stages is not None:
        holder.stages.apply(providers)
    holder.chat.messages[:] = holder.chat.with_instructions(agent.instructions).messages


async def hand_over(holder: AgentHolder, agent: Agent) -> None:
    """Switch to ``agent``: its stages set up, the old one's ``on_exit``, then the new one's ``on_enter``.

    If the new agent's models cannot be set up, nothing changes; if its ``on_enter``
    fails or is interrupted, the old agent (and its models) carry on.
    """
    stages = holder.stages
    if stages is None:
        own = [n for n in (agent.stt, agent.llm, agent.tts) if n is not None]
        if own:
            raise ConfigError(
                f"{agent.name} brings its own stages ({', '.join(type(n).__name__ for n in own)}), "
                "but this session cannot switch stages",
                hint="give the agent no stages of its own",
            )
        before, providers = None, None
    else:
        before = stages.current()
        providers = await stages.prepare(agent)
    old = holder.agent
    await old.on_exit()
    switch_to(holder, agent, providers)
    try:
        await agent.on_enter()
    except BaseException:  # failed or interrupted: the old agent carries on
        switch_to(holder, old, before)
        raise
