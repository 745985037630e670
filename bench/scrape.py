"""What the service's own Prometheus metrics say about a run: batch sizes, model time, queueing.

The difference between two scrapes of ``/metrics`` covers exactly the requests between them.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class ModelSide:
    batches: int
    mean_batch: float
    mean_batch_ms: float
    """One batched forward (+ Grad-CAM) as the worker timed it."""
    mean_queue_ms: float
    """Time a request waited in the queue for its batch to start."""
    busy: float
    """Share of the wall-clock time the model was computing: near 1, the model is the bottleneck."""


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
