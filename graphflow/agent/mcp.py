"""Tools served by MCP (Model Context Protocol) servers, offered to an agent as function tools.

An :class:`MCPServer` says how to reach a server: a command run as a subprocess spoken
to over stdin/stdout (:meth:`MCPServer.stdio`) or a streamable-HTTP endpoint
(:meth:`MCPServer.http`). :func:`mcp_tools` connects, lists the servers' tools and gives
them as :class:`~graphflow.agent.tools.FunctionTool` objects with the server's own
schemas; a call goes to the server's ``tools/call``. Each connection is held by a task of
its own, so a server that dies fails only the calls waiting on it (as a ``ToolError`` the
model reads), and :class:`MCPTools` may be opened and closed from any task.

Needs the optional ``mcp`` package (``pip install 'graphflow[mcp]'``). See docs/tools.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from graphflow.agent.tools import FunctionTool, ToolError
from graphflow.errors import ConfigError, ProviderError
from graphflow.redact import redacted, safe_url

if TYPE_CHECKING:
    from mcp import Client
    from mcp.types import CallToolResult, Tool

__all__ = ["MCPHttp", "MCPServer", "MCPStdio", "MCPTools", "mcp_tools"]

log = logging.getLogger(__name__)
_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9_-]")


@redacted("env")
class MCPStdio(msgspec.Struct, frozen=True, kw_only=True, tag="stdio"):
    """A server run as a subprocess: command, arguments, extra environment, working directory.

    ``repr`` shows the names of the ``env`` variables, not their values.
    """

    command: str
    args: tuple[str, ...] = ()
    env: dict[str, str] = {}
    """Added to a minimal inherited environment (HOME, PATH, USER, ...), not to the whole of it."""
    cwd: str | None = None


@redacted("headers", urls=("url",))
class MCPHttp(msgspec.Struct, frozen=True, kw_only=True, tag="http"):
    """A streamable-HTTP server: its endpoint URL (often ``.../mcp``) and headers to send.

    ``repr`` shows the names of the ``headers``, not their values (an ``Authorization`` one is a
    secret), and the URL without a password or query values.
    """

    url: str
    headers: dict[str, str] = {}


class MCPServer(msgspec.Struct, frozen=True, kw_only=True):
    """An MCP server whose tools an agent may call: how to reach it and which tools to offer."""

    transport: MCPStdio | MCPHttp
    name: str = ""
    """Names the server in errors and logs (default: its command or URL)."""
    tools: tuple[str, ...] | None = None
    """Offer only these tools (by the server's names); ``None`` offers all."""
    prefix: str = ""
    """Put before each tool's name, to keep apart two servers' tools of the same name."""
    connect_timeout_s: float = 10.0

    @classmethod
    def stdio(
        cls,
        command: str,
        args: Sequence[str] = (),
        *,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        name: str = "",
        tools: Sequence[str] | None = None,
        prefix: str = "",
        connect_timeout_s: float = 10.0,
    ) -> MCPServer:
        """A server started as ``command args`` and spoken to over its stdin and stdout."""
        transport = MCPStdio(command=command, args=tuple(args), env=dict(env or {}), cwd=cwd)
        chosen = tuple(tools) if tools is not None else None
        return cls(
            transport=transport, name=name, tools=chosen, prefix=prefix, connect_timeout_s=connect_timeout_s
        )

    @classmethod
    def http(
        cls,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        name: str = "",
        tools: Sequence[str] | None = None,
        prefix: str = "",
        connect_timeout_s: float = 10.0,
    ) -> MCPServer:
        """A server at a streamable-HTTP ``url``; ``headers`` go with every request (e.g. Authorization)."""
        transport = MCPHttp(url=url, headers=dict(headers or {}))
        chosen = tuple(tools) if tools is not None else None
        return cls(
            transport=transport, name=name, tools=chosen, prefix=prefix, connect_timeout_s=connect_timeout_s
        )

    @property
    def label(self) -> str:
        """The server's name in messages: ``name``, else its command line or URL."""
        if self.name:
            return self.name
        if isinstance(self.transport, MCPHttp):
            return safe_url(self.transport.url)
        return " ".join((self.transport.command, *self.transport.args))


class MCPTools:
    """Live connections to MCP servers and their tools: ``async with``, or ``open()`` and ``aclose()``."""

    def __init__(self, servers: Sequence[MCPServer]) -> None:
        self.servers = tuple(servers)
        self.tools: list[FunctionTool[..., Any]] = []
        """The servers' tools, once open."""
        self._connections: list[_Connection] = []

    async def open(self) -> list[FunctionTool[..., Any]]:
        """Connect to every server and list its tools; if one fails, those already open are closed."""
        if self._connections:
            raise ConfigError("these MCP servers are already open", hint="close them first (aclose)")
        try:
            for server in self.servers:
                connection = _Connection(server)
                self._connections.append(connection)
                self.tools += await connection.open()
        except BaseException:
            await self.aclose()
            raise
        return list(self.tools)

    async def aclose(self) -> None:
        """Disconnect from every server (stopping the subprocesses); safe to call twice, from any task."""
        connections, self._connections, self.tools = self._connections, [], []
        for connection in reversed(connections):
            await connection.aclose()

    async def __aenter__(self) -> list[FunctionTool[..., Any]]:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def mcp_tools(*servers: MCPServer) -> MCPTools:
    """The tools of ``servers``: ``async with mcp_tools(server) as tools: Agent(tools=tools)``."""
    return MCPTools(servers)


class _Connection:
    """One server's client, entered and exited by a task of its own."""

    def __init__(self, server: MCPServer) -> None:
        self.server = server
        self._client: Client | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> list[FunctionTool[..., Any]]:
        ready: asyncio.Future[list[Tool]] = asyncio.get_running_loop().create_future()
        ready.add_done_callback(lambda f: f.cancelled() or f.exception())  # read even if open is cancelled
        self._task = asyncio.create_task(self._hold(ready), name=f"mcp {self.server.label}")
        try:
            listed = await asyncio.shield(ready)
        except Exception as e:
            raise _start_error(self.server, e) from e
        wanted, names = self.server.tools, [t.name for t in listed]
        missing = [name for name in wanted or () if name not in names]
        if missing:
            raise ConfigError(
                f"the MCP server {self.server.label} has no tool {missing[0]!r}",
                hint=f"it has: {', '.join(names) or 'none'}",
            )
        return [self._tool(t) for t in listed if wanted is None or t.name in wanted]

    async def aclose(self) -> None:
        self._stop.set()
        if self._task is not None:
            if self._client is None:
                self._task.cancel()  # still connecting
            await asyncio.wait({self._task})

    async def _hold(self, ready: asyncio.Future[list[Tool]]) -> None:
        """Connect, list the tools, then keep the connection until closed (in this task only)."""
        try:
            async with contextlib.AsyncExitStack() as stack:
                async with asyncio.timeout(self.server.connect_timeout_s):
                    client = await _connect(self.server, stack)
                    listed = await _list_tools(client)
                self._client = client
                ready.set_result(listed)
                await self._stop.wait()
        except asyncio.CancelledError:
            if not ready.done():
                ready.cancel()
            raise
        except Exception as e:
            if not ready.done():
                ready.set_exception(e)
            else:
                log.warning("MCP server %s: the connection ended: %s", self.server.label, _leaf(e))
        finally:
            self._client = None

    def _tool(self, tool: Tool) -> FunctionTool[..., Any]:
        name = _NOT_IN_NAME.sub("_", self.server.prefix + tool.name)[:64]

        async def call(raw_arguments: dict[str, Any]) -> str:
            return _output(self.server, tool.name, await self.call(tool.name, raw_arguments))

        schema = {
            "name": name,
            "description": tool.description or tool.title or "",
            "parameters": tool.input_schema,
        }
        return FunctionTool(call, raw_schema=schema)

    async def call(self, name: str, arguments: dict[str, Any]) -> CallToolResult:
        """``tools/call``, raced against the connection: a server that is gone is a ``ToolError``."""
        from mcp import MCPError
        from mcp.types import CONNECTION_CLOSED

        gone = ToolError(
            f"the MCP server {self.server.label} is not running any more, so {name!r} could not finish",
            hint="see the log for why the connection ended",
        )
        client, holder = self._client, self._task
        if client is None or holder is None or holder.done():
            raise gone
        request = asyncio.ensure_future(client.call_tool(name, arguments))
        try:
            done, _ = await asyncio.wait({request, holder}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not request.done():
                request.cancel()
                await asyncio.wait({request})
        if request not in done or request.cancelled():
            raise gone
        try:
            return request.result()
        except MCPError as e:
            if e.code == CONNECTION_CLOSED:  # the server exited or the link broke
                raise gone from e
            raise ToolError(f"the MCP server {self.server.label} refused the call of {name!r}: {e}") from e


async def _connect(server: MCPServer, stack: contextlib.AsyncExitStack) -> Client:
    from mcp import Client, StdioServerParameters

    transport = server.transport
    if isinstance(transport, MCPStdio):
        params = StdioServerParameters(
            command=transport.command, args=list(transport.args), env=transport.env or None, cwd=transport.cwd
        )
        return await stack.enter_async_context(Client(params))
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    http = await stack.enter_async_context(
        httpx2.AsyncClient(headers=transport.headers, timeout=httpx2.Timeout(30.0, read=300.0))
    )
    return await stack.enter_async_context(Client(streamable_http_client(transport.url, http_client=http)))


async def _list_tools(client: Client) -> list[Tool]:
    listed: list[Tool] = []
    cursor: str | None = None
    while True:
        page = await client.list_tools(cursor=cursor)
        listed += page.tools
        cursor = page.next_cursor
        if not cursor:
            return listed


def _output(server: MCPServer, name: str, result: CallToolResult) -> str:
    """The text the model reads: the result's text content; an ``isError`` result is a ``ToolError``."""
    from mcp.types import EmbeddedResource, ResourceLink, TextContent, TextResourceContents

    texts: list[str] = []
    for block in result.content:
        if isinstance(block, TextContent):
            texts.append(block.text)
        elif isinstance(block, EmbeddedResource) and isinstance(block.resource, TextResourceContents):
            texts.append(block.resource.text)
        elif isinstance(block, ResourceLink | EmbeddedResource):
            texts.append(f"[resource {block.uri if isinstance(block, ResourceLink) else block.resource.uri}]")
        else:
            texts.append(f"[{block.type}, {block.mime_type}, not shown]")
    text = "\n".join(texts)
    if result.is_error:
        raise ToolError(text or f"the MCP tool {name!r} of {server.label} failed without saying why")
    if not texts and result.structured_content is not None:
        return msgspec.json.encode(result.structured_content).decode()
    return text


def _leaf(error: BaseException) -> BaseException:
    """The first exception inside (nested) exception groups."""
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


def _start_error(server: MCPServer, error: BaseException) -> ConfigError | ProviderError:
    """Why a server could not be started or reached, with what to do about it."""
    cause = _leaf(error)
    label, transport = server.label, server.transport
    if isinstance(transport, MCPStdio) and isinstance(cause, OSError) and not isinstance(cause, TimeoutError):
        return ConfigError(
            f"cannot start the MCP server {label}: {cause.strerror or cause}: {transport.command!r}",
            hint="install the command, or give its full path (it is looked up on PATH)",
        )
    if isinstance(cause, TimeoutError):
        return ProviderError(
            f"the MCP server {label} did not answer within {server.connect_timeout_s:g} s",
            hint="run it by hand: does it start, and speak MCP on stdin/stdout (or at that URL)?",
            retryable=True,
        )
    if isinstance(transport, MCPHttp):
        return ProviderError(
            f"cannot reach the MCP server {label}: {type(cause).__name__}: {cause}",
            hint="is the server running, and is the URL right (including its path, often /mcp)?",
            retryable=True,
        )
    return ProviderError(
        f"the MCP server {label} stopped while starting: {type(cause).__name__}: {cause}",
        hint="run the command by hand and read its error output",
    )
