"""Where model files live on disk, and the errors that say how to get a missing or damaged one.

A model file is checked against the catalog's sha256 the first time a process uses it
(again if its size or modification time change): a damaged file is a
:class:`ModelCorrupt` naming the file and the command that fetches it again, not a
loader's crash on garbage.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from graphflow.errors import GraphflowError
from graphflow.models.catalog import CATALOG, ModelFile, ModelSpec

CACHE_ENV = "GRAPHFLOW_CACHE"
"""Environment variable naming the cache directory (default ``~/.cache/graphflow``)."""


class ModelMissing(GraphflowError):
    """A model file is not in the cache; the hint gives the command that fetches it."""

    code = "model.missing"


class ModelCorrupt(GraphflowError):
    """A model file's bytes do not match the catalog's sha256; the message names the repair command."""

    code = "model.corrupt"


_VERIFIED: set[tuple[str, int, int]] = set()
"""Files whose sha256 matched, as (path, size, modification time in ns): hashed once per process."""


def sha256_of(path: Path) -> str:
    """The sha256 of the file at ``path``, in hex."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def matches(path: Path, file: ModelFile) -> bool:
    """Whether ``path`` holds the bytes of ``file`` (hashed only when unseen or changed on disk)."""
    stat = path.stat()
    seen = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if seen in _VERIFIED:
        return True
    if stat.st_size != file.size or sha256_of(path) != file.sha256:
        return False
    _VERIFIED.add(seen)
    return True


def default_cache_dir() -> Path:
    """``$GRAPHFLOW_CACHE``, else ``$XDG_CACHE_HOME/graphflow``, else ``~/.cache/graphflow``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "graphflow"


class ModelCache:
    """A directory of extracted, verified model files: ``ROOT/models/NAME/FILE``."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or default_cache_dir()

    def dir(self, name: str) -> Path:
        """Directory of model ``name`` (it may not exist yet)."""
        return self.root / "models" / name

    def is_complete(self, spec: ModelSpec) -> bool:
        """True when every file of ``spec`` is present with its expected size."""
        folder = self.dir(spec.name)
        return all(
            (folder / f.target).is_file() and (folder / f.target).stat().st_size == f.size for f in spec.files
        )

    def damaged(self, spec: ModelSpec, only: str | None = None) -> list[Path]:
        """The files of ``spec`` (or just the one named ``only``) whose sha256 does not match."""
        folder = self.dir(spec.name)
        return [
            folder / f.target
            for f in spec.files
            if (only is None or f.target == only) and not matches(folder / f.target, f)
        ]

    def repair_command(self, name: str) -> str:
        """The command that fetches model ``name`` into this cache (again)."""
        where = "" if self.root == default_cache_dir() else f" --cache {self.root}"
        return f"graphflow models download {name}{where}"

    def path(self, name: str, file: str | None = None) -> Path:
        """Path of a model's directory (or one of its files), checked: else ModelMissing or ModelCorrupt."""
        spec = CATALOG.get(name)
        if spec is None:
            raise GraphflowError(f"no model named {name!r}", hint=f"known models: {', '.join(CATALOG)}")
        if not self.is_complete(spec):
            raise ModelMissing(
                f"model {name!r} is not in the cache at {self.dir(name)}",
                hint=f"run `graphflow models download {name}` (or `make models`); "
                f"set {CACHE_ENV} to use another cache directory",
            )
        bad = self.damaged(spec, file)
        if bad:
            raise ModelCorrupt(
                f"model file {bad[0]} is corrupted (its sha256 does not match the catalog's): "
                f"run `{self.repair_command(name)}` to fetch it again"
            )
        folder = self.dir(name)
        return folder / file if file else folder
