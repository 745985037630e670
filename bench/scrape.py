"""What the service's own Prometheus metrics say about a run: batch sizes, model time, queueing.

The difference between two scrapes of ``/metrics`` covers exactly the requests between them. A service of
several processes (``CXR_WORKERS``) answers each scrape from one of them: :func:`scrape_processes` scrapes
until every process has answered and adds their series up.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.stats import ratio

_SERIES = (
    "cxr_inference_batch_size_sum",
    "cxr_inference_batch_size_count",
    "cxr_inference_batch_duration_seconds_sum",
    "cxr_inference_queue_wait_seconds_sum",
    "cxr_inference_queue_wait_seconds_count",
)


def parse_series(text: str, names: tuple[str, ...] = _SERIES) -> dict[str, float]:
    """Unlabelled samples named in ``names`` from Prometheus' text format (absent ones are 0)."""
    values = dict.fromkeys(names, 0.0)
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, rest = line.partition(" ")
        if name in values:
            values[name] = float(rest.split()[0])
    return values


_PID = re.compile(r'^cxr_model_info\{[^}]*pid="(\d+)"', re.MULTILINE)


def scrape_processes(
    fetch: Callable[[], str], processes: int, attempts: int = 400, pause_s: float = 0.0
) -> dict[str, float]:
    """The series of :func:`parse_series` summed over ``processes`` server processes, each scraped once.

    Also how to wait for every process to be serving: a process still loading its model does not listen.
    """
    seen: dict[str, dict[str, float]] = {}
    for _ in range(max(attempts, processes)):
        text = fetch()
        match = _PID.search(text)
        seen[match.group(1) if match else "unknown"] = parse_series(text)
        if len(seen) >= processes:
            return {name: sum(series[name] for series in seen.values()) for name in _SERIES}
        time.sleep(pause_s)
    raise RuntimeError(f"{attempts} scrapes of /metrics reached {len(seen)} of {processes} processes")


@dataclass(frozen=True)
class ModelSide:
    batches: int
    mean_batch: float
    mean_batch_ms: float
    """One batched forward (+ Grad-CAM) as the worker timed it."""
    mean_queue_ms: float
    """Time a request waited in the queue for its batch to start."""
    busy: float
    """Share of the wall-clock time the model was computing, added up over the service's processes: near
    1 per process, the model is the bottleneck."""


UNKNOWN = ModelSide(
    batches=0, mean_batch=math.nan, mean_batch_ms=math.nan, mean_queue_ms=math.nan, busy=math.nan
)
"""The model side of a server without the service's metrics."""


def model_side(before: dict[str, float], after: dict[str, float], elapsed_s: float) -> ModelSide:
    delta = {name: after[name] - before.get(name, 0.0) for name in after}
    batches = delta["cxr_inference_batch_size_count"]
    model_s = delta["cxr_inference_batch_duration_seconds_sum"]
    waits = delta["cxr_inference_queue_wait_seconds_count"]
    return ModelSide(
        batches=int(batches),
        mean_batch=ratio(delta["cxr_inference_batch_size_sum"], batches),
        mean_batch_ms=1000 * ratio(model_s, batches),
        mean_queue_ms=1000 * ratio(delta["cxr_inference_queue_wait_seconds_sum"], waits),
        busy=ratio(model_s, elapsed_s),
    )
