"""``graphflow bench``: latency on recorded fixtures at real-time pace, and session scaling."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from graphflow.bench.latency import LatencyOptions, run_latency
from graphflow.bench.report import document, plot, ratios, table, write_json
from graphflow.bench.scaling import sweep
from graphflow.bench.stats import percentiles
from graphflow.errors import ConfigError

BENCH_SET = "bench-set.txt"
"""The file in the fixtures folder that lists the fixtures run when none is named."""


def default_fixtures(fixtures_dir: Path) -> tuple[str, ...]:
    """The fixtures listed in ``fixtures_dir/bench-set.txt`` (comments and blanks skipped)."""
    path = fixtures_dir / BENCH_SET
    if not path.is_file():
        raise ConfigError(f"no {BENCH_SET} in {fixtures_dir}", hint="name the fixtures to run")
    lines = (line.strip() for line in path.read_text().splitlines())
    return tuple(line for line in lines if line and not line.startswith("#"))


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``bench`` sub-command."""
    parser = commands.add_parser(
        "bench",
        help="measure latency on recorded fixtures (and how many sessions fit)",
        description="Play fixtures to the voice agent at real-time pace and report per-stage latency, "
        "voice-to-voice, engine-added latency and barge-in; --sessions sweeps concurrent sessions.",
    )
    parser.add_argument(
        "fixtures", nargs="*", help="fixture file names (default: the fixtures dir's bench-set.txt)"
    )
    parser.add_argument("--fixtures-dir", default="benchmarks/fixtures")
    parser.add_argument(
        "--mode",
        choices=("standin", "models"),
        default="standin",
        help="standin: STT/TTS/LLM of fixed delay (engine cost); models: every stage real",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-barge-in", action="store_true", help="skip the interruption scenario")
    parser.add_argument("--sessions", default="", help="comma-separated session counts to sweep, e.g. 1,8,32")
    parser.add_argument(
        "--processes", type=int, default=1, help="spread sweep sessions over this many processes"
    )
    parser.add_argument(
        "--peers", type=Path, nargs="*", default=[], help="peer results JSON (benchmarks/peers)"
    )
    parser.add_argument("--engine", type=Path, help="engine benchmark JSON, for the per-hop ratio")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument("--plot", type=Path, help="write the plots here (PNG)")
    parser.add_argument(
        "--virtual", action="store_true", help="virtual clock (checks the harness, not speed)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and write its outputs."""
    options = LatencyOptions(
        fixtures=tuple(args.fixtures) or default_fixtures(Path(args.fixtures_dir)),
        fixtures_dir=args.fixtures_dir,
        runs=args.runs,
        mode=args.mode,
        barge_in=not args.no_barge_in,
        virtual=args.virtual,
    )
    total = args.runs * len(options.fixtures)
    done = [0]

    def progress(name: str) -> None:
        done[0] += 1
        bar = "#" * (30 * done[0] // total)
        print(f"\r[{bar:<30}] {done[0]}/{total} {name[:40]:<40}", end="", file=sys.stderr, flush=True)

    samples: dict[str, list[float]] = {}
    results = run_latency(options, progress=progress, compute=samples)
    print(file=sys.stderr)
    counts = [int(n) for n in args.sessions.split(",") if n.strip()]
    scaling = sweep(options, counts, args.processes) if counts else []
    peers = {}
    for path in args.peers:
        data = json.loads(path.read_text())
        peers[data.get("peer", path.stem)] = data
    compute = {key: percentiles(values) for key, values in samples.items()}
    doc = document(options, results, scaling, compute, peers or None)
    engine = json.loads(args.engine.read_text()) if args.engine and args.engine.exists() else None
    doc["ratios"] = ratios(doc, engine)
    print(table(doc))
    if args.json:
        write_json(doc, args.json)
        print(f"wrote {args.json}", file=sys.stderr)
    if args.plot:
        plot(doc, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0
