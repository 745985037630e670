"""The int8 pieces of the ONNX graph: static quantization in ONNX Runtime's QDQ form, from the file's fp32
tensors and its :class:`~ml.model.int8.Int8Calibration`.

QDQ means the graph stays a float graph with QuantizeLinear/DequantizeLinear pairs marking where values are
rounded to 8 bits; ONNX Runtime fuses each ``DequantizeLinear -> Conv -> QuantizeLinear`` into an integer
convolution. The choices are those of ONNX Runtime's own ``quantize_static`` (``ml.studies.int8_probe``
compares the two):

- activations after each ReLU (and the max-pooling after it) in uint8, zero point 0, scale = the
  calibrated maximum / 255;
- convolution weights in int8 per output channel, symmetric (zero point 0);
- biases in int32 at the input's scale times the weight's, so that the integer convolution adds them
  exactly.
"""

from __future__ import annotations

import numpy as np


def activation_scale(maximum: float, bits: int) -> np.float32:
    return np.float32(maximum / (2**bits - 1))


def quantize_weight(weight: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """``[out, ...]`` float -> (int8 weights, float32 scale per output channel); symmetric, zero point 0."""
    limit = 2 ** (bits - 1) - 1
    absmax = np.abs(weight.reshape(weight.shape[0], -1)).max(axis=1).astype(np.float64)
    scale = np.where(absmax > 0, absmax / limit, 1.0)
    shape = (-1,) + (1,) * (weight.ndim - 1)
    q = np.clip(np.rint(weight / scale.reshape(shape)), -limit, limit).astype(np.int8)
    return q, scale.astype(np.float32)


def quantize_bias(bias: np.ndarray, input_scale: np.float32, weight_scale: np.ndarray) -> np.ndarray:
    """int32 bias at scale ``input_scale * weight_scale`` (per output channel)."""
    scale = np.float64(input_scale) * weight_scale.astype(np.float64)
    return np.rint(bias.astype(np.float64) / scale).astype(np.int32)
