"""What the input assessment costs: ``python -m bench.gate_cost [--weights FILE] [--repeats N]``.

Runs the service's model runner on random inputs with and without the weights' gate, interleaved so that
both see the same machine load, and prints the median time per image at batch 1 and 8 (Grad-CAM on, the
engine ``CXR_ENGINE=auto`` picks here). It prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from ml.engine import Classifier, build_engine, resolve_engine
from ml.engine.gate import ServingGate
from ml.model.checks import ImageFacts
from ml.model.weights_file import read_weights
from service.runner import ModelRunner, WorkItem


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.gate_cost", description=__doc__)
    parser.add_argument("--weights", type=Path, default=Path("weights/cxr-paper-cnn.safetensors"))
    parser.add_argument("--repeats", type=int, default=25)
    args = parser.parse_args(argv)
    weights = read_weights(args.weights)
    if weights.gate is None:
        raise SystemExit(f"{args.weights} carries no gate")
    spec, side = weights.metadata.preprocessing, weights.gate.scope_size
    rng = np.random.default_rng(0)
    items = [
        WorkItem(
            rng.random((spec.channels, spec.crop, spec.crop), dtype=np.float32),
            rng.random((1, side, side), dtype=np.float32),
            ImageFacts(512, 512),
        )
        for _ in range(8)
    ]
    engine_name = resolve_engine("auto", "cpu", weights.int8 is not None)
    classifier = Classifier.of(weights)
    engine = build_engine(engine_name, classifier, "cpu", 0, weights.int8)
    gate = ServingGate(weights.gate, weights.gate_tensors, weights.sha256)
    print(f"engine {engine.name}")
    runners = {
        "without gate": ModelRunner(weights.metadata, engine, None),
        "with gate": ModelRunner(weights.metadata, engine, gate),
    }
    for batch in (1, 8):
        times: dict[str, list[float]] = {name: [] for name in runners}
        for _ in range(3):
            for runner in runners.values():
                runner.run(items[:batch], [True] * batch)
        for _ in range(args.repeats):
            for name, runner in runners.items():
                started = time.perf_counter()
                runner.run(items[:batch], [True] * batch)
                times[name].append(time.perf_counter() - started)
        for name, samples in times.items():
            median = sorted(samples)[len(samples) // 2]
            print(f"batch {batch}, {name}: median {1000 * median / batch:.1f} ms per image")


if __name__ == "__main__":
    main()
