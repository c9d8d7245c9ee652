"""Percentiles of benchmark samples, as the JSON and the tables show them."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def percentiles(samples: Iterable[float | None]) -> dict[str, float | int | list[float]]:
    """``count``, ``p50``, ``p90``, ``p99``, ``max`` and the raw ``samples`` (None dropped)."""
    values = [float(v) for v in samples if v is not None]
    if not values:
        return {
            "count": 0,
            "p50": float("nan"),
            "p90": float("nan"),
            "p99": float("nan"),
            "max": float("nan"),
            "samples": [],
        }
    array = np.asarray(values)
    return {
        "count": len(values),
        "p50": float(np.percentile(array, 50)),
        "p90": float(np.percentile(array, 90)),
        "p99": float(np.percentile(array, 99)),
        "max": float(array.max()),
        "samples": values,
    }
