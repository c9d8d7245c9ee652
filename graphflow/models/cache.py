"""Where model files live on disk, and the error that says how to get a missing one."""

from __future__ import annotations

import os
from pathlib import Path

from graphflow.errors import GraphflowError
from graphflow.models.catalog import CATALOG, ModelSpec

CACHE_ENV = "GRAPHFLOW_CACHE"
"""Environment variable naming the cache directory (default ``~/.cache/graphflow``)."""


class ModelMissing(GraphflowError):
    """A model file is not in the cache; the hint gives the command that fetches it."""

    code = "model.missing"


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

    def path(self, name: str, file: str | None = None) -> Path:
        """Path of a model's directory (or one of its files); raises :class:`ModelMissing`."""
        spec = CATALOG.get(name)
        if spec is None:
            raise GraphflowError(f"no model named {name!r}", hint=f"known models: {', '.join(CATALOG)}")
        if not self.is_complete(spec):
            raise ModelMissing(
                f"model {name!r} is not in the cache at {self.dir(name)}",
                hint=f"run `graphflow models download {name}` (or `make models`); "
                f"set {CACHE_ENV} to use another cache directory",
            )
        folder = self.dir(name)
        return folder / file if file else folder
