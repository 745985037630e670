"""The input assessment as the service runs it: numpy and ONNX Runtime, no torch.

The same numbers as :class:`ml.model.gate.Gate` (the reference, which training fits and evaluates): the
scope classifier's probabilities (:mod:`ml.engine.scope_graph`), the Mahalanobis feature distance of
:mod:`ml.model.distance` in float64 and its typicality; the verdict is :func:`ml.model.assessment.judge`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml.engine.scope_graph import ScopeRunner
from ml.model.assessment import DISTANCE_PREFIX, Assessment, GateConfig, distance_layers, judge
from ml.model.checks import ImageFacts
from ml.model.monitor import MONITOR_PREFIX, Familiarity, reference_classes


@dataclass
class Signals:
    """The gate's per-image numbers for a batch."""

    chest_xray: np.ndarray
    """``[N, len(SCOPE_CLASSES)]`` scope probabilities."""
    distance: np.ndarray
    typicality: np.ndarray


class FeatureDistance:
    """:class:`ml.model.distance.FeatureDistance`'s score and typicality in numpy."""

    def __init__(self, tensors: dict[str, np.ndarray]) -> None:
        """As many layers as the file holds (:func:`ml.model.assessment.distance_layers`)."""
        layers = distance_layers(tensors)
        self.means = [tensors[f"{DISTANCE_PREFIX}layer{i}.means"].astype(np.float64) for i in range(layers)]
        self.precisions = [
            tensors[f"{DISTANCE_PREFIX}layer{i}.precision"].astype(np.float64) for i in range(layers)
        ]
        self.reference = np.sort(tensors[f"{DISTANCE_PREFIX}reference"].astype(np.float64))

    def score(self, taps: list[np.ndarray]) -> np.ndarray:
        """Mean over layers of the squared distance to the nearest class mean, per dimension: ``[N]``."""
        if len(taps) != len(self.means):
            raise ValueError(f"expected {len(self.means)} feature taps, got {len(taps)}")
        parts = []
        for means, precision, tap in zip(self.means, self.precisions, taps, strict=True):
            diff = tap.astype(np.float64)[:, None, :] - means[None]
            # einsum's own loops, not BLAS (whose spinning threads would slow the next forward pass).
            dist = np.einsum("ncd,de,nce->nc", diff, precision, diff)
            parts.append(dist.min(axis=1) / tap.shape[1])
        score: np.ndarray = np.mean(parts, axis=0)
        return score

    def typicality(self, scores: np.ndarray) -> np.ndarray:
        """Share of validation images whose score is at least ``scores`` (an upper-tail p-value)."""
        below = np.searchsorted(self.reference, scores, side="left")
        typical: np.ndarray = (len(self.reference) - below) / max(1, len(self.reference))
        return typical


class ServingGate:
    def __init__(self, config: GateConfig, tensors: dict[str, np.ndarray], source_sha256: str) -> None:
        """``tensors``: the weights file's ``gate.*`` tensors, with their prefix."""
        self.config = config
        self.scope = ScopeRunner(tensors, config.scope_widths, source_sha256)
        self.distance = FeatureDistance(tensors)
        self.familiarity = None
        if config.monitor is not None:
            monitor = {k: v for k, v in tensors.items() if k.startswith(MONITOR_PREFIX)}
            self.familiarity = Familiarity.from_arrays(monitor, reference_classes(monitor))

    def signals(self, scope_inputs: np.ndarray, taps: list[np.ndarray]) -> Signals:
        """``scope_inputs`` ``[N, 1, s, s]``; ``taps`` from the engine (``with_taps``)."""
        scores = self.distance.score(taps)
        return Signals(self.scope.probabilities(scope_inputs), scores, self.distance.typicality(scores))

    def assess(
        self,
        facts: ImageFacts,
        scope_input: np.ndarray,
        signals: Signals,
        index: int,
        confidence: float,
        predicted: int,
    ) -> Assessment:
        distance = float(signals.distance[index])
        familiar = self.familiarity
        return judge(
            self.config,
            facts,
            scope_input,
            signals.chest_xray[index],
            distance,
            float(signals.typicality[index]),
            confidence,
            predicted,
            None if familiar is None else familiar.score(predicted, distance, confidence),
        )
