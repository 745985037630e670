"""What every engine gives for a batch, in numpy, and the closed-form Grad-CAM the ONNX engines use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ml.engine.names import EngineName


@dataclass
class EngineOutput:
    logits: np.ndarray
    """``[N, classes]`` float32."""
    cams: np.ndarray | None
    """``[N, h, w]`` float32 in [0, 1] at the feature map's resolution, or None when not asked for."""
    targets: np.ndarray
    """``[N]`` class index each map explains (the argmax unless given)."""
    taps: list[np.ndarray] = field(default_factory=list)
    """Each block's spatially averaged output ``[N, width]`` when asked for (``with_taps``), else empty."""


class Engine(Protocol):
    @property
    def name(self) -> EngineName: ...

    @property
    def device(self) -> str:
        """``"cpu"`` or ``"cuda"``."""
        ...

    def predict(
        self, inputs: np.ndarray, *, with_cam: bool, with_taps: bool, targets: np.ndarray | None = None
    ) -> EngineOutput:
        """One forward pass over ``inputs`` ``[N, C, H, W]`` float32."""
        ...


def head_cams(
    features: np.ndarray,
    hidden: np.ndarray,
    fc1_weight: np.ndarray,
    fc2_weight: np.ndarray,
    targets: np.ndarray,
) -> np.ndarray:
    """Grad-CAM without autograd, for a head of global average pooling, fc1, ReLU and fc2.

    ``hidden`` is fc1's output before the ReLU ``[N, m]``. With the ReLU's mask fixed the head is linear, so
    d logit_c / d f[k, i, j] = (1 / hw) * sum_m W2[c, m] * 1[hidden_m > 0] * W1[m, k] at every position:
    the gradient is constant over space and is its own spatial mean, Grad-CAM's channel weight. At
    hidden_m = 0 the mask is 0, as autograd's ReLU derivative is. (:func:`ml.gradcam.head_cams` is the
    same in torch, tested equal to autograd.)

    ``einsum`` without ``optimize`` runs numpy's own loops, not BLAS: OpenBLAS's threads keep spinning
    after a product and would slow the next forward pass.
    """
    height, width = features.shape[-2:]
    gate = fc2_weight[targets] * (hidden > 0).astype(fc2_weight.dtype)
    weights = np.einsum("nm,mk->nk", gate, fc1_weight) / (height * width)
    cams = np.einsum("nk,nkhw->nhw", weights.astype(features.dtype), features)
    np.maximum(cams, 0, out=cams)
    peak = cams.max(axis=(1, 2), keepdims=True)
    return np.where(peak > 0, cams / np.maximum(peak, 1e-12), 0).astype(np.float32)
