"""A chat model that plays a script: the replies and tool calls a real model would make, in order.

Each request records what the model was shown (instructions, tools, messages), so a test
can check what each agent or task saw; the tools themselves run for real.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

from graphflow.agent.testing import RunResult
from graphflow.conversation.chat import ChatContext, ChatMessage
from graphflow.conversation.model import NO_TOOLS, Chunk, ModelTools
from graphflow.frames import ToolCall
from nodes.llm.base import LLMNode


@dataclass(frozen=True)
class Say:
    """The model answers with this text."""

    text: str


@dataclass(frozen=True)
class Call:
    """The model asks for a tool call (after saying ``text``, if any)."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    text: str = ""


@dataclass(frozen=True)
class Request:
    """What one request showed the model."""

    instructions: str
    tools: tuple[str, ...]
    messages: tuple[ChatMessage, ...]

    def said(self) -> str:
        """Every message's content, one per line (to search what the model could read)."""
        return "\n".join(m.content for m in self.messages)


class ScriptedModel(LLMNode):
    """Answers each request with the next step of ``script``; fails loudly when it runs out."""

    def __init__(self, script: list[Say | Call]) -> None:
        super().__init__(name="scripted")
        self.script = list(script)
        self.requests: list[Request] = []
        self._ids = itertools.count(1)

    async def stream(self, chat: ChatContext, tools: ModelTools = NO_TOOLS) -> AsyncGenerator[Chunk, None]:
        names = tuple(str(s["function"]["name"]) for s in tools.schemas)
        self.requests.append(Request(chat.instructions, names, tuple(chat.messages)))
        if not self.script:
            raise AssertionError(f"the script has ended, but the model was asked again: {chat.messages[-1]}")
        step = self.script.pop(0)
        if isinstance(step, Say):
            yield Chunk(step.text)
            return
        if step.name not in names:
            raise AssertionError(f"the script calls {step.name}, but the model was offered {names}")
        if step.text:
            yield Chunk(step.text)
        yield Chunk(tool_call=ToolCall(f"call_{next(self._ids)}", step.name, json.dumps(step.arguments)))


def output_of(result: RunResult, name: str) -> str:
    """The output of the call of ``name`` in ``result`` (a failure naming every event when there is none)."""
    outputs = [e.text for e in result.events if e.type == "function_output" and e.name == name]
    assert outputs, f"no output of {name} in {result}"
    return outputs[-1]
