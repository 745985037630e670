"""The int8 probe's parts on a small random network: no data set, no timing asserted."""

from __future__ import annotations

import numpy as np

from ml.engine.torch_engine import build_onnx
from ml.release.int8 import calibrate
from ml.studies.int8_probe import labels, latency_ms, session
from tests.support.weights import random_model


def test_the_int8_model_runs_and_mostly_agrees_with_fp32_on_its_calibration_images() -> None:
    x = np.random.default_rng(0).standard_normal((24, 3, 32, 32)).astype(np.float32)
    model = random_model(1)
    fp32 = build_onnx(model, "ab" * 32)

    record = calibrate(model, x, fp32_convs=[0, 7], described={"on": "noise"})
    int8 = build_onnx(model, "ab" * 32, record)
    reference, candidate = session(fp32, 1), session(int8, 1)

    assert record.fp32_convs == (0, 7) and record.calibrated == {"images": 24, "on": "noise"}
    assert len(int8) < len(fp32)
    assert labels(reference, x).shape == (24,)
    assert (labels(reference, x) == labels(candidate, x)).mean() >= 0.75
    assert latency_ms(candidate, (3, 32, 32), seconds=0.05) > 0
