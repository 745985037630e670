"""Writing ONNX graphs from numpy tensors: the node and constant bookkeeping, and a convolution with its
BatchNorm folded in, in fp32 or in int8 (:mod:`ml.engine.quantize`)."""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ml.engine.quantize import quantize_bias, quantize_weight
from ml.model.layout import BN_EPS, Conv

OPSET: Final = 17
SOURCE_KEY: Final = "source_sha256"


class GraphBuilder:
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

    def model(
        self,
        name: str,
        inputs: list[onnx.ValueInfoProto],
        outputs: list[onnx.ValueInfoProto],
        source_sha256: str,
    ) -> bytes:
        proto = helper.make_model(
            helper.make_graph(self.nodes, name, inputs, outputs, initializer=self.weights),
            opset_imports=[helper.make_opsetid("", OPSET)],
            producer_name="cxr-service",
            # Opset 17's IR version: what any ONNX Runtime since 1.13 reads.
            ir_version=8,
        )
        helper.set_model_props(proto, {SOURCE_KEY: source_sha256})
        onnx.checker.check_model(proto)
        data: bytes = proto.SerializeToString()
        return data


def folded(conv: Conv, tensors: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The convolution's weight and bias with its BatchNorm (eval mode) folded in, computed in float64."""
    weight = tensors[f"{conv.name}.weight"].astype(np.float64)
    bias = tensors[f"{conv.name}.bias"].astype(np.float64) if conv.bias else np.zeros(conv.cout, np.float64)
    if conv.norm is not None:
        stat = {k: tensors[f"{conv.norm}.{k}"].astype(np.float64) for k in ("weight", "bias", "running_mean")}
        variance = tensors[f"{conv.norm}.running_var"].astype(np.float64)
        scale = stat["weight"] / np.sqrt(variance + BN_EPS)
        weight = weight * scale[:, None, None, None]
        bias = (bias - stat["running_mean"]) * scale + stat["bias"]
    return weight.astype(np.float32), bias.astype(np.float32)


def conv_node(
    graph: GraphBuilder,
    x: str,
    conv: Conv,
    tensors: dict[str, np.ndarray],
    int8: tuple[np.float32, int] | None = None,
) -> str:
    """The 3x3 convolution (BatchNorm folded); with ``int8`` = (the input's scale, weight bits), in int8."""
    weight, bias = folded(conv, tensors)
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
        "Conv", [x, *parameters], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], dilations=[1, 1]
    )


def max_pool(graph: GraphBuilder, x: str) -> str:
    return graph.node("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])


def spatial_mean(graph: GraphBuilder, x: str, output: str | None = None) -> str:
    return graph.node("ReduceMean", [x], output, axes=[2, 3], keepdims=0)


def linear(
    graph: GraphBuilder, x: str, name: str, tensors: dict[str, np.ndarray], output: str | None = None
) -> str:
    weight = graph.constant("fc_w", tensors[f"{name}.weight"])
    bias = graph.constant("fc_b", tensors[f"{name}.bias"])
    return graph.node("Gemm", [x, weight, bias], output, transB=1)
