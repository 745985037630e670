"""What the input assessment costs: ``python -m bench.gate_cost [--weights FILE] [--repeats N]``.

Runs the service's model runner on random inputs with and without the weights' gate, interleaved so that
both see the same machine load, and prints the median time per image at batch 1 and 8 (Grad-CAM on, the
torch engine). It prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from ml.engine.runtime import TorchEngine
from ml.model import load_weights
from ml.model.checks import ImageFacts
from service.runner import ModelRunner, WorkItem


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.gate_cost", description=__doc__)
    parser.add_argument("--weights", type=Path, default=Path("weights/cxr-paper-cnn.safetensors"))
    parser.add_argument("--repeats", type=int, default=25)
    args = parser.parse_args(argv)
    loaded = load_weights(args.weights)
    if loaded.gate is None:
        raise SystemExit(f"{args.weights} carries no gate")
    spec, side = loaded.metadata.preprocessing, loaded.gate.config.scope_size
    items = [
        WorkItem(
            torch.rand(spec.channels, spec.crop, spec.crop), torch.rand(1, side, side), ImageFacts(512, 512)
        )
        for _ in range(8)
    ]
    engine = TorchEngine(loaded.model, torch.device("cpu"))
    runners = {
        "without gate": ModelRunner(loaded.model, loaded.metadata, engine, None),
        "with gate": ModelRunner(loaded.model, loaded.metadata, engine, loaded.gate),
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
