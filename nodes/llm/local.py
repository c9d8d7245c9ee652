"""The offline default "language model": a deterministic responder with realistic timing.

No chat-capable model weights can be had offline here, so this node does not pretend to
be one: it answers from a few rules over the user's words (greetings, names, questions,
the weather, the time, thanks) so a conversation sounds sensible, and it streams its
reply with a configurable time to first token and token rate, so latency benchmarks can
model a real LLM. Point the graph at an OpenAI-compatible endpoint for real answers.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import AsyncGenerator

import msgspec

from graphflow.conversation.chat import ChatContext
from graphflow.conversation.model import NO_TOOLS, Chunk, ModelTools, ToolRule
from graphflow.conversation.replies import Replies
from graphflow.frames import ToolCall
from graphflow.timebase import MS, SECOND
from nodes.llm.base import LLMNode


class LocalResponderOptions(msgspec.Struct, frozen=True):
    """Time to first token, tokens per second after it, and the agent's name."""

    ttft_ms: float = 200.0
    tokens_per_second: float = 40.0
    agent_name: str = "Graphflow"


_NAME = re.compile(r"\b(?:my name is|call me|i am|i'm)\s+([a-z][a-z'-]+)", re.IGNORECASE)
_NOT_NAMES = {"not", "glad", "sorry", "fine", "good", "here", "going", "just", "so", "a", "the", "in"}


def respond(text: str, agent_name: str = "Graphflow") -> str:
    """The responder's answer to ``text`` (pure function of the words)."""
    said = " ".join(text.split())
    low = said.lower()
    words = set(re.findall(r"[a-z']+", low))
    if not words:
        return "Sorry, I didn't catch that. Could you say it again?"
    match = _NAME.search(said)
    if match and match.group(1).lower() not in _NOT_NAMES:
        return f"Nice to meet you, {match.group(1).capitalize()}. How can I help you today?"
    if words & {"hello", "hi", "hey"} or "good morning" in low or "good evening" in low:
        return f"Hello! I'm {agent_name}. How can I help you today?"
    if "weather" in words:
        return "I can't look outside from here, but I hope the weather is kind to you today."
    if "time" in words and said.endswith("?"):
        return "I don't have a clock in this demo, but your device can tell you the time."
    if words & {"thanks", "thank"}:
        return "You're welcome. Is there anything else I can do for you?"
    if words & {"bye", "goodbye"}:
        return "Goodbye, and have a lovely day."
    short = said if len(said) <= 80 else said[:77].rsplit(" ", 1)[0] + "..."
    short = short.rstrip(".?!")
    if said.endswith("?"):
        return f"That's a good question. You asked: {short}? Let me think about that."
    return f"I heard you say: {short}. Tell me more."


def tokens(text: str) -> list[str]:
    """``text`` cut into word-sized tokens that join back to it."""
    return re.findall(r"\S+\s*", text)


class LocalResponder(LLMNode):
    """Rule-based replies streamed with the configured time to first token and token rate."""

    Options = LocalResponderOptions
    options: LocalResponderOptions

    def __init__(
        self,
        options: LocalResponderOptions | None = None,
        *,
        name: str | None = None,
        replies: Replies | None = None,
    ) -> None:
        super().__init__(options or LocalResponderOptions(), name=name, replies=replies)
        self._calls = itertools.count(1)

    def latency(self) -> int:
        """Its configured time to first token: ``ttft_ms`` (it waits exactly that)."""
        return round(self.options.ttft_ms * MS)

    async def stream(self, chat: ChatContext, tools: ModelTools = NO_TOOLS) -> AsyncGenerator[Chunk, None]:
        """Wait the time to first token, then emit one token per 1/rate seconds (and any tool calls)."""
        reply, calls = self.plan(chat, tools)
        start = self.now()
        first = start + round(self.options.ttft_ms * MS)
        gap = round(SECOND / self.options.tokens_per_second) if self.options.tokens_per_second > 0 else 0
        if not reply:
            await self.clock.sleep_until(first)
        for i, token in enumerate(tokens(reply)):
            await self.clock.sleep_until(first + i * gap)
            yield Chunk(token)
        for call in calls:
            yield Chunk(tool_call=call)

    def plan(self, chat: ChatContext, tools: ModelTools = NO_TOOLS) -> tuple[str, list[ToolCall]]:
        """What to say next and which tools to call (by ``tools.rules``), from the conversation so far."""
        last = next((m for m in reversed(chat.messages) if m.role != "handoff"), None)
        rules = tools.rules
        if last is not None and last.role == "tool":
            return _after_tools(chat, rules), []
        if last is not None and last.role == "system" and len(chat.messages) > 1:
            quoted = re.findall(r'"([^"]+)"', last.content)
            return (quoted[0] if quoted else "How can I help you today?"), []
        user = chat.last("user")
        said = user.content if user else ""
        for index, rule in enumerate(rules):
            match = re.search(rule.when, said, re.IGNORECASE)
            if match is not None:
                arguments = {k: _value(v.format(**match.groupdict())) for k, v in rule.arguments.items()}
                call = ToolCall(f"call_{next(self._calls)}_{index}", rule.call, json.dumps(arguments))
                return rule.say, [call]
        return respond(said, self.options.agent_name), []


def _value(text: str) -> object:
    """A rule's argument: JSON if it reads as JSON (numbers, true/false), else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _after_tools(chat: ChatContext, rules: tuple[ToolRule, ...]) -> str:
    """The answer once the latest tool results are in: each rule's ``then`` with its output."""
    outputs: list[tuple[str, str, bool]] = []
    for message in reversed(chat.messages):
        if message.role == "handoff":
            continue
        if message.role != "tool":
            break
        outputs.append((message.name, message.content, message.is_error))
    lines = []
    for name, output, is_error in reversed(outputs):
        if is_error:
            lines.append(f"Sorry, that didn't work: {output}")
            continue
        rule = next((r for r in rules if r.call == name), None)
        text = _plain(output)
        lines.append(rule.then.format(output=text) if rule is not None else text)
    return " ".join(line for line in lines if line)


def _plain(output: str) -> str:
    """A tool's output as words: JSON strings unquoted."""
    try:
        value = json.loads(output)
    except ValueError:
        return output
    return value if isinstance(value, str) else output
