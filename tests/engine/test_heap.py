"""Freezing what a process loaded keeps it out of later garbage collections."""

from __future__ import annotations

import gc

from graphflow.runtime.heap import freeze_loaded


def test_objects_alive_when_frozen_are_not_walked_again() -> None:
    kept = [object() for _ in range(1000)]
    try:
        frozen = freeze_loaded()
        assert frozen >= len(kept) and gc.get_freeze_count() == frozen
        later: list[list[int]] = [[] for _ in range(10)]  # allocated after: the collector still sees these
        assert gc.is_tracked(later[0]) and gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0
