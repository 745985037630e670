"""``python -m ml.studies.int8_probe``: does int8 keep fp32's answers? The served model in int8 as the CPU
engine builds it (:mod:`ml.engine.quantize`), calibrated here on the validation side's ``select`` half,
against fp32: its speed, and how often its labels agree with fp32's on the other half (``assess``: images the
calibration never saw), clean and under the robustness shifts.

Issue 13 keeps int8 only if its labels agree with fp32 on at least 99.5% of validation and of the
robustness shifts, and it is faster end to end. ``python -m ml export --int8`` calibrates the shipped
weights the same way.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ml.engine.graph import INPUT, LOGITS
from ml.engine.torch_engine import build_onnx
from ml.model import load_weights
from ml.model.int8 import DEFAULT_FP32_CONVS, Int8Calibration
from ml.release.int8 import calibrate, model_inputs, shifted_copies, validation_images
from ml.robustness.shifts import SEVERITIES, SHIFTS
from ml.studies import RADIOGRAPHY as DEFAULT_DATA_DIR
from ml.studies import REPO


def session(model: bytes, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])


def labels(sess: Any, x: np.ndarray, batch: int = 32) -> np.ndarray:
    logits = [sess.run([LOGITS], {INPUT: x[i : i + batch]})[0] for i in range(0, len(x), batch)]
    predicted: np.ndarray = np.concatenate(logits).argmax(axis=1)
    return predicted


def latency_ms(sess: Any, shape: Sequence[int], seconds: float) -> float:
    """Median time of a batch of one."""
    x = np.random.default_rng(0).standard_normal((1, *shape)).astype(np.float32)
    for _ in range(3):
        sess.run([LOGITS], {INPUT: x})
    times: list[float] = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < 5:
        t0 = time.perf_counter()
        sess.run([LOGITS], {INPUT: x})
        times.append(time.perf_counter() - t0)
    return 1000 * sorted(times)[len(times) // 2]


def add_validation_arguments(parser: argparse.ArgumentParser) -> None:
    """The weights to compare and the validation images to compare them on."""
    parser.add_argument("--weights", type=Path, default=REPO / "weights" / "cxr-paper-cnn.safetensors")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--split", type=Path, default=REPO / "weights" / "validation" / "split.csv")
    parser.add_argument("--limit", type=int, default=300, help="images (about) of each validation half")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    add_validation_arguments(parser)
    parser.add_argument("--shifts", nargs="*", default=list(SHIFTS), help="robustness shifts to compare on")
    parser.add_argument(
        "--calibrate-shifted",
        action="store_true",
        help="calibrate as export does: also every 8th image under each of --shifts at severity 2",
    )
    parser.add_argument(
        "--fp32-convs",
        type=int,
        nargs="+",
        default=list(DEFAULT_FP32_CONVS),
        metavar="INDEX",
        help="convolutions (0-based) left in fp32; 0 always",
    )
    parser.add_argument("--weight-bits", type=int, default=Int8Calibration.weight_bits)
    parser.add_argument("--activation-bits", type=int, default=Int8Calibration.activation_bits)
    parser.add_argument("--seconds", type=float, default=3.0, help="per latency figure")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    loaded = load_weights(args.weights)
    spec = loaded.metadata.preprocessing
    calibration_images = validation_images(args.data, args.split, args.limit, "select")
    images = validation_images(args.data, args.split, args.limit, "assess")
    calibration = model_inputs(calibration_images, spec)
    if args.calibrate_shifted:
        calibration = np.concatenate([calibration, shifted_copies(calibration_images, spec, args.shifts)])
    clean = model_inputs(images, spec)
    fp32 = build_onnx(loaded.model, loaded.sha256)
    calibration_record = calibrate(
        loaded.model, calibration, args.fp32_convs, args.weight_bits, args.activation_bits
    )
    int8 = build_onnx(loaded.model, loaded.sha256, calibration_record)
    shape = clean.shape[1:]
    speed = {
        f"{kind}_{threads}t_ms": latency_ms(session(model, threads), shape, args.seconds)
        for kind, model in (("fp32", fp32), ("int8", int8))
        for threads in (1, 2)
    }
    print(", ".join(f"{name} {value:.1f}" for name, value in speed.items()), flush=True)
    reference, candidate = session(fp32, 2), session(int8, 2)
    agreement = {"clean": float((labels(reference, clean) == labels(candidate, clean)).mean())}
    print(f"clean: {agreement['clean']:.4f} of {len(clean)} images", flush=True)
    same = total = 0
    for name in args.shifts:
        for severity in SEVERITIES:
            x = model_inputs(images, spec, name, severity)
            agree = labels(reference, x) == labels(candidate, x)
            same, total = same + int(agree.sum()), total + len(agree)
            agreement[f"{name}/{severity}"] = float(agree.mean())
        print(f"{name}: worst severity {min(agreement[f'{name}/{s}'] for s in SEVERITIES):.4f}", flush=True)
    shifted = same / total if total else float("nan")
    print(f"shifts: {shifted:.4f} of {total} images; worst {min(agreement, key=agreement.__getitem__)}")
    result = {
        "weights_sha256": loaded.sha256,
        "calibrate_shifted": args.calibrate_shifted,
        "calibration_images": len(calibration),
        "int8": json.loads(calibration_record.to_json()),
        "latency": speed,
        "agreement": {"shifts": shifted, **agreement},
    }
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
