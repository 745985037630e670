"""``python -m ml.studies.int8_assessment``: does the input assessment say the same with the int8 engine?

The assessment's feature distance reads the classifier's block outputs, which int8 rounds; its thresholds
were fitted on fp32's. This runs the service's own model runner (:class:`service.runner.ModelRunner`,
ONNX Runtime in fp32, then in int8) over validation images sent as PNGs through the service's pipeline,
clean and under some robustness shifts, and counts the images whose outcome (in scope, uncertain) or
label differ.

``--weights`` must carry an int8 calibration (``python -m ml export --int8``).
"""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ml.decoding import DecodeLimits
from ml.engine import INT8, Classifier, EngineName, build_engine
from ml.engine.gate import ServingGate
from ml.model.weights_file import WeightsFile, read_weights
from ml.release.int8 import validation_images
from ml.robustness.shifts import SEVERITIES, apply_shift
from ml.robustness.suite import shift_rng
from ml.studies.int8_probe import add_validation_arguments
from service.pipeline import Pipeline
from service.runner import Answer, ModelRunner, WorkItem

DEFAULT_SHIFTS = ("contrast", "bit16_window", "gaussian_noise", "zoom_out_black")


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def answers(runner: ModelRunner, items: Sequence[WorkItem], batch: int = 8) -> list[Answer]:
    out: list[Answer] = []
    for start in range(0, len(items), batch):
        chunk = list(items[start : start + batch])
        out += runner.run(chunk, [False] * len(chunk))
    return out


def outcome(answer: Answer) -> str:
    a = answer.assessment
    return "out of scope" if not a.in_scope else "uncertain" if a.uncertain else "trusted"


def compare(fp32: Sequence[Answer], int8: Sequence[Answer]) -> dict[str, Any]:
    pairs = list(zip(fp32, int8, strict=True))
    counts: dict[str, int] = {}
    for ours, theirs in pairs:
        key = f"{outcome(ours)} -> {outcome(theirs)}"
        counts[key] = counts.get(key, 0) + 1
    return {
        "images": len(pairs),
        "same_outcome": sum(outcome(a) == outcome(b) for a, b in pairs) / len(pairs),
        "same_label": sum(a.label_index == b.label_index for a, b in pairs) / len(pairs),
        "outcomes_fp32_to_int8": counts,
    }


def runners(weights: WeightsFile) -> tuple[ModelRunner, ModelRunner]:
    if weights.int8 is None:
        raise SystemExit("these weights carry no int8 calibration; export them with --int8")
    classifier = Classifier.of(weights)
    gate = ServingGate(weights.gate, weights.gate_tensors, weights.sha256) if weights.gate else None
    built = [
        build_engine(name, classifier, "cpu", 2, weights.int8) for name in (EngineName.ONNXRUNTIME, INT8)
    ]
    fp32, int8 = (ModelRunner(weights.metadata, engine, gate) for engine in built)
    return fp32, int8


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    add_validation_arguments(parser)
    parser.add_argument("--shifts", nargs="*", default=list(DEFAULT_SHIFTS), help="robustness shifts too")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    loaded = read_weights(args.weights)
    fp32, int8 = runners(loaded)
    pipeline = Pipeline(
        DecodeLimits(max_pixels=50_000_000, min_side=16), loaded.metadata.preprocessing, fp32.scope_size, 512
    )
    images = validation_images(args.data, args.split, args.limit, "assess")
    cases: list[tuple[str, list[np.ndarray]]] = [("clean", images)]
    for name in args.shifts:
        for severity in SEVERITIES:
            shifted = [
                apply_shift(x, name, severity, shift_rng(0, name, severity, i)) for i, x in enumerate(images)
            ]
            cases.append((f"{name}/{severity}", shifted))
    result: dict[str, Any] = {"weights_sha256": loaded.sha256}
    for case, pictures in cases:
        prepared = [pipeline.prepare("image/png", png(p), with_canvas=False) for p in pictures]
        items = [WorkItem(p.inputs, p.scope_inputs, p.facts) for p in prepared]
        result[case] = compare(answers(fp32, items), answers(int8, items))
        same = result[case]
        print(f"{case}: same outcome {same['same_outcome']:.4f}, label {same['same_label']:.4f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
