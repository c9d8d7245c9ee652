"""``graphflow bench``: latency on recorded fixtures at real-time pace, and session scaling."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from graphflow.agent.options import SessionOptions, with_overrides
from graphflow.bench.latency import LatencyOptions, RunResult, run_latency
from graphflow.bench.recordings import REPOSITORY_FIXTURES, barge_in_recording, check_readable, resolve
from graphflow.bench.report import document, plot, ratios, table, write_json
from graphflow.bench.scaling import sweep
from graphflow.bench.stats import percentiles
from graphflow.bench.timeline import TurnTimeline, draw, milestones, safe_name
from graphflow.cli.json_input import read_json_object
from graphflow.cli.overrides import add_set_argument
from graphflow.errors import ConfigError


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``bench`` sub-command."""
    parser = commands.add_parser(
        "bench",
        help="measure latency on recordings (and how many sessions fit)",
        description="Play recordings to the voice agent at real-time pace and report per-stage latency, "
        "voice-to-voice, engine-added latency and barge-in; --sessions sweeps concurrent sessions. "
        "Recordings are audio files of any format FFmpeg reads, by any path; a reference transcript "
        "comes from NAME.txt beside the file or from --manifest.",
    )
    parser.add_argument(
        "recordings",
        nargs="*",
        metavar="AUDIO",
        help="audio files, or file names in --fixtures-dir (default: the fixtures' bench-set.txt)",
    )
    parser.add_argument(
        "--fixtures-dir",
        type=Path,
        default=None,
        help=f"where bare file names are looked up (default: the repository's {REPOSITORY_FIXTURES.name})",
    )
    parser.add_argument(
        "--manifest",
        type=Path,
        help="TSV with 'file' and 'transcript' columns: reference texts (and what to run, if no AUDIO)",
    )
    parser.add_argument(
        "--barge-in-clip",
        metavar="AUDIO",
        help="the utterance that interrupts the agent (default: 'go forward ten meters', shipped)",
    )
    parser.add_argument(
        "--mode",
        choices=("standin", "models"),
        default="standin",
        help="standin: STT/TTS/LLM of fixed delay (engine cost); models: every stage real",
    )
    parser.add_argument("--runs", type=_positive, default=3)
    add_set_argument(parser)
    parser.add_argument("--no-barge-in", action="store_true", help="skip the interruption scenario")
    parser.add_argument("--sessions", default="", help="comma-separated session counts to sweep, e.g. 1,8,32")
    parser.add_argument(
        "--processes", type=int, default=1, help="spread sweep sessions over this many processes"
    )
    parser.add_argument(
        "--peers", type=Path, nargs="*", default=[], help="peer results JSON (benchmarks/peers)"
    )
    parser.add_argument("--engine", type=Path, help="engine benchmark JSON, for the per-hop ratio")
    parser.add_argument(
        "--json", type=Path, help="write every figure here, and per-recording turn timelines beside it"
    )
    parser.add_argument("--plot", type=Path, help="write the plots here (PNG)")
    parser.add_argument(
        "--virtual", action="store_true", help="virtual clock (checks the harness, not speed)"
    )
    parser.set_defaults(handler=run)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def session_counts(text: str) -> list[int]:
    """The comma-separated session counts of ``--sessions`` (each 1 or more)."""
    counts = []
    for part in text.split(","):
        if part.strip():
            if not part.strip().isdigit() or int(part) < 1:
                raise ConfigError(f"--sessions takes counts like 1,8,32; {part.strip()!r} is not one")
            counts.append(int(part))
    return counts


def options_from(args: argparse.Namespace) -> LatencyOptions:
    """The benchmark's options from the command line; every recording is checked readable first."""
    fixtures_dir = args.fixtures_dir.expanduser().resolve() if args.fixtures_dir else REPOSITORY_FIXTURES
    if args.fixtures_dir is not None and not fixtures_dir.is_dir():
        raise ConfigError(f"--fixtures-dir {args.fixtures_dir}: no such folder")
    recordings = resolve(
        list(args.recordings),
        fixtures_dir=fixtures_dir if fixtures_dir.is_dir() else None,
        manifest=args.manifest,
    )
    barge = barge_in_recording(args.barge_in_clip) if not args.no_barge_in else None
    check_readable(recordings + ([barge] if barge else []))
    return LatencyOptions(
        recordings=tuple(recordings),
        runs=args.runs,
        mode=args.mode,
        barge_in=barge is not None,
        barge_in_clip=barge,
        virtual=args.virtual,
        session=with_overrides(SessionOptions(), args.set),
    )


def write_timelines(results: list[RunResult], folder: Path) -> list[Path]:
    """One waterfall PNG per recording (every run's turns) in ``folder``."""
    by_recording: dict[str, list[TurnTimeline]] = {}
    for r in results:
        rows = by_recording.setdefault(r.recording, [])
        for i, turn in enumerate(r.turns, start=1):
            rows.append(TurnTimeline(f"run {r.run + 1} · turn {i}", milestones(turn)))
    return [
        draw(f"{name}: where each turn's time went", rows, folder / f"{safe_name(name)}.png")
        for name, rows in by_recording.items()
    ]


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and write its outputs."""
    counts = session_counts(args.sessions)
    options = options_from(args)
    total = args.runs * len(options.recordings)
    done = [0]

    def progress(name: str) -> None:
        done[0] += 1
        bar = "#" * (30 * done[0] // total)
        print(f"\r[{bar:<30}] {done[0]}/{total} {name[:40]:<40}", end="", file=sys.stderr, flush=True)

    samples: dict[str, list[float]] = {}
    results = run_latency(options, progress=progress, compute=samples)
    print(file=sys.stderr)
    scaling = sweep(options, counts, args.processes) if counts else []
    peers: dict[str, object] = {}
    for path in args.peers:
        data = read_json_object(path, "--peers")
        peers[str(data.get("peer", path.stem))] = data
    compute = {key: percentiles(values) for key, values in samples.items()}
    doc = document(options, results, scaling, compute, peers or None)
    engine = read_json_object(args.engine, "--engine") if args.engine else None
    doc["ratios"] = ratios(doc, engine)
    print(table(doc))
    if args.json:
        write_json(doc, args.json)
        print(f"wrote {args.json}", file=sys.stderr)
        folder = args.json.with_name(args.json.stem + "-timelines")
        written = write_timelines(results, folder)
        print(f"wrote {len(written)} turn timelines in {folder}", file=sys.stderr)
    if args.plot:
        plot(doc, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0
