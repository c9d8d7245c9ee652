"""``graphflow chat TARGET``: talk to an agent by typing; replies, tool calls and handoffs are printed.

TARGET is a Python file (or module) defining ``build_agent()`` and, optionally,
``build_userdata()``. Offline the local responder answers (following the agents'
rules); ``--llm openai --base-url URL`` uses any OpenAI-compatible endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any, TextIO

from graphflow.agent.testing import RunResult, TurnEvent
from graphflow.errors import ConfigError
from graphflow.loading import load_attribute


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``chat`` sub-command."""
    parser = commands.add_parser(
        "chat",
        help="talk to an agent by typing (no microphone needed)",
        description="Type lines to TARGET's agent (build_agent()); its replies, tool calls and handoffs "
        "are printed. Ends at end of input or on /quit.",
    )
    parser.add_argument("target", help="file.py or module with build_agent() (e.g. graphs/restaurant.py)")
    parser.add_argument("--llm", default="local", choices=("local", "openai"), help="language model")
    parser.add_argument("--base-url", default="", help="OpenAI-compatible endpoint (with --llm openai)")
    parser.add_argument("--model", default="", help="model name (with --llm openai)")
    parser.add_argument("--quiet", action="store_true", help="print only the agent's words")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Load the agent and talk until the input ends."""
    location = args.target.partition(":")[0]
    agent = load_attribute(f"{location}:build_agent")()
    try:
        userdata = load_attribute(f"{location}:build_userdata")()
    except ConfigError:
        userdata = None
    llm = _llm(args)
    asyncio.run(converse(agent, userdata, llm, sys.stdin, sys.stdout, quiet=args.quiet))
    return 0


def _llm(args: argparse.Namespace) -> Any:
    if args.llm == "local":
        return None
    from nodes.llm.openai import OpenAIChat, OpenAIChatOptions

    changes: dict[str, Any] = {}
    if args.base_url:
        changes["base_url"] = args.base_url
    if args.model:
        changes["model"] = args.model
    return OpenAIChat(OpenAIChatOptions(**changes), name="llm")


async def converse(
    agent: Any, userdata: Any, llm: Any, lines: TextIO, out: TextIO, *, quiet: bool = False
) -> None:
    """Read lines from ``lines``, print each turn's events to ``out``."""
    from graphflow.agent.text import TextSession

    session = TextSession(agent, llm=llm, userdata=userdata)
    _print(await session.start(), out, quiet)
    try:
        loop = asyncio.get_running_loop()
        while True:
            if not quiet:
                out.write("you> ")
                out.flush()
            line = await loop.run_in_executor(None, lines.readline)
            if not line or line.strip() in ("/quit", "/exit"):
                break
            if not line.strip():
                continue
            _print(await session.run(line.strip()), out, quiet)
    finally:
        await session.aclose()


def _print(result: RunResult, out: TextIO, quiet: bool) -> None:
    for event in result.events:
        line = _describe(event, quiet)
        if line:
            out.write(line + "\n")
    out.flush()


def _describe(event: TurnEvent, quiet: bool) -> str:
    if event.type == "message":
        return event.text if quiet else f"agent> {event.text}"
    if quiet:
        return ""
    if event.type == "function_call":
        return f"  [calls {event.name}({event.arguments})]"
    if event.type == "function_output":
        return f"  [{event.name} {'failed' if event.is_error else 'answered'}: {event.text}]"
    return f"  [handoff {event.from_agent} -> {event.to_agent}{'' if event.done else ' (not done)'}]"
