"""Entry point of the ``graphflow`` command: sub-commands, and errors printed plainly."""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from typing import NoReturn

from graphflow import __version__
from graphflow.cli import agent, bench, bench_turns, chat, models, playground, render, replay, run
from graphflow.errors import CompileError, GraphflowError, NodeError


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose mistakes are one line: the error and where to look, no usage dump."""

    def error(self, message: str) -> NoReturn:
        """Print ``message`` as one line naming the command's ``--help``, and exit with status 2."""
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command (each one's mistakes reported on one line)."""
    parser: argparse.ArgumentParser = OneLineParser(
        prog="graphflow", description="Real-time voice agents as dataflow graphs."
    )
    parser.add_argument("--version", action="version", version=f"graphflow {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    render.add_parser(commands)
    run.add_parser(commands)
    models.add_parser(commands)
    bench.add_parser(commands)
    bench_turns.add_parser(commands)
    agent.add_parser(commands)
    chat.add_parser(commands)
    playground.add_parser(commands)
    replay.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for a graphflow error)."""
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:2] == ["bench", "turns"]:  # a mode of bench with options of its own
        words = [bench_turns.COMMAND, *words[2:]]
    parser = build_parser()
    args, extra = parser.parse_known_args(words)
    if extra:
        print(unrecognized(parser, words[0], extra), file=sys.stderr)
        return 2
    try:
        status: int = args.handler(args)
    except GraphflowError as exc:
        print(f"graphflow: {describe(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file that cannot be read or written: the OS says which and why
        print(f"graphflow: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("graphflow: interrupted", file=sys.stderr)
        return 130
    return status


def unrecognized(parser: argparse.ArgumentParser, command: str, extra: list[str]) -> str:
    """One line for arguments ``command`` does not take, with the option meant when one is close."""
    known: list[str] = []
    for action in parser._actions:  # argparse keeps its sub-commands nowhere public
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            known = list(action.choices[command]._option_string_actions)
    shown = "bench turns" if command == bench_turns.COMMAND else command
    line = f"graphflow {shown}: unrecognized arguments: {' '.join(extra)}"
    options = [word.split("=")[0] for word in extra if word.startswith("-")]
    close = difflib.get_close_matches(options[0], known, n=1, cutoff=0.75) if options else []
    hint = f"did you mean {close[0]}? " if close else ""
    return f"{line} ({hint}see graphflow {shown} --help)"


def describe(exc: GraphflowError) -> str:
    """What a person needs of an error: one line with its hint; a compile error lists every issue.

    A node that failed on bad input (a file it cannot read, a wrong option) is reported by
    its own error, which names the file, rather than by the node failure around it."""
    while isinstance(exc, NodeError) and isinstance(exc.__cause__, GraphflowError):
        exc = exc.__cause__
    if isinstance(exc, CompileError):
        return str(exc)
    hint = f" ({exc.hint})" if exc.hint else ""
    return f"{exc.message}{hint}"


if __name__ == "__main__":
    sys.exit(main())
