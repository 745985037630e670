"""CXR_ENGINE: the service answers the same with torch and with ONNX Runtime (in int8: nearly the same),
and says which one runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ml.engine import select
from service.device import StartupError, resolve_engine
from service.settings import Settings
from tests.support.app import serve
from tests.support.images import multipart, overlay_image, png_bytes
from tests.support.weights import random_int8, write_random_weights

pytestmark = pytest.mark.anyio


async def answers(settings: Settings) -> tuple[list[dict[str, Any]], str]:
    async with serve(settings) as svc:
        bodies = [
            (await svc.client.post("/predict", files=multipart(png_bytes(80, 64, seed)))).json()
            for seed in range(3)
        ]
        metrics = (await svc.client.get("/metrics")).text
        engine = (await svc.client.get("/model")).json()["engine"]
    assert f'engine="{engine}"' in metrics, "/model and /metrics name the same engine"
    return bodies, metrics


async def test_torch_and_onnxruntime_give_the_same_answers_and_overlays(
    make_settings: Callable[..., Settings],
) -> None:
    eager, eager_metrics = await answers(make_settings(engine="torch"))
    onnx, onnx_metrics = await answers(make_settings(engine="auto"))

    assert 'engine="torch"' in eager_metrics and 'engine="onnxruntime"' in onnx_metrics
    for ours, theirs in zip(onnx, eager, strict=True):
        assert ours["label"] == theirs["label"]
        assert ours["probabilities"] == pytest.approx(theirs["probabilities"], abs=1e-5)
        assert ours["assessment"]["in_scope"] == theirs["assessment"]["in_scope"]
        pixels = np.asarray(overlay_image(ours), dtype=np.int16)
        expected = np.asarray(overlay_image(theirs), dtype=np.int16)
        assert np.abs(pixels - expected).max() <= 2


async def test_weights_with_an_int8_calibration_are_served_in_int8_close_to_fp32(
    make_settings: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(select, "int8_products_exact", lambda: True)
    weights = write_random_weights(tmp_path / "int8.safetensors", int8=random_int8())
    fp32, _ = await answers(make_settings(weights_path=weights, engine="onnxruntime"))

    int8, int8_metrics = await answers(make_settings(weights_path=weights))

    assert 'engine="onnxruntime-int8"' in int8_metrics
    for ours, theirs in zip(int8, fp32, strict=True):
        assert ours["label"] == theirs["label"]
        assert ours["probabilities"] == pytest.approx(theirs["probabilities"], abs=0.05)
        assert ours["assessment"]["in_scope"] == theirs["assessment"]["in_scope"]


def test_onnxruntime_on_a_gpu_is_a_startup_error_naming_the_setting() -> None:
    with pytest.raises(StartupError, match=r"CXR_ENGINE=onnxruntime: .*CPU only"):
        resolve_engine("onnxruntime", "cuda")
