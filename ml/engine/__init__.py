"""Engines that run the classifier for the service: torch, or ONNX Runtime on the CPU."""

from ml.engine.runtime import (
    CHOICES,
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
    "Engine",
    "EngineError",
    "OnnxRuntimeEngine",
    "TorchEngine",
    "build_engine",
    "onnxruntime_installed",
    "resolve_engine",
]
