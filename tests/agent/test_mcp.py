"""Tools from MCP servers: a real test server over stdio and streamable HTTP, raw-schema tools."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import mcp  # noqa: F401 - graphflow[mcp], part of graphflow[dev]: missing, these tests fail (never skip)
import msgspec
import pytest

from graphflow.agent.agent import Agent
from graphflow.agent.mcp import MCPServer, MCPStdio, MCPTools, mcp_tools
from graphflow.agent.text import TextSession
from graphflow.agent.tools import FunctionTool, RunContext, ToolSet, function_tool, invoke
from graphflow.conversation.model import ToolRule
from graphflow.errors import ConfigError, ProviderError
from graphflow.frames import ToolCall
from tests.waiting import until_async

SERVER = Path(__file__).with_name("mcp_server.py")
RULES = [
    ToolRule(when=r"add (?P<a>\w+) and (?P<b>\w+)", call="add", arguments={"a": "{a}", "b": "{b}"}),
    ToolRule(when=r"refuse because (?P<why>\w+)", call="refuse", arguments={"reason": "{why}"}),
    ToolRule(when=r"crash", call="crash"),
    ToolRule(when=r"who am i", call="whoami", then="You are {output}."),
]


def stdio_server(**options: Any) -> MCPServer:
    return MCPServer.stdio(sys.executable, [str(SERVER)], name="test", **options)


def tool(tools: list[FunctionTool[..., Any]], name: str) -> FunctionTool[..., Any]:
    return next(t for t in tools if t.name == name)


async def call(t: FunctionTool[..., Any], arguments: str) -> Any:
    return await invoke(t, arguments, RunContext(), timeout_s=30.0, call_id="c1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
async def http_server() -> AsyncIterator[str]:
    """The test server over streamable HTTP on 127.0.0.1 (a free port); its endpoint URL."""
    port = free_port()
    process = subprocess.Popen([sys.executable, str(SERVER), "--http", str(port)])

    async def listening() -> bool:
        assert process.poll() is None, "the HTTP test server exited"
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        writer.close()
        await writer.wait_closed()
        return True

    try:
        await until_async(
            listening, f"the HTTP test server to listen on port {port}", timeout=30, interval=0.05
        )
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(10)


# ------------------------------------------------------------------ stdio
async def test_the_servers_tools_become_function_tools_with_its_schemas() -> None:
    async with mcp_tools(stdio_server()) as tools:
        names = [t.name for t in tools]
        assert {"add", "refuse", "crash", "pid", "whoami", "notes_read"} <= set(names)
        add = tool(tools, "add")
        assert add.description == "Add two whole numbers."
        parameters = ToolSet(tools).schemas()[names.index("add")]["function"]["parameters"]
        assert parameters["type"] == "object"
        assert parameters["properties"]["a"]["type"] == "integer"
        assert sorted(parameters["required"]) == ["a", "b"]
        result = await call(tool(tools, "notes_read"), '{"title": "shopping"}')
        assert result.output == "the note 'shopping' says: buy milk"


async def test_a_text_session_calls_an_mcp_tool() -> None:
    agent = Agent("You add numbers.", rules=RULES)
    async with mcp_tools(stdio_server()) as tools, TextSession(agent) as session:
        agent.tools = ToolSet(tools)  # the tools of an agent made before the connection
        result = await session.run("please add 2 and 3")
        result.expect.next_event().is_function_call(name="add", arguments={"a": 2, "b": 3})
        result.expect.next_event().is_function_call_output(contains="5", is_error=False)
        result.expect.next_event().is_message(contains="5")
        result.expect.no_more_events()

        result = await session.run("who am i")
        result.expect.next_event().is_function_call(name="whoami")
        result.expect.next_event().is_function_call_output(contains="stdio")
        result.expect.next_event().is_message(contains="You are stdio.")


async def test_an_is_error_result_is_a_tool_error_the_model_reads() -> None:
    async with mcp_tools(stdio_server()) as tools:
        async with TextSession(Agent(tools=tools, rules=RULES)) as session:
            result = await session.run("refuse because tuesday")
            result.expect.next_event().is_function_call(name="refuse", arguments={"reason": "tuesday"})
            result.expect.next_event().is_function_call_output(
                contains="cannot do that: tuesday", is_error=True
            )
            result.expect.next_event().is_message(contains="didn't work")
        result = await call(tool(tools, "refuse"), '{"reason": "x"}')
        assert (result.error, result.is_error) == ("tool.error", True)


async def test_arguments_that_do_not_match_are_explained_to_the_model() -> None:
    async with mcp_tools(stdio_server()) as tools:
        async with TextSession(Agent(tools=tools, rules=RULES)) as session:
            result = await session.run("add two and 3")  # "two" is not an integer: the server says so
            result.expect.next_event().is_function_call(name="add", arguments={"a": "two"})
            result.expect.next_event().is_function_call_output(contains="valid integer", is_error=True)
        add = tool(tools, "add")
        not_json = await call(add, "{'a': 1}")
        assert not_json.error == "tool.bad_arguments"
        assert not_json.output.startswith("invalid arguments for 'add': the arguments are not valid JSON")
        not_object = await call(add, "[1, 2]")
        assert not_object.error == "tool.bad_arguments"
        assert "the arguments must be one JSON object, got `array`" in not_object.output


async def test_a_server_that_dies_mid_call_gives_a_tool_error() -> None:
    async with mcp_tools(stdio_server()) as tools:
        async with TextSession(Agent(tools=tools, rules=RULES)) as session:
            result = await session.run("crash")
            result.expect.next_event().is_function_call(name="crash")
            result.expect.next_event().is_function_call_output(contains="not running any more", is_error=True)
        again = await call(tool(tools, "add"), '{"a": 1, "b": 2}')
        assert again.error == "tool.error" and "test is not running any more" in again.output


async def test_a_call_that_times_out_is_cancelled_and_the_connection_goes_on() -> None:
    async with mcp_tools(stdio_server()) as tools:
        slow = await invoke(tool(tools, "wait"), '{"seconds": 60}', RunContext(), timeout_s=0.2)
        assert slow.error == "tool.timeout"
        assert (await call(tool(tools, "add"), '{"a": 1, "b": 1}')).output == "2"
        stand_in = ToolSet(tools).replace("add", lambda raw_arguments: f"stand-in got {raw_arguments}")
        result = await stand_in.call(ToolCall("c1", "add", '{"a": 1}'), None, timeout_s=1.0)
        assert result.output == "stand-in got {'a': 1}"


async def test_the_server_process_is_gone_after_the_block() -> None:
    async with mcp_tools(stdio_server()) as tools:
        pid = int((await call(tool(tools, "pid"), "")).output)
        assert alive(pid)
    assert not alive(pid)


async def test_tools_opened_in_one_task_close_in_another() -> None:
    servers = mcp_tools(stdio_server(tools=["pid"], prefix="srv_"))
    tools = await asyncio.create_task(servers.open())
    assert [t.name for t in tools] == ["srv_pid"]
    pid = int((await call(tools[0], "")).output)
    await asyncio.create_task(servers.aclose())
    assert not alive(pid) and servers.tools == []
    await servers.aclose()  # twice is fine
    with pytest.raises(ConfigError, match="the MCP server test has no tool 'pdi'") as caught:
        await mcp_tools(stdio_server(tools=["pid", "pdi"])).open()
    assert "add, refuse" in caught.value.hint


async def test_a_command_that_does_not_exist_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        async with mcp_tools(MCPServer.stdio("graphflow-no-such-mcp-server", ["--stdio"])):
            pass
    assert "cannot start the MCP server graphflow-no-such-mcp-server --stdio" in caught.value.message
    assert "'graphflow-no-such-mcp-server'" in caught.value.message
    assert "PATH" in caught.value.hint


async def test_a_command_that_is_not_an_mcp_server_is_a_provider_error() -> None:
    quits = MCPServer.stdio(sys.executable, ["-c", "pass"], name="quitter")
    with pytest.raises(ProviderError) as caught:
        await MCPTools([stdio_server(), quits]).open()
    assert "the MCP server quitter stopped while starting" in caught.value.message
    assert "by hand" in caught.value.hint
    silent = MCPServer.stdio(sys.executable, ["-c", "import time; time.sleep(60)"], connect_timeout_s=0.5)
    with pytest.raises(ProviderError) as caught:
        await MCPTools([silent]).open()
    assert "did not answer within 0.5 s" in caught.value.message


# ------------------------------------------------------------------ streamable HTTP
async def test_a_text_session_calls_a_tool_over_http_with_headers(http_server: str) -> None:
    server = MCPServer.http(http_server, headers={"X-Caller": "ada"})
    async with mcp_tools(server) as tools, TextSession(Agent(tools=tools, rules=RULES)) as session:
        result = await session.run("who am i")
        result.expect.next_event().is_function_call(name="whoami")
        result.expect.next_event().is_function_call_output(contains="ada")
        result.expect.next_event().is_message(contains="You are ada.")
        result = await session.run("add 20 and 22")
        result.expect.next_event().is_function_call(name="add", arguments={"a": 20, "b": 22})
        result.expect.next_event().is_function_call_output(contains="42")


async def test_an_http_server_that_dies_mid_call_gives_a_tool_error(http_server: str) -> None:
    async with mcp_tools(MCPServer.http(http_server, name="web")) as tools:
        result = await call(tool(tools, "crash"), "")
        assert result.error == "tool.error"
        assert result.output.startswith("the MCP server web is not running any more")


async def test_an_http_server_that_is_not_there_is_a_provider_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/mcp"
    with pytest.raises(ProviderError) as caught:
        await mcp_tools(MCPServer.http(url)).open()
    assert f"cannot reach the MCP server {url}" in caught.value.message


def test_servers_are_plain_typed_config() -> None:
    server = stdio_server(env={"LANG": "C"})
    data = msgspec.json.encode(server)
    assert msgspec.json.decode(data, type=MCPServer) == server
    assert isinstance(server.transport, MCPStdio) and server.transport.env == {"LANG": "C"}
    assert MCPServer.http("http://127.0.0.1:1/mcp").label == "http://127.0.0.1:1/mcp"


# ------------------------------------------------------------------ raw-schema tools
SCHEMA = {
    "name": "lookup",
    "description": "Look a word up.",
    "parameters": {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]},
}


@function_tool(raw_schema=SCHEMA)
async def lookup(raw_arguments: dict[str, Any], ctx: RunContext) -> str:
    return f"{raw_arguments['word']} ({ctx.call.id})"


async def test_a_raw_schema_tool_offers_its_schema_as_given() -> None:
    assert lookup.name == "lookup" and lookup.needs_context
    assert ToolSet([lookup]).schemas() == [{"type": "function", "function": SCHEMA}]
    context = RunContext(call=ToolCall(id="c9", name="lookup", arguments=""))
    result = await invoke(lookup, '{"word": "graph"}', context, timeout_s=1.0)
    assert result.output == "graph (c9)"
    for bad, says in [("nope", "not valid JSON"), ('"word"', "must be one JSON object, got `str`")]:
        failed = await invoke(lookup, bad, context, timeout_s=1.0)
        assert failed.error == "tool.bad_arguments" and says in failed.output
    stand_in = ToolSet([lookup]).replace("lookup", lambda raw_arguments, ctx: "stand-in")
    assert (await stand_in.call(ToolCall("c1", "lookup", "{}"), context, timeout_s=1.0)).output == "stand-in"


def test_a_raw_schema_tool_must_take_one_arguments_parameter_and_an_object_schema() -> None:
    with pytest.raises(ConfigError, match="one parameter for the arguments, not 2"):
        function_tool(raw_schema=SCHEMA)(lambda a, b: None)
    with pytest.raises(ConfigError, match="JSON schema of type 'object'"):
        function_tool(raw_schema={"name": "x", "parameters": {"type": "array"}})(lambda args: None)
    renamed = FunctionTool(lambda args: None, name="other", raw_schema={"name": "x"})
    assert renamed.openai_schema()["function"] == {
        "name": "other",
        "description": "",
        "parameters": {"type": "object", "properties": {}},
    }
