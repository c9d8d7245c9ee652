"""Freezing what a process loaded keeps it out of later garbage collections."""

from __future__ import annotations

import gc

from graphflow.runtime.heap import freeze_loaded


def _walked(obj: object) -> bool:
    """True if the collector's generations (what a collection walks) hold ``obj``."""
    return any(o is obj for o in gc.get_objects())


def test_objects_alive_when_frozen_are_not_walked_again() -> None:
    kept: list[list[int]] = [[] for _ in range(1000)]
    assert _walked(kept[0])
    try:
        frozen = freeze_loaded()
        assert frozen >= len(kept)
        assert not _walked(kept[0]) and not _walked(kept)  # frozen: no collection looks at them
        later: list[int] = []  # allocated after the freeze: collections still walk it
        assert _walked(later)
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0 and _walked(kept[0])
