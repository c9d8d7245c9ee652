"""One loaded model per process, shared by every session that asks for it.

A :class:`ModelHub` is created by whoever runs sessions (a CLI command, a worker, a
benchmark) and handed to the graph factories; nodes ask it for their model executor by
key, so two hundred sessions share one ONNX session (and can batch into it) instead of
loading two hundred. It is an explicit object, not a module global: two hubs in one
process (two tests, say) never share state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from graphflow.models.cache import ModelCache

T = TypeVar("T")


class ModelHub:
    """A keyed set of shared, lazily created model executors over one model cache."""

    def __init__(self, cache: ModelCache | None = None) -> None:
        self.cache = cache or ModelCache()
        self._shared: dict[str, Any] = {}

    def shared(self, key: str, factory: Callable[[], T]) -> T:
        """The object stored under ``key``, created by ``factory()`` on first use."""
        if key not in self._shared:
            self._shared[key] = factory()
        value: T = self._shared[key]
        return value

    def __contains__(self, key: str) -> bool:
        return key in self._shared
