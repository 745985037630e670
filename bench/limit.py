"""The model limit as the report uses it: each point rerun while foreign load disturbs it, and measured
before and after the end-to-end runs, since a shared machine's speed drifts over minutes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from bench import model_limit
from bench.quiet import QuietPolicy, foreign_during, measure_quietly
from ml.engine import Engine


def measure_limit(
    weights: Path, device: str, batch_sizes: list[int], seconds: float, policy: QuietPolicy
) -> dict[str, Any]:
    """:func:`bench.model_limit.run`, with each point's foreign load and attempts."""
    engines = model_limit.load(weights, device)
    points = [(engine, batch, cam) for engine in engines for batch in batch_sizes for cam in (False, True)]
    rows = [_point(engine, batch, cam, seconds, policy) for engine, batch, cam in points]
    name = model_limit.device_name(engines[0].device)
    on_cuda = engines[0].device == "cuda"
    del engines
    if on_cuda:
        torch.cuda.empty_cache()  # leave the GPU's memory to the service
    return {"device": name, "torch": torch.__version__, "rows": rows}


def _point(engine: Engine, batch: int, cam: bool, seconds: float, policy: QuietPolicy) -> dict[str, Any]:
    (row, foreign), attempts = measure_quietly(
        lambda: foreign_during(lambda: model_limit.measure(engine, batch, cam, seconds)),
        lambda measured: measured[1],
        policy,
    )
    return {**row, "foreign_cpu_percent": foreign, "attempts": attempts}


def bracket(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """One limit from two measurements: the mean of each figure, with both kept for the record."""
    rows = []
    for first, second in zip(before["rows"], after["rows"], strict=True):
        point = ("engine", "batch", "gradcam")
        assert [first.get(k) for k in point] == [second.get(k) for k in point]
        row = dict(first)
        for key in ("images_per_s", "batch_latency_ms_p50"):
            row[key] = (first[key] + second[key]) / 2
            row[f"{key}_before"], row[f"{key}_after"] = first[key], second[key]
        row["foreign_cpu_percent"] = max(first["foreign_cpu_percent"], second["foreign_cpu_percent"])
        rows.append(row)
    return {**before, "rows": rows}
