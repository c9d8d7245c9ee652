"""``graphflow bench turns``: turn-taking on labelled cuts of real speech, with a peer beside it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import msgspec

from graphflow.agent.options import SessionOptions, with_overrides
from graphflow.bench.cuts import load_cuts
from graphflow.bench.recordings import REPOSITORY_FIXTURES
from graphflow.bench.report import write_json
from graphflow.bench.turns import CutResult, TurnBenchOptions, run_cuts, score
from graphflow.cli.json_input import read_json_object
from graphflow.cli.overrides import add_set_argument
from graphflow.errors import ConfigError
from graphflow.redact import mask_secrets

CUTS = REPOSITORY_FIXTURES.parent / "turns" / "cuts.tsv"
"""The labelled cut set of a source checkout."""
COMMAND = "bench-turns"
"""The parser's name; ``graphflow bench turns`` is rewritten to it before parsing."""


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``bench turns`` (as ``bench-turns``)."""
    parser = commands.add_parser(
        COMMAND,
        help="turn-taking on labelled cuts: caught %%, held %%, decision time (graphflow bench turns)",
        description="Play each labelled cut (speech cut after a word, then room tone) through the "
        "listening half of the voice agent at real-time pace; report how many sentence ends were "
        "answered within 500 ms and how many mid-sentence pauses were held past 1.5 s.",
    )
    parser.add_argument("--cuts", type=Path, default=CUTS, help="the labelled cuts (TSV)")
    parser.add_argument("--fixtures-dir", type=Path, help="where the cuts' recordings are")
    parser.add_argument("--limit", type=int, default=0, help="run only the first N cuts (0: all)")
    parser.add_argument("--only", default="", help="run only cuts whose id contains this text")
    parser.add_argument("--stt", default="whisper", help="speech-to-text provider (whisper, moonshine)")
    add_set_argument(parser)
    parser.add_argument("--peer", type=Path, action="append", default=[], help="a peer's per-cut JSON")
    parser.add_argument("--json", type=Path, help="write every cut's result and the scores here")
    parser.add_argument("--plot", type=Path, help="write the decision-time plot here (PNG)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the cuts and print the scores."""
    cuts_file = args.cuts.expanduser().resolve()
    fixtures = args.fixtures_dir.expanduser().resolve() if args.fixtures_dir else None
    cuts = load_cuts(cuts_file, fixtures)
    if args.only:
        cuts = [c for c in cuts if args.only in c.id]
    if args.limit > 0:
        cuts = cuts[: args.limit]
    if not cuts:
        raise ConfigError(f"no cuts to run in {cuts_file}", hint="check --only and --limit")
    options = TurnBenchOptions(session=with_overrides(SessionOptions(), [f"stt.name={args.stt}", *args.set]))
    peers = {name: data for name, data in (_peer(p) for p in args.peer)}
    total, done = len(cuts), [0]

    def progress(name: str) -> None:
        done[0] += 1
        print(f"\r[{done[0]:>3}/{total}] {name[:50]:<50}", end="", file=sys.stderr, flush=True)

    results = run_cuts(cuts, fixtures or cuts_file.parent.parent / "fixtures", options, progress=progress)
    print(file=sys.stderr)
    doc: dict[str, Any] = {
        "options": mask_secrets(msgspec.to_builtins(options)),
        "scores": {"graphflow": score(results, options)},
        "cuts": {"graphflow": [msgspec.to_builtins(r) for r in results]},
    }
    for name, data in peers.items():
        theirs = [msgspec.convert(r, CutResult) for r in data["cuts"] if r["id"] in {c.id for c in cuts}]
        doc["scores"][name] = score(theirs, options)
        doc["cuts"][name] = [msgspec.to_builtins(r) for r in theirs]
    print(table(doc, options))
    if args.json:
        write_json(doc, args.json)
        print(f"wrote {args.json}", file=sys.stderr)
    if args.plot:
        from graphflow.bench.turn_plot import plot_turns

        plot_turns(doc, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def table(doc: dict[str, Any], options: TurnBenchOptions) -> str:
    """The scores of every side, one column each."""
    names = list(doc["scores"])
    rows = [f"{'':<34}" + "".join(f"{n:>12}" for n in names)]

    def row(label: str, cell: Any) -> None:
        rows.append(f"{label:<34}" + "".join(f"{cell(doc['scores'][n]):>12}" for n in names))

    row("complete cuts", lambda s: str(s["complete"]))
    row(f"  caught within {options.within_ms:.0f} ms", lambda s: f"{100 * s['caught']:.0f}%")
    row("  decision p50 (ms)", lambda s: f"{s['decision_ms']['p50']:.0f}")
    row("  decision p90 (ms)", lambda s: f"{s['decision_ms']['p90']:.0f}")
    row("  never decided", lambda s: str(s["undecided_complete"]))
    row("incomplete cuts", lambda s: str(s["incomplete"]))
    row(f"  held past {options.hold_s:.1f} s", lambda s: f"{100 * s['held']:.0f}%")
    row("final transcripts (ms, p50)", lambda s: "")
    row("  after the end of speech", lambda s: _p50(s, "final_ms"))
    row("  after the VAD's stop event", lambda s: _p50(s, "final_after_stop_ms"))
    return "\n".join(rows)


def _p50(scores: dict[str, Any], key: str) -> str:
    figures = scores.get(key)
    return f"{figures['p50']:.0f}" if figures and figures.get("count") else "-"


def _peer(path: Path) -> tuple[str, dict[str, Any]]:
    data = read_json_object(path, "--peer")
    if not isinstance(data.get("cuts"), list):
        raise ConfigError(f"--peer {path}: expected an object with a 'cuts' list")
    return str(data.get("peer", path.stem)), data
