"""Judged assertions: a language model says whether the agent's words do what a test intends.

Exact-text assertions break as soon as a model words its answer differently.
:func:`judge` asks a language model (any :class:`~nodes.llm.base.LLMNode`:
an OpenAI-compatible endpoint, a local llama.cpp server) whether a message fulfils an
``intent`` written in plain words, and fails the test with the judge's reason when it
does not::

    result = await session.run("Do you have a table on friday at 19:30?")
    event = result.expect.contains_message(role="assistant")
    await judge(judge_llm, event, intent="says whether a table is free on friday evening")
"""

from __future__ import annotations

import msgspec

from graphflow.agent.testing import TurnEvent
from nodes.llm.base import LLMNode

JUDGE_INSTRUCTIONS = (
    "You check the messages of an AI voice assistant for a test. You get the intent the "
    "message must fulfil and the message itself. Answer with one word on the first line, "
    "PASS if the message fulfils the intent or FAIL if it does not, then one short sentence "
    "saying why."
)
"""What the judging model is told to do."""


class Verdict(msgspec.Struct, frozen=True):
    """The judge's answer: ``passed`` or not, and why (its own words)."""

    passed: bool
    reason: str


async def judge(llm: LLMNode, message: TurnEvent | str, *, intent: str, check: bool = True) -> Verdict:
    """Ask ``llm`` whether ``message`` fulfils ``intent``; AssertionError when not (unless ``check=False``).

    The node is run in a text session of its own (set up and closed here). An answer
    that starts with neither PASS nor FAIL is an AssertionError naming what came back.
    """
    from graphflow.agent.agent import Agent
    from graphflow.agent.text import TextSession

    text = message.text if isinstance(message, TurnEvent) else message
    prompt = f"Intent: {intent}\n\nMessage:\n{text}"
    async with TextSession(Agent(JUDGE_INSTRUCTIONS, name="Judge"), llm=llm) as session:
        answer = (await session.run(prompt)).text.strip()
    verdict = parse_verdict(answer)
    if check and not verdict.passed:
        raise AssertionError(
            f"the judge says the message does not fulfil {intent!r}: {verdict.reason}\n{text}"
        )
    return verdict


def parse_verdict(answer: str) -> Verdict:
    """The verdict in a judge's ``answer`` (PASS or FAIL first); AssertionError if it has none."""
    words = answer.split(maxsplit=1)
    first = words[0].strip(".:,!*").upper() if words else ""
    if first not in ("PASS", "FAIL"):
        raise AssertionError(f"the judge answered neither PASS nor FAIL: {answer!r}")
    reason = words[1].strip() if len(words) > 1 else ""
    return Verdict(passed=first == "PASS", reason=reason)
