"""Engines that run the classifier for the service: ONNX Runtime on the CPU (fp32 or int8), or torch.

Each gives the same :class:`~ml.engine.output.EngineOutput` (logits, Grad-CAM maps, the input assessment's
taps) in numpy, so everything downstream works unchanged with either:

- ``onnxruntime``: the classifier written as an ONNX graph from the weights file's tensors
  (:mod:`ml.engine.graph`) and run by ONNX Runtime on the CPU, Grad-CAM in closed form from the graph's
  feature map (:func:`ml.engine.output.head_cams`); no torch;
- ``onnxruntime-int8``: the same graph in int8 (:mod:`ml.engine.quantize`), from the calibration the
  weights file carries;
- ``torch``: the module itself (:mod:`ml.engine.torch_engine`, imported only when asked for: it needs the
  ``torch`` extra), on the CPU or CUDA.

Importing this package loads no torch.
"""

from __future__ import annotations

from ml.engine.graph import Classifier
from ml.engine.names import CHOICES, INT8, EngineName
from ml.engine.ort import OnnxRuntimeEngine
from ml.engine.output import Engine, EngineOutput
from ml.engine.select import EngineError, int8_products_exact, resolve_engine
from ml.engine.session import onnxruntime_installed
from ml.model.int8 import Int8Calibration

__all__ = [
    "CHOICES",
    "INT8",
    "Classifier",
    "Engine",
    "EngineError",
    "EngineName",
    "EngineOutput",
    "OnnxRuntimeEngine",
    "build_engine",
    "int8_products_exact",
    "onnxruntime_installed",
    "resolve_engine",
]


def build_engine(
    name: EngineName,
    classifier: Classifier,
    device: str,
    threads: int = 0,
    int8: Int8Calibration | None = None,
) -> Engine:
    """The engine ``name`` (from :func:`resolve_engine`) for ``classifier``; ``threads`` 0: its default."""
    if name is EngineName.ONNXRUNTIME:
        return OnnxRuntimeEngine(classifier, threads)
    if name is EngineName.ONNXRUNTIME_INT8:
        if int8 is None:
            raise EngineError("the int8 engine needs the weights' int8 calibration")
        return OnnxRuntimeEngine(classifier, threads, int8)
    from ml.engine.torch_engine import TorchEngine

    if threads:
        import torch

        torch.set_num_threads(threads)
    return TorchEngine.of(classifier, device)
