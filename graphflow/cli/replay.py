"""``graphflow replay RECORDING``: play a recording's user audio through the current graph, diff its turns.

Exit status 0 when every turn matches within ``--tolerance-ms``, 1 when one moved, changed,
went missing or came new — a regression test for turn-taking built from real calls.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from graphflow.agent.options import SessionOptions
from graphflow.agent.session import AgentSession
from graphflow.cli.overrides import add_set_argument
from graphflow.errors import ConfigError
from graphflow.loading import load_attribute
from graphflow.recording.replay import ReplayResult, SessionFactory, load_recording, replay
from graphflow.recording.turn_diff import DiffOptions, Turn, TurnDiff, counts, diff_json

MARKS = {"same": " ", "moved": "~", "changed": "!", "missing": "-", "new": "+"}
"""The mark each status gets at the start of its line."""


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``replay`` sub-command."""
    parser = commands.add_parser(
        "replay",
        help="replay a recording's user audio and diff the turns",
        description="Play RECORDING's user audio (channel 0 of audio.wav) through the voice graph on a "
        "virtual clock and compare its turn decisions with the recorded ones. Exit status 0 when "
        "they match, 1 when not.",
    )
    parser.add_argument("recording", type=Path, help="a folder written by `graphflow run ... --record DIR`")
    parser.add_argument(
        "--graph",
        metavar="TARGET",
        help="file.py or module whose build_session(options) makes the session (default: the voice agent)",
    )
    parser.add_argument(
        "--tolerance-ms",
        type=float,
        default=DiffOptions().tolerance_ms,
        help="a decision that moved by at most this much is the same (default %(default)s)",
    )
    parser.add_argument(
        "--window-ms",
        type=float,
        default=DiffOptions().window_ms,
        help="turns whose speech ends this far apart or less may match (default %(default)s)",
    )
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the diff here as JSON")
    add_set_argument(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Replay the recording, print the diff, write it as JSON if asked; 0 when the turns match."""
    if args.tolerance_ms < 0 or args.window_ms < 0:
        raise ConfigError("--tolerance-ms and --window-ms must be >= 0")
    recording = load_recording(args.recording)  # before any model loads: a bad folder fails at once
    build = _factory(args.graph) if args.graph else None
    options = DiffOptions(tolerance_ms=args.tolerance_ms, window_ms=args.window_ms)
    result = replay(recording, sets=args.set, build=build, options=options)
    print_diff(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result_json(result, args.set), indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0 if result.matches else 1


def _factory(target: str) -> SessionFactory:
    """TARGET's ``build_session``, checked to make an ``AgentSession``."""
    location = target.partition(":")[0]
    factory = load_attribute(f"{location}:build_session")

    def build(options: SessionOptions) -> AgentSession:
        session = factory(options)
        if not isinstance(session, AgentSession):
            made = type(session).__name__
            raise ConfigError(f"{location}:build_session returned {made}, not an AgentSession")
        return session

    return build


def result_json(result: ReplayResult, sets: list[str]) -> dict[str, object]:
    """The replay as JSON: what was replayed, with which changes, the counts and every line."""
    return {
        "recording": str(result.recording.folder),
        "set": sets,
        "tolerance_ms": result.options.tolerance_ms,
        "window_ms": result.options.window_ms,
        "matches": result.matches,
        "counts": counts(result.diff),
        "turns": diff_json(result.diff),
    }


def print_diff(result: ReplayResult) -> None:
    """One line per turn: status, speech end, decision times, reasons and probabilities side by side."""
    rec = result.recording
    print(
        f"replayed {rec.folder}: {len(rec.turns)} recorded turns, {len(result.turns)} replayed "
        f"(tolerance {result.options.tolerance_ms:g} ms)"
    )
    header = f"{'status':<9} {'speech end':>10}  {'decided at (rec -> new)':<30} {'reason':<22} {'p':<13}"
    print(f"  {header} text")
    for line in result.diff:
        print("  " + _line(line))
    summary = ", ".join(f"{n} {status}" for status, n in counts(result.diff).items() if n)
    verdict = "the turns match" if result.matches else "the turns differ"
    print(f"{verdict}: {summary or 'no turns'}")


def _line(line: TurnDiff) -> str:
    a, b = line.recorded, line.replayed
    turn = a or b
    assert turn is not None
    moved = f" ({line.moved_ms:+.0f} ms)" if line.moved_ms is not None else ""
    decided = f"{_s(a, 'decided_ms')} -> {_s(b, 'decided_ms')}{moved}"
    reason = f"{_get(a, 'reason')} -> {_get(b, 'reason')}"
    p = f"{_p(a)} -> {_p(b)}"
    text = turn.text if b is None or a is None or a.text == b.text else f"{a.text!r} -> {b.text!r}"
    status = f"{MARKS[line.status]} {line.status}"
    return f"{status:<9} {turn.speech_end_ms / 1000:>9.2f}s  {decided:<30} {reason:<22} {p:<13} {text}"


def _s(turn: Turn | None, attr: str) -> str:
    return "-" if turn is None else f"{getattr(turn, attr) / 1000:.2f}s"


def _get(turn: Turn | None, attr: str) -> str:
    return "-" if turn is None else str(getattr(turn, attr))


def _p(turn: Turn | None) -> str:
    return "-" if turn is None else f"{turn.probability:.2f}"
