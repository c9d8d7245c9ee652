"""An Agent: who the session is talking as — instructions, tools, hooks, and rules for the offline responder.

An agent may bring its own stages (``stt``, ``llm``, ``tts`` nodes): a session that starts
with it builds its graph with them, and ``graphflow render`` shows them; a session
handed to it later uses them as providers of its stage nodes (see
:mod:`graphflow.agent.stages`). Tools are typed functions given to the constructor or methods decorated with
``@function_tool`` on a subclass. A tool that returns another :class:`Agent` hands the
conversation over to it: the session keeps its audio path and switches instructions,
tools and hooks. Hooks run as the agent becomes active (``on_enter``), stops being
active (``on_exit``) and when a user turn is complete (``on_user_turn_completed``,
which may rewrite the text the model sees, or raise ``StopResponse`` to answer nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from graphflow.agent.tools import FunctionTool, ToolSet
from graphflow.conversation.chat import ChatContext
from graphflow.conversation.model import ToolRule
from graphflow.node import Node

STAND_INS = "_graphflow_stand_ins"
"""Attribute (on an agent or its class) holding the tool stand-ins ``mock_tools`` put in."""
DEFAULT_INSTRUCTIONS = "You are a friendly, concise voice assistant."
"""The instructions of an agent that was given none."""


class Agent:
    """The agent's instructions, tools, hooks and (for the offline responder) tool rules."""

    def __init__(
        self,
        instructions: str = DEFAULT_INSTRUCTIONS,
        *,
        tools: Sequence[FunctionTool[..., Any] | Callable[..., Any]] = (),
        rules: Sequence[ToolRule] = (),
        name: str = "",
        stt: Node | None = None,
        llm: Node | None = None,
        tts: Node | None = None,
    ) -> None:
        self.instructions = instructions
        self.name = name or type(self).__name__
        self._tools = ToolSet([*tools, *_method_tools(self)])
        self.rules: tuple[ToolRule, ...] = tuple(rules)
        self.stt, self.llm, self.tts = stt, llm, tts
        """The agent's own stages (None: the session's), in the graph or as its stages' providers."""
        self.session: Any = None
        """The session this agent is active in (set by the session)."""

    @property
    def tools(self) -> ToolSet:
        """The agent's tools; those ``mock_tools`` replaced (for this agent or its class) run stand-ins."""
        tools = self._tools
        stand_ins: dict[str, Callable[..., Any]] = getattr(self, STAND_INS, {})
        for name, stand_in in stand_ins.items():
            tools = tools.replace(name, stand_in)
        return tools

    @tools.setter
    def tools(self, tools: ToolSet) -> None:
        self._tools = tools

    async def on_enter(self) -> None:
        """Called when the agent becomes the session's agent (say hello, generate a reply...)."""

    async def on_exit(self) -> None:
        """Called when the session hands over to another agent or ends."""

    async def on_user_turn_completed(self, chat: ChatContext, text: str) -> str | None:
        """The user finished a turn: return the text the model should see (``None``: unchanged).

        Raise :class:`~graphflow.agent.tools.StopResponse` to give no answer to this turn.
        """
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} tools={self.tools.names}>"


def _method_tools(agent: Agent) -> list[FunctionTool[..., Any]]:
    """The ``@function_tool`` methods of ``agent``'s class, bound to it."""
    found: list[FunctionTool[..., Any]] = []
    seen: set[str] = set()
    for klass in type(agent).__mro__:
        for attr, value in vars(klass).items():
            if isinstance(value, FunctionTool) and attr not in seen:
                seen.add(attr)
                found.append(getattr(agent, attr))
    return found
