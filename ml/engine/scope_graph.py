"""The input assessment's scope classifier (:class:`ml.model.scope.ScopeNet`) as an ONNX graph, written
from the weights file's ``gate.scope.*`` tensors with numpy, and run by ONNX Runtime on the CPU.

It is small (96 x 96 pixels in, five narrow convolutions), so it runs on the CPU whichever engine runs the
classifier. Its output is the softmax over :data:`ml.model.layout.SCOPE_CLASSES`.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from onnx import TensorProto, helper

from ml.engine.onnx_build import GraphBuilder, conv_node, linear, max_pool, spatial_mean
from ml.engine.session import cpu_session
from ml.model.assessment import SCOPE_PREFIX
from ml.model.layout import Conv, Relu, scope_layout

SCOPE_INPUT: Final = "scope_inputs"
PROBABILITIES: Final = "probabilities"


def build_scope(gate_tensors: dict[str, np.ndarray], widths: tuple[int, ...], source_sha256: str) -> bytes:
    """``gate_tensors``: the weights file's ``gate.*`` tensors, with their prefix."""
    tensors = {k.removeprefix(SCOPE_PREFIX): v for k, v in gate_tensors.items() if k.startswith(SCOPE_PREFIX)}
    layout = scope_layout(widths)
    expected = layout.shapes()
    if {k: v.shape for k, v in tensors.items()} != expected:
        raise ValueError(f"the scope classifier's tensors do not match its widths {widths}")
    graph = GraphBuilder()
    x = SCOPE_INPUT
    for layer in layout.body:
        if isinstance(layer, Conv):
            x = conv_node(graph, x, layer, tensors)
        elif isinstance(layer, Relu):
            x = graph.node("Relu", [x])
        else:
            x = max_pool(graph, x)
    (fc,) = layout.head
    logits = linear(graph, spatial_mean(graph, x), fc.name, tensors)
    graph.node("Softmax", [logits], PROBABILITIES, axis=1)
    inputs = [helper.make_tensor_value_info(SCOPE_INPUT, TensorProto.FLOAT, ["batch", 1, "h", "w"])]
    outputs = [helper.make_tensor_value_info(PROBABILITIES, TensorProto.FLOAT, ["batch", fc.fout])]
    return graph.model("scope_net", inputs, outputs, source_sha256)


class ScopeRunner:
    """The scope classifier in ONNX Runtime, on one CPU thread."""

    def __init__(self, gate_tensors: dict[str, np.ndarray], widths: tuple[int, ...], source_sha256: str):
        self.session = cpu_session(build_scope(gate_tensors, widths, source_sha256), threads=1)

    def probabilities(self, scope_inputs: np.ndarray) -> np.ndarray:
        """``[N, 1, s, s]`` float32 -> ``[N, len(SCOPE_CLASSES)]``."""
        x = np.ascontiguousarray(scope_inputs, dtype=np.float32)
        (probs,) = self.session.run([PROBABILITIES], {SCOPE_INPUT: x})
        return np.asarray(probs, dtype=np.float64)
