"""A small MCP server for the tests: over stdio, or streamable HTTP with ``--http PORT`` (127.0.0.1 only)."""

from __future__ import annotations

import asyncio
import os
import sys

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("graphflow-test", log_level="WARNING")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two whole numbers."""
    return a + b


@server.tool()
def refuse(reason: str) -> str:
    """Always fails, saying why."""
    raise ToolError(f"cannot do that: {reason}")


@server.tool()
def crash() -> str:
    """End the server's process in the middle of the call."""
    os._exit(3)


@server.tool()
async def wait(seconds: float) -> str:
    """Wait, then say so."""
    await asyncio.sleep(seconds)
    return f"waited {seconds} s"


@server.tool()
def pid() -> int:
    """The server's process id."""
    return os.getpid()


@server.tool()
def whoami(ctx: Context) -> str:
    """The caller's X-Caller header (over HTTP), or 'stdio'."""
    headers = ctx.headers
    return headers.get("x-caller", "nobody") if headers is not None else "stdio"


@server.tool(name="notes.read")
def read_note(title: str) -> str:
    """Read a note (a name with a dot, which a chat-completions tool name cannot have)."""
    return f"the note {title!r} says: buy milk"


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
