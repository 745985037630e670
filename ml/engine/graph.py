"""The classifier as an ONNX graph, written from the weights file's tensors with numpy: no torch.

Built in memory from the weights the service has just read and checked (:mod:`ml.model.weights_file`), so
there is no second artifact that could drift from the safetensors file; the file's sha256 goes into the
graph's metadata, to name its source should the graph be saved.

BatchNorm (in eval mode) is folded into the convolution before it. Given an
:class:`~ml.model.int8.Int8Calibration`, the graph is written in int8 (:mod:`ml.engine.quantize`). The
outputs are what the service needs from one forward pass: the logits, fc1's output before its ReLU (the
closed-form Grad-CAM's mask), the last block's feature map and the input assessment's four taps (each
block's output, spatially averaged).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from onnx import TensorProto, helper

from ml.engine.onnx_build import SOURCE_KEY, GraphBuilder, conv_node, linear, max_pool, spatial_mean
from ml.engine.quantize import activation_scale
from ml.model.int8 import Int8Calibration
from ml.model.layout import Conv, Layout, Relu
from ml.model.weights_file import WeightsFile

__all__ = [
    "FEATURES",
    "HIDDEN",
    "INPUT",
    "LOGITS",
    "SOURCE_KEY",
    "Classifier",
    "build_classifier",
    "tap_name",
]

INPUT: Final = "inputs"
LOGITS: Final = "logits"
HIDDEN: Final = "hidden"
FEATURES: Final = "features"


def tap_name(index: int) -> str:
    return f"tap{index}"


@dataclass(frozen=True)
class Classifier:
    """The classifier's weights as numpy arrays: what every engine is built from."""

    architecture: str
    layout: Layout
    tensors: dict[str, np.ndarray]
    """The state dict (:meth:`ml.model.layout.Layout.shapes`)."""
    sha256: str
    """Of the weights file they came from."""

    @classmethod
    def of(cls, weights: WeightsFile) -> Classifier:
        return cls(weights.metadata.architecture, weights.layout, weights.tensors, weights.sha256)

    @property
    def taps(self) -> int:
        return self.layout.blocks


def _body(graph: GraphBuilder, classifier: Classifier, int8: Int8Calibration | None) -> list[str]:
    layers, tensors = classifier.layout.body, classifier.tensors
    convs = len(classifier.layout.convs)
    if int8 is not None and len(int8.activation_max) != convs:
        raise ValueError(f"the int8 calibration covers {len(int8.activation_max)} of {convs} convolutions")
    x = INPUT
    taps: list[str] = []
    conv = -1
    scale: np.float32 | None = None  # x's uint8 scale when x is rounded to int8, else None
    for layer in layers:
        if isinstance(layer, Conv):
            conv += 1
            rounding = None
            if int8 is not None and int8.quantized(conv):
                if scale is None:
                    raise ValueError(f"convolution {conv} is quantized but its input is not")
                rounding = (scale, int8.weight_bits)
            x = conv_node(graph, x, layer, tensors, rounding)
        elif isinstance(layer, Relu):
            x = graph.node("Relu", [x])
            scale = None
            next_quantized = conv + 1 < convs and int8 is not None and int8.quantized(conv + 1)
            if int8 is not None and (int8.quantized(conv) or next_quantized):
                scale = activation_scale(int8.activation_max[conv], int8.activation_bits)
                x = graph.rounded(x, scale)
        else:
            taps.append(spatial_mean(graph, x, tap_name(len(taps))))
            x = max_pool(graph, x)
            if scale is not None:
                x = graph.rounded(x, scale)
    features = graph.node("Identity", [x], FEATURES)
    taps.append(spatial_mean(graph, features, tap_name(len(taps))))
    return taps


def build_classifier(classifier: Classifier, int8: Int8Calibration | None = None) -> bytes:
    """The serialised ONNX model of ``classifier``, recording its sha256; with ``int8``, in int8."""
    graph = GraphBuilder()
    taps = _body(graph, classifier, int8)
    fc1, fc2 = classifier.layout.head
    hidden = linear(graph, taps[-1], fc1.name, classifier.tensors, HIDDEN)
    linear(graph, graph.node("Relu", [hidden]), fc2.name, classifier.tensors, LOGITS)
    batch = "batch"
    outputs = [
        helper.make_tensor_value_info(LOGITS, TensorProto.FLOAT, [batch, fc2.fout]),
        helper.make_tensor_value_info(HIDDEN, TensorProto.FLOAT, [batch, fc1.fout]),
        helper.make_tensor_value_info(FEATURES, TensorProto.FLOAT, [batch, None, None, None]),
        *(helper.make_tensor_value_info(tap, TensorProto.FLOAT, [batch, None]) for tap in taps),
    ]
    channels = classifier.layout.in_channels
    inputs = [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [batch, channels, "h", "w"])]
    return graph.model("paper_cnn", inputs, outputs, classifier.sha256)
