"""Latency statistics: percentiles and one run's summary. Pure functions, no I/O."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation between order statistics (numpy's default).

    NaN for an empty sequence, so a run without one success still reports (and shows as missing).
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside [0, 100]")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class LatencySummary:
    count: int
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


def summarize(latencies_s: Sequence[float]) -> LatencySummary:
    """Seconds in, milliseconds out."""
    ms = [1000 * value for value in latencies_s]
    return LatencySummary(
        count=len(ms),
        mean_ms=sum(ms) / len(ms) if ms else math.nan,
        p50_ms=percentile(ms, 50),
        p95_ms=percentile(ms, 95),
        p99_ms=percentile(ms, 99),
        max_ms=max(ms) if ms else math.nan,
    )


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN when the denominator is missing or zero."""
    if not denominator or math.isnan(denominator):
        return math.nan
    return numerator / denominator
