"""The classifier as an ONNX graph, written from the loaded :class:`~ml.model.PaperCNN` module by module.

Built in memory from the weights the service has just loaded and checked, so there is no second artifact
that could drift from the safetensors file; the file's sha256 goes into the graph's metadata, to name its
source should the graph be saved.

BatchNorm (in eval mode) is folded into the convolution before it. Given an
:class:`~ml.model.int8.Int8Calibration`, the graph is written in int8 (:mod:`ml.engine.quantize`). The
outputs are what the service needs from one forward pass: the logits, fc1's output before its ReLU (the
closed-form Grad-CAM's mask), the last block's feature map and the input assessment's four taps (each
block's output, spatially averaged).
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from ml.engine.quantize import activation_scale, quantize_bias, quantize_weight
from ml.model.cnn import PaperCNN
from ml.model.int8 import Int8Calibration

OPSET: Final = 17
SOURCE_KEY: Final = "source_sha256"
INPUT: Final = "inputs"
LOGITS: Final = "logits"
HIDDEN: Final = "hidden"
FEATURES: Final = "features"


def tap_name(index: int) -> str:
    return f"tap{index}"


class _Graph:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.weights: list[onnx.TensorProto] = []
        self._count = 0

    def name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def constant(self, stem: str, value: np.ndarray, dtype: type = np.float32) -> str:
        name = self.name(stem)
        self.weights.append(numpy_helper.from_array(np.ascontiguousarray(value, dtype=dtype), name))
        return name

    def dequantized(self, stem: str, values: np.ndarray, scale: np.ndarray) -> str:
        """A stored integer tensor, per output channel (axis 0), back in float: ``values * scale``."""
        zero = self.constant(f"{stem}_zero", np.zeros(values.shape[0]), values.dtype.type)
        inputs = [
            self.constant(f"{stem}_q", values, values.dtype.type),
            self.constant(f"{stem}_scale", scale),
        ]
        return self.node("DequantizeLinear", [*inputs, zero], axis=0)

    def rounded(self, x: str, scale: np.float32) -> str:
        """``x`` on the uint8 grid ``scale * [0, 255]``: where ONNX Runtime computes in int8."""
        params = [
            self.constant("act_scale", np.array(scale)),
            self.constant("act_zero", np.array(0), np.uint8),
        ]
        return self.node("DequantizeLinear", [self.node("QuantizeLinear", [x, *params]), *params])

    def node(self, op: str, inputs: list[str], output: str | None = None, **attrs: Any) -> str:
        out = output or self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=self.name(op), **attrs))
        return out


def _conv_weights(conv: nn.Conv2d, norm: nn.BatchNorm2d | None) -> tuple[np.ndarray, np.ndarray]:
    weight = conv.weight.detach().double()
    bias = conv.bias.detach().double() if conv.bias is not None else torch.zeros(weight.shape[0]).double()
    if norm is not None:
        assert norm.running_mean is not None and norm.running_var is not None
        scale = norm.weight.detach().double() / torch.sqrt(norm.running_var.double() + norm.eps)
        weight = weight * scale[:, None, None, None]
        bias = (bias - norm.running_mean.double()) * scale + norm.bias.detach().double()
    return weight.float().numpy(), bias.float().numpy()


def _conv(
    graph: _Graph,
    x: str,
    conv: nn.Conv2d,
    norm: nn.BatchNorm2d | None,
    int8: tuple[np.float32, int] | None = None,
) -> str:
    """The convolution (BatchNorm folded); with ``int8`` = (the input's scale, weight bits), in int8."""
    if conv.groups != 1 or conv.padding_mode != "zeros" or not isinstance(conv.padding, tuple):
        raise ValueError(f"unsupported convolution {conv}")
    weight, bias = _conv_weights(conv, norm)
    pads = [int(p) for p in conv.padding] * 2
    if int8 is None:
        parameters = [graph.constant("conv_w", weight), graph.constant("conv_b", bias)]
    else:
        input_scale, bits = int8
        q, scale = quantize_weight(weight, bits)
        bias_scale = (input_scale * scale).astype(np.float32)
        parameters = [
            graph.dequantized("conv_w", q, scale),
            graph.dequantized("conv_b", quantize_bias(bias, input_scale, scale), bias_scale),
        ]
    return graph.node(
        "Conv",
        [x, *parameters],
        kernel_shape=list(conv.kernel_size),
        strides=list(conv.stride),
        pads=pads,
        dilations=list(conv.dilation),
    )


def _mean(graph: _Graph, x: str, output: str) -> str:
    return graph.node("ReduceMean", [x], output, axes=[2, 3], keepdims=0)


def _body(
    graph: _Graph, model: PaperCNN, x: str, int8: Int8Calibration | None = None
) -> tuple[str, list[str]]:
    layers = list(model.body)
    convs = sum(isinstance(layer, nn.Conv2d) for layer in layers)
    if int8 is not None and len(int8.activation_max) != convs:
        raise ValueError(f"the int8 calibration covers {len(int8.activation_max)} of {convs} convolutions")
    taps: list[str] = []
    conv = -1
    scale: np.float32 | None = None  # x's uint8 scale when x is rounded to int8, else None
    i = 0
    while i < len(layers):
        layer = layers[i]
        if isinstance(layer, nn.Conv2d):
            conv += 1
            following = layers[i + 1] if i + 1 < len(layers) else None
            norm = following if isinstance(following, nn.BatchNorm2d) else None
            rounding = None
            if int8 is not None and int8.quantized(conv):
                if scale is None:
                    raise ValueError(f"convolution {conv} is quantized but its input is not")
                rounding = (scale, int8.weight_bits)
            x = _conv(graph, x, layer, norm, rounding)
            i += 2 if norm is not None else 1
            continue
        if isinstance(layer, nn.ReLU):
            x = graph.node("Relu", [x])
            scale = None
            next_quantized = conv + 1 < convs and int8 is not None and int8.quantized(conv + 1)
            if int8 is not None and (int8.quantized(conv) or next_quantized):
                scale = activation_scale(int8.activation_max[conv], int8.activation_bits)
                x = graph.rounded(x, scale)
        elif isinstance(layer, nn.MaxPool2d):
            taps.append(_mean(graph, x, tap_name(len(taps))))
            size = int(layer.kernel_size) if isinstance(layer.kernel_size, int) else layer.kernel_size[0]
            stride = layer.stride if isinstance(layer.stride, int) else layer.stride[0]
            if layer.padding != 0 or layer.dilation != 1 or layer.ceil_mode:
                raise ValueError(f"unsupported pooling {layer}")
            x = graph.node("MaxPool", [x], kernel_shape=[size, size], strides=[stride, stride])
            if scale is not None:
                x = graph.rounded(x, scale)
        else:
            raise ValueError(f"no ONNX translation for {type(layer).__name__}")
        i += 1
    features = graph.node("Identity", [x], FEATURES)
    taps.append(_mean(graph, features, tap_name(len(taps))))
    return features, taps


def _linear(graph: _Graph, x: str, layer: nn.Linear, output: str | None = None) -> str:
    if layer.bias is None:
        raise ValueError(f"unsupported linear layer without bias {layer}")
    weight = graph.constant("fc_w", layer.weight.detach().numpy())
    bias = graph.constant("fc_b", layer.bias.detach().numpy())
    return graph.node("Gemm", [x, weight, bias], output, transB=1)


def build_onnx(model: PaperCNN, source_sha256: str, int8: Int8Calibration | None = None) -> bytes:
    """The serialised ONNX model of ``model`` (in eval mode, on the CPU), recording ``source_sha256``;
    with ``int8``, its int8 model."""
    if model.training:
        raise ValueError("export a model in eval mode: BatchNorm folds its running statistics")
    graph = _Graph()
    in_channels = next(m for m in model.body if isinstance(m, nn.Conv2d)).in_channels
    _, taps = _body(graph, model, INPUT, int8)
    hidden = _linear(graph, taps[-1], model.fc1, HIDDEN)
    _linear(graph, graph.node("Relu", [hidden]), model.fc2, LOGITS)
    batch = "batch"
    outputs = [
        helper.make_tensor_value_info(LOGITS, TensorProto.FLOAT, [batch, model.fc2.out_features]),
        helper.make_tensor_value_info(HIDDEN, TensorProto.FLOAT, [batch, model.fc1.out_features]),
        helper.make_tensor_value_info(FEATURES, TensorProto.FLOAT, [batch, None, None, None]),
        *(helper.make_tensor_value_info(tap, TensorProto.FLOAT, [batch, None]) for tap in taps),
    ]
    inputs = [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [batch, in_channels, "h", "w"])]
    proto = helper.make_model(
        helper.make_graph(graph.nodes, "paper_cnn", inputs, outputs, initializer=graph.weights),
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="cxr-service",
        # Opset 17's IR version: what any ONNX Runtime since 1.13 reads.
        ir_version=8,
    )
    helper.set_model_props(proto, {SOURCE_KEY: source_sha256})
    onnx.checker.check_model(proto)
    data: bytes = proto.SerializeToString()
    return data
