"""Engines that run the classifier for the service: torch, or ONNX Runtime on the CPU (fp32 or int8)."""

from ml.engine.runtime import (
    CHOICES,
    INT8,
    Engine,
    EngineError,
    OnnxRuntimeEngine,
    TorchEngine,
    build_engine,
    onnxruntime_installed,
    resolve_engine,
)

__all__ = [
    "CHOICES",
    "INT8",
    "Engine",
    "EngineError",
    "OnnxRuntimeEngine",
    "TorchEngine",
    "build_engine",
    "onnxruntime_installed",
    "resolve_engine",
]
