"""Running function tools: arguments, errors, timeouts, handoffs, tool sets, parallel calls, stand-ins."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest

from graphflow.agent.agent import Agent
from graphflow.agent.tools import (
    FunctionTool,
    RunContext,
    StopResponse,
    ToolError,
    ToolResult,
    ToolSet,
    function_tool,
    invoke,
    run_calls,
)
from graphflow.errors import ConfigError, GraphflowError
from graphflow.frames import ToolCall

from .test_tool_schema import Place, Plain, add, forecast


class ToolSetupFailed(GraphflowError):
    pass


@dataclass
class Billing(Agent):
    name: str = "billing"


def call(name: str, arguments: str = "{}", call_id: str = "c1") -> ToolCall:
    return ToolCall(id=call_id, name=name, arguments=arguments)


async def run(tool: FunctionTool[..., Any], arguments: str, timeout_s: float | None = 2.0) -> ToolResult:
    return await invoke(tool, arguments, RunContext(), timeout_s=timeout_s)


# ------------------------------------------------------------------ invoking
async def test_context_is_injected_and_its_call_id_answers() -> None:
    played: list[str] = []

    async def wait() -> None:
        played.append("waited")

    context = RunContext(
        userdata={"user": "ann"},
        call=call("forecast", call_id="call_7"),
        wait_for_playout=wait,
        disallow_interruptions=lambda: played.append("locked"),
    )

    @function_tool
    async def greet(ctx: RunContext) -> str:
        await ctx.wait_for_playout()
        ctx.disallow_interruptions()
        return f"hello {ctx.userdata['user']}"

    result = await invoke(greet, "{}", context, timeout_s=1)
    assert result == ToolResult(call_id="call_7", name="greet", output="hello ann")
    assert played == ["waited", "locked"] and not context.interruptible
    assert "ctx" not in greet.parameters["properties"]

    bare = RunContext()  # no callables: both methods do nothing
    await bare.wait_for_playout()
    bare.disallow_interruptions()
    with pytest.raises(ConfigError, match="takes a RunContext but none was given"):
        await invoke(greet, "{}", None, timeout_s=1)


async def test_async_and_sync_tools_run_with_decoded_arguments() -> None:
    result = await run(forecast, '{"city": "Oslo", "days": 2, "place": {"lat": 59.9}}')
    assert not result.is_error
    assert msgspec.json.decode(result.output) == {"city": "Oslo", "days": 2, "call": "", "tags": ["a"]}

    threads: list[int] = []

    @function_tool
    def where() -> str:
        threads.append(threading.get_ident())
        return "here"

    assert (await run(add, '{"a": 2, "b": 40}')).output == "42"
    assert (await run(where, "")).output == "here"  # empty arguments mean {}
    assert threads and threads[0] != threading.get_ident()  # sync tools run off the event loop


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ('{"a": 1, "b": ', "the arguments are not valid JSON (Input data was truncated)"),
        ('{"a": 1, "b": "2"}', "argument 'b': expected `int`, got `str`"),
        ('{"a": 1, "b": 2.5}', "argument 'b': expected `int`, got `float`"),
        ('{"a": 1}', "missing required argument 'b'"),
        ('{"a": 1, "b": 2, "c": 3}', "unknown argument 'c'"),
        ("[1, 2]", "the arguments must be one JSON object, got `array`"),
    ],
)
async def test_bad_arguments_are_explained_to_the_model(arguments: str, message: str) -> None:
    result = await run(add, arguments)
    assert result.is_error and result.error == "tool.bad_arguments"
    assert result.output.startswith("invalid arguments for 'add_numbers': ")
    assert message in result.output


async def test_bad_nested_arguments_name_the_path() -> None:
    base = '"city": "Oslo", "days": 1'
    place = await run(forecast, "{" + base + ', "place": {"lon": 1}}')
    assert place.output.endswith("argument 'place': object missing required field `lat`")
    tags = await run(forecast, "{" + base + ', "place": {"lat": 1}, "tags": ["x", 2]}')
    assert tags.output.endswith("argument 'tags[1]': expected `str`, got `int`")
    unit = await run(forecast, "{" + base + ', "place": {"lat": 1}, "unit": "kelvin"}')
    assert unit.output.endswith("argument 'unit': invalid enum value 'kelvin'")
    lon = await run(forecast, "{" + base + ', "place": {"lat": 1, "lon": 500}}')
    assert "argument 'place.lon': expected `float` <= 180" in lon.output


async def test_tool_failures_become_results_the_model_can_read() -> None:
    @function_tool
    def broken(n: int) -> int:
        raise ValueError(f"cannot count to {n}")

    @function_tool
    async def refuses() -> str:
        raise ToolError("the booking system is closed on Sundays", hint="for developers only")

    @function_tool
    async def hangs_up() -> str:
        raise StopResponse("goodbye said")

    @function_tool
    def odd() -> object:
        return Plain()

    @function_tool
    async def own_timeout() -> str:
        raise TimeoutError("upstream took too long")

    @function_tool
    def quiet() -> str:
        raise ToolSetupFailed("no key", hint="set API_KEY")

    raised = await run(broken, '{"n": 3}')
    assert (raised.is_error, raised.error) == (True, "tool.raised")
    assert raised.output == "the tool raised ValueError: cannot count to 3"
    refused = await run(refuses, "{}")
    assert (refused.error, refused.output) == ("tool.error", "the booking system is closed on Sundays")
    assert issubclass(ToolError, GraphflowError) and ToolError("x").code == "tool.error"
    stopped = await run(hangs_up, "{}")
    assert stopped.stop and not stopped.is_error and stopped.output == "goodbye said"
    bad = await run(odd, "{}")
    assert bad.error == "tool.bad_output" and bad.output.startswith("the tool returned a Plain, which cannot")
    assert (await run(quiet, "{}")).output == "the tool raised ToolSetupFailed: no key"
    own = await run(own_timeout, "{}")
    assert own.error == "tool.raised" and "TimeoutError: upstream took too long" in own.output


async def test_return_values_are_sent_as_json_unless_text() -> None:
    @function_tool
    def give(kind: str) -> object:
        return {"none": None, "text": "plain words", "place": Place(lat=1.0), "list": [1, "a"]}[kind]

    outputs = [(await run(give, f'{{"kind": "{k}"}}')).output for k in ("none", "text", "place", "list")]
    assert outputs == ["null", "plain words", '{"lat":1.0,"lon":0.0}', '[1,"a"]']


async def test_handoff_to_an_agent() -> None:
    @function_tool
    def transfer(to_billing: bool) -> Agent:
        return Billing() if to_billing else Agent()

    billing = await run(transfer, '{"to_billing": true}')
    assert billing.output == "handoff to billing" and isinstance(billing.handoff, Billing)
    assert not billing.is_error
    plain = await run(transfer, '{"to_billing": false}')
    assert plain.output == "handoff to Agent" and type(plain.handoff) is Agent


async def test_a_hanging_tool_hits_the_timeout() -> None:
    cancelled = asyncio.Event()

    @function_tool
    async def hangs() -> str:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()
        return "never"

    result = await run(hangs, "{}", timeout_s=0.05)
    assert (result.error, result.output) == ("tool.timeout", "the tool 'hangs' did not finish within 0.05 s")
    assert cancelled.is_set()

    release = threading.Event()

    @function_tool
    def blocks() -> str:
        release.wait(5)
        return "late"

    try:
        assert (await run(blocks, "{}", timeout_s=0.05)).error == "tool.timeout"
    finally:
        release.set()  # the worker thread is not stopped by the timeout; let it finish


# ------------------------------------------------------------------ tool sets
async def test_toolset_finds_tools_and_answers_unknown_ones() -> None:
    tools = ToolSet([add, forecast])
    assert tools.names == ("add_numbers", "forecast") and len(tools) == 2 and "forecast" in tools
    assert tools.find("forecast") is forecast and tools.find("nope") is None
    assert tools.schemas() == [add.openai_schema(), forecast.openai_schema()]
    result = await tools.call(call("nope", call_id="c9"), None, timeout_s=1)
    assert result == ToolResult(
        call_id="c9",
        name="nope",
        output="unknown tool 'nope'; available: add_numbers, forecast",
        error="tool.unknown",
        is_error=True,
    )
    assert result.to_message() == {"role": "tool", "tool_call_id": "c9", "content": result.output}
    assert ToolSet().unknown("x") == "unknown tool 'x'; available: none"
    with pytest.raises(ConfigError, match="two tools are named 'add_numbers'"):
        tools.add(add)

    def plain(x: int) -> int:
        """Double it."""
        return 2 * x

    assert tools.add(plain).description == "Double it."


async def test_replace_runs_a_stand_in_with_the_same_name_and_schema() -> None:
    tools = ToolSet([add, forecast])
    fake = tools.replace("forecast", lambda city, ctx, days, place, **rest: f"sunny in {city}")
    stand_in = fake.find("forecast")
    assert stand_in is not None and stand_in is not forecast
    assert stand_in.openai_schema() == forecast.openai_schema()
    arguments = '{"city": "Rome", "days": 1, "place": {"lat": 41.9}}'
    result = await fake.call(call("forecast", arguments), RunContext(), timeout_s=1)
    assert result.output == "sunny in Rome"
    assert tools.find("forecast") is forecast and fake.find("add_numbers") is add  # the original is kept

    async def async_add(a: int, b: int) -> int:
        return a * b

    product = tools.replace("add_numbers", async_add)
    assert (await product.call(call("add_numbers", '{"a": 3, "b": 4}'), None, timeout_s=1)).output == "12"
    with pytest.raises(ConfigError, match="the stand-in for tool 'add_numbers' cannot take its arguments"):
        tools.replace("add_numbers", lambda a: a)
    with pytest.raises(ConfigError, match="unknown tool 'nope'"):
        tools.replace("nope", lambda: None)


async def test_parallel_calls_run_concurrently_in_call_order_and_failures_stay_apart() -> None:
    ping, pong = asyncio.Event(), asyncio.Event()

    @function_tool
    async def first() -> str:
        ping.set()
        await pong.wait()
        return "first"

    @function_tool
    async def second() -> str:
        pong.set()
        await ping.wait()
        return "second"

    @function_tool
    async def boom() -> str:
        raise RuntimeError("boom")

    tools = ToolSet([first, second, boom])
    calls = [
        call("second", call_id="1"),
        call("boom", call_id="2"),
        call("missing", call_id="3"),
        call("first", call_id="4"),
    ]
    seen: list[str] = []

    def context(c: ToolCall) -> RunContext:
        seen.append(c.id)
        return RunContext(call=c)

    results = await asyncio.wait_for(run_calls(tools, calls, context, timeout_s=5), 5)
    assert [(r.call_id, r.output) for r in results] == [
        ("1", "second"),
        ("2", "the tool raised RuntimeError: boom"),
        ("3", "unknown tool 'missing'; available: first, second, boom"),
        ("4", "first"),
    ]
    assert seen == ["1", "2", "3", "4"]

    ping.clear()
    pong.clear()
    one_by_one = await run_calls(tools, [calls[0], calls[3]], None, timeout_s=0.05, parallel=False)
    assert [r.error or r.output for r in one_by_one] == ["tool.timeout", "first"]  # second waited alone


async def test_cancelling_run_calls_cancels_every_call() -> None:
    started, stopped = asyncio.Event(), []

    @function_tool
    async def slow(n: int) -> str:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            stopped.append(n)
        return "never"

    tools = ToolSet([slow])
    task = asyncio.create_task(
        run_calls(tools, [call("slow", '{"n": 1}'), call("slow", '{"n": 2}')], None, timeout_s=None)
    )
    await started.wait()
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(stopped) == [1, 2]


async def test_run_calls_refuses_a_missing_context_before_starting_anything() -> None:
    ran: list[str] = []

    @function_tool
    async def note(ctx: RunContext) -> str:
        ran.append("note")
        return "ok"

    with pytest.raises(ConfigError, match="context factory gave none"):
        calls = [call("add_numbers", '{"a": 1, "b": 2}'), call("note")]
        await run_calls(ToolSet([note, add]), calls, lambda c: None, timeout_s=1)
    assert ran == []
