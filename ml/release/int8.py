"""Calibrating the CPU engine's int8 model (:class:`~ml.model.int8.Int8Calibration`).

``python -m ml export ... --int8 DATA --split SPLIT`` stores the calibration in the weights file;
``python -m ml.studies.int8_probe`` measures how often the int8 model's labels agree with fp32's.

The calibration images are the validation side's ``select`` half (:func:`ml.data.validation_halves`;
the ``assess`` half is left to measure the agreement on): each one clean, and every eighth one under each
robustness shift at severity 2 (:mod:`ml.robustness.shifts`), so that the activation ranges cover other
acquisition styles too.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ml.data import decode_gray, select_samples
from ml.model import PaperCNN
from ml.model.int8 import DEFAULT_FP32_CONVS, Int8Calibration, activation_maxima
from ml.preprocessing import PreprocessSpec, eval_transform
from ml.robustness.shifts import SHIFTS, apply_shift
from ml.robustness.suite import shift_rng

CALIBRATION_SEVERITY = 2
SHIFTED_EVERY = 8


def validation_images(data: Path, split: Path, limit: int, subset: str) -> list[np.ndarray]:
    """About ``limit`` images of one validation half of ``split`` (``select`` calibrates, ``assess``
    measures the agreement: :func:`ml.data.validation_halves`), decoded as for training."""
    samples, _ = select_samples(data, split, subset, limit, 0)
    return [decode_gray(sample.path) for sample in samples]


def model_inputs(
    images: Sequence[np.ndarray], spec: PreprocessSpec, shift: str | None = None, severity: int = 0
) -> np.ndarray:
    """``images`` (optionally under ``shift``, drawn as the robustness suite draws it) -> model inputs."""
    out = []
    for i, image in enumerate(images):
        if shift is not None:
            image = apply_shift(image, shift, severity, shift_rng(0, shift, severity, i))
        out.append(eval_transform(torch.from_numpy(image), spec).numpy())
    return np.stack(out)


def shifted_copies(
    images: Sequence[np.ndarray], spec: PreprocessSpec, shifts: Sequence[str] = tuple(SHIFTS)
) -> np.ndarray:
    """Every eighth image under each of ``shifts`` at severity 2: the calibration's shifted part."""
    return np.concatenate(
        [model_inputs(images[::SHIFTED_EVERY], spec, name, CALIBRATION_SEVERITY) for name in shifts]
    )


def calibrate(
    model: PaperCNN,
    inputs: np.ndarray,
    fp32_convs: Sequence[int] = DEFAULT_FP32_CONVS,
    weight_bits: int = Int8Calibration.weight_bits,
    activation_bits: int = Int8Calibration.activation_bits,
    described: dict[str, object] | None = None,
) -> Int8Calibration:
    """The largest activation of each ReLU over ``inputs``, with the int8 choices, as one record."""
    batches = (torch.from_numpy(inputs[i : i + 32]) for i in range(0, len(inputs), 32))
    return Int8Calibration(
        activation_maxima(model, batches),
        fp32_convs=tuple(fp32_convs),
        weight_bits=weight_bits,
        activation_bits=activation_bits,
        calibrated={"images": len(inputs), **(described or {})},
    )


def calibrate_on(
    model: PaperCNN, spec: PreprocessSpec, data: Path, split: Path, limit: int = 300
) -> Int8Calibration:
    """:func:`calibrate` on about ``limit`` images of the ``select`` half of ``split``'s validation side
    and their shifted copies; the other half is left to measure the agreement on."""
    images = validation_images(data, split, limit, "select")
    inputs = np.concatenate([model_inputs(images, spec), shifted_copies(images, spec)])
    described = {
        "validation_images": len(images),
        "validation_half": "select",
        "shifted": f"every {SHIFTED_EVERY}th, under each of {len(SHIFTS)} shifts at severity "
        f"{CALIBRATION_SEVERITY}",
    }
    return calibrate(model, inputs, described=described)
