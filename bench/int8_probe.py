"""``python -m bench.int8_probe``: would int8 do? The served model quantized by ONNX Runtime, its speed and
how often its labels agree with fp32's, on validation images clean and under the robustness shifts.

The service does not run int8: issue 13 keeps it only if its labels agree with fp32 on at least 99.5% of
validation and of the robustness shifts, and it is faster end to end. Static quantization: QDQ,
per-channel int8 weights (``reduce_range``, safe on CPUs without VNNI), uint8 activations whose ranges come
from the calibration images; convolutions, ReLU and pooling in int8, the head in fp32.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.inputs import DEFAULT_DATA_DIR
from ml.data import decode_gray, select_samples
from ml.engine.graph import INPUT, LOGITS, build_onnx
from ml.model import load_weights
from ml.preprocessing import PreprocessSpec, eval_transform
from ml.robustness import shift_rng
from ml.shifts import SEVERITIES, SHIFTS, apply_shift
from tests.support.live import REPO

METHODS = ("MinMax", "Percentile", "Entropy")


def quantize(
    fp32: bytes,
    calibration: np.ndarray,
    method: str = "MinMax",
    batch: int = 16,
    keep_fp32: Sequence[str] = (),
) -> bytes:
    """The int8 model of ``fp32`` (serialised ONNX), activation ranges from ``calibration`` (inputs);
    the nodes named in ``keep_fp32`` stay in fp32."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._batches: Iterator[dict[str, np.ndarray]] = (
                {INPUT: calibration[i : i + batch]} for i in range(0, len(calibration), batch)
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._batches, None)

    with tempfile.TemporaryDirectory(prefix="cxr-int8-") as tmp:
        source, target = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        source.write_bytes(fp32)
        quantize_static(
            str(source),
            str(target),
            Reader(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=True,
            op_types_to_quantize=["Conv", "Relu", "MaxPool"],
            calibrate_method=getattr(CalibrationMethod, method),
            nodes_to_exclude=list(keep_fp32),
        )
        return target.read_bytes()


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


def inputs(
    images: Sequence[np.ndarray], spec: PreprocessSpec, shift: str | None = None, severity: int = 0
) -> np.ndarray:
    out = []
    for i, image in enumerate(images):
        shifted = (
            image if shift is None else apply_shift(image, shift, severity, shift_rng(0, shift, severity, i))
        )
        out.append(eval_transform(torch.from_numpy(shifted), spec).numpy())
    return np.stack(out)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--weights", type=Path, default=REPO / "weights" / "cxr-paper-cnn.safetensors")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--split", type=Path, default=REPO / "weights" / "validation" / "split.csv")
    parser.add_argument("--limit", type=int, default=300, help="validation images (about)")
    parser.add_argument("--shifts", nargs="*", default=list(SHIFTS), help="robustness shifts to compare on")
    parser.add_argument("--method", choices=METHODS, default="MinMax", help="calibration")
    parser.add_argument(
        "--calibrate-shifted", action="store_true", help="calibrate on one shifted copy per shift too"
    )
    parser.add_argument(
        "--keep-fp32", nargs="*", default=[], metavar="NODE", help="graph nodes to leave in fp32, e.g. Conv_4"
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="per latency figure")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    loaded = load_weights(args.weights)
    spec = loaded.metadata.preprocessing
    samples, _ = select_samples(args.data, args.split, "val", args.limit, 0)
    images = [decode_gray(s.path) for s in samples]
    clean = inputs(images, spec)
    calibration = clean
    if args.calibrate_shifted:
        calibration = np.concatenate([clean, *(inputs(images[::8], spec, name, 2) for name in args.shifts)])
    fp32 = build_onnx(loaded.model, loaded.sha256)
    int8 = quantize(fp32, calibration, args.method, keep_fp32=args.keep_fp32)
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
            x = inputs(images, spec, name, severity)
            agree = labels(reference, x) == labels(candidate, x)
            same, total = same + int(agree.sum()), total + len(agree)
            agreement[f"{name}/{severity}"] = float(agree.mean())
        print(f"{name}: worst severity {min(agreement[f'{name}/{s}'] for s in SEVERITIES):.4f}", flush=True)
    shifted = same / total if total else float("nan")
    print(f"shifts: {shifted:.4f} of {total} images; worst {min(agreement, key=agreement.__getitem__)}")
    result = {
        "weights_sha256": loaded.sha256,
        "method": args.method,
        "calibrate_shifted": args.calibrate_shifted,
        "calibration_images": len(calibration),
        "keep_fp32": args.keep_fp32,
        "latency": speed,
        "agreement": {"shifts": shifted, **agreement},
    }
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
