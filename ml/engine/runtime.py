"""Engines: what runs the classifier's forward pass and Grad-CAM for the service and the benchmark.

Each gives the same :class:`~ml.gradcam.GradCamResult` (logits, Grad-CAM maps, the input assessment's
taps), so everything downstream works unchanged with either:

- ``torch``: the module itself, channels-last, Grad-CAM by autograd through the head;
- ``onnxruntime``: the module written as an ONNX graph (:mod:`ml.engine.graph`) and run by ONNX Runtime
  on the CPU, Grad-CAM in closed form from the graph's feature map (:func:`ml.gradcam.head_cams`);
- ``onnxruntime-int8``: the same graph in int8 (:mod:`ml.engine.quantize`), from the calibration the
  weights file carries.
"""

from __future__ import annotations

import importlib.util
import logging
import platform
from pathlib import Path
from typing import Final, Protocol

import torch

from ml.engine.graph import FEATURES, HIDDEN, INPUT, LOGITS, build_onnx, tap_name
from ml.gradcam import GradCamResult, head_cams, predict_with_cam
from ml.model.cnn import PaperCNN
from ml.model.int8 import Int8Calibration

logger = logging.getLogger(__name__)

CHOICES: Final = ("auto", "torch", "onnxruntime", "onnxruntime-int8")
INT8: Final = "onnxruntime-int8"
CPUINFO = Path("/proc/cpuinfo")


class EngineError(RuntimeError):
    """The engine asked for cannot run here, or its model does not match the weights it was built from."""


class Engine(Protocol):
    name: str
    device: torch.device

    def predict(
        self,
        inputs: torch.Tensor,
        *,
        with_cam: bool,
        with_taps: bool,
        targets: torch.Tensor | None = None,
    ) -> GradCamResult:
        """One forward pass over ``inputs`` ``[N, C, H, W]`` (on any device)."""
        ...


def onnxruntime_installed() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


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


def resolve_engine(choice: str, device: torch.device, int8_calibrated: bool = False) -> str:
    """``auto``: ONNX Runtime on the CPU where it is installed, in int8 when the weights carry an int8
    calibration and the CPU computes int8 exactly; torch elsewhere (CUDA keeps torch)."""
    if choice not in CHOICES:
        raise EngineError(f"engine {choice!r} is not one of {', '.join(CHOICES)}")
    if choice == "auto":
        if device.type != "cpu" or not onnxruntime_installed():
            return "torch"
        return INT8 if int8_calibrated and int8_products_exact() else "onnxruntime"
    if choice in ("onnxruntime", INT8):
        if device.type != "cpu":
            raise EngineError(f"the {choice} engine runs on the CPU only, not on {device.type}")
        if not onnxruntime_installed():
            raise EngineError(f"the {choice} engine needs the onnxruntime package, which is not installed")
    if choice == INT8 and not int8_calibrated:
        raise EngineError("the weights carry no int8 calibration (`python -m ml export --int8` adds one)")
    if choice == INT8 and not int8_products_exact():
        raise EngineError("this CPU has no VNNI, so int8 products could saturate; use onnxruntime (fp32)")
    return choice


def build_engine(
    name: str,
    model: PaperCNN,
    device: torch.device,
    source_sha256: str,
    threads: int = 0,
    int8: Int8Calibration | None = None,
) -> Engine:
    """The engine ``name`` (from :func:`resolve_engine`) for ``model``; ``threads`` 0: its default."""
    if name == "onnxruntime":
        return OnnxRuntimeEngine(model, source_sha256, threads)
    if name == INT8:
        if int8 is None:
            raise EngineError("the int8 engine needs the weights' int8 calibration")
        return OnnxRuntimeEngine(model, source_sha256, threads, int8)
    if name == "torch":
        return TorchEngine(model, device)
    raise EngineError(f"unknown engine {name!r}")


class TorchEngine:
    name = "torch"

    def __init__(self, model: PaperCNN, device: torch.device) -> None:
        # Channels-last runs the convolutions about 1.2-1.5x faster on CPU (oneDNN) and on GPU alike.
        self.model = model.to(device).eval().to(memory_format=torch.channels_last)
        self.device = device

    def predict(
        self,
        inputs: torch.Tensor,
        *,
        with_cam: bool,
        with_taps: bool,
        targets: torch.Tensor | None = None,
    ) -> GradCamResult:
        x = inputs.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        return predict_with_cam(self.model, x, with_cam=with_cam, targets=targets, with_taps=with_taps)


class OnnxRuntimeEngine:
    def __init__(
        self, model: PaperCNN, source_sha256: str, threads: int = 0, int8: Int8Calibration | None = None
    ) -> None:
        if not onnxruntime_installed():
            raise EngineError("the onnxruntime engine needs the onnxruntime package, which is not installed")
        import onnxruntime as ort

        model = model.to("cpu").eval()
        self.name = INT8 if int8 is not None else "onnxruntime"
        self.device = torch.device("cpu")
        self.source_sha256 = source_sha256
        self._fc1 = model.fc1.weight.detach().clone()
        self._fc2 = model.fc2.weight.detach().clone()
        self._taps = [
            tap_name(i) for i in range(sum(isinstance(m, torch.nn.MaxPool2d) for m in model.body) + 1)
        ]
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        if threads:
            options.intra_op_num_threads = threads
        # Spinning pool threads would take the cores that decoding and the overlays need between batches.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            build_onnx(model, source_sha256, int8), sess_options=options, providers=["CPUExecutionProvider"]
        )
        logger.info(
            "onnxruntime engine built",
            extra={"engine": self.name, "sha256": source_sha256, "threads": threads},
        )

    def predict(
        self,
        inputs: torch.Tensor,
        *,
        with_cam: bool,
        with_taps: bool,
        targets: torch.Tensor | None = None,
    ) -> GradCamResult:
        x = inputs.detach().to("cpu", torch.float32).contiguous().numpy()
        names = [LOGITS, HIDDEN, FEATURES, *(self._taps if with_taps else [])]
        logits, hidden, features, *taps = (
            torch.from_numpy(out) for out in self.session.run(names, {INPUT: x})
        )
        chosen = targets if targets is not None else logits.argmax(dim=1)
        cams = head_cams(features, hidden, self._fc1, self._fc2, chosen) if with_cam else None
        return GradCamResult(logits=logits, cams=cams, targets=chosen, taps=taps)
