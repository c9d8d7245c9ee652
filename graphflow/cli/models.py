"""``graphflow models``: list and download the local models of the offline pipeline."""

from __future__ import annotations

import argparse
from pathlib import Path

from graphflow.errors import ConfigError
from graphflow.models import CATALOG, OFFLINE_DEFAULT, ModelCache, download


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``models`` sub-command."""
    parser = commands.add_parser("models", help="list or download local model files")
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)
    down = actions.add_parser("download", help="fetch models into the cache (default: the offline set)")
    down.add_argument("names", nargs="*", help=f"models to fetch (known: {', '.join(CATALOG)}; 'all')")
    down.add_argument(
        "--cache", type=Path, help="cache directory (default $GRAPHFLOW_CACHE or ~/.cache/graphflow)"
    )
    down.add_argument("--force", action="store_true", help="download again even if present")
    down.set_defaults(handler=run_download)
    listing = actions.add_parser("list", help="show known models and whether they are in the cache, intact")
    listing.add_argument("--cache", type=Path)
    listing.set_defaults(handler=run_list)


def run_download(args: argparse.Namespace) -> int:
    """Download the named models (idempotent)."""
    names = list(args.names) or list(OFFLINE_DEFAULT)
    if names == ["all"]:
        names = list(CATALOG)
    unknown = [n for n in names if n not in CATALOG]
    if unknown:
        raise ConfigError(f"unknown model(s): {', '.join(unknown)}", hint=f"known: {', '.join(CATALOG)}")
    cache = ModelCache(args.cache)
    total = len(names)
    for i, name in enumerate(names, 1):
        print(f"[{i}/{total}] {name}: {CATALOG[name].description}", flush=True)
        download(CATALOG[name], cache, force=args.force)
    print(f"models ready in {cache.root / 'models'}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    """Print the catalog with cache status."""
    cache = ModelCache(args.cache)
    for spec in CATALOG.values():
        state = "missing" if not cache.is_complete(spec) else "corrupt" if cache.damaged(spec) else "present"
        print(f"{spec.name:<16} {state:<8} {spec.size / 1e6:7.1f} MB  {spec.license}")
        print(f"{'':<16} {spec.description}; from {', '.join(spec.packages)}")
    return 0
