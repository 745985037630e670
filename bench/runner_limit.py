"""The model side's own limit: the service's runner, in-process, on images prepared once.

:class:`service.runner.ModelRunner` is what the batching thread calls for a batch: the engine the service
would pick (``CXR_ENGINE``), Grad-CAM's maps and the input assessment. It is built here exactly as the
service builds it (:func:`service.runner.load_runner`, the same settings), fed the benchmark's own
X-rays, decoded and preprocessed once by the service's pipeline, and timed at every batch size from 1 to
the service's largest. No HTTP, no decoding, no overlay: the best of these is what the service could serve
if its request path cost nothing, so end to end / this limit is the share the request path leaves.

``python -m bench.runner_limit [--weights FILE] [--engine auto|onnxruntime|...] [--seconds 2]``

``--without-gate`` also times the same runner without its input assessment, each batch size of the two
measured in turn so that both see the same machine: what the assessment costs per image.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.inputs import DEFAULT_DATA_DIR, load_pngs
from bench.loadgen import make_bodies
from bench.quiet import QuietPolicy, foreign_during, measure_quietly
from harness.load import Body
from service.allocator import keep_freed_memory
from service.pipeline import Pipeline
from service.runner import ModelRunner, WorkItem, load_runner
from service.settings import Settings


def build(settings: Settings, bodies: Sequence[Body]) -> tuple[ModelRunner, list[WorkItem]]:
    """The service's runner for ``settings``, and ``bodies`` prepared by its pipeline, without overlays."""
    keep_freed_memory()  # the service's malloc settings, before the model allocates
    runner, _ = load_runner(settings)
    pipeline = Pipeline.build(settings, runner.metadata.preprocessing, runner.scope_size)
    prepared = [pipeline.prepare(body.content_type, body.content, with_canvas=False) for body in bodies]
    return runner, [WorkItem(p.inputs, p.scope_inputs, p.facts) for p in prepared]


def measure(runner: ModelRunner, items: Sequence[WorkItem], batch: int, seconds: float) -> dict[str, Any]:
    """Batches of ``batch`` images taken in turn from ``items``, Grad-CAM on for each, for ``seconds``."""
    cams = [True] * batch

    def take(start: int) -> list[WorkItem]:
        return [items[(start + k) % len(items)] for k in range(batch)]

    for warm in range(0, 2 * batch, batch):  # the engine's buffers for this batch size
        runner.run(take(warm), cams)
    latencies: list[float] = []
    start_cpu, start = time.process_time(), time.perf_counter()
    while time.perf_counter() - start < seconds or len(latencies) < 3:
        t0 = time.perf_counter()
        runner.run(take(len(latencies) * batch), cams)
        latencies.append(time.perf_counter() - t0)
    total, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    images = batch * len(latencies)
    latencies.sort()
    return {
        "batch": batch,
        "images_per_s": images / total,
        "batch_latency_ms_p50": 1000 * latencies[len(latencies) // 2],
        "cpu_ms_per_image": 1000 * cpu / images,
        "iterations": len(latencies),
    }


def measure_runner(
    runner: ModelRunner,
    items: Sequence[WorkItem],
    batch_sizes: Sequence[int],
    seconds: float,
    policy: QuietPolicy | None = None,
) -> dict[str, Any]:
    """Every batch size, each point rerun while foreign load disturbs it: ``{"engine", "rows"}``."""
    policy = policy or QuietPolicy(retries=0)
    rows = []
    for batch in batch_sizes:
        (row, foreign), attempts = measure_quietly(
            lambda: foreign_during(lambda: measure(runner, items, batch, seconds)),  # noqa: B023 - called now
            lambda measured: measured[1],
            policy,
        )
        rows.append({**row, "foreign_cpu_percent": foreign, "attempts": attempts})
    return {"engine": str(runner.engine.name), "rows": rows}


def best(limit: dict[str, Any]) -> dict[str, Any]:
    """The row with the most images/s: the runner's limit."""
    rows: list[dict[str, Any]] = limit["rows"]
    return max(rows, key=lambda row: row["images_per_s"])


def bracket(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """One limit from two measurements: each batch size's mean, both kept; ``images_per_s`` is the mean of
    the best batch size before and the best after (each measurement's own best)."""
    rows = []
    for first, second in zip(before["rows"], after["rows"], strict=True):
        assert first["batch"] == second["batch"]
        row = dict(first)
        for key in ("images_per_s", "batch_latency_ms_p50", "cpu_ms_per_image"):
            row[key] = (first[key] + second[key]) / 2
            row[f"{key}_before"], row[f"{key}_after"] = first[key], second[key]
        row["foreign_cpu_percent"] = max(first["foreign_cpu_percent"], second["foreign_cpu_percent"])
        rows.append(row)
    first_best, second_best = best(before), best(after)
    return {
        "engine": before["engine"],
        "rows": rows,
        "images_per_s_before": first_best["images_per_s"],
        "images_per_s_after": second_best["images_per_s"],
        "images_per_s": (first_best["images_per_s"] + second_best["images_per_s"]) / 2,
        "best_batch_before": first_best["batch"],
        "best_batch_after": second_best["batch"],
    }


def limit_of(limit: dict[str, Any] | None) -> float:
    """The runner's images/s: the bracketed mean, or a single measurement's best; NaN without one."""
    if not limit or not limit.get("rows"):
        return math.nan
    return float(limit["images_per_s"]) if "images_per_s" in limit else float(best(limit)["images_per_s"])


def bracket_text(limit: dict[str, Any]) -> str:
    """The limit the report divides by, from its two measurements."""
    return (
        f"runner limit ({limit['engine']}, Grad-CAM on): {limit['images_per_s']:.1f} images/s, the mean of "
        f"{limit['images_per_s_before']:.1f} before (batch {limit['best_batch_before']}) and "
        f"{limit['images_per_s_after']:.1f} after (batch {limit['best_batch_after']})"
    )


def print_table(limit: dict[str, Any]) -> None:
    print(f"runner limit ({limit['engine']}, Grad-CAM on, input assessment included):")
    print(f"{'batch':>5} {'images/s':>10} {'p50 ms/batch':>13} {'CPU ms/image':>13} {'foreign CPU %':>14}")
    for r in limit["rows"]:
        print(
            f"{r['batch']:>5} {r['images_per_s']:>10.1f} {r['batch_latency_ms_p50']:>13.2f} "
            f"{r['cpu_ms_per_image']:>13.2f} {r['foreign_cpu_percent']:>14.0f}"
        )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.runner_limit",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--weights", type=Path, default=Path("weights/cxr-paper-cnn.safetensors"))
    parser.add_argument("--engine", default="auto", help="the service's CXR_ENGINE")
    parser.add_argument("--max-batch-size", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=2.0, help="per batch size")
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR, help="X-rays, when present")
    parser.add_argument("--without-gate", action="store_true", help="also without the input assessment")
    args = parser.parse_args(argv)
    settings = Settings(
        weights_path=args.weights, device="cpu", engine=args.engine, max_batch_size=args.max_batch_size
    )
    pngs, source = load_pngs(args.images, args.data)
    print(f"inputs: {source}")
    runner, items = build(settings, make_bodies(pngs))
    sizes = range(1, args.max_batch_size + 1)
    if not args.without_gate:
        limit = measure_runner(runner, items, sizes, args.seconds)
        print_table(limit)
        return limit
    ungated = ModelRunner(runner.metadata, runner.engine, None)
    both = [
        (measure(runner, items, b, args.seconds), measure(ungated, items, b, args.seconds)) for b in sizes
    ]
    print(f"{'batch':>5} {'with gate ms/image':>19} {'without ms/image':>17} {'the gate costs ms':>18}")
    for gated, plain in both:
        with_ms, without_ms = 1000 / gated["images_per_s"], 1000 / plain["images_per_s"]
        print(f"{gated['batch']:>5} {with_ms:>19.2f} {without_ms:>17.2f} {with_ms - without_ms:>18.2f}")
    return {"engine": str(runner.engine.name), "rows": [gated for gated, _ in both]}


if __name__ == "__main__":
    main()
