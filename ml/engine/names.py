"""The engines' names: what ``CXR_ENGINE`` takes and what /model, /metrics and the logs say."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class EngineName(StrEnum):
    TORCH = "torch"
    """The torch module itself (CPU or CUDA); needs the ``torch`` extra."""
    ONNXRUNTIME = "onnxruntime"
    """ONNX Runtime on the CPU, fp32."""
    ONNXRUNTIME_INT8 = "onnxruntime-int8"
    """ONNX Runtime on the CPU, int8 weights and activations."""

    @property
    def onnxruntime(self) -> bool:
        return self is not EngineName.TORCH

    @property
    def precision(self) -> str:
        return "int8" if self is EngineName.ONNXRUNTIME_INT8 else "fp32"


AUTO: Final = "auto"
CHOICES: Final[tuple[str, ...]] = (AUTO, *EngineName)
INT8: Final = EngineName.ONNXRUNTIME_INT8
