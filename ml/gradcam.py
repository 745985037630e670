"""Batched Grad-CAM through the classifier head only.

Grad-CAM (R. R. Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
Localization", ICCV 2017) weights each channel of a convolutional feature map by the spatial mean of the
class score's gradient with respect to it, sums the weighted channels and keeps the positive part. Lim & Lim
use it in their web application to show which lung regions drove the prediction; we take it, as they do, at
the last convolutional block's output (after its ReLU).

The feature map comes from the forward pass the prediction already needs. Only the head (pooling and the
two linear layers) is differentiated, with :func:`torch.autograd.grad` on tensors local to the call: no
module hooks and no state on the model, so concurrent calls cannot see each other's gradients and the cost
over a plain forward pass is a few percent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ml.model.cnn import PaperCNN


@dataclass
class GradCamResult:
    logits: torch.Tensor
    """``[N, classes]``, float32."""
    cams: torch.Tensor | None
    """``[N, h, w]`` in [0, 1] at the feature map's resolution, or None when not asked for."""
    targets: torch.Tensor
    """``[N]`` class index each map explains (the argmax unless given)."""
    taps: list[torch.Tensor] = field(default_factory=list)
    """Each block's spatially averaged output ``[N, width]`` when asked for (``with_taps``), else empty."""


def predict_with_cam(
    model: PaperCNN,
    inputs: torch.Tensor,
    with_cam: bool = True,
    targets: torch.Tensor | None = None,
    with_taps: bool = False,
) -> GradCamResult:
    """One forward pass over ``inputs`` ``[N, C, H, W]``; Grad-CAM by autograd through the head alone."""
    taps: list[torch.Tensor] | None = [] if with_taps else None
    with torch.no_grad():
        features = model.features(inputs, taps)
    if not with_cam:
        with torch.no_grad():
            logits = model.head(features).float()
        chosen = targets if targets is not None else logits.argmax(dim=1)
        return GradCamResult(logits=logits, cams=None, targets=chosen, taps=taps or [])
    features = features.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model.head(features)
        chosen = targets if targets is not None else logits.argmax(dim=1)
        score = logits.gather(1, chosen[:, None]).sum()
        (grads,) = torch.autograd.grad(score, features)
    with torch.no_grad():
        cams = _weighted_maps(grads.mean(dim=(2, 3)), features)
    return GradCamResult(logits=logits.detach().float(), cams=cams, targets=chosen, taps=taps or [])


def head_cams(
    features: torch.Tensor,
    hidden: torch.Tensor,
    fc1_weight: torch.Tensor,
    fc2_weight: torch.Tensor,
    targets: torch.Tensor,
) -> torch.Tensor:
    """Grad-CAM without autograd, for a head of global average pooling, fc1, ReLU and fc2.

    ``hidden`` is fc1's output before the ReLU ``[N, m]``. With the ReLU's mask fixed the head is linear, so
    d logit_c / d f[k, i, j] = (1 / hw) * sum_m W2[c, m] * 1[hidden_m > 0] * W1[m, k] at every position:
    the gradient is constant over space and is its own spatial mean, Grad-CAM's channel weight. At
    hidden_m = 0 the mask is 0, as autograd's ReLU derivative is.
    """
    height, width = features.shape[-2:]
    gate = fc2_weight[targets] * (hidden > 0).to(fc2_weight.dtype)
    weights = (gate @ fc1_weight) / (height * width)
    return _weighted_maps(weights, features)


def _weighted_maps(weights: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """ReLU of the channels summed with ``weights`` ``[N, K]``, each map scaled to a peak of 1."""
    cams = torch.relu((weights[:, :, None, None].to(features.dtype) * features).sum(dim=1)).float()
    peak = cams.amax(dim=(1, 2), keepdim=True)
    return torch.where(peak > 0, cams / peak.clamp_min(1e-12), torch.zeros_like(cams))
