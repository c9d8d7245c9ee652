"""``graphflow playground AGENT.py``: talk to an agent from a browser and watch its graph live."""

from __future__ import annotations

import argparse
import os

from graphflow.cli.overrides import add_set_argument


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``playground`` sub-command."""
    parser = commands.add_parser(
        "playground",
        help="talk to an agent from a browser and watch its graph live",
        description="Start, on 127.0.0.1, a development livekit-server (unless LIVEKIT_URL is set), a worker "
        "for AGENT.py whose sessions publish live figures, and the page (built by `make web`); print its "
        "address. See docs/playground.md.",
    )
    parser.add_argument("agent", help="a Python file defining async entrypoint(ctx)")
    add_options(parser)
    add_set_argument(parser)
    parser.set_defaults(handler=run)


def add_options(parser: argparse.ArgumentParser) -> None:
    """The page's own options (``playground`` and ``dev --playground`` share them)."""
    parser.add_argument("--port", type=int, default=None, help="the page's port on 127.0.0.1 (default 8780)")
    parser.add_argument("--log-level", default="INFO", help="the worker's log level")


def run(args: argparse.Namespace) -> int:
    """Run the playground until Ctrl-C."""
    from graphflow.agent.options import SessionOptions, with_overrides
    from graphflow.playground.launch import DEFAULT_PORT, PlaygroundOptions, run_playground
    from graphflow.worker.agent_file import load_agent
    from graphflow.worker.settings import KEY_ENV, SECRET_ENV, URL_ENV

    program = load_agent(args.agent)  # a broken agent file fails here, with its own message
    with_overrides(SessionOptions(), args.set)  # so does a wrong --set key
    for flag, env in (("url", URL_ENV), ("api_key", KEY_ENV), ("api_secret", SECRET_ENV)):
        if getattr(args, flag, ""):  # `dev --playground --url ...`
            os.environ[env] = getattr(args, flag)
    port = DEFAULT_PORT if args.port is None else args.port
    options = PlaygroundOptions(
        agent_name=getattr(args, "agent_name", None) or program.options.agent_name,
        agent=args.agent,
        port=port,
        overrides=tuple(args.set),
        log_level=args.log_level,
    )
    return run_playground(options)
