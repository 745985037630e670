"""Measurements on a shared machine: rerun a measurement that other processes disturbed.

The machine's busy CPU time minus our own processes' is the foreign load over a measurement. When it
exceeds ``max_foreign_percent`` (of one core), the measurement waits and runs again, up to ``retries``
times; the least disturbed attempt is kept and reported with its foreign load.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from bench.resources import cpu_snapshot, foreign_percent

T = TypeVar("T")


@dataclass(frozen=True)
class QuietPolicy:
    max_foreign_percent: float = 15.0
    retries: int = 3
    pause_s: float = 5.0


def foreign_during(run: Callable[[], T], pids: Sequence[int] = ()) -> tuple[T, float]:
    """``run()`` and the foreign load meanwhile; ``pids`` are ours besides this process (the service)."""
    ours = (os.getpid(), *pids)
    before = cpu_snapshot(ours)
    value = run()
    return value, foreign_percent(before, cpu_snapshot(ours))


def measure_quietly(
    run: Callable[[], T], foreign_of: Callable[[T], float], policy: QuietPolicy
) -> tuple[T, int]:
    """The least disturbed of up to ``1 + retries`` runs, and how many runs it took."""
    best: T | None = None
    attempt = 0
    for attempt in range(1, policy.retries + 2):
        value = run()
        foreign = foreign_of(value)
        if best is None or foreign < foreign_of(best):
            best = value
        if not foreign > policy.max_foreign_percent:
            break
        if attempt <= policy.retries:
            print(f"    (other processes used {foreign:.0f}% of a core; measuring again)", flush=True)
            time.sleep(policy.pause_s)
    assert best is not None
    return best, attempt
