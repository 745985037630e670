"""How unlike the training data an image is, in the classifier's own feature space.

Each convolutional block's output is averaged over space (``PaperCNN.features(x, taps)``). For every such
layer we keep the class means and one shared covariance of the training split, and measure an image by its
Mahalanobis distance to the nearest class mean (K. Lee et al., "A Simple Unified Framework for Detecting
Out-of-Distribution Samples and Adversarial Attacks", NeurIPS 2018). Early layers react to intensity style
and acquisition, the last to content; the score is their mean, each divided by its dimension so that every
layer weighs alike (for Gaussian features a squared distance averages about its dimension).

``typicality`` turns a score into the share of validation images that scored at least as high: 0.5 is a
median validation image, 0.01 is stranger than 99% of them, 0 is beyond all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ml.model.assessment import distance_layers

SHRINKAGE = 0.05
"""Covariance shrinkage towards a scaled identity: ReLU features have near-constant channels."""


@dataclass
class LayerStats:
    means: torch.Tensor
    """``[classes, D]`` class means of the layer's pooled features on the training split."""
    precision: torch.Tensor
    """``[D, D]`` inverse of the shared (within-class, shrunk) covariance."""

    def distance(self, features: torch.Tensor) -> torch.Tensor:
        """Squared Mahalanobis distance ``[N]`` from each row of ``features`` to its nearest class mean."""
        diff = features.double()[:, None, :] - self.means.double()[None]
        dist = torch.einsum("ncd,de,nce->nc", diff, self.precision.double(), diff)
        return dist.min(dim=1).values


def fit_layer(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> LayerStats:
    """Class means and shared covariance of one layer's training features ``[N, D]``."""
    x = features.double()
    means = torch.stack([x[labels == k].mean(dim=0) for k in range(num_classes)])
    centred = x - means[labels]
    cov = centred.T @ centred / max(1, len(x) - num_classes)
    scale = torch.trace(cov) / cov.shape[0]
    cov = (1 - SHRINKAGE) * cov + SHRINKAGE * scale * torch.eye(cov.shape[0], dtype=cov.dtype)
    return LayerStats(means=means.float(), precision=torch.linalg.inv(cov).float())


@dataclass
class FeatureDistance:
    layers: list[LayerStats]
    reference: torch.Tensor
    """Validation scores, sorted ascending: the yardstick for :meth:`typicality`."""

    def score(self, taps: list[torch.Tensor]) -> torch.Tensor:
        """Mean over layers of the squared distance per dimension: ``[N]`` float64."""
        if len(taps) != len(self.layers):
            raise ValueError(f"expected {len(self.layers)} feature taps, got {len(taps)}")
        parts = [stats.distance(t) / t.shape[1] for stats, t in zip(self.layers, taps, strict=True)]
        return torch.stack(parts).mean(dim=0)

    def typicality(self, scores: torch.Tensor) -> torch.Tensor:
        """Share of validation images whose score is at least ``scores`` (an upper-tail p-value)."""
        ref = self.reference.double()
        below = torch.searchsorted(ref, scores.double().contiguous(), right=False)
        return (len(ref) - below).double() / max(1, len(ref))

    def to_tensors(self, prefix: str) -> dict[str, torch.Tensor]:
        out = {f"{prefix}reference": self.reference.float().contiguous()}
        for i, stats in enumerate(self.layers):
            out[f"{prefix}layer{i}.means"] = stats.means.contiguous()
            out[f"{prefix}layer{i}.precision"] = stats.precision.contiguous()
        return out

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], prefix: str) -> FeatureDistance:
        """The layers are as many as :meth:`to_tensors` wrote; a gap in their numbers is a ``KeyError``."""
        count = distance_layers(tensors, prefix)
        layers = [
            LayerStats(tensors[f"{prefix}layer{i}.means"], tensors[f"{prefix}layer{i}.precision"])
            for i in range(count)
        ]
        return cls(layers=layers, reference=tensors[f"{prefix}reference"].sort().values)


def fit_distance(
    train_taps: list[torch.Tensor],
    train_labels: torch.Tensor,
    val_taps: list[torch.Tensor],
    num_classes: int,
) -> FeatureDistance:
    """Statistics from the training split; the validation split's scores become the reference."""
    layers = [fit_layer(t, train_labels, num_classes) for t in train_taps]
    partial = FeatureDistance(layers=layers, reference=torch.zeros(1))
    reference = partial.score(val_taps).sort().values.float()
    return FeatureDistance(layers=layers, reference=reference)
