"""The model's own limit: forward (+ head-only Grad-CAM) images/s in-process, no HTTP, no decoding.

Measured for each engine (:mod:`ml.engine`): torch eager, the reference the report's ratios use, and on
the CPU ONNX Runtime, in fp32 and, where the service would run it (:func:`ml.engine.resolve_engine`'s
``auto``), in int8.

``python -m bench.model_limit [--weights FILE] [--device cpu|cuda] [--batch-sizes 1 32] [--seconds 3]``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ml.engine import INT8, Engine, EngineName, build_engine, int8_products_exact, onnxruntime_installed
from ml.engine.torch_engine import classifier_of
from ml.model import build_model, load_weights
from service.allocator import keep_freed_memory

REFERENCE = EngineName.TORCH
"""The engine whose limit the end-to-end figures are divided by: torch eager, as the model was measured
before the service had any other engine."""


def measure(engine: Engine, batch: int, with_cam: bool, seconds: float) -> dict[str, Any]:
    """As the service runs it: with ONNX Runtime, torch (Grad-CAM's sum) on one thread."""
    threads = torch.get_num_threads()
    if engine.name.onnxruntime:
        torch.set_num_threads(1)
    try:
        return _measure(engine, batch, with_cam, seconds)
    finally:
        torch.set_num_threads(threads)


def _measure(engine: Engine, batch: int, with_cam: bool, seconds: float) -> dict[str, Any]:
    # numpy in, as the service hands a batch over (the torch engine copies it to its device).
    x = np.random.default_rng(0).standard_normal((batch, 3, 224, 224), dtype=np.float32)
    cuda = engine.device == "cuda"

    def step() -> None:
        engine.predict(x, with_cam=with_cam, with_taps=False)

    for _ in range(3):
        step()
    if cuda:
        torch.cuda.synchronize()
    latencies: list[float] = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(latencies) < 5:
        t0 = time.perf_counter()
        step()
        if cuda:
            torch.cuda.synchronize()
        latencies.append(time.perf_counter() - t0)
    total = time.perf_counter() - start
    latencies.sort()
    return {
        "engine": engine.name,
        "batch": batch,
        "gradcam": with_cam,
        "images_per_s": batch * len(latencies) / total,
        "batch_latency_ms_p50": 1000 * latencies[len(latencies) // 2],
        "iterations": len(latencies),
    }


def device_name(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"


def load(weights: Path | None, device_type: str) -> list[Engine]:
    """The model as the service runs it, in each engine the device has: eval mode, channels-last for torch
    (faster on CPU and GPU), with the service's malloc settings (:mod:`service.allocator`)."""
    keep_freed_memory()
    device = torch.device(device_type)
    int8 = None
    if weights:
        loaded = load_weights(weights)
        model, sha256, int8 = loaded.model, loaded.sha256, loaded.int8
    else:
        model, sha256 = build_model("paper_cnn").eval(), "random"
    names = [REFERENCE]
    if device.type == "cpu" and onnxruntime_installed():
        names += [EngineName.ONNXRUNTIME, *([INT8] if int8 and int8_products_exact() else [])]
    threads = torch.get_num_threads()
    classifier = classifier_of(model, sha256)
    return [build_engine(name, classifier, device.type, threads, int8) for name in names]


def run(weights: Path | None, device_type: str, batch_sizes: list[int], seconds: float) -> dict[str, Any]:
    """Every engine and batch size with and without Grad-CAM: ``{"device", "torch", "rows": [...]}``."""
    engines = load(weights, device_type)
    rows = [measure(e, b, cam, seconds) for e in engines for b in batch_sizes for cam in (False, True)]
    return {"device": device_name(engines[0].device), "torch": torch.__version__, "rows": rows}


def print_table(limit: dict[str, Any]) -> None:
    print(f"model limit on {limit['device']}, torch {limit['torch']}")
    header = f"{'engine':>12} {'batch':>5} {'gradcam':>7} {'images/s':>10} {'p50 ms/batch':>13}"
    print(f"{header} {'foreign CPU %':>14}")
    for r in limit["rows"]:
        ips, p50 = r["images_per_s"], r["batch_latency_ms_p50"]
        foreign = r.get("foreign_cpu_percent", float("nan"))
        engine = r.get("engine", REFERENCE)
        print(f"{engine:>12} {r['batch']:>5} {r['gradcam']!s:>7} {ips:>10.1f} {p50:>13.2f} {foreign:>14.0f}")


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--weights", type=Path, help="weights file (default: random paper_cnn weights)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    limit = run(args.weights, args.device, args.batch_sizes, args.seconds)
    print_table(limit)
    if args.json:
        args.json.write_text(json.dumps(limit, indent=2) + "\n")
    rows: list[dict[str, Any]] = limit["rows"]
    return rows


if __name__ == "__main__":
    main()
