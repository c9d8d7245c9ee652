"""The ``--set key=value`` option that ``run``, ``bench`` and the worker share."""

from __future__ import annotations

import argparse


def add_set_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--set KEY=VALUE`` (repeatable) for session options, e.g. ``--set turn.min_delay_ms=300``."""
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change a session option, e.g. turn.min_delay_ms=300 or stt.name=moonshine (repeatable)",
    )
