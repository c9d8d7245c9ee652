"""``graphflow render TARGET``: draw a graph as DOT, Mermaid, SVG or PNG."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from graphflow.loading import load_plan
from graphflow.render import FORMATS, render


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``render`` sub-command."""
    parser = commands.add_parser(
        "render",
        help="draw a graph (DOT, Mermaid, SVG, PNG)",
        description="Draw TARGET (file.py, file.py:factory or module[:factory]) with its ports, "
        "queues and cancellation edges; --latency adds each node's latency budget and the critical path.",
    )
    parser.add_argument("target", help="file.py, file.py:factory, or module.path[:factory]")
    parser.add_argument("--format", "-f", choices=FORMATS, default=None, help="default: from -o, else dot")
    parser.add_argument("-o", "--output", type=Path, help="write here instead of standard output")
    parser.add_argument(
        "--latency",
        action="store_true",
        help="label each node with its latency budget (ms), highlight the critical path, show the total",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Render the target and write it out."""
    fmt = args.format
    if fmt is None:
        suffix = args.output.suffix.lstrip(".").lower() if args.output else ""
        fmt = (
            {"mmd": "mermaid", "gv": "dot"}.get(suffix, suffix)
            if suffix in (*FORMATS, "mmd", "gv")
            else "dot"
        )
    data = render(load_plan(args.target), fmt, latency=args.latency)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_bytes(data)
        print(f"wrote {args.output} ({fmt}, {len(data)} bytes)", file=sys.stderr)
    else:
        sys.stdout.buffer.write(data)
    return 0
