"""Median and p95 of repeated timings (no Django: the orchestrator and the report use it too)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from typing import Any


def summary(samples_ms: Iterable[float]) -> dict[str, Any]:
    """Median and nearest-rank p95 (with min, max and the number of samples), in ms."""
    values = sorted(samples_ms)
    if not values:
        raise ValueError("no samples")
    rank = max(math.ceil(0.95 * len(values)), 1)
    return {
        "n": len(values),
        "median_ms": round(statistics.median(values), 2),
        "p95_ms": round(values[rank - 1], 2),
        "min_ms": round(values[0], 2),
        "max_ms": round(values[-1], 2),
    }
