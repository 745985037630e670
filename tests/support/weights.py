"""A small random network as a weights file: the service under test loads it in milliseconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch

from ml.classes import CLASSES
from ml.model import PaperCNN, WeightsMetadata, build_model, save_weights
from ml.model.gate import Gate
from ml.model.int8 import Int8Calibration, activation_maxima
from ml.preprocessing import PreprocessSpec
from tests.support.gate import random_gate

# Small input (resize 72, crop 64) so a forward pass takes milliseconds; crop < resize exercises the crop.
TEST_SPEC = PreprocessSpec(resize=72, crop=64)
TEST_TEMPERATURE = 1.5


def random_model(seed: int = 0) -> PaperCNN:
    torch.manual_seed(seed)
    model = build_model("paper_cnn", num_classes=len(CLASSES))
    # He initialisation keeps activations alive through eight ReLU layers, so outputs depend on the input.
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    return model.eval()


def write_random_weights(
    path: Path,
    metrics: dict[str, Any] | None = None,
    gate: Gate | Literal["trusting"] | None = "trusting",
    int8: Int8Calibration | None = None,
) -> Path:
    """The small random network and test preprocessing, as a weights file (also used outside pytest).

    It carries a random input-assessment gate that trusts every image (``gate=None``: no gate at all), and
    ``int8`` if given (:func:`random_int8`).
    """
    metadata = WeightsMetadata(
        architecture="paper_cnn",
        classes=list(CLASSES),
        preprocessing=TEST_SPEC,
        temperature=TEST_TEMPERATURE,
        version="0.0.1-test",
        name="random-test-cnn",
        metrics=metrics or {},
    )
    save_weights(path, random_model(), metadata, random_gate() if gate == "trusting" else gate, int8)
    return path


def random_int8(model: PaperCNN | None = None, seed: int = 0) -> Int8Calibration:
    """An int8 calibration of ``model`` (default :func:`random_model`) on random test-sized inputs."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(8, 3, TEST_SPEC.crop, TEST_SPEC.crop, generator=generator)
    return Int8Calibration(activation_maxima(model or random_model(), [x]))
