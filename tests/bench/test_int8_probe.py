"""The int8 probe's parts on a small random network: no data set, no timing asserted."""

from __future__ import annotations

import numpy as np

from bench.int8_probe import labels, latency_ms, quantize, session
from ml.engine.graph import build_onnx
from tests.support.weights import random_model


def test_the_quantized_model_runs_and_mostly_agrees_with_fp32_on_its_calibration_images() -> None:
    x = np.random.default_rng(0).standard_normal((24, 3, 32, 32)).astype(np.float32)
    fp32 = build_onnx(random_model(1), "ab" * 32)

    int8 = quantize(fp32, x)
    reference, candidate = session(fp32, 1), session(int8, 1)

    assert len(int8) < len(fp32)
    assert labels(reference, x).shape == (24,)
    assert (labels(reference, x) == labels(candidate, x)).mean() >= 0.75
    assert latency_ms(candidate, (3, 32, 32), seconds=0.05) > 0
