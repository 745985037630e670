"""The int8 calibration a weights file may carry: a few numbers from which the CPU engine builds an int8
model at start-up (:mod:`ml.engine.quantize`), so that no quantized copy of the weights is ever stored.

What is calibrated is the largest value each ReLU of the classifier's body gave on the calibration images
(validation images, clean and under the robustness shifts): a ReLU's output is never negative, so its
uint8 grid is ``[0, maximum]`` in 255 steps. Weights need no calibration; they are quantized from the
file's own fp32 tensors when the engine is built.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from ml.model.cnn import PaperCNN

INT8_FORMAT = "cxr-int8/1"
DEFAULT_FP32_CONVS = (0,)
"""The first convolution reads the fp32 input, three channels: in int8 it would save little and round the
raw intensities. Keeping the last block in fp32 as well ran 1.6x slower and agreed with fp32 no better
under the hardest shifts (docs/benchmarks.md)."""


@dataclass(frozen=True)
class Int8Calibration:
    activation_max: tuple[float, ...]
    """Per convolution of the body, in order: the largest value of the ReLU after it."""
    fp32_convs: tuple[int, ...] = DEFAULT_FP32_CONVS
    """Convolutions (0-based, in body order) left in fp32; the first must be one of them."""
    weight_bits: int = 8
    activation_bits: int = 8
    """Activations are rounded on a grid of ``2**bits - 1`` steps up to the calibrated maximum. In 8 bits
    both: 7-bit weights or activations (which would keep the u8 x s8 products of CPUs without VNNI from
    saturating) kept fp32's labels markedly less often under the robustness shifts, so the engine runs
    int8 only on CPUs whose products cannot saturate (:func:`ml.engine.select.int8_products_exact`)."""
    calibrated: dict[str, Any] = field(default_factory=dict)
    """On what, and what it gave: the images used, and label agreement with fp32 where measured."""

    def __post_init__(self) -> None:
        if not self.activation_max or not all(math.isfinite(m) and m > 0 for m in self.activation_max):
            raise ValueError(f"activation maxima must be positive and finite, got {self.activation_max}")
        if 0 not in self.fp32_convs:
            raise ValueError("the first convolution reads the fp32 input and must stay in fp32")
        if not (2 <= self.weight_bits <= 8 and 2 <= self.activation_bits <= 8):
            raise ValueError(f"bits must be 2-8, got {self.weight_bits} and {self.activation_bits}")
        if not all(0 <= i < len(self.activation_max) for i in self.fp32_convs):
            raise ValueError(
                f"fp32_convs {self.fp32_convs} outside the {len(self.activation_max)} convolutions"
            )

    def quantized(self, conv: int) -> bool:
        return conv not in self.fp32_convs

    def to_json(self) -> str:
        return json.dumps({"format": INT8_FORMAT, **asdict(self)})

    @classmethod
    def from_json(cls, text: str) -> Int8Calibration:
        raw = json.loads(text)
        if raw.pop("format", None) != INT8_FORMAT:
            raise ValueError(f"not a {INT8_FORMAT} calibration")
        return cls(
            activation_max=tuple(float(m) for m in raw["activation_max"]),
            fp32_convs=tuple(int(i) for i in raw["fp32_convs"]),
            weight_bits=int(raw["weight_bits"]),
            activation_bits=int(raw["activation_bits"]),
            calibrated=dict(raw.get("calibrated", {})),
        )


def activation_maxima(model: PaperCNN, batches: Iterable[torch.Tensor]) -> tuple[float, ...]:
    """The largest output of each ReLU of ``model.body`` over ``batches`` (model inputs), layer by layer."""
    import torch  # the calibration is offline work; the service reads its result without torch
    from torch import nn

    maxima: list[float] = []
    for x in batches:
        seen = []
        for layer in model.eval().body:
            with torch.no_grad():
                x = layer(x)
            if isinstance(layer, nn.ReLU):
                seen.append(float(x.max()))
        maxima = seen if not maxima else [max(a, b) for a, b in zip(maxima, seen, strict=True)]
    if not maxima:
        raise ValueError("no calibration images")
    return tuple(maxima)
