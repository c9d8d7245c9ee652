"""Soak: N voice sessions in one process for M minutes; memory, tasks, threads and descriptors over time.

Sessions run at real-time pace with the real VAD and turn model and stand-in STT, LLM and
TTS (fixed delays), each answering a recording of the bench set; when one ends a new one
starts in its place. Prints a table of the samples and the verdict against the goals
(RSS growth after the first minute at most 2 %; no task, thread or descriptor left once
every session has closed), writes every sample to JSON and memory over time to PNG.

``python benchmarks/soak.py --sessions 50 --minutes 10 --json docs/results/soak.json \
--plot docs/img/soak.png``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
from pathlib import Path

import msgspec

from graphflow.bench.latency import LatencyOptions
from graphflow.bench.recordings import REPOSITORY_FIXTURES, check_readable, resolve
from graphflow.bench.soak import Holdings, SoakOptions, SoakResult, soak

GROWTH_GOAL_PERCENT = 2.0
"""The most RSS may grow after the first minute."""


def verdict(result: SoakResult) -> dict[str, bool]:
    """Each goal, met or not."""
    before, after = result.before, result.after
    return {
        f"RSS growth after {result.options.settle_s:.0f} s <= {GROWTH_GOAL_PERCENT} %": (
            result.rss_growth_percent <= GROWTH_GOAL_PERCENT
        ),
        "no task left": after.tasks <= before.tasks,
        "no thread left": after.threads <= before.threads,
        "no descriptor left": after.fds <= before.fds,
        "no session error": result.errors == 0,
    }


def table(result: SoakResult, rows: int = 12) -> str:
    """The samples (about ``rows`` of them, evenly spread) and the summary."""
    samples = result.samples
    step = max(1, len(samples) // rows)
    shown = samples[::step] + ([samples[-1]] if samples and (len(samples) - 1) % step else [])
    heads = ("t s", "RSS MB", "heap blocks", "tasks", "threads", "fds", "running", "ended")
    widths = (7, 8, 12, 6, 8, 5, 8, 6)
    lines = [" ".join(f"{h:>{w}}" for h, w in zip(heads, widths, strict=True))]
    for s in shown:
        lines.append(
            f"{s.t:7.0f} {s.rss_mb:8.1f} {s.heap_blocks:12d} {s.tasks:6d} {s.threads:8d} {s.fds:5d} "
            f"{s.running:8d} {s.ended:6d}"
        )
    b, a = result.before, result.after
    lines += [
        "",
        f"sessions run: {result.sessions}, exchanges: {result.exchanges}, session errors: {result.errors}",
        f"RSS growth, last minute against the minute after {result.options.settle_s:.0f} s (medians): "
        f"{result.rss_growth_percent:+.2f} %",
        f"after the warm-up round:   {_held(b)}",
        f"after the last one closed: {_held(a)}",
        "",
    ]
    lines += [f"{'met ' if ok else 'MISSED'} {goal}" for goal, ok in verdict(result).items()]
    return "\n".join(lines)


def _held(h: Holdings) -> str:
    return f"{h.tasks} tasks, {h.threads} threads (+{h.pool_threads} in the loop's pool), {h.fds} descriptors"


def plot(result: SoakResult, path: Path) -> None:
    """Memory and running sessions over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s.t / 60 for s in result.samples]
    fig, (mem, live) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True, height_ratios=(3, 1))
    mem.plot(t, [s.rss_mb for s in result.samples], color="#4c72b0", label="RSS (MB)")
    mem.axvline(result.options.settle_s / 60, color="#999999", linestyle=":", label="end of warm-up")
    mem.set_ylabel("resident memory (MB)")
    mem.set_title(
        f"{result.options.slots} sessions at once, {result.sessions} in all: "
        f"RSS {result.rss_growth_percent:+.2f} % (last minute against the second, medians)"
    )
    mem.legend(loc="lower right")
    live.plot(t, [s.running for s in result.samples], color="#55a868")
    live.set_ylabel("running")
    live.set_xlabel("minutes")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    """Run the soak; exit 1 when a goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("recordings", nargs="*", help="audio files (default: the fixtures' bench set)")
    parser.add_argument("--sessions", type=int, default=50, help="sessions running at once")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--json", type=Path, help="write the samples and the summary here")
    parser.add_argument("--plot", type=Path, help="write memory over time here (PNG)")
    args = parser.parse_args(argv)
    if args.sessions < 1 or args.minutes <= 0 or args.every <= 0:
        parser.error("--sessions, --minutes and --every must be positive")
    recordings = resolve(list(args.recordings), fixtures_dir=REPOSITORY_FIXTURES)
    check_readable(recordings)
    options = SoakOptions(slots=args.sessions, seconds=args.minutes * 60, every_s=args.every)
    latency = LatencyOptions(recordings=tuple(recordings), barge_in=False)
    result = asyncio.run(soak(options, latency))
    print(table(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        doc = msgspec.to_builtins(result)
        doc["machine"] = {
            "cpu": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        }
        doc["verdict"] = verdict(result)
        args.json.write_text(json.dumps(doc, indent=1))
        print(f"wrote {args.json}", file=sys.stderr)
    if args.plot:
        plot(result, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0 if all(verdict(result).values()) else 1


if __name__ == "__main__":
    sys.exit(main())
