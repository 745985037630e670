"""Which engine runs the classifier: ``CXR_ENGINE`` and what this machine and install allow."""

from __future__ import annotations

import platform
from pathlib import Path

from ml.device import TORCH_EXTRA, torch_installed
from ml.engine.names import AUTO, CHOICES, EngineName
from ml.engine.session import onnxruntime_installed

CPUINFO = Path("/proc/cpuinfo")


class EngineError(RuntimeError):
    """The engine asked for cannot run here, or its model does not match the weights it was built from."""


def int8_products_exact() -> bool:
    """Whether this CPU adds int8 products without 16-bit saturation: x86 with VNNI (one instruction
    multiplies and adds into 32 bits) or 64-bit Arm (dot products into 32 bits). Plain AVX2 adds pairs
    of u8 x s8 products in 16 bits, which 8-bit weights and activations can overflow."""
    if platform.machine().lower() in ("aarch64", "arm64"):
        return True
    try:
        flags = CPUINFO.read_text()
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("avx512_vnni", "avx_vnni", "amx_int8"))


def resolve_engine(choice: str, device: str, int8_calibrated: bool = False) -> EngineName:
    """``auto``: ONNX Runtime on the CPU where it is installed, in int8 when the weights carry an int8
    calibration and the CPU computes int8 exactly; torch elsewhere (CUDA keeps torch)."""
    if choice not in CHOICES:
        raise EngineError(f"engine {choice!r} is not one of {', '.join(CHOICES)}")
    if choice == AUTO:
        if device != "cpu" or not onnxruntime_installed():
            return _torch(device)
        exact = int8_calibrated and int8_products_exact()
        return EngineName.ONNXRUNTIME_INT8 if exact else EngineName.ONNXRUNTIME
    name = EngineName(choice)
    if name is EngineName.TORCH:
        return _torch(device)
    if device != "cpu":
        raise EngineError(f"the {name} engine runs on the CPU only, not on {device}")
    if not onnxruntime_installed():
        raise EngineError(f"the {name} engine needs the onnxruntime package, which is not installed")
    if name is EngineName.ONNXRUNTIME_INT8 and not int8_calibrated:
        raise EngineError("the weights carry no int8 calibration (`python -m ml export --int8` adds one)")
    if name is EngineName.ONNXRUNTIME_INT8 and not int8_products_exact():
        raise EngineError("this CPU has no VNNI, so int8 products could saturate; use onnxruntime (fp32)")
    return name


def _torch(device: str) -> EngineName:
    if not torch_installed():
        raise EngineError(
            f"the torch engine (and any GPU) needs torch, which is not installed: {TORCH_EXTRA}"
        )
    return EngineName.TORCH
