"""Latency statistics: one run's summary (percentiles are the shared ``harness.stats``'s). No I/O."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from harness.stats import percentile


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
