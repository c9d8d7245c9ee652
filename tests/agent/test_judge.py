"""Judged assertions over HTTP: the judge model's verdict passes or fails the test, with its reason."""

from __future__ import annotations

import json

import pytest
from aiohttp import web

from graphflow.agent.judge import JUDGE_INSTRUCTIONS, judge, parse_verdict
from graphflow.agent.testing import TurnEvent
from nodes.llm.openai import OpenAIChat, OpenAIChatOptions

from .completions_server import completions_server

SEEN: list[dict[str, object]] = []


async def strict_judge(request: web.Request) -> web.StreamResponse:
    """A judging endpoint: PASS when the message names the day the intent asks about."""
    body = await request.json()
    SEEN.append(body)
    prompt = body["messages"][-1]["content"]
    intent, message = prompt.split("\n\nMessage:\n", 1)
    day = intent.rsplit(" ", 1)[-1]
    answer = f"PASS\nIt mentions {day}." if day in message else f"FAIL: it never mentions {day}."
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for word in answer.split(" "):
        chunk = {"choices": [{"index": 0, "delta": {"content": word + " "}}]}
        await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
    await response.write(b"data: [DONE]\n\n")
    return response


async def test_a_message_that_fulfils_the_intent_passes() -> None:
    async with completions_server(strict_judge) as url:
        llm = OpenAIChat(OpenAIChatOptions(base_url=url, model="judge", api_key="sk-test"), name="judge")
        message = TurnEvent(type="message", role="assistant", text="There are 3 tables free on friday.")
        verdict = await judge(llm, message, intent="says a table is free on friday")
    assert verdict.passed and "friday" in verdict.reason
    sent = SEEN[-1]["messages"]
    assert isinstance(sent, list) and sent[0] == {"role": "system", "content": JUDGE_INSTRUCTIONS}


async def test_a_message_that_does_not_fails_with_the_judges_reason() -> None:
    async with completions_server(strict_judge) as url:
        llm = OpenAIChat(OpenAIChatOptions(base_url=url, model="judge", api_key="sk-test"), name="judge")
        with pytest.raises(AssertionError, match="never mentions sunday"):
            await judge(llm, "We are open every evening.", intent="says the restaurant opens on sunday")
        verdict = await judge(llm, "We are open.", intent="mentions sunday", check=False)
    assert not verdict.passed


def test_an_answer_without_a_verdict_is_an_error() -> None:
    assert parse_verdict("**PASS** it does").passed
    assert not parse_verdict("fail. nope").passed
    with pytest.raises(AssertionError, match="neither PASS nor FAIL"):
        parse_verdict("I think it is fine")
